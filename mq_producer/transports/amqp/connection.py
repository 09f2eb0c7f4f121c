"""The robust AMQP connection of the producer and of mq-consumer, the filter that keeps
the client library's reconnection chatter out of the log, and the sockets they open."""

import asyncio
import logging
from typing import Any, TypeVar
from urllib.parse import quote

import aio_pika
from aio_pika.connection import make_url
from aiormq.connection import TransportFactory
from aiormq.exceptions import AMQPConnectionError
from yarl import URL

from .broker import BrokerSettings
from .confirm_reads import ConfirmLinger, LingeringReader

# What aio-pika 10.2.1 / aiormq 7.2.4 log around an outage, by logger, as the start of the
# message template (record.msg). Lines the filter does not know pass unchanged.
#
# Once per reconnection attempt (every RECONNECT interval for as long as an outage lasts):
# always dropped. The outage alarm reports unreachability once, with reminders, and on
# recovery; mq-consumer's robust connection goes on retrying silently.
_PER_ATTEMPT: dict[str, tuple[str, ...]] = {
    "aiormq.connection": ("error when creating transport",),  # ERROR
    "aio_pika.robust_connection": (
        "Connection to %s closed. Reconnecting after",  # INFO
        "Connection attempt to",  # WARNING: ... failed: ... / ... cancelled. Reconnecting after
        "Reconnect attempt failed",  # ERROR
    ),
}
# Once per loss of the connection - the broker's Connection.Close, the reader's traceback
# (a multi-line WARNING), a missed heartbeat, and aio-pika's channel failing to reopen on the
# dead connection - and once per memory or disk alarm (blocked, unblocked): demoted to DEBUG
# (kept only where DEBUG is on) when the connection's owner reports losses itself
# (``reports_losses``: mq_producer's alarm and blocked lines say the same).
_PER_LOSS: dict[str, tuple[str, ...]] = {
    "aiormq.connection": (
        "Unexpected connection close from remote",  # ERROR
        "Cancelling cause reader exited abnormally",  # WARNING, with the traceback
        "Server connection %r was stuck",  # WARNING
        # The broker's memory or disk alarm: mq_producer says "broker blocked publishing"
        "Connection %r was blocked by",  # WARNING
        "Connection %r was unblocked",  # WARNING
    ),
    "aio_pika.tools": ("Callback %r error",),  # ERROR; only RobustChannel._on_close's, below
}
_CHANNEL_REOPEN = "RobustChannel._on_close"
# Once per call of ours that the library narrates at INFO: each purge of a link's status
# queue (one per change while its consumer is away: hundreds a minute from a flapping link),
# its line showing the Queue object's defaults (durable=False, arguments=None), not the
# queue's: always demoted to DEBUG.
_ROUTINE: dict[str, tuple[str, ...]] = {"aio_pika.queue": ("Purging queue",)}


def _is_loss_line(record: logging.LogRecord) -> bool:
    if record.name != "aio_pika.tools":
        return True
    # "Callback %r error: %s: %s": other callbacks' errors (ours among them) stay as they are.
    callback = record.args[0] if isinstance(record.args, tuple) and record.args else None
    callback = getattr(callback, "callback", callback)  # a OneShotCallback wraps it
    return getattr(callback, "__qualname__", None) == _CHANNEL_REOPEN


