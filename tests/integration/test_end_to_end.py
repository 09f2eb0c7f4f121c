"""Kytos events in through listen_events' listener, out of a queue bound to the exchange."""

import asyncio
import json

import aio_pika
import pytest
from kytos.core import KytosEvent

from listen_events import settings as listen_settings
from listen_events.envelope import Envelope
from listen_events.main import Main as ListenEvents
from mq_producer.main import Main as MqProducer
from mq_producer.transports.amqp import transport as amqp_transport
from tests.integration.conftest import body, bound_queue, receive
from tests.support.topology import make_link
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker


async def _start(controller, amqp, prefix):
    listen = controller.load_napp(ListenEvents)
    producer = controller.load_napp(MqProducer)
    await wait_until(lambda: producer.publisher.transport.connected, what="producer connected")
    queues = {kind: await bound_queue(amqp, f"{prefix}.{kind}", "#")
              for kind in ("admin_events", "operational_events", "other_events")}
    return listen, producer, queues


@pytest.mark.usefixtures("producer_settings", "cleanup_exchanges")
async def test_events_flow_through_both_napps_with_confirms(controller, amqp, exchange_prefix):
    listen, producer, queues = await _start(controller, amqp, exchange_prefix)
    link = make_link(3, interdomain=True)
    link.active = False  # as Kytos has it when it emits link_down
    down = KytosEvent("kytos/topology.link_down", {"link": link, "reason": "link down"})
    await controller.buffers.app.aput(down)
    await controller.buffers.app.aput(
        KytosEvent("kytos/topology.switch.enabled", {"dpid": "00:00:00:00:00:00:00:03"}))
    # Administrative (an interface's tells when it becomes an SDX NNI port).
    await controller.buffers.app.aput(
        KytosEvent("kytos/topology.links.metadata.added", {"link": link, "metadata": {}}))
    # Not subscribed at all.
    await controller.buffers.app.aput(KytosEvent("kytos/topology.updated", {}))
    await controller.settle()

    [operational] = await receive(queues["operational_events"], 1)
    admin, metadata = await receive(queues["admin_events"], 2)
    assert operational.routing_key == "operational.kytos/topology.link_down"
    assert admin.routing_key == "administrative.kytos/topology.switch.enabled"
    assert metadata.routing_key == "administrative.kytos/topology.links.metadata.added"
    for message in (operational, admin, metadata):
        assert message.content_type == "application/json"
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.message_id == body(message)["message_id"]
        assert message.timestamp is not None
        Envelope.model_validate_json(message.body)
    envelope = body(operational)
    assert envelope["event_id"] == str(down.id)
    assert envelope["event_timestamp"] == down.timestamp.isoformat(timespec="microseconds")
    assert envelope["link"]["id"] == str(link.id)
    assert envelope["link"]["endpoint_b"]["dpid"] == "00:00:00:00:00:00:01:03"
    assert envelope["producer"]["instance"] == listen.pipeline.builder.instance
    assert body(admin)["key"] == "switch:00:00:00:00:00:00:00:03"
    assert await queues["other_events"].get(fail=False) is None

    # 4: the three events, and the interdomain link's status message to its own queue (the
    # metadata event's says DOWN again: suppressed); its copy on the links exchange comes
    # back (nobody bound there).
    await wait_until(lambda: producer.publisher.counters.confirmed == 4, what="4 confirms")
    await wait_until(lambda: producer.publisher.counters.returned == 1, what="the copy")
    link_queue = await amqp.declare_queue(f"{exchange_prefix}.link.{link.id}", passive=True)
    status_message = await link_queue.get(no_ack=True)
    assert status_message.routing_key == str(link.id)
    # The link's latest status: the metadata event's (DOWN as well) when it came while the
    # queue was still being declared, else the link_down's.
    assert body(status_message)["link"]["status"] == "DOWN"
    assert body(status_message)["producer"]["instance"] == listen.pipeline.builder.instance
    listen_status = json.loads((await listen.status(None)).body)
    assert listen_status["counters"] == {
        "received": 3, "classified": 3, "not_action": 0, "filtered_out": 0, "handed_on": 3,
        "serialization_warnings": 0, "failed": 0, "hand_on_failed": 0}
    assert listen_status["backlog"] == 0
    producer_status = json.loads((await producer.status(None)).body)
    assert producer_status["connected"] is True
    assert producer_status["counters"]["confirmed"] == 4
    assert producer_status["queues"][f"{exchange_prefix}.link.{link.id}"] == "ok"
    assert producer_status["counters"]["returned"] == 1
    assert producer_status["buffer"] == {"queued": 0, "in_flight": 0,
                                         "capacity": producer.publisher.config.buffer_size}
    assert set(producer_status["exchanges"].values()) == {"ok"}
    assert producer_status["broker"].startswith("amqp://guest:***@")


