"""Interdomain link status: per-link queues holding the latest status only, snapshots, and the
consumer library."""

import asyncio
import json
import logging
from itertools import pairwise

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
    """The consumer SDX-LC would run on one link's queue (not bound: mq_producer publishes a
    link's status straight to its queue)."""
    broker = broker_from_env({"KYTOS_MQ_URL": "amqp://guest:guest@127.0.0.1:5672/"})
    return EventConsumer(broker, ConsumerOptions(
        bindings=[],
        queue=f"{prefix}.link.{link.id}", dead_letter=f"{prefix}.dead",
        queue_arguments={**LINK_QUEUE_ARGUMENTS, "x-dead-letter-exchange": f"{prefix}.dead"}),
        handler)


async def _depth(amqp, name: str) -> int:
    queue = await amqp.declare_queue(name, passive=True)
    return queue.declaration_result.message_count


def _idle(producer) -> bool:
    """Nothing left to publish or to hear back about: firehose buffer and status lanes."""
    publisher = producer.publisher
    lanes = publisher.status()["status_lanes"]
    return producer.worker.idle and len(publisher.outbox) == 0 \
        and lanes["pending"] == 0 and lanes["in_flight"] == 0


async def _set_status_and_wait(controller: FakeController, producer, link, up: bool) -> None:
    """A status change, then every answer from the broker for it (purges included)."""
    await _set_status(controller, link, up)
    await wait_until(lambda: _idle(producer), what="the producer idle")


async def _read_all(amqp, name: str) -> list[dict]:
    """What waits in a queue now, read (and acked) until it is empty."""
    queue = await amqp.declare_queue(name, passive=True)
    got = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        got.append(body(message))
    return got


async def test_flapping_link_a_reading_consumer_ends_on_the_present_status(
        controller, exchange_prefix, cleanup_exchanges):
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
        await wait_until(lambda: _idle(producer), what="the producer idle")
        # The latest status only: intermediate flaps may be skipped, never the last one.
        await wait_until(lambda: seen and seen[-1][0] == "UP", timeout=15,
                         what="the present status, UP")
        await asyncio.sleep(0.3)  # nothing after it
    finally:
        await consumer.close()
    statuses = [status for status, _ in seen]
    assert statuses[-1] == "UP" and len(seen) <= 20
    assert all(before != after for before, after in pairwise(statuses))  # never twice in a row
    assert [sequence for _, sequence in seen] == sorted(sequence for _, sequence in seen)
    assert producer.publisher.counters.dropped == 0


async def test_repeated_status_waits_as_one_message_and_a_change_follows(
        controller, amqp, exchange_prefix):
    _, producer = await _start(controller)
    link = make_link(12, interdomain=True)
    queue_name = f"{exchange_prefix}.link.{link.id}"
    for _ in range(10):  # the consumer is away: DOWN, then the same status nine times
        await _set_status(controller, link, up=False)
    publisher = producer.publisher
    await wait_until(lambda: _idle(producer), what="the producer idle")
    assert publisher.counters.suppressed + publisher.counters.superseded == 9, \
        publisher.counters
    assert await _depth(amqp, queue_name) == 1  # one message waits, no flood
    queue = await amqp.declare_queue(queue_name, passive=True)
    first = await queue.get(no_ack=True)
    assert body(first)["link"]["status"] == "DOWN"
    # Read: the same status again is still nothing new for the reader (never the same status
    # twice in a row); a change goes at once.
    await _set_status_and_wait(controller, producer, link, up=False)
    assert await _depth(amqp, queue_name) == 0
    await _set_status(controller, link, up=True)
    await _wait_depth(amqp, queue_name, 1)
    # Two status messages went to the link's queue, and each one copy to the links exchange;
    # the firehose carried all 12 events. No queue is bound to either exchange here: the
    # copies and the events come back as returned.
    await wait_until(lambda: publisher.counters.confirmed == 2
                     and publisher.counters.returned == 12 + 2, what="every message answered")
    # The first DOWN waited for its queue to be declared: repetitions superseded one another
    # meanwhile, and the last one (and the one after the read) were suppressed.
    assert publisher.counters.suppressed + publisher.counters.superseded == 10
    assert publisher.counters.refused == publisher.counters.replaced == 0
    assert body(await queue.get(no_ack=True))["link"]["status"] == "UP"


