"""Interdomain link status: per-link queues, continuity, snapshots, and the consumer library."""

import asyncio
import json

import aio_pika
import pytest
from kytos.core import KytosEvent

from listen_events.envelope import Envelope
from listen_events.main import Main as ListenEvents
from mq_consumer.consumer import Binding, ConsumerOptions, EventConsumer
from mq_producer.config import LINK_QUEUE_ARGUMENTS
from mq_producer.main import Main as MqProducer
from mq_producer.transports.amqp.broker import broker_from_env
from tests.integration.conftest import body, receive
from tests.support.handoff import handed_envelopes
from tests.support.kytos_controller import FakeController
from tests.support.topology import make_link, make_topology
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.usefixtures("producer_settings",
                                                           "cleanup_exchanges")]


async def _start(controller: FakeController):
    listen = controller.load_napp(ListenEvents)
    producer = controller.load_napp(MqProducer)
    await wait_until(lambda: producer.publisher.transport.connected, what="connected")
    return listen, producer


async def _set_status(controller: FakeController, link, up: bool) -> None:
    link.active = up
    name = "kytos/topology.link_up" if up else "kytos/topology.link_down"
    await controller.buffers.app.aput(KytosEvent(name, {"link": link, "reason": name[-7:]}))
    await controller.settle()


def _link_consumer(prefix: str, link, handler) -> EventConsumer:
    """The consumer SDX-LC would run on one link's queue."""
    broker = broker_from_env({"KYTOS_MQ_URL": "amqp://guest:guest@127.0.0.1:5672/"})
    return EventConsumer(broker, ConsumerOptions(
        bindings=[Binding(f"{prefix}.links", str(link.id))],
        queue=f"{prefix}.link.{link.id}", dead_letter=f"{prefix}.dead",
        queue_arguments={**LINK_QUEUE_ARGUMENTS, "x-dead-letter-exchange": f"{prefix}.dead"}),
        handler)


async def _depth(amqp, name: str) -> int:
    queue = await amqp.declare_queue(name, passive=True)
    return queue.declaration_result.message_count


async def test_flapping_link_every_change_arrives_in_order(controller, exchange_prefix,
                                                           cleanup_exchanges):
    _, producer = await _start(controller)
    link = make_link(11, interdomain=True)
    seen: list[tuple[str, int]] = []

    async def handle(envelope: Envelope) -> None:
        seen.append((envelope.link.status, envelope.producer.sequence))

    consumer = _link_consumer(exchange_prefix, link, handle)
    await consumer.start()
    cleanup_exchanges.add(f"{exchange_prefix}.link.{link.id}")
    try:
        for index in range(20):
            await _set_status(controller, link, up=index % 2 == 1)
        await wait_until(lambda: len(seen) == 20, timeout=30, what="20 changes")
    finally:
        await consumer.close()
    assert [status for status, _ in seen] == ["DOWN", "UP"] * 10
    assert [sequence for _, sequence in seen] == sorted(sequence for _, sequence in seen)
    assert producer.publisher.counters.suppressed == 0


async def test_repeated_status_waits_as_one_message_and_resumes_after_consumption(
        controller, amqp, exchange_prefix):
    _, producer = await _start(controller)
    link = make_link(12, interdomain=True)
    queue_name = f"{exchange_prefix}.link.{link.id}"
    for _ in range(10):  # the consumer is away: DOWN, then the same status nine times
        await _set_status(controller, link, up=False)
    publisher = producer.publisher
    await wait_until(lambda: publisher.counters.suppressed == 9, what="9 suppressed")
    assert await _depth(amqp, queue_name) == 1  # one message waits, no flood
    queue = await amqp.declare_queue(queue_name, passive=True)
    first = await queue.get(no_ack=True)
    assert body(first)["link"]["status"] == "DOWN"
    await _set_status(controller, link, up=False)  # consumed: the next repetition goes
    await wait_until(lambda: _depth_is(amqp, queue_name, 1), what="the repetition")
    # Two status messages went to the link's queue; the firehose carried all 11 events (no
    # queue is bound to it here, so they come back as returned).
    await wait_until(lambda: publisher.counters.confirmed == 2
                     and publisher.counters.returned == 11, what="every message answered")
    assert publisher.counters.suppressed == 9


