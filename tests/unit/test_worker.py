"""The hand-off worker: arrival order, batches of at most MAX_BATCH, errors cost one event,
pacing; and listen_events' handler, snapshot route and shutdown built on it."""

import asyncio
import datetime as dt
import json
import logging
import math
import time
import uuid
from typing import Any

import pytest
from kytos.core import KytosEvent

from listen_events import settings
from listen_events.config import load_config
from listen_events.main import Main as ListenEvents
from listen_events.pacing import WORK_SLICE, Pacer
from listen_events.patterns import SettingsError
from listen_events.pipeline import TOPOLOGY_LOADED, EventPipeline
from listen_events.worker import (
    BURST_EVENTS,
    BURST_GAP,
    LINGER_TURNS,
    MAX_BATCH,
    TAKE_IN_EVENTS,
    Discarded,
    HandOffWorker,
    Snapshotted,
)
from tests.support.handoff import decoded, handed_envelopes
from tests.support.hostile import BrokenMapping
from tests.support.kytos_controller import FakeController
from tests.support.topology import make_link, make_topology
from tests.support.waiting import loop_turns, wait_until

LINK_DOWN = "kytos/topology.link_down"
HANDOFF = "kytos/listen_events.broadcast"
NOW = dt.datetime.now(dt.UTC)
LINKS = [make_link(index) for index in range(1, 6)]


