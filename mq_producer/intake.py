"""The hand-off intake: hand-off events are queued by the event handler and turned into
messages by one task, in order, giving the event loop a turn every WORK_SLICE. A small one
(SMALL_HAND_OFF envelopes in their bytes form, an event that came alone) with nothing waiting
before it is taken in the handler's own step instead: a few microseconds of work, where a
wake-up of the task costs a step and a turn of the loop. Its messages are then published in
that step too when the publisher can (``Publisher.publish_now``): the same saving, for the
publisher's task.

Messages go to the publisher's buffer while it has room (``Publisher.has_room``). While it is
full and the broker keeps confirming, they wait here, in order - already encoded: one object
and a bytes body each, where the envelope dicts they came from would be dozens of objects for
the garbage collector to walk through a burst. At most MAX_WAITING of them: a broker that
confirms, but slower than events keep coming (a thin link, its flow control), would otherwise
take the controller's memory without end; past it they go into the buffer all the same, and
its drop policy applies (the oldest queued is dropped, counted), as in an outage.

Why not in the handler: core starts a handler task for every event it takes from the app buffer,
up to a whole buffer (1024) at once, and all of them run in the same turn of the loop; a
handler that checked, encoded and routed its 100 envelopes there would add its milliseconds to
every other's. Queueing is O(1); the work is paced here. One task also keeps the order of the
envelopes across hand-off events, which handlers that yielded would not.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import orjson

from .envelopes import (
    InvalidEnvelope,
    body_pieces,
    decode,
    envelopes_of,
    status_copy_problem,
    to_messages,
)
from .outbox import OutboundMessage
from .publisher import Publisher
from .tasks import cancel

log = logging.getLogger("kytos.napps.kytos/mq_producer")

# The longest stretch of work (seconds) before the event loop gets a turn.
WORK_SLICE = 0.002

_HandOff = tuple[str, Any, Any]  # event name, event id, content


class HandOffIntake:
    """Hand-off events in through ``push()``; their envelopes' messages out through
    ``publisher.submit()``, in order. Counts ``received`` and ``rejected`` on the publisher."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self._queue: deque[_HandOff] = deque()
        self._busy = False
        self._left = 0  # envelopes of the hand-off event being taken not converted yet
        self._ready: deque[OutboundMessage] = deque()  # converted, waiting for buffer room
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._late_logged = False
        self.after_stop = 0  # envelopes of hand-off events pushed after stop(): discarded
        self._turn = 0.0  # time.perf_counter() when the loop last had a turn
        self._warned_at = 0  # messages waiting when the last "broker too slow" warning went
        self._peak = 0  # the most messages waiting since that first warning
        self._dropped_before = -1  # publisher's dropped count when MAX_WAITING was reached
        # The last envelope pushed, for the account at stop(): in its bytes form, or a dict
        # one's message id alone (a topology's is megabytes).
        self._last_received: bytes | str | None = None

    @property
    def backlog(self) -> int:
        """Hand-off events queued or being worked on."""
        return len(self._queue) + self._busy

    @property
    def waiting(self) -> int:
        """Messages encoded and waiting for room in the publisher's buffer."""
        return len(self._ready)

    @property
    def idle(self) -> bool:
        return self._idle.is_set()

    def status(self) -> dict[str, int]:
        """What waits upstream of the publisher's buffer, for the status route."""
        return {"hand_off_events": self.backlog, "waiting": self.waiting}

    async def drained(self) -> None:
        await self._idle.wait()

    def push(self, name: str, event_id: Any, content: Any) -> None:
        """Queue one hand-off event (``event_id`` None: envelopes handed over directly, without
        one); O(1), never awaits. Must be called on the loop's thread.
        After stop() its envelopes are discarded, counted (``after_stop``) and, the first
        time, logged."""
        if self._stopped:
            self.after_stop += _envelope_count(content)
            if self.after_stop and not self._late_logged:
                self._late_logged = True
                log.info("mq_producer: hand-off events still arrive after shutdown (Kytos is "
                         "stopping, or the NApp is being disabled): their envelopes are "
                         "discarded, counted as after_shutdown in v1/status (logged once)")
            return
        self._last_received = _last_envelope(content) or self._last_received
        if not (self._queue or self._busy or self._ready) and _small(content):
            # Nothing waits before it, and its work is a few microseconds: done in this step,
            # which saves the intake task a wake-up (a step and a turn of the loop).
            self._take_now(name, event_id, content)
            if not self._ready:
                return
        else:
            self._queue.append((name, event_id, content))
        self._idle.clear()
        self._wake.set()
        if self._task is None or self._task.done():  # started on first use, on the loop
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="mq_producer hand-off intake")

    @property
    def last_received(self) -> str | None:
        """The message id of the last envelope pushed (hand-off events sent after it, still
        in Kytos' app buffer when Kytos stops, never reach this NApp), if it has one."""
        last = self._last_received
        if type(last) is bytes:
            try:
                last = orjson.loads(last).get("message_id")
            except (orjson.JSONDecodeError, AttributeError):  # not an envelope: rejected
                return None
        return last if type(last) is str else None

    def stop(self) -> int:
        """Stop our own task for good; return how many envelopes (or, once encoded,
        messages) were still waiting: they are dropped, and so is whatever is pushed later.

        Sync, and final. When Kytos stops, it stops its loop in the same turn of the loop, so
        the cancelled task never runs again: asyncio is told not to report it as destroyed
        while pending (what it awaits is cancelled with it, so its ``finally`` clauses, run
        when the garbage collector closes it after loop.close(), need no loop). Where the
        loop goes on (an unload) it ends at its next turn."""
        self._stopped = True
        task, self._task = self._task, None
        cancel(task, for_good=True)
        waiting = len(self._ready) + self._left + sum(
            _envelope_count(content) for _, _, content in self._queue)
        self._left = 0
        self._ready.clear()
        self._queue.clear()
        self._idle.set()
        return waiting

    async def _run(self) -> None:
        self._turn = time.perf_counter()
        while True:
            self._submit_ready()
            if not self._queue:
                if self._ready:  # all encoded: wait for room in the buffer
                    await self.publisher.room()
                    self._turn = time.perf_counter()
                    continue
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                self._turn = time.perf_counter()
                continue
            name, event_id, content = self._queue.popleft()
            self._busy = True
            try:
                await self._take(name, event_id, content)
            except Exception:  # a bug must cost one hand-off event, logged, not the intake
                log.exception("mq_producer: could not take hand-off %s", _source(name, event_id))
            finally:
                self._busy = False

    def _submit_ready(self, *, wake: bool = True) -> None:
        """Submit the waiting messages, in order, as long as the buffer takes them
        (``wake``: see Publisher.submit)."""
        ready, publisher = self._ready, self.publisher
        while ready:
            if not publisher.has_room():
                if len(ready) <= publisher.config.max_waiting:
                    break
                self._note_limit()
            publisher.submit(ready.popleft(), wake=wake)
        if self._warned_at and not ready:
            dropped = "" if self._dropped_before < 0 else (
                f"; {publisher.counters.dropped - self._dropped_before} dropped from the "
                "buffer to stay within MAX_WAITING")
            log.info("mq_producer: the messages that waited for room in the buffer are all in "
                     "it now (%d waited at the most%s)", self._peak, dropped)
            self._warned_at = self._peak = 0
            self._dropped_before = -1

    def _note_limit(self) -> None:
        """MAX_WAITING messages wait: say so, once until they are all in the buffer again."""
        if self._dropped_before >= 0:
            return
        self._dropped_before = self.publisher.counters.dropped
        self._warned_at = self._peak = max(self._warned_at, len(self._ready))
        log.warning("mq_producer: %d messages wait for room in the buffer (MAX_WAITING): the "
                    "broker confirms too slowly for the events' rate; from now on each new "
                    "one pushes the oldest buffered message out (counted as dropped, the "
                    "buffer's drop policy) rather than wait in memory",
                    self.publisher.config.max_waiting)

    def _note_waiting(self) -> None:
        """Warn when the messages waiting here reach the buffer's capacity, and at every
        doubling after that: the broker confirms slower than events arrive, and they wait in
        memory (none is dropped while it keeps confirming, up to MAX_WAITING)."""
        waiting, capacity = len(self._ready), self.publisher.outbox.capacity
        if self._warned_at:
            self._peak = max(self._peak, waiting)
        if waiting >= max(capacity, 2 * self._warned_at):
            self._warned_at = self._peak = waiting
            log.warning("mq_producer: %d messages wait for room in the buffer (BUFFER_SIZE %d, "
                        "full): the broker confirms slower than events arrive; they wait in "
                        "memory, none dropped while it keeps confirming (up to MAX_WAITING "
                        "%d)", waiting, capacity, self.publisher.config.max_waiting)

    async def _pause_if_due(self) -> None:
        """Give the loop a turn once WORK_SLICE has passed since its last one."""
        if time.perf_counter() - self._turn > WORK_SLICE:
            await asyncio.sleep(0)
            self._turn = time.perf_counter()

    async def _take(self, name: str, event_id: Any, content: Any) -> None:
        """Encode one hand-off event's envelopes; submit what the buffer takes."""
        counters = self.publisher.counters
        try:
            envelopes = envelopes_of(content)
        except InvalidEnvelope as exc:
            counters.received += 1  # the container stands for one envelope that never came
            counters.rejected += 1
            log.error("mq_producer: cannot publish %s: %s", _source(name, event_id), exc)
            return
        now = time.time()  # one hand-off event: its envelopes were handed on together
        try:
            for position, envelope in enumerate(envelopes, 1):
                self._left = len(envelopes) - position + 1  # this one and those after it
                await self._convert(envelope, f"{position} of {len(envelopes)}", name,
                                    event_id, now)
                self._submit_ready()
        finally:
            self._left = 0

    def _take_now(self, name: str, event_id: Any, content: Any) -> None:
        """``_take`` for a ``_small`` hand-off event, in the caller's step (never awaits);
        its messages are published in this step too when the publisher can
        (Publisher.publish_now)."""
        now = time.time()
        envelopes = content["envelopes"]
        for position, envelope in enumerate(envelopes, 1):
            self.publisher.counters.received += 1
            self._route(envelope, envelope, f"{position} of {len(envelopes)}", name,
                        event_id, now)
        self._submit_ready(wake=False)
        self.publisher.publish_now()

    async def _convert(self, envelope: Any, position: str, name: str, event_id: Any,
                       now: float) -> None:
        """Check, encode and route one envelope; queue its messages for submission
        (``position``: which envelope of the hand-off event, for the log)."""
        await self._pause_if_due()
        self.publisher.counters.received += 1
        body = None
        if type(envelope) is bytes:  # listen_events' hand-off form: published as it is
            body = envelope
        elif type(envelope) is dict:  # listen_events' large ones (a topology, contents
            # of over 5,000 values or 64 K characters): in pieces, with the loop's turns
            # Grown piece by piece: one join of a multi-MB body held the loop ~10 ms.
            try:
                body = bytearray()
                for piece in body_pieces(envelope):
                    body += piece
                    await self._pause_if_due()
            except InvalidEnvelope as exc:
                self._rejected(envelope, position, name, event_id, exc)
                return
        self._route(envelope, body, position, name, event_id, now)

    def _rejected(self, envelope: Any, position: str, name: str, event_id: Any,
                  exc: InvalidEnvelope) -> None:
        self.publisher.counters.rejected += 1
        log.error("mq_producer: cannot publish %s, envelope %s%s: %s", _source(name, event_id),
                  position, _message_id_note(envelope), exc)

    def _route(self, envelope: Any, body: bytes | bytearray | None, position: str, name: str,
               event_id: Any, now: float) -> None:
        """Check and route one envelope (``body``: its encoding, when it has one; bytes:
        the envelope is that JSON); queue its messages for submission."""
        publisher = self.publisher
        counters, config = publisher.counters, publisher.config
        try:
            if type(envelope) is bytes:
                envelope = decode(envelope)
            messages = to_messages(envelope, config.router, config.link_status, now,
                                   config.max_message_bytes, body)
        except InvalidEnvelope as exc:
            self._rejected(envelope, position, name, event_id, exc)
            return
        for message in messages:
            problem = message.link_id is not None \
                and status_copy_problem(message, config.link_status)
            if problem:
                counters.rejected += 1
                log.error("mq_producer: cannot publish the link status message of %s, "
                          "envelope %s (message %s): %s", _source(name, event_id), position,
                          message.message_id[:200], problem)
            else:
                self._ready.append(message)
        self._note_waiting()