def _depth_is(amqp, name: str, expected: int):
    """For wait_until: a callable that checks the depth without blocking."""
    result: dict[str, int] = {}

    async def check() -> None:
        result["depth"] = await _depth(amqp, name)

    task = asyncio.get_running_loop().create_task(check())
    return lambda: task.done() and result.get("depth") == expected


async def test_change_waits_for_the_consumer_then_arrives_in_order(controller, amqp,
                                                                   exchange_prefix):
    _, producer = await _start(controller)
    link = make_link(13, interdomain=True)
    queue_name = f"{exchange_prefix}.link.{link.id}"
    await _set_status(controller, link, up=False)
    await _set_status(controller, link, up=True)  # a change while DOWN waits: kept, retried
    await _set_status(controller, link, up=False)
    publisher = producer.publisher
    await wait_until(lambda: publisher.counters.refused >= 1, what="a refusal")
    queue = await amqp.declare_queue(queue_name, passive=True)
    statuses = []
    for _ in range(3):
        message = None
        async with asyncio.timeout(10):
            while message is None:
                message = await queue.get(no_ack=True, fail=False)
                await asyncio.sleep(0.05)
        statuses.append(body(message)["link"]["status"])
    assert statuses == ["DOWN", "UP", "DOWN"]
    assert publisher.counters.suppressed == 0


async def test_producer_restart_mid_sequence(amqp, exchange_prefix, cleanup_exchanges):
    link = make_link(14, interdomain=True)
    queue_name = f"{exchange_prefix}.link.{link.id}"
    first = FakeController()
    _, producer = await _start(first)
    await _set_status(first, link, up=False)
    await wait_until(lambda: producer.publisher.counters.confirmed == 1, what="DOWN")
    await first.stop()
    cleanup_exchanges.update(producer.publisher.transport.queues)
    await producer.publisher.transport.close()

    second = FakeController()  # a restart: it knows nothing of what was published
    listen, producer = await _start(second)
    try:
        await _set_status(second, link, up=False)
        await _set_status(second, link, up=True)
        queue = await amqp.declare_queue(queue_name, passive=True)
        got = []
        async with asyncio.timeout(15):
            while len(got) < 3:
                message = await queue.get(no_ack=True, fail=False)
                if message is None:
                    await asyncio.sleep(0.05)
                    continue
                got.append(body(message))
    finally:
        await second.stop()
        await producer.publisher.transport.close()
    # The status from before the restart, then the restarted producer's, in order; the
    # restart shows as a new producer instance.
    assert [(m["link"]["status"], m["producer"]["sequence"]) for m in got] == \
        [("DOWN", 1), ("DOWN", 1), ("UP", 2)]
    assert got[1]["producer"]["instance"] == listen.pipeline.builder.instance
    assert got[0]["producer"]["instance"] != got[1]["producer"]["instance"]


async def test_consumer_restart_mid_sequence(controller, exchange_prefix, cleanup_exchanges):
    await _start(controller)
    link = make_link(15, interdomain=True)
    seen: list[str] = []

    async def handle(envelope: Envelope) -> None:
        seen.append(envelope.link.status)

    consumer = _link_consumer(exchange_prefix, link, handle)
    await consumer.start()
    cleanup_exchanges.add(f"{exchange_prefix}.link.{link.id}")
    await _set_status(controller, link, up=False)
    await wait_until(lambda: seen == ["DOWN"], what="first status")
    await consumer.close()
    for up in (True, False, True):  # while the consumer is away
        await _set_status(controller, link, up=up)
    consumer = _link_consumer(exchange_prefix, link, handle)
    await consumer.start()
    try:
        await wait_until(lambda: len(seen) == 4, timeout=20, what="the changes made while away")
    finally:
        await consumer.close()
    assert seen == ["DOWN", "UP", "DOWN", "UP"]


async def test_snapshot_on_request_and_on_topology_loaded(controller, amqp, exchange_prefix):
    listen, _ = await _start(controller)
    topology = make_topology(4, 3)
    controller.links = topology.links
    queue = await amqp.declare_queue(exclusive=True)
    await queue.bind(f"{exchange_prefix}.operational_events", "#")

    response = await listen.snapshot(None)
    assert response.status_code == 202 and json.loads(response.body) == {"links": 3}
    await controller.settle()
    snapshots = [body(m) for m in await receive(queue, 3)]
    assert {m["msg_type"] for m in snapshots} == {"snapshot"}
    assert {m["link"]["id"] for m in snapshots} == {str(i) for i in topology.links}
    assert {m["event_name"] for m in snapshots} == {"kytos/listen_events.link_snapshot"}
    for message in snapshots:
        Envelope.model_validate_json(json.dumps(message))
        assert message["link"]["status"] == "UP"

    await controller.buffers.app.aput(KytosEvent("kytos/topology.topology_loaded", {
        "topology": topology, "failed_switches": {}, "failed_links": {}}))
    await controller.settle()
    loaded = [body(m) for m in await receive(queue, 4)]
    assert [m["msg_type"] for m in loaded] == ["event", "snapshot", "snapshot", "snapshot"]
    assert loaded[0]["event_name"] == "kytos/topology.topology_loaded"