class _LibraryLines(logging.Filter):
    """On the client library's loggers: drops the line-per-attempt reconnection logs, demotes
    the once-per-loss ones where the owner reports losses and the routine ones, and takes any
    registered password out of what is kept (message, traceback) - aio-pika and aiormq print
    URLs with ``******`` for the password, this is for any text that escapes that."""

    def __init__(self) -> None:
        super().__init__()
        self.losses_reported = False
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        template = record.msg
        if isinstance(template, str):
            if template.startswith(_PER_ATTEMPT.get(record.name, ())):
                return False
            if template.startswith(_ROUTINE.get(record.name, ())) or (
                    self.losses_reported and template.startswith(_PER_LOSS.get(record.name, ()))
                    and _is_loss_line(record)):
                if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
                    return False
                record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        if self.secrets:
            self._scrub(record)
        return True

    def _scrub(self, record: logging.LogRecord) -> None:
        """Formats the message now (a library object in the arguments may no longer format
        later: aio-pika's OneShotCallback drops its callback once run) without the secrets."""
        try:
            text = record.getMessage()
        except Exception:  # the arguments are not shown: they might hold a secret
            text = f"{record.msg!s} (arguments not shown: they did not format)"
        record.msg, record.args = self._without_secrets(text), ()
        if record.exc_info:
            trace = logging.Formatter().formatException(record.exc_info)
            cleaned = self._without_secrets(trace)
            if cleaned != trace:
                record.exc_info, record.exc_text = None, cleaned
        elif record.exc_text:
            record.exc_text = self._without_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = self._without_secrets(record.stack_info)

    def _without_secrets(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


_FILTER = _LibraryLines()


def _library_loggers() -> list[str]:
    names = {name for name, item in logging.root.manager.loggerDict.items()
             if isinstance(item, logging.Logger) and name.split(".")[0] in ("aio_pika", "aiormq")}
    # Created on first use, by ChannelFrame.marshall; a logger's filters see only its own
    # records, not its children's.
    names.add("aiormq.connection.marshall")
    return sorted(names | set(_PER_ATTEMPT) | set(_PER_LOSS) | set(_ROUTINE))


for _logger in _library_loggers():
    logging.getLogger(_logger).addFilter(_FILTER)


class StopSafeWriter(asyncio.StreamWriter):
    """A connection's StreamWriter that can be closed once its loop is closed, and that tells
    a LingeringReader protocol of every write (confirm_reads.py).

    aiormq closes the writer when its handshake fails, in an ``except BaseException`` clause:
    also when the garbage collector closes the handshake's coroutine, after Kytos stopped
    while a connection attempt waited for the broker's answer (kytosd closes the loop right
    after the NApps' shutdown()). Closing a socket transport then schedules a callback on the
    closed loop, and the RuntimeError was printed at Kytos' exit ("Exception ignored in:
    <coroutine object Connection.connect>"). With the loop closed nothing can run: the
    socket goes with the process."""

    def __init__(self, transport: asyncio.Transport, protocol: asyncio.StreamReaderProtocol,
                 reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(transport, protocol, reader, loop)
        self._owner_loop = loop
        self._lingering = protocol if isinstance(protocol, LingeringReader) else None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        super().write(data)
        if self._lingering is not None:
            self._lingering.wrote(data)

    def close(self) -> None:
        if not self._owner_loop.is_closed():
            super().close()

    async def wait_closed(self) -> None:
        if not self._owner_loop.is_closed():
            await super().wait_closed()


class SocketFactory(TransportFactory):
    """aiormq's TCP and TLS transport factories (``transport_factory``, a parameter of
    aiormq.Connection), as asyncio.open_connection builds a stream, with a StopSafeWriter;
    with ``confirm_linger``, its protocol a LingeringReader."""

    def __init__(self, confirm_linger: ConfirmLinger | None = None) -> None:
        self._confirm_linger = confirm_linger

    async def create(self, url: URL, **kwargs: Any
                     ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        provider = kwargs.pop("ssl_context_provider", None)
        ssl = await provider.get_context() if url.scheme == "amqps" and provider else None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop) \
            if self._confirm_linger is None else \
            LingeringReader(reader, self._confirm_linger, loop)
        try:
            transport, _ = await loop.create_connection(lambda: protocol, url.host, url.port,
                                                        ssl=ssl, **kwargs)
        except OSError as exc:  # as aiormq's own factories
            raise AMQPConnectionError(*exc.args) from exc
        return reader, StopSafeWriter(transport, protocol, reader, loop)  # type: ignore[arg-type]


_C = TypeVar("_C", bound=aio_pika.Connection)


def robust_connection(broker: BrokerSettings, name: str, *, reports_losses: bool = False,
                      **options: float) -> aio_pika.RobustConnection:
    """What ``aio_pika.connect_robust()`` makes, not connected yet (``await connect()``): kept
    by the caller before it connects, a connect cut short (a timeout, a shutdown) leaves an
    object the caller can close. connect_robust() keeps it to itself, and its own task then
    went on reconnecting for good, out of reach (and held up loop shutdowns). mq-consumer's.

    ``reports_losses``: the caller logs each loss of the connection itself (mq_producer's
    outage alarm); the library's own lines for a loss then go to DEBUG, in the whole process.
    The password is kept out of every library line from now on."""
    return _unconnected(aio_pika.RobustConnection, broker, name, reports_losses, options)


def single_connection(broker: BrokerSettings, name: str, *, reports_losses: bool = False,
                      confirm_linger: ConfirmLinger | None = None,
                      **options: float) -> aio_pika.Connection:
    """A connection that, once lost, stays lost: the producer's publisher decides when to
    connect again (at once when nothing listened, else after RETRY_INTERVAL), rather than a
    robust connection's own fixed-interval loop that the publisher could only poll.
    ``confirm_linger``: its confirms are read in gathers (confirm_reads.py)."""
    return _unconnected(aio_pika.Connection, broker, name, reports_losses, options,
                        confirm_linger)


def _unconnected(kind: type[_C], broker: BrokerSettings, name: str, reports_losses: bool,
                 options: dict[str, float], confirm_linger: ConfirmLinger | None = None
                 ) -> _C:
    password = broker.password.reveal()
    if password:
        _FILTER.secrets.update({password, quote(password, safe=""), quote(password)})
    if reports_losses:
        _FILTER.losses_reported = True
    connection = kind(make_url(broker.url, **options), ssl_context=broker.ssl_context(),
                      client_properties={"connection_name": name}, **options)
    # aio-pika keeps only the parameters it knows from its constructor's; what is in
    # ``kwargs`` goes to aiormq.Connection (tests/unit/test_kytosd_stop_contract.py pins it).
    # Without it, aiormq's own factory: a stop mid-handshake then prints that RuntimeError.
    kwargs = getattr(connection, "kwargs", None)
    if isinstance(kwargs, dict):
        kwargs["transport_factory"] = SocketFactory(confirm_linger)
    return connection