def _source(name: str, event_id: Any) -> str:
    """For the log: the hand-off event, or the envelopes handed over without one
    (``take_hand_off``: no event, no id)."""
    if event_id is None:
        return f"event {name} (handed over directly)"
    return f"event {name} (id {event_id})"


def _has_list(content: Any) -> bool:
    return isinstance(content, Mapping) and isinstance(content.get("envelopes"), list)


# The most envelopes of a hand-off event taken in the handler's step (``push``), about 15 us
# each: listen_events hands a lone event on alone, a few with LINGER_MS; a batch of a burst
# goes to the task, paced.
SMALL_HAND_OFF = 16


def _small(content: Any) -> bool:
    """A hand-off event of at most SMALL_HAND_OFF envelopes, each in its JSON bytes form
    (decoding and routing one takes microseconds; a dict one is encoded in paced pieces)."""
    envelopes = content.get("envelopes") if type(content) is dict else None
    return type(envelopes) is list and 0 < len(envelopes) <= SMALL_HAND_OFF \
        and all(type(envelope) is bytes for envelope in envelopes)


def _last_envelope(content: Any) -> bytes | str | None:
    """A hand-off event's last envelope in its bytes form, or a dict one's message id."""
    envelopes = content.get("envelopes") if type(content) is dict else None
    if type(envelopes) is not list or not envelopes:
        return None
    last = envelopes[-1]
    if type(last) is bytes:
        return last
    return last.get("message_id") if type(last) is dict else None


def _envelope_count(content: Any) -> int:
    """Envelopes in a hand-off event's content; one without the list stands for one."""
    return len(content["envelopes"]) if _has_list(content) else 1


def _message_id_note(envelope: object) -> str:
    """For the log line: ' (message <id>)' when the envelope has a plain string id, else ''."""
    message_id = envelope.get("message_id") if isinstance(envelope, dict) else None
    if type(message_id) is not str or not message_id:  # a str subclass may misbehave in str()
        return ""
    return f" (message {message_id[:200]})"
