"""The hand-off worker: one task turns events into envelopes, in arrival order, and hands
them on in batches. No Kytos import: handing on is a coroutine function given by main.py.

Why one worker instead of the work in each event handler: core starts every handler as its own
task, so handlers that await interleave and their envelopes could be numbered and handed on out
of order; and one hand-off event per envelope costs a KytosEvent, a trip through the app buffer
and a handler task each. Here the handler appends to a deque (O(1), never awaits), a
single task works through it strictly in order, pacing itself (pacing.Pacer) so the loop is
never held much longer than its budget, and each hand-off event carries up to MAX_BATCH
envelopes, in their hand-off form (envelope.hand_off_form: JSON bytes; a topology's, or a
large content's, a dict). The exception is an event that comes alone to an idle worker
(``take``): the handler does the worker's work for it in its own step, since there is no
batch to make and waking the task would cost a step and a turn of the loop. In a burst
(BURST_EVENTS), the other way round: the task sleeps while events pile up, and takes in a
dozen or so a step, where it woke for each.
"""

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .envelope import hand_off_form
from .pacing import Pacer
from .pipeline import EventPipeline, event_id_text

log = logging.getLogger("kytos.napps.kytos/listen_events")

MAX_BATCH = 100  # envelopes in one hand-off (an event, or a direct call) at most
LINGER_TURNS = 3  # loop turns a partial batch waits for more events before it is handed on
# ... while events come closer together than this (seconds): a burst, one event per turn of
# the loop. An event that came alone waits one turn only (events paced at 1,000/s paid three
# idle steps of this task, and three turns of the loop, each).
BURST_GAP = 0.0005
# ... but at most this long (seconds) from its first envelope while events keep coming one per
# turn of the loop (or the pacer's budget when longer; LINGER_MS instead, when set). In a
# burst, batches then carry 80-100 envelopes, not 18 (at the budget, 2 ms): what each batch
# costs - mq_producer's intake and publisher steps, and on the event path core's dispatch of
# the hand-off event and mq_producer's handler step - is shared by more envelopes, for about
# 9 % less of the NApps' own CPU per event, measured on the event path (docs/benchmarks.rst,
# "Where a burst event's CPU goes"). Only a burst waits for it: at a steady pace each event
# is handed on alone, at once.
HAND_OFF_AGE = 0.010
# A burst: this many events and the one before them came within HAND_OFF_AGE (3,200 events/s
# and more). Then a partial batch waits for more as with a linger of HAND_OFF_AGE (or the
# pacer's budget when longer): the worker task sleeps while events pile up in the intake, and
# takes them in a step or a few, where it woke for every one of them (about 14 % less of the
# NApps' own CPU per event in a burst, docs/benchmarks.rst). An event of a burst waits no
# longer than HAND_OFF_AGE either way. Not a steady pace: at 1,000 events/s it takes a stall
# of 20 ms or more for this many to come that close (the catch-up after it).
BURST_EVENTS = 32
# Between two events, the worker task gives the loop a turn once it has worked this long
# (seconds): a burst's events are taken in a dozen or so a step. Steps of the pacer's budget
# (WORK_SLICE, which bounds one event's own work), with those of mq_producer's intake and
# publisher in the same turn of the loop, held it 5-6 ms.
TAKE_IN_SLICE = 0.0005
# A lingering task wakes once this many events wait in its intake (or a batch's worth). Events
# that wait are objects the garbage collector sees survive: a hundred of the all-events mix
# waiting at once made its collections four times as many, and a full one came due in a burst
# of 10,000 (docs/benchmarks.rst).
TAKE_IN_EVENTS = 16

Handed = dict[str, Any] | bytes  # an envelope in its hand-off form (envelope.hand_off_form)
HandOn = Callable[[list[Handed]], Awaitable[None]]
_Event = tuple[str, Any, dt.datetime | None, Any]  # name, id, timestamp, content


@dataclass(frozen=True, slots=True)
class Snapshotted:
    """What a snapshot request handed on: messages about Kytos links, about NNI ports."""

    links: int
    nni_ports: int


@dataclass(slots=True)
class _SnapshotRequest:
    links: Sequence[Any]
    switches: Sequence[Any]  # their NNI ports are snapshotted too
    done: asyncio.Future[Snapshotted]  # what was handed on, or what building raised


@dataclass(frozen=True, slots=True)
class Discarded:
    """What stop() threw away."""

    events: int  # pushed events (and snapshot requests) not processed
    envelopes: int  # built but not handed on yet
    last_handed_on: str | None  # the message id of the last envelope handed on, if any