async def test_link_status_queue_is_not_bound_to_the_links_exchange(controller, amqp,
                                                                    exchange_prefix):
    _, producer = await _start(controller)
    link = make_link(17, interdomain=True)
    queue_name = f"{exchange_prefix}.link.{link.id}"
    copies = await amqp.declare_queue(exclusive=True)
    await copies.bind(f"{exchange_prefix}.links", "#")
    await _set_status_and_wait(controller, producer, link, up=False)
    # The status went to its queue, its one copy to the exchange: not into the queue too.
    assert [m["link"]["status"] for m in await _read_all(amqp, queue_name)] == ["DOWN"]
    [copy] = await receive(copies, 1)
    assert body(copy)["link"]["status"] == "DOWN"
    assert copy.routing_key == str(link.id)
    exchange = await amqp.get_exchange(f"{exchange_prefix}.links")
    await exchange.publish(aio_pika.Message(b"probe"), routing_key=str(link.id))
    await receive(copies, 1)  # the probe took the binding of the copies' queue ...
    assert await _depth(amqp, queue_name) == 0  # ... and none of the link's queue


async def _wait_depth(amqp, name: str, expected: int, timeout: float = 15) -> None:
    """Until the queue holds ``expected`` messages."""
    async with asyncio.timeout(timeout):
        while True:
            if await _depth(amqp, name) == expected:
                return
            await asyncio.sleep(0.05)


async def test_change_replaces_the_unread_status(controller, amqp, exchange_prefix, caplog):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="aio_pika.queue")
    _, producer = await _start(controller)
    link = make_link(13, interdomain=True)
    queue_name = f"{exchange_prefix}.link.{link.id}"
    await _set_status_and_wait(controller, producer, link, up=False)
    # Changes while DOWN waits unread: refused, the queue purged, the present status in it.
    await _set_status_and_wait(controller, producer, link, up=True)
    await _set_status_and_wait(controller, producer, link, up=False)
    publisher = producer.publisher
    got = await _read_all(amqp, queue_name)
    assert [(m["link"]["status"], m["producer"]["sequence"]) for m in got] == [("DOWN", 3)]
    assert publisher.counters.refused == publisher.counters.replaced == 2
    assert publisher.counters.suppressed == publisher.counters.superseded == 0
    # aio-pika's line per purge (misdescribing the queue: durable=False, arguments=None) is
    # DEBUG, not the operator's INFO.
    purges = [r for r in caplog.records if r.getMessage().startswith("Purging queue")]
    assert len(purges) == 2 and {r.levelno for r in purges} == {logging.DEBUG}


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
        await wait_until(lambda: _idle(producer), what="the producer idle")
        got = await _read_all(amqp, queue_name)
    finally:
        await second.stop()
        await producer.publisher.transport.close()
    # The status left from before the restart was replaced: the queue holds the restarted
    # producer's present status only, from a new producer instance.
    assert [(m["link"]["status"], m["producer"]["sequence"]) for m in got] == [("UP", 2)]
    assert got[0]["producer"]["instance"] == listen.pipeline.builder.instance


async def test_consumer_restart_mid_sequence(controller, exchange_prefix, cleanup_exchanges):
    _, producer = await _start(controller)
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
    await wait_until(lambda: _idle(producer), what="the producer idle")
    consumer = _link_consumer(exchange_prefix, link, handle)
    await consumer.start()
    try:
        # Back: the present status at once, not the changes made while away.
        await wait_until(lambda: len(seen) == 2, timeout=20, what="the present status")
        await asyncio.sleep(0.3)  # nothing after it
    finally:
        await consumer.close()
    assert seen == ["DOWN", "UP"]


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
    assert any("dead-lettering invalid message 'bad'" in r.getMessage() for r in caplog.records)