class Recorder:
    """A hand-on that keeps every batch, optionally failing the first ``fail`` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.fail = fail

    async def __call__(self, batch: list[dict[str, Any]]) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("app buffer closed")
        self.batches.append(list(batch))

    @property
    def envelopes(self) -> list[dict[str, Any]]:
        return [decoded(envelope) for batch in self.batches for envelope in batch]


def _worker(budget: float = WORK_SLICE, hand_on: Recorder | None = None, linger: float = 0.0
            ) -> tuple[HandOffWorker, Recorder]:
    recorder = hand_on or Recorder()
    pipeline = EventPipeline(load_config(settings, {}), Pacer(budget))
    return HandOffWorker(pipeline, recorder, linger=linger), recorder


def _push_link_events(worker: HandOffWorker, numbers: range) -> None:
    for number in numbers:
        worker.push(LINK_DOWN, uuid.uuid4(), NOW,
                    {"link": LINKS[number % len(LINKS)], "reason": str(number)})


def _reasons(envelopes: list[dict[str, Any]]) -> list[int]:
    return [int(envelope["link"]["reason"]) for envelope in envelopes]


# -- the worker on its own ------------------------------------------------------------------

async def test_events_are_handed_on_in_arrival_order_around_a_topology_loaded():
    worker, out = _worker()
    topology = make_topology(20, 150)
    _push_link_events(worker, range(200))
    worker.push(TOPOLOGY_LOADED, uuid.uuid4(), NOW,
                {"topology": topology, "failed_switches": {}, "failed_links": {}})

    async def more_while_it_works() -> None:  # events arriving during the topology's work
        for number in range(200, 400):
            _push_link_events(worker, range(number, number + 1))
            await asyncio.sleep(0)

    await more_while_it_works()
    await worker.drained()
    envelopes = out.envelopes
    assert len(envelopes) == 200 + 1 + 150 + 200
    assert [e["producer"]["sequence"] for e in envelopes] == list(range(1, len(envelopes) + 1))
    assert _reasons(envelopes[:200]) == list(range(200))
    assert envelopes[200]["event_name"] == TOPOLOGY_LOADED
    assert [e["msg_type"] for e in envelopes[201:351]] == ["snapshot"] * 150
    assert {e["link"]["id"] for e in envelopes[201:351]} == {str(i) for i in topology.links}
    assert _reasons(envelopes[351:]) == list(range(200, 400))
    assert all(1 <= len(batch) <= MAX_BATCH for batch in out.batches)
    assert worker.pipeline.counters.handed_on == len(envelopes)
    assert (worker.backlog, worker.idle) == (0, True)
    # Handed on as JSON bytes (one object for the collector), but the topology as a dict, for
    # the producer to encode in paced pieces (hand_off_form).
    forms = [type(item) for batch in out.batches for item in batch]
    assert forms == [bytes] * 200 + [dict] + [bytes] * 350


async def test_a_burst_of_1000_events_goes_in_full_batches_of_100_in_order():
    worker, out = _worker(budget=60.0)  # the pacer never due: only the batch size cuts
    _push_link_events(worker, range(1000))
    assert worker.backlog == 1000 and out.batches == []  # push() only queues
    await worker.drained()
    assert [len(batch) for batch in out.batches] == [MAX_BATCH] * 10
    assert _reasons(out.envelopes) == list(range(1000))
    counters = worker.pipeline.counters.as_dict()
    assert {k: counters[k] for k in ("received", "classified", "handed_on", "failed")} == {
        "received": 1000, "classified": 1000, "handed_on": 1000, "failed": 0}
    assert worker.backlog == 0


async def test_when_the_budget_is_spent_the_batch_goes_before_the_loop_gets_its_turn():
    """Budget 0: the pacer is due after every event, so every envelope leaves in its own
    hand-off, in order, and the loop runs other work in between (timings: benchmarks/)."""
    worker, out = _worker(budget=0.0)
    async with loop_turns() as turns:
        _push_link_events(worker, range(50))
        await worker.drained()
    assert _reasons(out.envelopes) == list(range(50))
    assert [len(batch) for batch in out.batches] == [1] * 50
    assert worker.pipeline.pacer.pauses >= 50 and turns.count >= 50


async def test_an_idle_intake_hands_on_what_is_there_without_waiting_for_a_full_batch():
    worker, out = _worker(budget=60.0)
    _push_link_events(worker, range(3))
    await worker.drained()
    assert [len(batch) for batch in out.batches] == [3]
    _push_link_events(worker, range(3, 4))  # the worker waits for events and wakes up
    await worker.drained()
    assert [len(batch) for batch in out.batches] == [3, 1]


async def test_an_event_that_fails_is_logged_and_counted_and_the_worker_goes_on(caplog):
    worker, out = _worker()
    _push_link_events(worker, range(2))
    bad_id = uuid.uuid4()
    worker.push(LINK_DOWN, bad_id, NOW, {"link": LINKS[0], "bad": BrokenMapping()})
    _push_link_events(worker, range(2, 4))
    await worker.drained()
    assert _reasons(out.envelopes) == [0, 1, 2, 3]
    assert worker.pipeline.counters.failed == 1
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == \
        f"listen_events: could not process event {LINK_DOWN} (id {bad_id})"
    assert "cannot list items" in logging.Formatter().formatException(record.exc_info)
    _push_link_events(worker, range(4, 5))  # still alive
    await worker.drained()
    assert _reasons(out.envelopes)[-1] == 4


async def test_a_hand_on_that_fails_is_logged_and_counted_and_the_next_batch_goes(caplog):
    # 150 events at once are a burst: the last 50 go once the first of them has waited the
    # budget (longer than HAND_OFF_AGE), which no run of 150 events reaches.
    worker, out = _worker(budget=0.5, hand_on=Recorder(fail=1))
    _push_link_events(worker, range(150))
    await worker.drained()
    assert _reasons(out.envelopes) == list(range(100, 150))
    counters = worker.pipeline.counters
    assert (counters.hand_on_failed, counters.handed_on) == (100, 50)
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    instance = worker.pipeline.builder.instance
    assert line == (f"listen_events: could not hand on 100 envelopes (messages {instance}-1 "
                    f"to {instance}-100)")


async def test_a_snapshot_request_waits_its_turn_and_goes_in_batches():
    worker, out = _worker(budget=60.0)
    links = make_topology(10, 250).links
    _push_link_events(worker, range(2))
    assert await worker.snapshot(list(links.values())) == Snapshotted(links=250, nni_ports=0)
    assert [len(batch) for batch in out.batches] == [2, 100, 100, 50]
    envelopes = out.envelopes
    assert [e["msg_type"] for e in envelopes] == ["event"] * 2 + ["snapshot"] * 250
    assert [e["producer"]["sequence"] for e in envelopes] == list(range(1, 253))


async def test_a_failing_snapshot_raises_to_its_requester_and_the_worker_goes_on():
    worker, out = _worker()

    class HostileLink:
        id = "hostile"

        def as_dict(self):
            return BrokenMapping()

    with pytest.raises(RuntimeError, match="cannot list items"):
        await worker.snapshot([HostileLink()])
    _push_link_events(worker, range(1))
    await worker.drained()
    assert _reasons(out.envelopes) == [0]


async def test_stop_cancels_only_the_worker_task_and_drops_what_waits():
    worker, out = _worker()
    _push_link_events(worker, range(5))
    task = worker._task
    assert task is not None
    assert worker.stop() == Discarded(events=5, envelopes=0, last_handed_on=None)
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    _push_link_events(worker, range(5, 6))  # ignored once stopped
    assert (worker.backlog, worker.idle, out.batches) == (0, True, [])


async def test_stop_names_the_last_envelope_handed_on(monkeypatch):
    """mq_producer's stop line names the last envelope it received: hand-off events between
    the two were still in Kytos' app buffer when it stopped."""
    monkeypatch.setattr(settings, "SNAPSHOT_ON_TOPOLOGY_LOADED", False)
    worker, out = _worker()
    _push_link_events(worker, range(3))
    await worker.drained()
    assert worker._last_handed_on == out.batches[-1][-1]  # its bytes: decoded at stop only
    worker.push(TOPOLOGY_LOADED, uuid.uuid4(), NOW,  # handed on as a dict: its id is kept
                {"topology": make_topology(3, 2), "failed_switches": {}, "failed_links": {}})
    await worker.drained()
    [topology] = out.batches[-1]
    assert type(topology) is dict and worker._last_handed_on == topology["message_id"]
    _push_link_events(worker, range(3, 5))  # waiting, not handed on
    assert worker.stop() == Discarded(events=2, envelopes=0,
                                      last_handed_on=out.envelopes[-1]["message_id"])
    assert out.envelopes[-1]["producer"]["sequence"] == 4