class HandOffWorker:
    """Events in through ``push()``; envelopes out through ``hand_on(batch)``, in order.

    A batch is handed on when it holds ``max_batch`` envelopes, when the pacer says the loop
    is due a turn, and when the intake is empty (nothing waits for a batch to fill up) - in a
    burst or with a linger, once its first envelope has waited HAND_OFF_AGE or the linger.
    """

    def __init__(self, pipeline: EventPipeline, hand_on: HandOn,
                 max_batch: int = MAX_BATCH, linger: float = 0.0) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if linger < 0:
            raise ValueError(f"linger must be >= 0 seconds, got {linger}")
        self.pipeline = pipeline
        self.max_batch = max_batch
        # Seconds a partial batch waits for more envelopes (LINGER_MS); 0: loop turns only.
        self.linger = linger
        self._lingering = False  # the task waits for the linger's end
        self._linger_timer: asyncio.TimerHandle | None = None  # ends it
        self._hand_on = hand_on
        self._intake: deque[_Event | _SnapshotRequest] = deque()
        self._batch: list[Handed] = []
        self._batch_since = 0.0  # time.perf_counter() when the batch got its first envelope
        self._busy = False  # an item taken from the intake is being worked on
        self._wake = asyncio.Event()  # set by push(): the intake is not empty
        self._idle = asyncio.Event()  # set when everything pushed has been handed on
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self.after_stop = 0  # events pushed after stop(): discarded
        self._pushed_at = 0.0  # time.perf_counter() of the last push() or take()
        self._burst = False  # the last event came within BURST_GAP of the one before
        self._recent: deque[float] = deque(maxlen=BURST_EVENTS)  # the last pushes' times
        self._bursting = False  # the last push and the BURST_EVENTS before it: a burst
        self._inline = False  # take() is doing the worker's work in its caller's step
        # The last envelope handed on, for stop()'s account: in its hand-off form, or a dict
        # one's message id alone (a topology's is megabytes).
        self._last_handed_on: bytes | str | None = None

    @property
    def pacer(self) -> Pacer:
        return self.pipeline.pacer

    @property
    def backlog(self) -> int:
        """Events (and snapshot requests) pushed but not processed yet."""
        return len(self._intake) + self._busy

    @property
    def idle(self) -> bool:
        """Nothing waiting, nothing being processed, nothing built and not handed on."""
        return self._idle.is_set()

    def push(self, name: str, event_id: Any, timestamp: dt.datetime | None,
             content: Any) -> None:
        """Queue one event; O(1), never awaits. Must be called on the loop's thread. After
        stop() the event is discarded, counted (``after_stop``) and, the first time, logged."""
        if self._stopped:
            self.after_stop += 1
            if self.after_stop == 1:
                log.info("listen_events: events still arrive after shutdown (Kytos is "
                         "stopping, or the NApp is being disabled): discarded, counted as "
                         "after_shutdown in v1/status (logged once)")
            return
        self._arrived(time.perf_counter())
        self._intake.append((name, event_id, timestamp, content))
        self._kick()

    async def take(self, name: str, event_id: Any, timestamp: dt.datetime | None,
                   content: Any) -> None:
        """``push()``; but an event that came alone (none for BURST_GAP before it) to an idle
        worker without a linger is processed and handed on here, in the caller's step (the
        event handler's): at a steady pace, where events come one by one, waking the worker
        task cost a step and a turn of the loop each, and its one turn of lingering another.

        Order holds: the worker task is not woken while this runs, events pushed meanwhile
        (this awaits only when the content is large, or the app buffer full) wait in the
        intake behind it, and the task takes them once this one is handed on."""
        now = time.perf_counter()
        if self._stopped or self.linger or self._inline or not self._idle.is_set() \
                or now - self._pushed_at < BURST_GAP:
            self.push(name, event_id, timestamp, content)
            return
        self._arrived(now)
        self._inline = True
        self._idle.clear()
        self.pacer.restart()  # this step is a turn of the loop of its own
        try:
            await self._work((name, event_id, timestamp, content))
            if not self._stopped:  # stop() discarded the batch: nothing more goes
                await self._hand_on_batches(everything=True)
        finally:
            self._inline = False
            if self._stopped:  # what stop() did not see goes the way of what it discarded
                self._batch = []
                self._idle.set()
            elif self._intake or self._batch:
                self._kick()
            else:
                self._idle.set()

    async def snapshot(self, links: Sequence[Any],
                       switches: Sequence[Any] = ()) -> Snapshotted:
        """Snapshot ``links`` and the NNI ports of ``switches`` behind the events already
        pushed, so that sequence numbers and hand-off order agree; return how many envelopes
        of each were handed on, once they are. Raises what building the snapshot raised."""
        if self._stopped:
            raise RuntimeError("the hand-off worker is stopped")
        done: asyncio.Future[Snapshotted] = asyncio.get_running_loop().create_future()
        self._intake.append(_SnapshotRequest(links, switches, done))
        self._kick()
        return await done

    async def drained(self) -> None:
        """Wait until everything pushed so far has been handed on."""
        await self._idle.wait()

    def stop(self) -> Discarded:
        """Cancel the worker task (ours; nothing else is touched) and drop what waits.

        Sync, and final. When Kytos stops, it stops its loop in the same turn of the loop, so
        the cancelled task never runs again: asyncio is told not to report it as destroyed
        while pending (what it awaits is cancelled with it, so its ``finally`` clauses, run
        when the garbage collector closes it after loop.close(), need no loop). Where the
        loop goes on (an unload) it ends at its next turn."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            task._log_destroy_pending = False  # asyncio's own switch (base_events, gather)
        if self._linger_timer is not None:  # ours too: the loop may stop before the task ends
            self._linger_timer.cancel()
        last = self._last_handed_on
        discarded = Discarded(self.backlog, len(self._batch),
                              _message_id(last) if type(last) is bytes else last)
        for item in self._intake:
            if isinstance(item, _SnapshotRequest):
                item.done.cancel()
        self._intake.clear()
        self._batch = []
        self._idle.set()  # nothing will be handed on any more: nobody should wait for it
        return discarded

    def _arrived(self, now: float) -> None:
        """Note an event's arrival (``time.perf_counter()``): is it a burst's?"""
        self._burst, self._pushed_at = now - self._pushed_at < BURST_GAP, now
        recent = self._recent
        self._bursting = len(recent) == BURST_EVENTS and now - recent[0] < HAND_OFF_AGE
        recent.append(now)

    def _kick(self) -> None:
        self._idle.clear()
        if self._inline:
            return  # take() kicks the task once its event is handed on
        if self._lingering and len(self._intake) < TAKE_IN_EVENTS \
                and len(self._intake) + len(self._batch) < self.max_batch:
            return  # taken in together later: one step for many, not one per event
        self._wake.set()
        if self._task is None or self._task.done():
            # Started on first use: setup() may run off the loop's thread; push() does not.
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="listen_events hand-off worker")
            self._task.add_done_callback(_log_unexpected_end)

    async def _run(self) -> None:
        self.pacer.restart()  # this task starting is a turn of the loop
        lingered = 0
        while True:
            if not self._intake:
                linger = self._linger()
                if self._batch and linger and not self._batch_is_due():
                    # Wait for more until the first envelope has lingered (a timer wakes the
                    # task, or events enough to fill a batch).
                    self._wake.clear()
                    self._linger_timer = asyncio.get_running_loop().call_later(
                        self._batch_since + linger - time.perf_counter(), self._wake.set)
                    self._lingering = True
                    try:
                        await self._wake.wait()
                    finally:
                        self._lingering = False
                        self._linger_timer.cancel()
                    self.pacer.restart()
                    continue
                if self._batch and not self.linger \
                        and lingered < (LINGER_TURNS if self._burst else 1) \
                        and not self._batch_is_due():
                    # Core hands out one event per turn of the loop: a burst arrives one
                    # event at a time, and a batch handed on now would hold just one.
                    lingered += 1
                    await asyncio.sleep(0)
                    self.pacer.restart()
                    continue
                await self._hand_on_batches(everything=True)
                if self._intake:  # more came while handing on
                    continue
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                self.pacer.restart()  # the loop ran while we waited
                continue
            lingered = 0
            item = self._intake.popleft()
            self._busy = True
            try:
                await self._work(item)
            finally:
                self._busy = False
            # Full batches go at once; a partial one when the loop is due a turn anyway, or
            # when its first envelope has waited HAND_OFF_AGE - with a linger, once what
            # came meanwhile is in it too.
            await self._hand_on_batches(everything=self.pacer.due or (
                self._batch_is_due() and not (self._linger() and self._intake)))
            await self.pacer.pause(min(TAKE_IN_SLICE, self.pacer.budget))

    def _linger(self) -> float:
        """How long a partial batch waits for more envelopes (seconds): LINGER_MS; in a burst,
        HAND_OFF_AGE (or the pacer's budget when longer); else 0 (a few turns of the loop)."""
        if self.linger:
            return self.linger
        return max(HAND_OFF_AGE, self.pacer.budget) if self._bursting else 0.0

    def _batch_is_due(self) -> bool:
        """The batch's first envelope has waited longer than the linger, when there is one
        (LINGER_MS decides alone: a shorter one than the others would otherwise have the task
        wake again and again until they passed); else than HAND_OFF_AGE, or the pacer's
        budget when longer."""
        return bool(self._batch) and time.perf_counter() - self._batch_since \
            > (self.linger or max(HAND_OFF_AGE, self.pacer.budget))

    async def _add(self, envelopes: list[dict[str, Any] | bytes]) -> None:
        """Move envelopes into the batch in their hand-off form (bytes are already), giving the
        loop its turns.
        ``envelopes`` is emptied as it goes, so that each dict is freed once encoded: a
        topology's 5,000 snapshot envelopes freed at once, with the list, held the loop 6 ms."""
        envelopes.reverse()
        while envelopes:
            if not self._batch:
                self._batch_since = time.perf_counter()
            envelope = envelopes.pop()
            self._batch.append(envelope if type(envelope) is bytes else hand_off_form(envelope))
            await self.pacer.pause()

    async def _work(self, item: _Event | _SnapshotRequest) -> None:
        if isinstance(item, _SnapshotRequest):
            await self._snapshot(item)
            return
        name, event_id, timestamp, content = item
        try:
            await self._add(await self.pipeline.process(name, event_id, timestamp, content))
        except Exception:  # a bug must cost one event, logged, not the worker
            self.pipeline.counters.failed += 1
            log.exception("listen_events: could not process event %s (id %s)", name,
                          event_id_text(event_id)[0])

    async def _snapshot(self, request: _SnapshotRequest) -> None:
        if request.done.cancelled():  # the requester is gone
            return
        # What earlier events built goes first, and not after a long snapshot: the batch is
        # then this snapshot's alone, in order, until it is all handed on below.
        await self._hand_on_batches(everything=True)
        try:
            envelopes = await self.pipeline.snapshot(request.links, request.switches)
        except Exception as exc:  # the route logs and counts it, and answers 500
            if not request.done.done():
                request.done.set_exception(exc)
            return
        nni = [_is_nni(envelope) for envelope in envelopes]
        await self._add(envelopes)
        handed = await self._hand_on_batches(everything=True)  # the route answers "handed on"
        handed_nni = handed_all = position = 0
        for size, ok in handed:
            if ok:
                handed_all += size
                handed_nni += sum(nni[position:position + size])
            position += size
        if not request.done.done():
            request.done.set_result(Snapshotted(handed_all - handed_nni, handed_nni))

    async def _hand_on_batches(self, everything: bool) -> list[tuple[int, bool]]:
        """Hand on every full batch, and the last partial one too when ``everything``; the
        size of each batch handed on, in order, and whether handing it on succeeded.

        The loop gets its turn between batches, not after the last one: every caller then
        ends its step or paces itself, and core's handler task, which hands on an event that
        came alone (``take``), ends in the step that handed it on (a stop of Kytos in the
        next turn would leave it pending: "Task was destroyed but it is pending!")."""
        size = self.max_batch
        outcomes = []
        while len(self._batch) >= size or (everything and self._batch):
            if outcomes:
                await self.pacer.pause()
            batch = self._batch[:size]  # only this task touches the batch: no race
            del self._batch[:size]
            outcomes.append((len(batch), await self._hand_on_one(batch)))
        return outcomes

    async def _hand_on_one(self, batch: list[Handed]) -> bool:
        counters = self.pipeline.counters
        try:
            await self._hand_on(batch)
        except Exception:  # the next batch may well go through: keep working
            counters.hand_on_failed += len(batch)
            log.exception("listen_events: could not hand on %d envelopes (messages %s to %s)",
                          len(batch), _message_id(batch[0]), _message_id(batch[-1]))
            return False
        counters.handed_on += len(batch)
        last = batch[-1]
        self._last_handed_on = last if type(last) is bytes else _message_id(last)
        return True


def on_loop(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Run ``callback`` now when called on ``loop``'s thread, else hand it to the loop and
    return at once. Core calls shutdown() on the loop's thread when Kytos stops, but from a
    thread of its own when the NApp is disabled through Kytos' API (kytos-ng 2025.2.1: the
    disable route, and watchdog's observer seeing the NApp's link go, each call unload_napp):
    the worker's task and timer may be touched only on their loop's thread. (mq_producer has
    the same function: the NApps share no code, each installs alone.)"""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:  # no loop runs in this thread
        running = None
    if running is loop:
        callback()
        return
    with contextlib.suppress(RuntimeError):  # the loop is closed: our task ended with it
        loop.call_soon_threadsafe(callback)


def _is_nni(envelope: dict[str, Any]) -> bool:
    link = envelope.get("link")
    return link is not None and link.get("kind") == "nni"


def _message_id(item: Handed) -> Any:
    """For the log: the message id of an envelope in its hand-off form."""
    return (orjson.loads(item) if isinstance(item, bytes) else item).get("message_id")


def _log_unexpected_end(task: asyncio.Task[None]) -> None:
    """The worker catches every error; should one escape anyway, say so (push() restarts it)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("listen_events: the hand-off worker ended unexpectedly; it restarts with the "
                  "next event", exc_info=task.exception())
