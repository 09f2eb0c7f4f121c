"""The publishing loop: connect, keep a bounded window of publishes awaiting confirms, and on
any failure retry until delivery - promptly at first, at most RETRY_INTERVAL apart - with the
alarm telling the operator."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from typing import TypeVar

from .alarm import OutageAlarm
from .config import ProducerConfig
from .envelopes import stamped, status_copy
from .outbox import OutboundMessage, Outbox
from .recent import OutcomeLog
from .refused_exchanges import RefusedExchanges
from .status_lanes import StatusLanes, asked_for
from .tasks import cancel
from .transports.base import (
    SYNC_PUBLISH_BYTES,
    ExchangeError,
    Outcome,
    PublishOutcome,
    Transport,
    TransportError,
    Unpublishable,
)

log = logging.getLogger("kytos.napps.kytos/mq_producer")

_Answer = TypeVar("_Answer")

# Messages encoded and written in one go (well under a millisecond's work); the event loop gets
# a turn between two such batches.
WRITE_BATCH = 64

# Seconds before the first retry after a failure, doubling with each failure in a row up to
# RETRY_INTERVAL; always this while nothing accepts the connection (a refused TCP connect costs
# the broker nothing), so a broker that comes back is found within about this long.
PROMPT_RETRY = 0.5

# Routing keys whose returned messages are each logged once; a routing-key template with the
# link id or the event's key could make them as many as the network's objects.
RETURNED_KEYS_LOGGED = 1000


@dataclass
class ProducerCounters:
    received: int = 0  # envelopes handed on (a malformed hand-off event counts as one)
    rejected: int = 0  # envelopes, or their link status messages, that cannot be published
    # (logged, each)
    published: int = 0  # publish attempts (retries included)
    confirmed: int = 0  # acked by the broker and routed to a queue
    returned: int = 0  # acked but unroutable (no queue bound for the routing key)
    failed: int = 0  # attempts that failed and were put back to retry
    refused: int = 0  # nacked by the broker (a full link status queue), offered again later
    suppressed: int = 0  # link statuses not published: their queue already has that status
    superseded: int = 0  # link statuses replaced by a newer one of their link before publishing
    replaced: int = 0  # unread statuses purged from their queue to make way for the present one
    refreshed: int = 0  # statuses left unread REFRESH_AFTER republished with a new sent_time
    copied: int = 0  # copies of accepted status changes queued for LINK_STATUS.exchange
    dropped: int = 0  # thrown out of a full buffer
    discarded: int = 0  # still buffered at shutdown

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Publisher:
    def __init__(self, transport: Transport, config: ProducerConfig) -> None:
        self.transport = transport
        self.config = config
        self.outbox = Outbox(config.buffer_size)
        self.counters = ProducerCounters()
        self.alarm = OutageAlarm(config.alarm_reminder_interval)
        self.status_lanes = StatusLanes()  # interdomain link statuses, apart from the outbox
        self._purges: set[asyncio.Task[None]] = set()
        self._refresh_timers: dict[str, asyncio.TimerHandle] = {}  # link id -> timer
        self._copied: dict[str, str | None] = {}  # link id -> status last copied
        # The web UI's recent messages and counts, where the transport sends each message.
        self.outcomes = OutcomeLog(config, destination=transport.destination)
        self._release_timers: dict[str, asyncio.TimerHandle] = {}  # waiting lane -> timer
        self._refused_exchanges: set[str] = set()  # nacked on (logged once each)
        # Exchanges the broker refuses publishing to (refused_exchanges.py), each tried again
        # alone by a timer and a task of ours.
        self.refusals = RefusedExchanges(self.alarm, config.retry_interval,
                                         config.alarm_reminder_interval)
        self._tries: dict[str, asyncio.TimerHandle] = {}
        self._trying: set[asyncio.Task[None]] = set()
        self.last_error: str | None = None
        self._wake = asyncio.Event()  # work to do: new message, free slot, or a failure
        self._settled = asyncio.Event()  # an answer came (waits after a failure, shutdown flush)
        self._failed = asyncio.Event()
        self._waiting_for_work = False  # the publishing task waits for _wake in _drain
        self._stalled = False  # the broker stopped answering: drop the connection
        # time.monotonic() of the last confirm, of connecting, or of the first message after
        # the buffer was empty: has_room() judges the broker silent PUBLISH_TIMEOUT after it
        self._progress_at = 0.0
        self._watch_period = min(1.0, config.publish_timeout / 4)
        self._watchdog: asyncio.TimerHandle | None = None
        self._unblocked_at = 0.0  # time.monotonic() when the broker last lifted a block
        self._returned_keys: set[str] = set()  # each logged once, RETURNED_KEYS_LOGGED at most
        self._returned_keys_full = False
        self._runner: asyncio.Task[None] | None = None
        self._failures_in_a_row = 0  # failed cycles since the broker last answered
        transport.on_lost(self._fail)
        # Links held back until the transport has their status queue (ready()).
        self._waiting_links: set[str] = set()
        transport.on_ready(self._link_ready)
        transport.on_blocked(self._blocked)

    def start(self) -> None:
        """Start publishing in a task of the running loop (the caller must be on it)."""
        self._runner = asyncio.get_running_loop().create_task(self.run(),
                                                              name="mq_producer.publisher")

    def submit(self, message: OutboundMessage, *, wake: bool = True) -> None:
        """Queue a message for publishing; never blocks. ``wake`` False: the caller calls
        ``publish_now()`` next, which wakes the publishing task only if it must."""
        if not self.outbox and not self.status_lanes:  # the broker owes nothing yet: a
            self._progress_at = time.monotonic()  # quiet spell is no silence
        if wake:
            self._wake.set()
        if message.link_id is not None:
            replaced = self.status_lanes.offer(message)
            if replaced is not None:
                self._superseded(replaced)
            return
        dropped = self.outbox.put(message)
        if dropped is not None:
            self.counters.dropped += 1
            self.outcomes.record(dropped.message, "dropped")
            if self.counters.dropped == 1 or self.counters.dropped % 1000 == 0:
                log.warning("mq_producer: buffer full (%d): dropped %s message %s for %s "
                            "(%d dropped in all)", self.outbox.capacity, dropped.reason,
                            dropped.message.message_id, dropped.message.key or "no key",
                            self.counters.dropped)

    def has_room(self) -> bool:
        """Whether a message submitted now goes in without pushing a buffered one out: the
        buffer has room, or the broker is not taking messages (unreachable, failed, or no
        confirm for PUBLISH_TIMEOUT: stalled or refusing), when the drop policy applies."""
        return (len(self.outbox) < self.outbox.capacity or not self.transport.connected
                or self._failed.is_set() or self.alarm.blocked is not None
                or time.monotonic() - self._progress_at >= self.config.publish_timeout)

    async def room(self) -> None:
        """Wait until ``has_room()``: while the buffer is full and the broker keeps
        confirming, a burst larger than BUFFER_SIZE waits upstream instead of pushing
        buffered messages out."""
        while not self.has_room():
            self._settled.clear()
            remaining = self._progress_at + self.config.publish_timeout - time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._settled.wait()

    async def run(self) -> None:
        """Publish until cancelled; every failure leads to a retry (``_retry_delay``)."""
        while True:
            try:
                async with asyncio.timeout(self.config.publish_timeout):
                    await self.transport.connect()
            except TransportError as exc:  # outage False: a cluster's other nodes are left
                self._fail(str(exc), outage=exc.outage, refused=exc.refused)
                await asyncio.sleep(self._retry_delay(exc.nobody_listening))
                continue
            except TimeoutError:
                # A connection that does not answer (stalled link) is dropped, not reused.
                self._fail(f"no answer from {self.transport.description} in "
                           f"{self.config.publish_timeout}s; reconnecting")
                await self.transport.close()
                await asyncio.sleep(self._retry_delay(False))
                continue
            if self.alarm.outage is None and self.last_error is None:
                log.info("mq_producer: connected to %s, exchanges %s", self.transport.description,
                         ", ".join(self.transport.destinations))
            self._hold_unusable()
            if not self.outbox and not self.status_lanes:  # else the first answer from the
                # broker ends the outage
                self.alarm.recovered(0, self.counters.dropped, self.transport.description)
            await self._drain()
            await asyncio.sleep(self._retry_delay(False))

    def _retry_delay(self, nobody_listening: bool) -> float:
        """PROMPT_RETRY while nothing accepts the connection; else doubling from it with each
        failure since the broker last answered, up to RETRY_INTERVAL."""
        if nobody_listening:
            return min(PROMPT_RETRY, self.config.retry_interval)
        self._failures_in_a_row += 1
        return min(PROMPT_RETRY * 2 ** (self._failures_in_a_row - 1), self.config.retry_interval)

    async def _drain(self) -> None:
        """Keep up to MAX_IN_FLIGHT messages awaiting the broker's answer until something
        fails; then wait (bounded) for the answers still due, and put back what got none."""
        self._failed.clear()
        self._progress_at = time.monotonic()
        self._watchdog = asyncio.get_running_loop().call_later(self._watch_period,
                                                               self._watch)
        try:
            while not self._failed.is_set():
                batch = self._take()
                if not batch:
                    self._answers_wanted_if_waiting()
                    self._wake.clear()
                    self._waiting_for_work = True
                    try:
                        await self._wake.wait()
                    finally:
                        self._waiting_for_work = False
                    continue
                self._stamp(batch)
                try:
                    async with asyncio.timeout(self.config.publish_timeout):  # a stalled link
                        await self.transport.publish(batch, self._settle)
                except TimeoutError:
                    self._stalled = True
                    self._not_sent(batch, f"{self.transport.description} did not take "
                                          f"messages in {self.config.publish_timeout}s; "
                                          "reconnecting")
                except Exception as exc:
                    self._publish_failed(batch, exc)
                if self._has_work():  # the loop's turn before the next batch
                    await asyncio.sleep(0)
        finally:
            self._watchdog.cancel()
        if self._stalled:  # its answers will not come: closing fails them at once
            self._stalled = False
            await self.transport.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.publish_timeout):
                await self._until(lambda: self._in_flight() == 0)
        for message in [*self.outbox.in_flight_messages(),
                        *self.status_lanes.in_flight_messages()]:  # no answer: later again
            self._put_back(message)

    def publish_now(self) -> None:
        """Publish what was just submitted in the caller's step, when the publishing task
        waits for work (connected, nothing failing) and the transport can send at once
        (``Transport.publish_now``): at a steady pace, waking the task for each event cost
        a step and a turn of the loop. What is left - no room in flight, more than
        SYNC_PUBLISH_BYTES, a transport that cannot - wakes the task as ``submit`` does."""
        if self._waiting_for_work and not self._failed.is_set() \
                and self.alarm.blocked is None and self.transport.can_publish_now():
            batch = self._take(SYNC_PUBLISH_BYTES)
            if batch:
                self._stamp(batch)
                try:
                    self.transport.publish_now(batch, self._settle)
                except Exception as exc:
                    self._publish_failed(batch, exc)
        if self._has_work():
            self._wake.set()
        else:
            self._answers_wanted_if_waiting()

    def _answers_wanted_if_waiting(self) -> None:
        """Called where nothing in the buffer can be taken: what is there waits for the
        broker's answers (its key's message in flight, room in flight; or its queue's
        declaration), and the transport reads them now rather than gathering them."""
        if self.outbox.queued or self.status_lanes.pending:
            self.transport.answers_wanted()

    def _stamp(self, batch: list[OutboundMessage]) -> None:
        """An attempt begins: its time, a status's sent_time, the count."""
        now, sent_time = time.monotonic(), int(time.time())
        for message in batch:
            message.sent_at = now
            if message.envelope is not None:  # a status: sent_time is when it goes
                message.body = stamped(message.envelope, sent_time)
        self.counters.published += len(batch)

    def _publish_failed(self, batch: list[OutboundMessage], error: Exception) -> None:
        """Publishing ``batch`` raised: back to its lanes, and the connection is retried
        (the channel just closed over a refused exchange: as ``_settle`` takes it)."""
        if isinstance(error, TransportError):
            for message in batch:
                self._not_delivered(message, error, answered=False)
            self._fail_with(error)
            return
        # A bug: the publisher must live on, and say so.
        log.error("mq_producer: internal error while publishing %d messages (first %s)",
                  len(batch), batch[0].message_id, exc_info=error)
        self._not_sent(batch, f"internal error: {type(error).__name__}")

    def _in_flight(self) -> int:
        return self.outbox.in_flight + self.status_lanes.in_flight

    def _has_work(self) -> bool:
        """Whether ``_take`` may find something: a buffered lane ready to go, or a link
        status pending. When not, the publishing task is not woken (a wake-up costs a step
        and a turn of the loop): whatever makes a message takeable wakes it."""
        return self.outbox.has_ready or self.status_lanes.pending > 0

    def _take(self, max_bytes: int | None = None) -> list[OutboundMessage]:
        """What the window in flight has room for, WRITE_BATCH at most: link statuses first
        (one per link at most: few, small), then the firehose (``max_bytes``: of its bodies
        at most)."""
        room = min(self.config.max_in_flight - self._in_flight(), WRITE_BATCH)
        if room <= 0:
            return []
        statuses, suppressed = self.status_lanes.take(room)
        for message in suppressed:
            self._suppressed(message)
        # A link whose queue is not declared yet waits (see _ready).
        statuses = [message for message in statuses if self._ready(message)]
        taken = statuses + self.outbox.take(room - len(statuses), max_bytes)
        if self.refusals:
            return [message for message in taken if not self._held_back(message)]
        return taken

    async def _until(self, done: Callable[[], bool]) -> None:
        """Wait until ``done()``, looking again after every answer from the broker."""
        while not done():
            self._settled.clear()
            await self._settled.wait()

    def _watch(self) -> None:
        """The publish timeout, for all messages at once: the oldest one still unanswered
        tells whether the broker stopped answering (a stalled link) - unless it said it
        blocks publishing (a memory or disk alarm): then it is waited for, no reconnect."""
        oldest = min(filter(None, (self.outbox.oldest_in_flight(),
                                   self.status_lanes.oldest_in_flight())),
                     key=lambda message: message.sent_at, default=None)
        if self.alarm.blocked is not None:
            self.alarm.still_blocked(len(self.outbox), self.counters.dropped)
        elif oldest is not None and time.monotonic() - max(
                oldest.sent_at, self._unblocked_at) > self.config.publish_timeout:
            self._stalled = True
            self._fail(f"no answer from {self.transport.description} to message "
                       f"{oldest.message_id} in {self.config.publish_timeout}s; reconnecting")
            return
        self._watchdog = asyncio.get_running_loop().call_later(self._watch_period, self._watch)

    def _settle(self, message: OutboundMessage, attempt: int,
                outcome: Outcome) -> None:
        """The broker's answer to one publish (see transport.Settle)."""
        in_flight = self.status_lanes.is_in_flight(message) if message.link_id is not None \
            else self.outbox.is_in_flight(message)
        if attempt != message.attempts or not in_flight:
            return  # an answer to an attempt already given up (timed out or put back)
        if isinstance(outcome, TransportError):
            self._not_delivered(message, outcome, answered=True)
            if not self._failed.is_set():  # the first reason is the one worth reporting
                self._fail_with(outcome)
        else:
            self._answered(message)
            if isinstance(outcome, Unpublishable):
                self._unpublishable(message, outcome)
            elif outcome is PublishOutcome.REJECTED:
                self._refused(message)
            else:
                self._progress_at = time.monotonic()
                if outcome is PublishOutcome.RETURNED:
                    self._returned(message)
                else:
                    self.counters.confirmed += 1
                    self.outcomes.record(message, "confirmed")
                    if message.link_id is not None:
                        self._status_accepted(message)
                    else:
                        self.outbox.confirm(message)
        if self._has_work():  # an answer frees a slot in flight, or the next of a lane
            self._wake.set()
        self._settled.set()

    def _not_delivered(self, message: OutboundMessage, error: TransportError, *,
                       answered: bool) -> None:
        """``message`` failed with ``error``: back to its lane. When the broker refuses one
        exchange (it said which) and it is the message's, the message waits with that
        exchange, tried alone now and then (_try_refused); ``answered``: the refusal was the
        broker's answer to this very message."""
        refused = error.exchange if error.refused else None
        if refused is not None and self.transport.destination(message)[0] == refused:
            self._put_back(message, ready=False)
            self._hold(refused, message, str(error))
            if answered:
                self._answered(message)
        else:
            self._put_back(message)

    def _fail_with(self, error: TransportError) -> None:
        """The connection is retried after ``error``; one exchange refused (the channel
        closed over it) is no alarm of the whole broker's: the others go again on a new
        channel."""
        one_exchange = error.refused and error.exchange is not None
        self._fail(str(error), outage=error.outage and not one_exchange, refused=error.refused)

    def _answered(self, message: OutboundMessage) -> None:
        """The broker answered ``message``: an outage since it was sent is over."""
        self._failures_in_a_row = 0
        outage = self.alarm.outage
        if outage is not None and message.sent_at >= outage.started:
            self.alarm.recovered(len(self.outbox), self.counters.dropped,
                                 self.transport.description)

    def _not_sent(self, batch: list[OutboundMessage], reason: str) -> None:
        for message in batch:
            self._put_back(message)
        self._fail(reason)

    def _put_back(self, message: OutboundMessage, *, ready: bool = True) -> None:
        """Not delivered: back to its lane, which waits for ``release`` unless ``ready``."""
        self.counters.failed += 1
        self.outcomes.count(message, "failed")
        if message.link_id is None:
            self.outbox.retry(message, ready=ready)
        else:
            self._superseded(self.status_lanes.put_back(message, ready=ready))

    def _held_back(self, message: OutboundMessage) -> bool:
        """Taken, but its exchange is refused: back to its lane, which waits for the
        exchange (the attempt ``take`` counted is undone)."""
        exchange = self.transport.destination(message)[0]
        if exchange not in self.refusals:
            return False
        if message.link_id is None:
            self.outbox.hold(message)
        else:
            message.attempts -= 1
            self._superseded(self.status_lanes.put_back(message, ready=False))
        self._hold(exchange, message, None)
        return True

    def _hold(self, exchange: str, message: OutboundMessage, reason: str | None) -> None:
        """``message``'s lane waits for ``exchange``, its own, refused (``reason``: the
        broker's refusal; None: the exchange is held already). A new hold is tried again
        after RETRY_INTERVAL."""
        if reason is not None and self.refusals.refused(exchange, reason,
                                                        self.counters.dropped):
            self._try_later(exchange)
        held = self.refusals.get(exchange)
        assert held is not None
        if message.link_id is not None:
            held.links[message.link_id] = None
            return
        held.lanes[message.lane] = None
        if len(held.lanes) > 2 * self.outbox.capacity:  # lanes since dropped: forgotten
            held.lanes = {lane: None for lane in held.lanes if self.outbox.lane_size(lane)}

    def _hold_unusable(self) -> None:
        """After connecting: an exchange the transport cannot use is held as a refused one is,
        from now on, before any of its messages is sent (it would close the channel); one
        held so that this connection found usable goes."""
        unusable = self.transport.unusable_exchanges
        for exchange, error in unusable.items():
            if self.refusals.refused(exchange, error.reason, self.counters.dropped,
                                     unusable=True):
                self._try_later(exchange)
        for exchange in self.refusals:
            held = self.refusals.get(exchange)
            if held is not None and held.unusable and exchange not in unusable:
                self._let_go(exchange)

    def _try_later(self, exchange: str) -> None:
        self._tries[exchange] = asyncio.get_running_loop().call_later(
            self.config.retry_interval, self._try_now, exchange)

    def _try_now(self, exchange: str) -> None:
        del self._tries[exchange]
        task = asyncio.get_running_loop().create_task(self._try_refused(exchange),
                                                      name="mq_producer.try_refused")
        self._trying.add(task)
        task.add_done_callback(self._trying.discard)

    async def _try_refused(self, exchange: str) -> None:
        """One message of a refused exchange, alone: taken, its lanes all go; refused again
        (or no answer), it waits with the others for the next try, RETRY_INTERVAL later. An
        unusable exchange none of whose messages waits is checked instead: usable, it goes."""
        held = self.refusals.get(exchange)
        message = self._take_held(exchange)
        outcome: Outcome | None
        if message is None:
            if held is None or not held.unusable:  # nothing waits for it (dropped, superseded)
                self._let_go(exchange, tried=False)
                return
            outcome = await self._alone(self.transport.check_exchange(exchange),
                                        f"exchange {exchange!r}")
        elif message.link_id is not None and not self._ready(message):
            self._try_later(exchange)  # its queue is being declared: it waits for that
            return
        else:
            self._stamp([message])
            outcome = await self._alone(self.transport.publish_alone(message),
                                        f"message {message.message_id}")
        if isinstance(outcome, TransportError):
            held = self.refusals.get(exchange)
            if held is None:  # let go meanwhile (a new connection found it usable)
                if message is not None:
                    self._put_back(message)
                return
            if isinstance(outcome, ExchangeError):
                held.reason, held.unusable = outcome.reason, True
            elif outcome.refused and outcome.exchange == exchange:  # not another's refusal
                held.reason, held.unusable = str(outcome), False
            if message is not None:
                self._put_back(message, ready=False)
                self._hold(exchange, message, None)
            self.refusals.still_refused(exchange, self._waiting_for(exchange),
                                        self.counters.dropped)
            self._try_later(exchange)
            return
        self._let_go(exchange)  # first: a nack's purge may make its link wait again
        if message is not None and outcome is not None:
            self._settle(message, message.attempts, outcome)

    async def _alone(self, attempt: Awaitable[_Answer], what: str) -> _Answer | TransportError:
        """A try of a refused exchange: the transport's answer; a TransportError when the
        broker could not be asked, or for a bug (logged; tried again later)."""
        try:
            return await attempt
        except TransportError as exc:
            return exc
        except Exception as exc:
            log.error("mq_producer: internal error while trying %s alone", what, exc_info=exc)
            return TransportError(f"internal error: {type(exc).__name__}")

    def _take_held(self, exchange: str) -> OutboundMessage | None:
        """A waiting message of a refused exchange, the lanes' in turn, in flight on its own.
        A lane that has none to give is let go (``_take`` holds it again if its message is
        for the exchange): none waits unseen."""
        held = self.refusals.get(exchange)
        if held is None:
            return None
        for lane in list(held.lanes):
            del held.lanes[lane]
            message = self.outbox.take_lane(lane)
            if message is not None:
                return message
            self.outbox.release(lane)
            self._wake.set()
        for link_id in list(held.links):
            del held.links[link_id]
            message = self.status_lanes.take_link(link_id)
            if message is not None:
                return message
            self.status_lanes.release(link_id)  # a status its queue has: suppressed
            self._wake.set()
        return None

    def _let_go(self, exchange: str, *, tried: bool = True) -> None:
        """The broker took a message of the exchange (``tried``), or none waits for it any
        more: its lanes go."""
        held = self.refusals.taken(exchange, self._waiting_for(exchange)) if tried \
            else self.refusals.forget(exchange)
        if held is None:
            return
        if (timer := self._tries.pop(exchange, None)) is not None:  # a try still to come
            timer.cancel()
        for lane in held.lanes:
            self.outbox.release(lane)
        for link_id in held.links:
            self.status_lanes.release(link_id)
        self._wake.set()

    def _waiting_for(self, exchange: str) -> int:
        """Messages waiting for a refused exchange: its lanes' (with what follows in them)."""
        held = self.refusals.get(exchange)
        if held is None:
            return 0
        return sum(map(self.outbox.lane_size, held.lanes)) \
            + sum(map(self.status_lanes.has_pending, held.links))

    def _moved_on(self, message: OutboundMessage) -> None:
        """Answered, not accepted (returned, or unpublishable): its lane moves on."""
        if message.link_id is None:
            self.outbox.confirm(message)
        else:
            self.status_lanes.settled(message, accepted=False)

    def _superseded(self, message: OutboundMessage | None) -> None:
        if message is not None:
            self.counters.superseded += 1
            self.outcomes.record(message, "superseded")

    def _suppressed(self, message: OutboundMessage) -> None:
        self.counters.suppressed += 1
        self.outcomes.record(message, "suppressed")

    def _status_accepted(self, message: OutboundMessage) -> None:
        """A link's queue took its status: one copy for the other consumers of the status
        exchange (never for a refresh, nor a retry: they had it), and the refresh timer."""
        assert message.link_id is not None
        link_id = message.link_id
        self.status_lanes.settled(message, accepted=True)
        if message.copy_key is not None and self.transport.status_copies \
                and (self._copied.get(link_id) != message.status or asked_for(message)):
            # Once per change: a status purged unread and published again was copied already;
            # a snapshot's goes too (a restarted consumer of the copies asked for it).
            self._copied[link_id] = message.status
            self.counters.copied += 1
            # Never pushes anything out of a full buffer: one per accepted change, few.
            self.outbox.put(status_copy(message, time.time()), force=True)
            self._wake.set()
        refresh_after = self.config.link_status.refresh_after
        if refresh_after:
            timer = self._refresh_timers.pop(link_id, None)
            if timer is not None:
                timer.cancel()
            self._refresh_timers[link_id] = asyncio.get_running_loop().call_later(
                refresh_after, self._refresh, link_id, message)

    def _refresh(self, link_id: str, message: OutboundMessage) -> None:
        """REFRESH_AFTER since the queue took ``message``: if it is still there unread, a
        copy with a new sent_time replaces it (a consumer such as SDX-LC takes a message
        older than 300 s for stale)."""
        del self._refresh_timers[link_id]
        if self.status_lanes.idle(link_id) and self.status_lanes.accepted(link_id) is message:
            self._purge(link_id, refresh=message)

    def _purge(self, link_id: str, refresh: OutboundMessage | None = None) -> None:
        """Empty the link's queue (one unread message at most), then let its lane go: the
        present status follows. ``refresh``: the message to publish again if one was there.
        A transport that cannot purge: the lane waits RETRY_INTERVAL, then tries again."""
        self.status_lanes.wait(link_id)
        task = asyncio.get_running_loop().create_task(self._purged(link_id, refresh),
                                                      name="mq_producer.purge_status")
        self._purges.add(task)
        task.add_done_callback(self._purges.discard)

    async def _purged(self, link_id: str, refresh: OutboundMessage | None) -> None:
        try:
            removed = await self.transport.purge_status(link_id)
        except TransportError as exc:  # the broker is gone: the publisher's retry handles it
            log.debug("mq_producer: purging the status queue of link %s failed: %s",
                      link_id, exc)
            removed = None
        if removed is None:
            self._release_later(f"status:{link_id}", link_id)
            return
        self.status_lanes.purged(link_id, removed)
        if removed and refresh is not None:
            self.counters.refreshed += 1
            self.status_lanes.offer(replace(refresh, attempts=0, copy_key=None))
        elif removed:
            self.counters.replaced += 1
        elif refresh is not None:
            # Read by its consumer - or purged by hand, expired, rejected: the queue is
            # empty, so the next status goes even when it is the same (one per refresh_after
            # at most), rather than a consumer that never had it waiting for a change.
            self.status_lanes.forget(link_id)
        self.status_lanes.release(link_id)
        self._wake.set()

    def _unpublishable(self, message: OutboundMessage, reason: Unpublishable) -> None:
        """The broker cannot take this message as it is: it goes, alone; the lane moves on."""
        self._moved_on(message)
        self.counters.rejected += 1
        self.outcomes.record(message, "rejected")
        log.error("mq_producer: message %s (%s, exchange %r) cannot be published: %s; the "
                  "others go on", message.message_id, message.event_name,
                  self.transport.destination(message)[0], reason)

    def _refused(self, message: OutboundMessage) -> None:
        """A nack. A link's status queue holds an unread status (see status_lanes.py): it is
        purged, then the present status goes. Any other message is offered again after
        RETRY_INTERVAL (a queue of the operator's with reject-publish is full)."""
        if message.link_id is not None:
            self.counters.refused += 1
            self.outcomes.record(message, "refused")
            superseded, purge = self.status_lanes.refused(message)
            self._superseded(superseded)
            if purge:
                self._purge(message.link_id)
            return
        self.counters.refused += 1
        self.outcomes.record(message, "refused")
        if message.exchange not in self._refused_exchanges:
            self._refused_exchanges.add(message.exchange)
            log.warning("mq_producer: the broker refused message %s on exchange %r (a full "
                        "queue with reject-publish, or a full stream with discard new?); "
                        "retrying every %.1fs (logged once per exchange)",
                        message.message_id, message.exchange,
                        self.config.retry_interval)
        self.outbox.retry(message, ready=False)
        self._release_later(message.lane)

    def _release_later(self, lane: str, link_id: str | None = None) -> None:
        """Let a waiting lane go again after RETRY_INTERVAL."""
        self._release_timers[lane] = asyncio.get_running_loop().call_later(
            self.config.retry_interval, self._release, lane, link_id)

    def _release(self, lane: str, link_id: str | None) -> None:
        self._release_timers.pop(lane, None)
        if link_id is None:
            self.outbox.release(lane)
        else:
            self.status_lanes.release(link_id)
        self._wake.set()

    def _ready(self, message: OutboundMessage) -> bool:
        """Whether the transport may publish the link status now; if not, its lane waits
        (taken, not sent: no attempt counted) until ``_link_ready`` names its link."""
        if self.transport.ready(message):
            return True
        assert message.link_id is not None
        message.attempts -= 1
        self._superseded(self.status_lanes.put_back(message, ready=False))
        self._waiting_links.add(message.link_id)
        return False

    def _link_ready(self, link_id: str) -> None:
        """The transport has the link's queue (or was refused it: published all the same)."""
        if link_id in self._waiting_links:
            self._waiting_links.discard(link_id)
            self.status_lanes.release(link_id)
            self._wake.set()

    def _returned(self, message: OutboundMessage) -> None:
        self.counters.returned += 1
        self.outcomes.record(message, "returned")
        if message.link_id is not None and self._status_queue_gone(message):
            return
        self._moved_on(message)
        if message.key is not None and message.key.startswith("status-copy:"):
            if "status-copy" not in self._returned_keys:  # for whoever binds a queue there
                self._returned_keys.add("status-copy")
                log.info("mq_producer: no queue is bound to exchange %r: the copies of link "
                         "statuses are not kept (the links' own queues have them; logged "
                         "once)", message.exchange)
            return
        exchange, routing_key = self.transport.destination(message)
        if routing_key in self._returned_keys or self._returned_keys_full:
            return
        if len(self._returned_keys) == RETURNED_KEYS_LOGGED:
            self._returned_keys_full = True
            log.warning("mq_producer: messages of %d routing keys were returned as unroutable "
                        "(each logged once); those of other keys are no longer logged, only "
                        "counted (returned, v1/exchanges)", RETURNED_KEYS_LOGGED)
            return
        self._returned_keys.add(routing_key)
        log.warning("mq_producer: message %s returned as unroutable: no queue is bound to "
                    "exchange %r for routing key %r (logged once per routing key)",
                    message.message_id, exchange, routing_key)

    def _status_queue_gone(self, message: OutboundMessage) -> bool:
        """A link's status came back unroutable although its queue was declared: the queue
        was deleted (by hand, by an expires policy) or unbound since. The transport declares
        it again (False: it cannot, or it was never declared: the return is counted, logged
        once per routing key, and the lane moves on); the status goes once it has, and what
        the queue last accepted is forgotten: the new queue is empty."""
        link_id = message.link_id
        assert link_id is not None
        if not self.transport.declare_again(link_id):
            return False
        self.status_lanes.forget(link_id)
        self._superseded(self.status_lanes.put_back(message, ready=False))
        self._waiting_links.add(link_id)
        log.warning("mq_producer: the status of link %s came back unroutable: its queue %r was "
                    "deleted or unbound since it was declared; declaring it again, then the "
                    "link's present status goes", link_id,
                    self.config.link_status.queue(link_id))
        return True

    def _blocked(self, reason: str | None) -> None:
        """The transport's report: the broker blocks publishing (``reason``) or lifts it."""
        if reason is None:
            self.alarm.unblock(len(self.outbox), self.counters.dropped)
            # Its silence while blocked is no stall: what was sent meanwhile has a whole
            # PUBLISH_TIMEOUT from now (a loaded broker confirmed its backlog too late once).
            self._progress_at = self._unblocked_at = time.monotonic()
        elif self.alarm.blocked is None:
            self.alarm.block(reason, len(self.outbox), self.counters.dropped)
        self._wake.set()
        self._settled.set()  # room() waiters: the drop policy applies while blocked

    def _fail(self, reason: str, *, outage: bool = True, refused: bool = False) -> None:
        """Stop publishing on this connection (it is retried); ``outage``: raise the alarm
        (``refused``: the broker refuses the publishes, TransportError.refused)."""
        self.last_error = reason
        if not self._failed.is_set():
            self._failed.set()
            self._wake.set()
            self._settled.set()  # room() waiters: the drop policy applies now
        if outage:
            self.alarm.unblock(len(self.outbox), self.counters.dropped, lost=True)
            self.alarm.failure(reason, len(self.outbox), self.counters.dropped,
                               refused=refused)

    def abandon(self, *, for_good: bool = True) -> int:
        """Sync: discard what is buffered and stop our own tasks; return how many messages.

        ``for_good`` (Kytos is stopping: it stops its loop in this same turn of the loop, and
        nothing scheduled from here runs): the publishing task is cancelled - what it awaits
        is cancelled with it, so that its ``finally`` clauses, run when the garbage collector
        closes it after loop.close(), need no loop - and asyncio is told not to report it as
        destroyed while pending; the transport abandons its own connection at once
        (``Transport.abandon``). Else the task is only cancelled (it ends at its next turn),
        and the caller closes the transport (``stop``)."""
        discarded = self.outbox.discard_all() + self.status_lanes.discard_all()
        self.counters.discarded += discarded
        cancel(self._runner, for_good=for_good)  # our own tasks
        for task in [*self._purges, *self._trying]:
            cancel(task, for_good=for_good)
        if self._watchdog is not None:
            self._watchdog.cancel()
        if for_good:
            self.transport.abandon()
        for timer in [*self._release_timers.values(), *self._refresh_timers.values(),
                      *self._tries.values()]:
            timer.cancel()
        self._release_timers.clear()
        self._refresh_timers.clear()
        self._tries.clear()
        self.refusals.clear()
        self._waiting_links.clear()
        return discarded

    async def stop(self, flush_timeout: float) -> int:
        """Flush for at most ``flush_timeout`` seconds, then discard the rest, end our task
        and close the connection (AMQP: Connection.Close, Close-Ok awaited, bounded); return
        how many messages were discarded. For an unload: the loop goes on."""
        if self.transport.connected:
            self.transport.answers_wanted()  # the flush waits for every answer
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(flush_timeout):
                    await self._until(lambda: not self.outbox and not self.status_lanes)
        discarded = self.abandon(for_good=False)
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
        await self.transport.close()
        return discarded

    @property
    def destinations(self) -> dict[str, str]:
        """The transport's exchanges and their states; "refuses publishing" for one whose
        messages wait (refused_exchanges.py)."""
        unusable = self.transport.unusable_exchanges  # their own states say why
        return {**self.transport.destinations,
                **{exchange: "refuses publishing" for exchange in self.refusals
                   if exchange not in unusable}}

    def status(self) -> dict[str, object]:
        return {
            "connected": self.transport.connected,
            "broker": self.transport.description,
            "exchanges": self.destinations,
            "refused_exchanges": self.refusals.as_dict(self._waiting_for),
            "queues": self.transport.queues,
            "buffer": {"queued": self.outbox.queued, "in_flight": self.outbox.in_flight,
                       "capacity": self.outbox.capacity},
            "status_lanes": {"links": self.status_lanes.links,
                             "pending": self.status_lanes.pending,
                             "in_flight": self.status_lanes.in_flight},
            "counters": self.counters.as_dict(),
            "last_error": self.last_error,
            **self.alarm.as_dict(),
        }
