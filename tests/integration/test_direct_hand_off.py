"""listen_events hands envelopes straight to mq_producer's take_hand_off when it is the only
listener of the hand-off event (listen_events/direct.py), through core otherwise: nothing is
lost, duplicated or reordered either way, nor when the path changes under traffic."""

import asyncio
import logging
from typing import Any

import orjson
import pytest
from kytos.core import KytosEvent

from listen_events.envelope import hand_off_form
from listen_events.main import Main as ListenEvents
from mq_producer.main import Main as MqProducer
from tests.integration.conftest import body, bound_queue, receive
from tests.support.kytos_controller import HandedOver
from tests.support.topology import make_link
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.usefixtures("producer_settings",
                                                          "cleanup_exchanges")]

HANDOFF = "kytos/listen_events.broadcast"
FOREIGN = r"kytos/listen_events\..*"  # another NApp's pattern matching the hand-off event


async def _start(controller, amqp, prefix):
    listen = controller.load_napp(ListenEvents)
    producer = controller.load_napp(MqProducer)
    await wait_until(lambda: producer.publisher.transport.connected, what="producer connected")
    queue = await bound_queue(amqp, f"{prefix}.operational_events", "#")
    return listen, producer, queue


def _record_intake(producer: Any) -> list[int]:
    """The sequence numbers of the envelopes mq_producer's intake is given, in that order,
    whichever way they came (on_envelopes and take_hand_off both push)."""
    taken: list[int] = []
    push = producer.worker.push

    def recording(name: str, event_id: Any, content: Any) -> None:
        taken.extend(orjson.loads(item)["producer"]["sequence"]
                     for item in content["envelopes"])
        push(name, event_id, content)

    producer.worker.push = recording
    return taken


def _events(count: int, links: int = 8) -> list[KytosEvent]:
    made = [make_link(index) for index in range(1, links + 1)]
    return [KytosEvent("kytos/topology.link_down" if index % 2 else "kytos/topology.link_up",
                       {"link": made[index % links], "reason": str(index)})
            for index in range(count)]


async def _feed(controller, events: list[KytosEvent], gap: float = 0.0) -> None:
    for event in events:
        await controller.buffers.app.aput(event)
        if gap:
            await asyncio.sleep(gap)


def _fail_first_push(producer: Any) -> list[int]:
    """mq_producer's intake raises on the first batch it is given (a bug) and takes the rest;
    the sizes of the batches it was given, in order."""
    push = producer.worker.push
    calls: list[int] = []

    def failing_once(name: str, event_id: Any, content: Any) -> None:
        calls.append(len(content["envelopes"]))
        if len(calls) == 1:
            raise RuntimeError("a bug in the producer")
        push(name, event_id, content)

    producer.worker.push = failing_once
    return calls


async def _two_events_the_first_failing(controller, listen, queue) -> None:
    """Two link events, one at a time: the first one's batch fails, the second is published."""
    for event in _events(2):
        await controller.buffers.app.aput(event)
        await controller.settle()
    [message] = await receive(queue, 1)
    assert body(message)["content"]["reason"] == "1"
    counters = listen.pipeline.counters
    assert (counters.hand_on_failed, counters.handed_on) == (1, 1)


def _hand_off_events(controller) -> list[Any]:
    return [item for item in controller.seen if getattr(item, "name", None) == HANDOFF]


async def test_with_mq_producer_alone_no_hand_off_event_reaches_core(controller, amqp,
                                                                     exchange_prefix):
    """A burst and paced events: every envelope taken directly, in order, none dispatched by
    core; all of them published and confirmed."""
    listen, producer, queue = await _start(controller, amqp, exchange_prefix)
    taken = _record_intake(producer)
    events = _events(600)
    await _feed(controller, events[:500])
    await _feed(controller, events[500:], gap=0.002)
    await controller.settle()
    hand_offs = _hand_off_events(controller)
    assert hand_offs and all(type(item) is HandedOver for item in hand_offs)
    assert taken == list(range(1, 601))
    messages = await receive(queue, 600)
    assert [int(body(message)["content"]["reason"]) for message in messages] == list(range(600))
    await wait_until(lambda: producer.publisher.counters.confirmed == 600, what="600 confirms")
    assert listen.pipeline.counters.hand_on_failed == 0


async def test_another_listener_of_the_hand_off_event_gets_it_and_so_does_mq_producer(
        controller, amqp, exchange_prefix):
    _, producer, queue = await _start(controller, amqp, exchange_prefix)
    taken = _record_intake(producer)
    foreign: list[int] = []

    async def audit(event: Any) -> None:  # a function, not a NApp's method: no take_hand_off
        foreign.extend(orjson.loads(item)["producer"]["sequence"]
                       for item in event.content["envelopes"])

    controller.events_listeners[FOREIGN] = [audit]
    events = _events(300)
    await _feed(controller, events[:250])
    await _feed(controller, events[250:], gap=0.002)
    await controller.settle()
    assert not any(type(item) is HandedOver for item in controller.seen)
    assert taken == foreign == list(range(1, 301))
    assert len(await receive(queue, 300)) == 300