async def test_per_event_queues_hold_events_until_a_consumer_comes(
        controller, amqp, exchange_prefix, monkeypatch, cleanup_exchanges):
    from mq_producer import settings

    names = {"link_down": f"{exchange_prefix}.kytos/topology_link_down",
             "switch": f"{exchange_prefix}.kytos/topology_switch_enabled"}
    monkeypatch.setattr(settings, "QUEUES", [
        {"queue": names["link_down"], "exchange": f"{exchange_prefix}.operational_events",
         "binding": "operational.kytos/topology.link_down"},
        {"queue": names["switch"], "exchange": f"{exchange_prefix}.admin_events",
         "binding": "administrative.kytos/topology.switch.enabled"}])
    _, producer = await _start(controller)
    assert producer.publisher.status()["queues"][names["link_down"]] == "ok"
    link = make_link(16)
    for _ in range(3):
        await _set_status(controller, link, up=False)
    await controller.buffers.app.aput(KytosEvent("kytos/topology.switch.enabled",
                                                 {"dpid": "00:00:00:00:00:00:00:16"}))
    await controller.settle()
    await wait_until(lambda: producer.publisher.counters.confirmed == 4, what="4 confirms")
    assert await _depth(amqp, names["link_down"]) == 3
    assert await _depth(amqp, names["switch"]) == 1
    assert producer.publisher.counters.returned == 0


async def test_consumer_acks_after_handler_dedupes_and_dead_letters_bad_messages(
        amqp, exchange_prefix, cleanup_exchanges, caplog):
    exchange = await amqp.declare_exchange(f"{exchange_prefix}.other_events",
                                           aio_pika.ExchangeType.TOPIC, durable=True)
    queue_name = f"{exchange_prefix}.consumer"
    cleanup_exchanges.update({queue_name, f"{exchange_prefix}.dead"})
    handled: list[str] = []
    failures = {"left": 1}

    async def handle(envelope: Envelope) -> None:
        if failures["left"]:  # the first attempt fails: the message must come back
            failures["left"] -= 1
            raise RuntimeError("handler not ready")
        handled.append(envelope.message_id)

    broker = broker_from_env({"KYTOS_MQ_URL": "amqp://guest:guest@127.0.0.1:5672/"})
    consumer = EventConsumer(broker, ConsumerOptions(
        bindings=[Binding(exchange.name, "#")], queue=queue_name,
        dead_letter=f"{exchange_prefix}.dead"), handle)
    await consumer.start()
    controller = FakeController()
    controller.load_napp(ListenEvents)
    await controller.buffers.app.aput(KytosEvent("kytos/topology.switch.enabled",
                                                 {"dpid": "00:00:00:00:00:00:00:01"}))
    await controller.settle()
    [envelope] = handed_envelopes(controller.seen[-1].content)
    payload = json.dumps(envelope).encode()
    try:
        for _ in range(2):  # the same message twice: handled once
            await exchange.publish(aio_pika.Message(payload, message_id=envelope["message_id"]),
                                   "k")
        await exchange.publish(aio_pika.Message(b'{"schema_version": 1}', message_id="bad"), "k")
        await wait_until(lambda: consumer.counters["invalid"] == 1
                         and consumer.counters["duplicates"] == 1 and handled,
                         timeout=15, what="handled, duplicate and invalid")
    finally:
        await consumer.close()
        await controller.stop()
    assert handled == [envelope["message_id"]]
    assert consumer.counters["handler_errors"] == 1
    assert await _depth(amqp, queue_name) == 0  # all acked or dead-lettered
    dead = await amqp.declare_queue(f"{exchange_prefix}.dead", passive=True)
    dead_message = await dead.get(no_ack=True)
    assert dead_message.message_id == "bad"
    assert any("dead-lettering invalid message bad" in r.getMessage() for r in caplog.records)
