"""Reading the broker's confirms in gathers at a steady pace (CONFIRM_READ_LINGER_MS).

At a steady pace each message's confirm comes on its own, and reading it costs a wake-up of
the loop, a socket read and a step of each of aiormq's two readers: about 80 us an event at
500 ev/s, a fifth of the NApps' CPU (docs/benchmarks.rst, "Paced CPU"). Once a read brought
confirms and nothing else, the socket is left unread for the linger, and the confirms that
come meanwhile are read in one go. Writes never wait: a message is written to the broker
as soon as before, and only our bookkeeping of its confirm waits, a few milliseconds (its
consumers got it 0.1-0.2 ms later at p50 in the benchmark: docs/design.rst).

It never lingers:

- after a read that held anything but confirms (a reply, a returned message, a heartbeat,
  the broker's Connection.Blocked or Close): those are read at once, and so is what follows;
- once we wrote a request other than a publish (a declaration, a purge, a close: its reply
  is due): reading resumes at once, and does not linger again until something other than a
  confirm has been read;
- while a message waits for a confirm (``ConfirmLinger.read_now``: the producer's, when a
  message of a key waits for the one before it, or for room in flight): held reads resume,
  and the next read of confirms starts no hold;
- while ``may_linger()`` says no: the producer's says no while half of MAX_IN_FLIGHT or more
  await their confirm (a burst, a distant broker), where the window must not wait on us.

Only the frame layout is looked at (AMQP 0-9-1), never a library's internals: the protocol
is asyncio's StreamReaderProtocol, as asyncio.open_connection builds it, and the transport's
public pause_reading() / resume_reading().
"""

import asyncio
import struct
from collections.abc import Callable

from .frames import BASIC_CLASS, BASIC_PUBLISH, FRAME_END, FRAME_METHOD

# A Basic.Ack or Basic.Nack method frame: type, channel (2), payload size (4) = 13, class 60,
# method 80 or 120, delivery tag (8), flags (1), frame end.
CONFIRM_FRAME_SIZE = 21
_ACK = struct.pack(">IHH", 13, BASIC_CLASS, 80)  # bytes 3 to 10 of the frame
_NACK = struct.pack(">IHH", 13, BASIC_CLASS, 120)
# Class and method of Basic.Publish: bytes 7 to 10 of its method frame.
PUBLISH_METHOD = struct.pack(">HH", BASIC_CLASS, BASIC_PUBLISH)
_FRAME_END = FRAME_END[0]


def confirms_only(data: bytes) -> bool:
    """Whether ``data`` (what one socket read brought) is whole Basic.Ack / Basic.Nack
    frames and nothing else. A read that ends inside a frame is not."""
    size = len(data)
    if not size or size % CONFIRM_FRAME_SIZE:
        return False
    for start in range(0, size, CONFIRM_FRAME_SIZE):
        if data[start] != FRAME_METHOD or data[start + 20] != _FRAME_END \
                or data[start + 3:start + 11] not in (_ACK, _NACK):
            return False
    return True


def asks_a_reply(data: bytes | bytearray | memoryview) -> bool:
    """Whether a write starts with a method frame other than Basic.Publish: a request whose
    reply may be due (Channel.Open, a declaration, a purge, a close). Heartbeats, publishes
    and a large body's later frames do not."""
    return len(data) >= 11 and data[0] == FRAME_METHOD and data[7:11] != PUBLISH_METHOD


class ConfirmLinger:
    """How long a read of confirms only leaves the socket unread (``seconds``, 0: never; it
    may change while connected), whether it may now (``may_linger``), and the reader of the
    connection in use, if any (``read_now`` ends its hold)."""

    def __init__(self, seconds: float, may_linger: Callable[[], bool]) -> None:
        self.seconds = seconds
        self.may_linger = may_linger
        self.reader: LingeringReader | None = None
        self.wanted = False  # read_now() was called since the last read of confirms

    def read_now(self) -> None:
        """Something waits for a confirm: reads resume at once, if they are held, and the
        next read of confirms holds none (a key's messages in a row each wait for the one
        before: a hold per confirm, each ended at once, cost a pause and a resume each)."""
        self.wanted = True
        if self.reader is not None:
            self.reader.read_now()


class LingeringReader(asyncio.StreamReaderProtocol):
    """asyncio's StreamReaderProtocol that leaves the socket unread for ``linger.seconds``
    after a read of confirms only (see the module). Its names start with ``_linger`` so as to
    replace none of the base's (tests/unit/test_confirm_reads.py checks)."""

    def __init__(self, reader: asyncio.StreamReader, linger: ConfirmLinger,
                 loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(reader, loop=loop)
        self._linger = linger
        self._linger_loop = loop
        self._linger_socket: asyncio.Transport | None = None
        self._linger_resume: asyncio.TimerHandle | None = None  # set while we hold reads
        self._linger_reply_due = False

    @property
    def holding(self) -> bool:
        """Whether reads are held now."""
        return self._linger_resume is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._linger_socket = transport  # type: ignore[assignment]
        self._linger.reader = self

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        seconds = self._linger.seconds
        if not seconds:
            return
        if not confirms_only(data):
            self._linger_reply_due = False  # the reply, or something else to read at once
            return
        wanted, self._linger.wanted = self._linger.wanted, False
        socket = self._linger_socket
        if wanted or self._linger_reply_due or self._linger_resume is not None or socket is None \
                or socket.is_closing() or not socket.is_reading() \
                or not self._linger.may_linger():
            return  # not is_reading(): the stream paused it (a full buffer); left to it
        socket.pause_reading()
        self._linger_resume = self._linger_loop.call_later(seconds, self.read_now)

    def read_now(self) -> None:
        """Read again at once, if reads are held."""
        handle, self._linger_resume = self._linger_resume, None
        if handle is None:
            return
        handle.cancel()
        socket = self._linger_socket
        if socket is not None and not socket.is_closing():
            socket.resume_reading()

    def wrote(self, data: bytes | bytearray | memoryview) -> None:
        """Told of every write on the connection: a request's reply is read at once."""
        if self._linger.seconds and asks_a_reply(data):
            self._linger_reply_due = True
            self.read_now()

    def connection_lost(self, exc: Exception | None) -> None:
        handle, self._linger_resume = self._linger_resume, None
        if handle is not None:
            handle.cancel()
        if self._linger.reader is self:
            self._linger.reader = None
        super().connection_lost(exc)