async def test_going_direct_while_hand_off_events_wait_in_core_overtakes_none(
        controller, amqp, exchange_prefix):
    """Another listener of the hand-off event goes (its NApp unloaded) in the middle of a
    burst, while hand-off events still wait in core's app buffer: listen_events goes on
    sending events until core's buffer is empty (all of them dispatched), then hands over
    directly. mq_producer takes every envelope once, in sequence order."""
    listen, producer, queue = await _start(controller, amqp, exchange_prefix)
    taken = _record_intake(producer)
    waiting_at_removal: list[int] = []

    async def audit(event: Any) -> None:
        if not waiting_at_removal:  # unloaded at its first hand-off event, as core does it
            waiting_at_removal.append(sum(
                item.name == HANDOFF for item in controller.buffers.app.queue._queue))
            del controller.events_listeners[FOREIGN]

    controller.events_listeners[FOREIGN] = [audit]
    events = _events(3000)
    await _feed(controller, events[:2960])
    # In a burst core's buffer always holds something (our hand-off events among it): the
    # burst goes on through core. The events after it, alone, go direct.
    await controller.settle()
    assert listen._hand_off_path()["hand_off_path"] == "switching"  # no batch since
    await _feed(controller, events[2960:], gap=0.002)
    await controller.settle()
    assert listen._hand_off_path()["hand_off_path"] == "direct"
    # The case this test is for: hand-off events were waiting when the path could change.
    assert waiting_at_removal and waiting_at_removal[0] > 0, waiting_at_removal
    kinds = [type(item).__name__ for item in _hand_off_events(controller)]
    assert "KytosEvent" in kinds and kinds[-1] == "HandedOver", kinds
    assert taken == list(range(1, 3001))
    await wait_until(lambda: producer.publisher.counters.confirmed == 3000,
                     what="3000 confirms")
    assert len(await receive(queue, 3000)) == 3000


async def test_going_direct_lets_the_handlers_core_has_just_started_run_first(
        controller, amqp, exchange_prefix):
    """Core takes a hand-off event from its buffer and starts mq_producer's handler task in
    one step; the task runs in a later turn. A batch handed over right after, in the same
    turn (the buffer empty already), waits one turn, behind that task: not ahead of it."""
    listen, producer, queue = await _start(controller, amqp, exchange_prefix)
    taken = _record_intake(producer)
    first, second = [[hand_off_form(envelope) for envelope in await listen.pipeline.process(
        event.name, event.id, event.timestamp, event.content)] for event in _events(2)]
    listen._events_sent = True  # as after sending hand-off events
    # Core's handler waits on its empty buffer: the put wakes it first, then this task runs.
    await controller.buffers.app.aput(KytosEvent(HANDOFF, {"envelopes": first}))
    await asyncio.ensure_future(listen._hand_on(second))
    await controller.settle()
    assert taken == [1, 2]
    assert [type(item).__name__ for item in _hand_off_events(controller)] == [
        "KytosEvent", "HandedOver"]
    assert len(await receive(queue, 2)) == 2


async def test_a_failing_take_hand_off_costs_its_batch_only_and_says_so(controller, amqp,
                                                                         exchange_prefix,
                                                                         caplog):
    listen, producer, queue = await _start(controller, amqp, exchange_prefix)
    calls = _fail_first_push(producer)
    await _two_events_the_first_failing(controller, listen, queue)
    [line] = [r for r in caplog.records if "could not hand on" in r.getMessage()]
    assert line.levelno == logging.ERROR and "a bug in the producer" in line.exc_text
    instance = listen.pipeline.builder.instance
    assert line.getMessage() == (f"listen_events: could not hand on 1 envelopes (messages "
                                 f"{instance}-1 to {instance}-1)")
    assert calls == [1, 1]


class _SecondProducer:
    """Another producer NApp offering the direct hand-off, beside mq_producer."""

    username, name = "test", "second_producer"

    def __init__(self) -> None:
        self.taken: list[int] = []

    async def on_envelopes(self, event: Any) -> None:  # what core would call
        self.take_hand_off(event.name, event.content["envelopes"])

    def take_hand_off(self, name: str, envelopes: list[Any]) -> None:
        self.taken.extend(orjson.loads(item)["producer"]["sequence"] for item in envelopes)


@pytest.mark.parametrize("each", [True, False], ids=["as-built", "control-stop-at-first"])
async def test_a_producer_whose_take_hand_off_raises_costs_the_other_nothing(
        each: bool, controller, amqp, exchange_prefix, caplog, monkeypatch):
    listen, producer, queue = await _start(controller, amqp, exchange_prefix)
    if not each:  # the control: the sinks called in a plain loop, the first error ends it
        async def hand_on(envelopes: list[Any]) -> None:
            for take_hand_off in listen._direct_sinks() or ():
                take_hand_off(HANDOFF, envelopes)
        monkeypatch.setattr(listen.worker, "_hand_on", hand_on)
    second = _SecondProducer()
    controller.events_listeners[FOREIGN] = [second.on_envelopes]
    _fail_first_push(producer)
    sinks = listen._direct_sinks()
    assert sinks is not None and len(sinks) == 2  # mq_producer's first, in core's order
    await _two_events_the_first_failing(controller, listen, queue)
    assert [r for r in caplog.records if "could not hand on" in r.getMessage()]
    if each:
        assert second.taken == [1, 2]
    else:
        assert second.taken == [2]