# -- listen_events' handler, snapshot route and shutdown --------------------------------------

def _handoffs(controller: FakeController) -> list[Any]:
    return [event for event in controller.seen if event.name == HANDOFF]


async def test_the_handler_hands_a_lone_event_on_in_its_own_step(controller):
    """An event that came alone to an idle worker is processed and handed on by the handler
    itself (HandOffWorker.take, issue 21): no wake-up of the worker task for it."""
    napp = controller.load_napp(ListenEvents)
    event = KytosEvent(LINK_DOWN, {"link": LINKS[0], "reason": "link down"})
    await napp.on_event(event)
    assert napp.pipeline.counters.handed_on == 1 and napp.worker.backlog == 0
    assert napp.worker._task is None  # never started
    await controller.settle()
    [handoff] = _handoffs(controller)
    [handed] = handoff.content["envelopes"]
    assert type(handed) is bytes  # JSON, encoded once (hand_off_form)
    assert decoded(handed)["event_id"] == str(event.id)


def test_a_lone_event_ends_its_handler_in_the_step_that_hands_it_on():
    """The handler's last step hands the event on: no turn of the loop after it, even with
    the pacer due at every pause (budget 0), so that a stop of Kytos in the next turn finds
    the handler ended, not pending (tests/integration/test_kytosd_stop.py, "buffered").
    Driven step by step: only the pacer's sleep(0) suspends it here."""
    worker, out = _worker(budget=0.0)
    worker._pushed_at = -math.inf  # it comes alone
    steps = worker.take(LINK_DOWN, uuid.uuid4(), NOW, {"link": LINKS[0], "reason": "0"})
    suspended = 0
    while True:
        try:
            assert steps.send(None) is None  # asyncio.sleep(0)'s bare yield
        except StopIteration:
            break
        suspended += 1
        assert worker.pipeline.counters.handed_on == 0, "a turn of the loop after handing on"
    assert worker.pipeline.counters.handed_on == 1 and _reasons(out.envelopes) == [0]
    assert suspended == worker.pipeline.pacer.pauses > 0  # the pacer paused, before it


async def test_the_handler_queues_an_event_that_comes_right_behind_another(
        controller, monkeypatch):
    """Within BURST_GAP of the one before (a burst), the event is queued for the worker
    task, which hands it on in a batch: the handler returns at once."""
    monkeypatch.setattr("listen_events.worker.BURST_GAP", 60.0)  # every gap is a burst's
    napp = controller.load_napp(ListenEvents)
    first, second = (KytosEvent(LINK_DOWN, {"link": LINKS[n], "reason": str(n)})
                     for n in range(2))
    napp.worker._pushed_at = -math.inf  # the first comes alone
    await napp.on_event(first)
    await napp.on_event(second)
    assert napp.pipeline.counters.handed_on == 1 and napp.worker.backlog == 1
    assert json.loads((await napp.status(None)).body)["backlog"] == 1
    await controller.settle()
    handed = [envelope for handoff in _handoffs(controller)
              for envelope in handed_envelopes(handoff.content)]
    assert _reasons(handed) == [0, 1]
    assert json.loads((await napp.status(None)).body)["backlog"] == 0