@pytest.mark.usefixtures("producer_settings", "cleanup_exchanges")
async def test_many_events_keep_order_per_link(controller, amqp, exchange_prefix):
    _, producer, queues = await _start(controller, amqp, exchange_prefix)
    links = [make_link(index) for index in range(1, 6)]
    count = 400
    for index in range(count):
        name = "kytos/topology.link_down" if index % 2 else "kytos/topology.link_up"
        await controller.buffers.app.aput(
            KytosEvent(name, {"link": links[index % 5], "reason": str(index)}))
    await controller.settle()
    messages = await receive(queues["operational_events"], count)
    reasons: dict[str, list[int]] = {}
    for message in messages:
        envelope = body(message)
        reasons.setdefault(envelope["key"], []).append(int(envelope["link"]["reason"]))
    assert len(reasons) == 5
    for received in reasons.values():
        assert received == sorted(received) and len(received) == count // 5
    await wait_until(lambda: producer.publisher.counters.confirmed == count,
                     what=f"{count} confirms")


@pytest.mark.usefixtures("producer_settings", "cleanup_exchanges")
async def test_unroutable_messages_are_counted_as_returned_not_delivered(
        controller, amqp, exchange_prefix, caplog):
    controller.load_napp(ListenEvents)
    producer = controller.load_napp(MqProducer)
    await wait_until(lambda: producer.publisher.transport.connected, what="producer connected")
    for _ in range(3):  # nothing is bound to the exchange
        await controller.buffers.app.aput(
            KytosEvent("kytos/topology.switch.disabled", {"dpid": "00:00:00:00:00:00:00:05"}))
    await controller.settle()
    await wait_until(lambda: producer.publisher.counters.returned == 3, what="3 returns")
    assert producer.publisher.counters.confirmed == 0
    returned_lines = [r for r in caplog.records if "returned as unroutable" in r.getMessage()]
    assert len(returned_lines) == 1  # once per routing key
    assert "administrative.kytos/topology.switch.disabled" in returned_lines[0].getMessage()


@pytest.mark.usefixtures("producer_settings", "cleanup_exchanges")
async def test_content_rules_publish_only_interdomain_links(
        controller, amqp, exchange_prefix, monkeypatch):
    from listen_events import settings

    monkeypatch.setattr(settings, "CONTENT_RULES", [
        {"events": r"kytos/topology\.link_(up|down)", "path": "link.metadata.interdomain",
         "equals": True}])
    listen, _, queues = await _start(controller, amqp, exchange_prefix)
    local, interdomain = make_link(7), make_link(8, interdomain=True)
    for link in (local, interdomain):
        await controller.buffers.app.aput(KytosEvent("kytos/topology.link_up", {"link": link}))
    await controller.settle()
    [message] = await receive(queues["operational_events"], 1)
    assert body(message)["link"]["id"] == str(interdomain.id)
    assert listen.pipeline.counters.filtered_out == 1


@pytest.mark.usefixtures("producer_settings", "cleanup_exchanges")
async def test_bad_hand_off_content_is_logged_and_counted(controller, caplog):
    producer = controller.load_napp(MqProducer)
    bad_envelope = KytosEvent("kytos/listen_events.broadcast",
                              {"envelopes": [{"message_id": "x"}]})
    old_format = KytosEvent("kytos/listen_events.broadcast", {"envelope": {"message_id": "y"}})
    for event in (bad_envelope, old_format):
        await controller.buffers.app.aput(event)
    await controller.settle()
    counters = producer.publisher.counters
    assert (counters.received, counters.rejected) == (2, 2)
    errors = [r.getMessage() for r in caplog.records if "cannot publish event" in r.getMessage()]
    assert errors == [
        f"mq_producer: cannot publish event kytos/listen_events.broadcast (id {bad_envelope.id})"
        ", envelope 1 of 1 (message x): envelope field 'event_name' must be a non-empty string",
        f"mq_producer: cannot publish event kytos/listen_events.broadcast (id {old_format.id}): "
        "content has no 'envelopes' list (got NoneType)"]


@pytest.mark.usefixtures("producer_settings", "cleanup_exchanges")
async def test_a_message_of_megabytes_arrives_whole_between_the_events_around_it(
        controller, amqp, exchange_prefix, monkeypatch):
    """A topology_loaded of about a megabyte and a half goes to the socket in chunks of
    WRITE_CHUNK bytes, the loop getting turns between them: the broker still gets one whole
    message, confirmed, in order with the link events before and after it."""
    from listen_events import settings as listen_settings
    from mq_producer.transports.amqp.transport import WRITE_CHUNK
    from tests.support.topology import make_topology

    monkeypatch.setattr(listen_settings, "SNAPSHOT_ON_TOPOLOGY_LOADED", False)
    _, producer, queues = await _start(controller, amqp, exchange_prefix)
    topology = make_topology(100, 900)
    before, after = make_link(1), make_link(2)
    await controller.buffers.app.aput(KytosEvent("kytos/topology.link_down", {"link": before}))
    await controller.buffers.app.aput(KytosEvent("kytos/topology.topology_loaded", {
        "topology": topology, "failed_switches": {}, "failed_links": {}}))
    await controller.buffers.app.aput(KytosEvent("kytos/topology.link_up", {"link": after}))
    await controller.settle()

    messages = await receive(queues["operational_events"], 3)
    assert [m.type for m in messages] == ["kytos/topology.link_down",
                                          "kytos/topology.topology_loaded",
                                          "kytos/topology.link_up"]
    large = messages[1]
    assert len(large.body) > 5 * WRITE_CHUNK
    loaded = body(large)
    assert set(loaded["content"]["topology"]["links"]) == {str(i) for i in topology.links}
    assert len(loaded["content"]["topology"]["switches"]) == 100
    # A consumer may get a persistent message before its publisher gets the confirm.
    await wait_until(lambda: producer.publisher.counters.confirmed == 3, what="3 confirms")
    assert producer.publisher.counters.failed == 0