async def test_events_pushed_while_the_handler_works_wait_behind_its_event(controller):
    """take() may await (a large content, a full app buffer): events that come meanwhile
    are queued, the worker task is not woken before the handler's event is handed on, and
    everything leaves in arrival order."""
    napp = controller.load_napp(ListenEvents)
    worker = napp.worker
    gate = asyncio.Event()
    hand_on = worker._hand_on

    async def slow_hand_on(batch):
        await gate.wait()
        await hand_on(batch)

    worker._hand_on = slow_hand_on
    worker._pushed_at = -math.inf
    first = asyncio.create_task(napp.on_event(
        KytosEvent(LINK_DOWN, {"link": LINKS[0], "reason": "0"})))
    await wait_until(lambda: worker._inline, timeout=10, what="the handler at work")
    for number in range(1, 4):
        worker.push(LINK_DOWN, uuid.uuid4(), NOW, {"link": LINKS[number], "reason": str(number)})
    await asyncio.sleep(0.05)
    assert worker._task is None and worker.backlog == 3  # the task waits for the handler
    gate.set()
    await first
    await worker.drained()
    await controller.settle()
    handed = [envelope for handoff in _handoffs(controller)
              for envelope in handed_envelopes(handoff.content)]
    assert _reasons(handed) == [0, 1, 2, 3]


async def test_stop_while_the_handler_works_discards_its_event(controller):
    napp = controller.load_napp(ListenEvents)
    worker = napp.worker
    gate = asyncio.Event()

    async def held_hand_on(batch):
        await gate.wait()

    worker._hand_on = held_hand_on
    worker._pushed_at = -math.inf
    task = asyncio.create_task(napp.on_event(
        KytosEvent(LINK_DOWN, {"link": LINKS[0], "reason": "0"})))
    await wait_until(lambda: worker._inline, timeout=10, what="the handler at work")
    worker.stop()
    gate.set()
    await task
    assert worker.idle and worker._task is None and worker._batch == []


async def test_a_burst_through_the_app_buffer_is_handed_on_in_batches_in_order(controller):
    napp = controller.load_napp(ListenEvents)
    for number in range(1000):
        await controller.buffers.app.aput(
            KytosEvent(LINK_DOWN, {"link": LINKS[number % 5], "reason": str(number)}))
    await controller.settle()
    handoffs = _handoffs(controller)
    assert all(1 <= len(h.content["envelopes"]) <= MAX_BATCH for h in handoffs)
    assert len(handoffs) >= 10
    envelopes = [envelope for h in handoffs for envelope in handed_envelopes(h.content)]
    assert _reasons(envelopes) == list(range(1000))
    counters = napp.pipeline.counters
    assert (counters.received, counters.handed_on, napp.worker.backlog) == (1000, 1000, 0)


async def test_the_snapshot_route_hands_on_in_batches_of_max_batch(controller):
    napp = controller.load_napp(ListenEvents)
    controller.links = dict(make_topology(20, 250).links)
    response = await napp.snapshot(None)
    assert response.status_code == 202 and json.loads(response.body) == {"links": 250}
    await controller.settle()
    handoffs = _handoffs(controller)
    assert [len(h.content["envelopes"]) for h in handoffs] == [100, 100, 50]
    envelopes = [envelope for h in handoffs for envelope in handed_envelopes(h.content)]
    assert {e["msg_type"] for e in envelopes} == {"snapshot"}
    assert {e["link"]["id"] for e in envelopes} == {str(i) for i in controller.links}
    assert [e["producer"]["sequence"] for e in envelopes] == list(range(1, 251))


async def test_shutdown_cancels_the_worker_and_says_how_many_events_waited(controller,
                                                                          caplog, monkeypatch):
    monkeypatch.setattr("listen_events.worker.BURST_GAP", 60.0)  # all three queued
    napp = controller.load_napp(ListenEvents)
    napp.worker._pushed_at = time.perf_counter()
    for number in range(3):
        await napp.on_event(KytosEvent(LINK_DOWN, {"link": LINKS[0], "reason": str(number)}))
    task = napp.worker._task
    caplog.set_level(logging.INFO)
    napp.shutdown()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert ("listen_events: stopped; 3 events still waiting and 0 envelopes not handed on yet "
            "were discarded; the last envelope handed on was none (a restart starts from the "
            "real-time point)") in [
        r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    await controller.settle()
    assert _handoffs(controller) == []


async def test_events_that_arrive_one_per_loop_turn_still_leave_in_one_batch():
    """Core's dispatcher hands out one event per turn of the loop (it sleeps(0) before each
    aget): a partial batch waits LINGER_TURNS idle turns before it is handed on (too few
    events for a burst, the last one included: the worker takes each in the turn after it
    came)."""
    worker, out = _worker(budget=60.0)  # neither the pacer nor the batch's age cuts
    count = BURST_EVENTS - 1
    for number in range(count):
        _push_link_events(worker, range(number, number + 1))
        await asyncio.sleep(0)
        assert worker.backlog == 0
    await worker.drained()
    assert [len(batch) for batch in out.batches] == [count]
    assert _reasons(out.envelopes) == list(range(count))
    for _ in range(LINGER_TURNS + 1):  # a lone event waits only a few idle turns
        await asyncio.sleep(0)
    _push_link_events(worker, range(count, count + 1))
    await worker.drained()
    assert [len(batch) for batch in out.batches] == [count, 1]


async def test_a_burst_waits_in_the_intake_and_is_taken_in_together(monkeypatch):
    """More than BURST_EVENTS events within HAND_OFF_AGE, one per turn of the loop as core
    hands them out: once they are a burst, the worker sleeps while they pile up in its intake,
    wakes when TAKE_IN_EVENTS wait, hands full batches on, and the rest once the first of
    them has waited HAND_OFF_AGE - all in order."""
    age = 0.3  # longer than any run of these pushes takes: a burst whatever the host
    monkeypatch.setattr("listen_events.worker.HAND_OFF_AGE", age)
    worker, out = _worker(budget=0.001)  # the age, not the budget, decides
    total = BURST_EVENTS + 2 * MAX_BATCH + 17
    backlogs = []
    for number in range(total):
        _push_link_events(worker, range(number, number + 1))
        await asyncio.sleep(0)
        backlogs.append(worker.backlog)
    assert max(backlogs[:BURST_EVENTS]) <= 1  # not a burst yet: each taken in as it came
    assert TAKE_IN_EVENTS - 2 <= max(backlogs) <= TAKE_IN_EVENTS, backlogs
    began = time.perf_counter()
    await worker.drained()
    assert _reasons(out.envelopes) == list(range(total))
    sizes = [len(batch) for batch in out.batches]
    assert sizes.count(MAX_BATCH) == 2 and sum(sizes) == total, sizes
    assert time.perf_counter() - began > age / 2  # the last partial batch waited its age


async def test_a_burst_is_taken_in_by_slices_that_give_the_loop_its_turns(monkeypatch):
    """A burst's events are taken in many a step, but the loop gets a turn every
    TAKE_IN_SLICE of that work, however long the pacer's budget (60 s here): the intake's and
    the publisher's steps come in the same turns."""
    worker, out = _worker(budget=60.0)
    async with loop_turns() as turns:
        _push_link_events(worker, range(1000))  # tens of milliseconds of work
        await worker.drained()
    assert turns.count >= 10, turns.count
    assert [len(batch) for batch in out.batches] == [MAX_BATCH] * 10  # the budget cut none
    assert _reasons(out.envelopes) == list(range(1000))


async def test_a_steady_pace_is_never_a_burst():
    """Events 1 ms apart (1,000 a second), more than BURST_EVENTS of them: each is handed on
    alone within a few turns of the loop, none waits for others (a burst's batch would wait
    HAND_OFF_AGE, 10 ms: thousands of these turns)."""
    worker, out = _worker(budget=60.0)
    turns = []
    for number in range(BURST_EVENTS + 8):
        await asyncio.sleep(0.001)
        _push_link_events(worker, range(number, number + 1))
        # The worker processes it, and lingers one turn; a step that ran over TAKE_IN_SLICE
        # (the first event's, which warms the serializer up, or any on a busy host) gives
        # the loop one more first.
        for turn in range(1, 6):  # 2 on a quiet host, 3 for the first
            await asyncio.sleep(0)
            if len(out.batches) == number + 1:
                turns.append(turn)
                break
        assert len(out.batches) == number + 1, (number, turns)
    assert [len(batch) for batch in out.batches] == [1] * (BURST_EVENTS + 8)
    assert _reasons(out.envelopes) == list(range(BURST_EVENTS + 8))


@pytest.mark.parametrize(("age", "one_batch"), [(0.5, True), (0.0, False)])
async def test_hand_off_age_decides_how_long_a_bursts_partial_batch_waits(monkeypatch, age,
                                                                          one_batch):
    """Events one per turn, 0.2 ms apart (a burst), for about 10 ms: the partial batch goes
    once its first envelope has waited HAND_OFF_AGE, or the pacer's budget (1 ms here) when
    that is longer - not at the budget while HAND_OFF_AGE has not passed (issue 21: larger
    hand-off events in a burst)."""
    monkeypatch.setattr("listen_events.worker.HAND_OFF_AGE", age)
    worker, out = _worker(budget=0.001)
    for number in range(50):
        _push_link_events(worker, range(number, number + 1))
        busy_until = time.perf_counter() + 0.0002  # a turn's work: within BURST_GAP
        while time.perf_counter() < busy_until:
            pass
        await asyncio.sleep(0)
    await worker.drained()
    assert _reasons(out.envelopes) == list(range(50))
    assert (len(out.batches) == 1) is one_batch, [len(batch) for batch in out.batches]


async def test_an_event_that_comes_alone_waits_one_idle_turn_only():
    """Events paced apart (not a burst: more than BURST_GAP between them) each go one turn
    after they are processed, not LINGER_TURNS (issue 21: wake-ups per event)."""
    worker, out = _worker(budget=60.0)
    # A first event warms the serializer up: its step runs over TAKE_IN_SLICE, which gives the
    # loop a turn more (the test failed 6 runs in 6 when run alone).
    _push_link_events(worker, range(1))
    await worker.drained()
    for number in range(1, 4):
        await asyncio.sleep(2 * BURST_GAP)
        _push_link_events(worker, range(number, number + 1))
        await asyncio.sleep(0)  # the worker processes it, and lingers one turn
        assert len(out.batches) == number
        for _ in range(2):  # that turn; and one more if a busy host made the step that long
            await asyncio.sleep(0)
            if len(out.batches) == number + 1:
                break
        assert len(out.batches) == number + 1  # not after LINGER_TURNS idle turns
    assert _reasons(out.envelopes) == [0, 1, 2, 3]


async def test_a_linger_hands_paced_events_on_together_once_the_first_has_waited_it():
    """LINGER_MS: events 10 ms apart, a linger of 80 ms: one hand-off of all that came within
    the linger of the first, none before; then, with nothing more, the rest at the end of
    its own linger. Order kept."""
    linger = 0.08
    worker, out = _worker(linger=linger)
    began = asyncio.get_running_loop().time()
    for number in range(5):
        _push_link_events(worker, range(number, number + 1))
        await asyncio.sleep(0.01)
    assert out.batches == []  # 50 ms: still lingering
    await worker.drained()
    first_after = asyncio.get_running_loop().time() - began
    assert [len(batch) for batch in out.batches] == [5]
    assert linger <= first_after < linger + 0.05
    _push_link_events(worker, range(5, 7))
    await worker.drained()
    assert [len(batch) for batch in out.batches] == [5, 2]
    assert _reasons(out.envelopes) == list(range(7))


async def test_a_linger_shorter_than_the_budget_and_hand_off_age_is_the_one_kept():
    """LINGER_MS decides alone: a batch goes once its first envelope is that old, even when
    the pacer's budget (60 s here) and HAND_OFF_AGE are longer (they used to win, and the
    task woke again and again until they passed)."""
    worker, out = _worker(budget=60.0, linger=0.001)
    _push_link_events(worker, range(1))
    await wait_until(lambda: out.batches, timeout=10, what="the lingering batch handed on")
    assert _reasons(out.envelopes) == [0]


async def test_stop_while_lingering_drops_what_waits_and_cancels_the_timer():
    worker, out = _worker(linger=10.0)
    _push_link_events(worker, range(1))
    await wait_until(lambda: worker._lingering, timeout=10, what="lingering")
    _push_link_events(worker, range(1, 3))  # taken in at the linger's end: not yet
    await asyncio.sleep(0.01)
    timer = worker._linger_timer
    assert timer is not None and not timer.cancelled()
    assert worker.stop() == Discarded(events=2, envelopes=1, last_handed_on=None)  # 2 wait
    assert timer.cancelled() and out.batches == []
    await asyncio.sleep(0.01)
    assert out.batches == [] and worker.idle


async def test_a_linger_never_holds_a_full_batch():
    # A budget no run reaches: on a loaded host the pacer would hand on a partial batch when
    # the loop is due a turn (as it should), which is not what this test is about.
    worker, out = _worker(budget=60.0, linger=10.0)
    _push_link_events(worker, range(MAX_BATCH + 3))
    await wait_until(lambda: worker.backlog == 0, timeout=10, what="every event processed")
    assert [len(batch) for batch in out.batches] == [MAX_BATCH]  # the other 3 linger
    worker.stop()


@pytest.mark.parametrize("value", [-1, 1001, "5", True, None])
def test_a_bad_linger_setting_names_it(monkeypatch, value):
    monkeypatch.setattr(settings, "LINGER_MS", value)
    with pytest.raises(SettingsError, match=r"^LINGER_MS: expected milliseconds"):
        load_config(settings, {})


def test_the_linger_setting_is_in_seconds_and_off_by_default(monkeypatch):
    assert load_config(settings, {}).linger == 0
    monkeypatch.setattr(settings, "LINGER_MS", 5)
    assert load_config(settings, {}).linger == 0.005


# -- the "all events" profile through the handler (issue 16) ----------------------------------

async def test_the_all_profile_hands_on_every_napps_events_but_never_the_blocked_ones(
        controller, monkeypatch):
    monkeypatch.setattr(settings, "PROFILE", "all")
    # the subscription is read when the NApp is imported, as @alisten_to does in Kytos
    monkeypatch.setattr(ListenEvents.on_event, "events",
                        [load_config(settings, {}).subscription])
    napp = controller.load_napp(ListenEvents)
    useful = [KytosEvent("kytos/mef_eline.created", {"evc_id": "e1", "name": "epl"}),
              KytosEvent("kytos/of_lldp.liveness.up", {"interface_a": LINKS[0].endpoint_a,
                                                       "interface_b": LINKS[0].endpoint_b}),
              KytosEvent("topology.interruption.end", {"type": "maintenance",
                                                       "switches": frozenset({"00:01"})}),
              KytosEvent(LINK_DOWN, {"link": LINKS[1], "reason": "link down"})]
    noisy = [KytosEvent("kytos/of_core.v0x04.messages.in.ofpt_echo_request",
                        {"message": object(), "source": object()}),
             KytosEvent("kytos/of_core.reachable.mac", {"reachable_mac": "aa"}),
             KytosEvent("kytos/topology.updated", {"topology": make_topology(2, 1)}),
             KytosEvent("kytos/mq_producer.loaded", {})]
    for event in (*noisy[:2], *useful, *noisy[2:]):
        await controller.buffers.app.aput(event)
    await controller.settle()
    handed = [envelope for handoff in _handoffs(controller)
              for envelope in handed_envelopes(handoff.content)]
    assert [(e["event_name"], e["event_class"], e["napp"]) for e in handed] == [
        ("kytos/mef_eline.created", "other_events", "kytos/mef_eline"),
        ("kytos/of_lldp.liveness.up", "other_events", "kytos/of_lldp"),
        ("topology.interruption.end", "other_events", "topology"),
        (LINK_DOWN, "operational", "kytos/topology")]
    assert handed[1]["content"]["interface_a"]["id"] == str(LINKS[0].endpoint_a.id)
    status = json.loads((await napp.status(None)).body)
    assert status["profile"] == "all"
    # the blocked events never reached the handler; its own hand-off events neither
    assert status["counters"]["received"] == len(useful)
    assert "blocked" not in status["counters"]