@pytest.mark.usefixtures("producer_settings", "cleanup_exchanges")
async def test_with_a_linger_paced_events_share_hand_offs_and_all_arrive_in_order(
        controller, amqp, exchange_prefix, monkeypatch):
    """LINGER_MS = 20: 60 events 2 ms apart leave listen_events in hand-offs of several,
    each event's message arrives, in order."""
    from listen_events import settings as listen_settings

    monkeypatch.setattr(listen_settings, "LINGER_MS", 20)
    listen, producer, queues = await _start(controller, amqp, exchange_prefix)
    assert listen.worker.linger == 0.02
    link = make_link(7)
    count = 60
    for index in range(count):
        name = "kytos/topology.link_down" if index % 2 else "kytos/topology.link_up"
        await controller.buffers.app.aput(KytosEvent(name, {"link": link, "reason": str(index)}))
        await asyncio.sleep(0.002)
    await controller.settle()
    messages = await receive(queues["operational_events"], count)
    assert [int(body(message)["link"]["reason"]) for message in messages] == list(range(count))
    hand_offs = [event for event in controller.seen
                 if event.name == "kytos/listen_events.broadcast"]
    sizes = [len(event.content["envelopes"]) for event in hand_offs]
    print(f"\n{count} events 2 ms apart, LINGER_MS 20: hand-offs of {sizes}")
    assert sum(sizes) == count and len(hand_offs) <= count // 4
    await wait_until(lambda: producer.publisher.counters.confirmed == count,
                     what=f"{count} confirms")


@pytest.mark.usefixtures("producer_settings", "cleanup_exchanges")
@pytest.mark.parametrize("socket_writer", ["found", "missing"])
@pytest.mark.parametrize("hand_off", ["direct", "event"])
async def test_a_lone_event_is_published_in_the_handlers_steps(controller, amqp,
                                                               exchange_prefix, monkeypatch,
                                                               socket_writer, hand_off):
    """Issue 21: an event that comes alone is handed on by listen_events' handler and
    written to RabbitMQ by mq_producer's, neither NApp's task woken for it; the broker
    confirms it and the consumer gets it, as any other. Handed over directly (the default),
    all of it happens in listen_events' handler step; with DIRECT_HAND_OFF False, in that
    of mq_producer's handler of the hand-off event. Without aiormq's socket writer (an
    aiormq that keeps it elsewhere) the frames go through aiormq's write queue instead."""
    if socket_writer == "missing":
        monkeypatch.setattr(amqp_transport, "_stream_writer", lambda connection: None)
    monkeypatch.setattr(listen_settings, "DIRECT_HAND_OFF", hand_off == "direct")
    listen, producer, queues = await _start(controller, amqp, exchange_prefix)
    publisher = producer.publisher
    await wait_until(lambda: publisher._waiting_for_work, what="the publisher idle")
    assert publisher.transport.can_publish_now()
    event = KytosEvent("kytos/topology.link_up", {"link": make_link(4), "reason": "link up"})
    await listen.on_event(event)
    assert listen.pipeline.counters.handed_on == 1 and listen.worker._task is None
    if hand_off == "event":
        # Not dispatched yet (no turn of the loop since): the test hands it to mq_producer's
        # handler itself, as core would.
        handoff = controller.buffers.app.queue.get_nowait()
        controller.buffers.app.queue.task_done()
        assert handoff.name == "kytos/listen_events.broadcast"
        await producer.on_envelopes(handoff)
    else:  # handed over in listen_events' handler step: nothing for core to dispatch
        assert controller.buffers.app.queue.empty()
        assert [type(item).__name__ for item in controller.seen] == ["HandedOver"]
    assert publisher.counters.published == 1 and publisher.outbox.in_flight == 1
    assert not publisher._wake.is_set()  # the publishing task was not woken
    # Written to the socket in this step, or queued for aiormq's writer task.
    queued = publisher.transport._underlay.write_queue.qsize()
    assert queued == {"found": 0, "missing": 1}[socket_writer]
    await wait_until(lambda: publisher.counters.confirmed == 1, what="the confirm")
    [message] = await receive(queues["operational_events"], 1)
    assert body(message)["event_id"] == str(event.id)
    assert message.message_id == body(message)["message_id"]
