"""Interdomain link status for SDX (issue 15), through both NApps and a real broker: a
link's status queue holds the latest status only, status lanes stay bounded through a flood,
each accepted status is copied once to the status exchange, SDX NNI ports (interfaces with
``sdx_nni``) are links of their own, and an SDX-LC-style pika consumer reads the copies."""

import asyncio
import contextlib
import json
import threading
import time
from collections import Counter, defaultdict
from itertools import pairwise
from typing import Any

import aio_pika
import aiormq
import orjson
import pika
import pytest
from kytos.core import KytosEvent

from listen_events.main import Main as ListenEvents
from mq_producer.main import Main as MqProducer
from tests.integration.conftest import body
from tests.support.kytos_controller import FakeController
from tests.support.topology import (
    interface_event,
    link_event,
    make_link,
    make_nni,
    nni_link_id,
)
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.usefixtures("producer_settings",
                                                           "cleanup_exchanges")]

LINK_UP = "kytos/of_core.switch.interface.link_up"
LINK_DOWN = "kytos/of_core.switch.interface.link_down"
DOMAIN = "amlight.net"  # two topic words, as SDX-LC's SDXLC_DOMAIN


async def _start(controller: FakeController):
    listen = controller.load_napp(ListenEvents)
    producer = controller.load_napp(MqProducer)
    assert producer.publisher is not None, producer.disabled_reason
    await wait_until(lambda: producer.publisher.transport.connected, what="connected")
    return listen, producer


async def _put(controller: FakeController, name: str, content: dict) -> None:
    await controller.buffers.app.aput(KytosEvent(name, content))


def _idle(producer) -> bool:
    """Nothing left to publish or to hear back about: firehose buffer and status lanes."""
    publisher = producer.publisher
    lanes = publisher.status()["status_lanes"]
    return producer.worker.idle and len(publisher.outbox) == 0 \
        and lanes["pending"] == 0 and lanes["in_flight"] == 0


async def _until_idle(controller: FakeController, producer, timeout: float = 30) -> None:
    await controller.settle()
    await wait_until(lambda: _idle(producer), timeout=timeout, what="the producer idle")


def _queue_name(exchange_prefix: str, link_id: str) -> str:
    return f"{exchange_prefix}.link.{link_id}"


async def _status_queue(amqp, producer, name: str) -> aio_pika.abc.AbstractQueue:
    """The link's status queue, once the producer has declared it."""
    await wait_until(lambda: producer.publisher.transport.queues.get(name) == "ok",
                     what=f"queue {name} declared")
    return await amqp.declare_queue(name, passive=True)


async def _depth(amqp, name: str) -> int:
    queue = await amqp.declare_queue(name, passive=True)
    return queue.declaration_result.message_count


async def _next_status(queue: aio_pika.abc.AbstractQueue, timeout: float = 15) -> dict:
    """One message read (and acked) from a status queue, as a polling reader does."""
    async with asyncio.timeout(timeout):
        while True:
            message = await queue.get(no_ack=False, fail=False)
            if message is not None:
                await message.ack()
                return body(message)
            await asyncio.sleep(0.02)


async def _drain(queue: aio_pika.abc.AbstractQueue, count: int,
                 timeout: float = 60) -> list[dict]:
    """``count`` messages from ``queue`` (no ack), parsed."""
    bodies: list[dict] = []
    if count == 0:
        return bodies
    async with asyncio.timeout(timeout), queue.iterator(no_ack=True) as iterator:
        async for message in iterator:
            bodies.append(orjson.loads(message.body))
            if len(bodies) == count:
                break
    return bodies


def _accepted(producer, queue_names: list[str]) -> int:
    """Statuses the link queues accepted (refreshes, which are not copied, left out)."""
    outcomes = producer.publisher.outcomes
    confirmed = sum((outcomes.queue_counts(name) or {}).get("confirmed", 0)
                    for name in queue_names)
    return confirmed - producer.publisher.counters.refreshed


# 1. One copy of each accepted status on the status exchange -------------------------------

async def test_each_accepted_status_is_copied_once_to_the_status_exchange(
        controller, amqp, exchange_prefix, capsys):
    _, producer = await _start(controller)
    publisher = producer.publisher
    copies = await amqp.declare_queue(exclusive=True)
    await copies.bind(f"{exchange_prefix}.links", "#")
    link = make_link(23, interdomain=True)
    nni = make_nni(24, "sax.br:s3:3")
    nni_id = nni_link_id("sax.br:s3:3")
    names = [_queue_name(exchange_prefix, str(link.id)), _queue_name(exchange_prefix, nni_id)]

    # One status at a time, nobody reading the link queues: the first is accepted, each change
    # refused, the queue purged and the change accepted; each repetition refused, dropped.
    statuses = ["DOWN", "DOWN", "UP", "UP", "UP", "DOWN", "UP", "DOWN", "DOWN", "UP"]
    for status in statuses:
        up = status == "UP"
        await _put(controller, *link_event(link, up))
        await _put(controller, *interface_event(
            nni, "kytos/topology.interface.up" if up else "kytos/topology.interface.down"))
        await _until_idle(controller, producer)
    changes = sum(1 for before, after in pairwise(statuses)
                  if before != after)
    repeats = len(statuses) - 1 - changes
    counters = publisher.counters
    assert counters.replaced == 2 * changes
    assert counters.suppressed == 2 * repeats
    assert counters.superseded == 0
    assert _accepted(producer, names) == counters.copied == 2 * (1 + changes)

    # A burst: statuses supersede one another while one is refused, purged and published.
    await _burst(controller, producer, link, nni)
    accepted = _accepted(producer, names)
    # One copy per accepted change: a status purged unread and accepted again is no change.
    assert counters.copied <= accepted
    per_link = await _copies_per_link(amqp, copies, counters.copied)
    assert set(per_link) == {str(link.id), nni_id}
    for messages in per_link.values():
        sequences = [m["producer"]["sequence"] for m in messages]
        assert sequences == sorted(sequences)
        assert messages[-1]["link"]["status"] == "DOWN"  # the last of the burst
    assert counters.dropped == 0 and counters.rejected == 0
    with capsys.disabled():
        print(f"\ncopies: {sum(map(len, per_link.values()))} for {accepted} accepted statuses; "
              f"counters "
              f"{counters.as_dict()}; the same status twice in a row: "
              f"{_same_in_a_row(per_link)}")


async def test_copies_never_give_the_same_status_twice_in_a_row(controller, amqp,
                                                                exchange_prefix):
    """A copy consumer (SDX-LC through its binding) sees changes only, as a link queue's
    reader does: a status refused as a change, whose link went back to the status its queue
    held before the queue was purged, is no new status for it."""
    _, producer = await _start(controller)
    copies = await amqp.declare_queue(exclusive=True)
    await copies.bind(f"{exchange_prefix}.links", "#")
    link = make_link(32, interdomain=True)
    nni = make_nni(33, "sax.br:s3:4")
    names = [_queue_name(exchange_prefix, str(link.id)),
             _queue_name(exchange_prefix, nni_link_id("sax.br:s3:4"))]
    await _burst(controller, producer, link, nni)
    assert producer.publisher.counters.copied <= _accepted(producer, names)
    per_link = await _copies_per_link(amqp, copies, producer.publisher.counters.copied)
    assert _same_in_a_row(per_link) == 0, "copies (U: UP, D: DOWN) " + "; ".join(
        f"{link_id[:16]}: {''.join(m['link']['status'][0] for m in messages)}"
        for link_id, messages in per_link.items())


async def _burst(controller: FakeController, producer, link, nni, flaps: int = 400) -> None:
    """Flaps of a link and an NNI port, settling every 50: statuses supersede one another
    while one is refused, its queue purged and the present status published. Ends DOWN."""
    for index in range(flaps):
        up = index % 2 == 0
        await _put(controller, *link_event(link, up))
        await _put(controller, *interface_event(nni, LINK_UP if up else LINK_DOWN))
        if index % 50 == 49:
            await controller.settle()
    await _until_idle(controller, producer)


async def _copies_per_link(amqp, copies: aio_pika.abc.AbstractQueue,
                           expected: int) -> dict[str, list[dict]]:
    """The copies, exactly ``expected`` of them, none twice, by link id in arrival order."""
    got = await _drain(copies, expected, timeout=15)
    await asyncio.sleep(0.5)  # nothing more comes
    assert await _depth(amqp, copies.name) == 0
    ids = Counter(message["message_id"] for message in got)
    assert not [message_id for message_id, times in ids.items() if times > 1]
    per_link: dict[str, list[dict]] = defaultdict(list)
    for message in got:
        per_link[message["link"]["id"]].append(message)
    return per_link


def _same_in_a_row(per_link: dict[str, list[dict]]) -> int:
    return sum(1 for messages in per_link.values() for before, after in pairwise(messages)
               if before["link"]["status"] == after["link"]["status"])


# 2. SDX NNI ports --------------------------------------------------------------------------

async def test_nni_port_status_in_order_with_a_reader(controller, amqp, exchange_prefix):
    _, producer = await _start(controller)
    nni = make_nni(25, "zaoxi.ac.za:s1:50")
    nni_id = nni_link_id("zaoxi.ac.za:s1:50")
    name = _queue_name(exchange_prefix, nni_id)
    sequence = [
        ("kytos/of_core.switch.interface.link_down", "DOWN"),
        ("kytos/of_core.switch.interface.link_up", "UP"),
        ("kytos/topology.interface.down", "DOWN"),
        ("kytos/topology.interface.up", "UP"),
        ("kytos/topology.interface.disabled", "DISABLED"),
        ("kytos/topology.interface.enabled", "UP"),
    ]
    queue = None
    got = []
    for event, _ in sequence:
        await _put(controller, *interface_event(nni, event))
        await controller.settle()
        if queue is None:
            queue = await _status_queue(amqp, producer, name)
        got.append(await _next_status(queue))  # read and acked before the next event
    assert [m["link"]["status"] for m in got] == [status for _, status in sequence]
    assert [m["event_name"] for m in got] == [event for event, _ in sequence]
    for message in got:
        nni_link = message["link"]
        assert nni_link["id"] == nni_id and nni_link["kind"] == "nni"
        assert nni_link["endpoint_a"]["id"] == str(nni.id)
        assert nni_link["endpoint_b"] == {"id": nni_id, "dpid": None, "port": None,
                                          "name": None}
        assert nni_link["status_source"] == (
            "object" if message["event_name"].endswith(".enabled") else "event")
    sequences = [m["producer"]["sequence"] for m in got]
    assert sequences == sorted(sequences)
    await _until_idle(controller, producer)
    assert await _depth(amqp, name) == 0
    counters = producer.publisher.counters
    assert counters.suppressed == counters.replaced == counters.superseded == 0


async def test_nni_metadata_added_creates_the_lane_and_removed_ends_it(
        controller, amqp, exchange_prefix):
    _, producer = await _start(controller)
    transport = producer.publisher.transport
    plain = make_nni(26, sdx_nni=None)
    nni_id = nni_link_id("ampath.net:s9:9")
    name = _queue_name(exchange_prefix, nni_id)

    await _put(controller, *interface_event(plain, LINK_DOWN))  # not an NNI yet: no status
    await _until_idle(controller, producer)
    assert name not in transport.queues
    assert producer.publisher.status()["status_lanes"]["links"] == 0

    plain.active = True
    plain.metadata["sdx_nni"] = "ampath.net:s9:9"
    await _put(controller, "kytos/topology.interfaces.metadata.added",
               {"interface": plain, "metadata": {"sdx_nni": "ampath.net:s9:9"}})
    await controller.settle()
    queue = await _status_queue(amqp, producer, name)
    present = await _next_status(queue)
    assert present["event_name"] == "kytos/topology.interfaces.metadata.added"
    assert present["link"]["id"] == nni_id and present["link"]["kind"] == "nni"
    assert present["link"]["status"] == "UP"

    del plain.metadata["sdx_nni"]
    await _put(controller, "kytos/topology.interfaces.metadata.removed",
               {"interface": plain, "metadata": {"sdx_nni": "ampath.net:s9:9"}})
    for event in (LINK_DOWN, LINK_UP, "kytos/topology.interface.disabled"):
        await _put(controller, *interface_event(plain, event))
    await _until_idle(controller, producer)
    await asyncio.sleep(0.3)  # anything late would be in the queue by now
    assert await _depth(amqp, name) == 0
    statuses = producer.publisher.outcomes.queue_counts(name) or {}
    assert statuses.get("confirmed") == 1  # the one read above, nothing after


# 3. An SDX-LC-style consumer -------------------------------------------------------------

class SdxLcConsumer:
    """What SDX-LC does with RabbitMQ, reduced to its handling of a message (no database, no
    OXP, no RPC): sdx_lc/messaging/topic_queue_consumer.py (TopicQueueConsumer) and
    sdx_lc/handlers/sdx_controller_msg_handler.py (process_sdx_controller_json_msg), sdx-lc
    main as of 2026-01. pika BlockingConnection, consumed in a thread of its own."""

    MQ_MESSAGE_EXPIRATION = 300

    def __init__(self, url: str, exchange_name: str, domain: str) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.exchange_name = exchange_name
        self.result = self.channel.queue_declare(queue="", exclusive=True)
        self.routing_key = domain
        self.consuming = threading.Event()
        self.heartbeats = 0
        self.stored: list[bytes] = []  # not JSON: SDX-LC stores it
        self.invalid_time: list[dict] = []
        self.stale: list[dict] = []
        self.provisioning: list[dict] = []  # would be POSTed / DELETEd to the OXP
        self.topologies: list[dict] = []
        self.received: list[dict] = []  # "Got message": logged
        self.errors: list[str] = []

    def callback(self, ch, method, properties, message_body: bytes) -> None:
        try:
            self.process(message_body)
        except Exception as exc:  # SDX-LC logs "Failed to process msg" and goes on
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def process(self, msg: bytes) -> None:
        if "Heart Beat" in str(msg):
            self.heartbeats += 1
            return
        try:
            json.loads(msg)
        except ValueError:
            self.stored.append(msg)
            return
        msg_json = json.loads(msg.decode("utf-8"))
        sent_time = msg_json.get("sent_time")
        current_time = int(time.time())
        if not isinstance(sent_time, int | float):
            self.invalid_time.append(msg_json)
        elif current_time - sent_time >= self.MQ_MESSAGE_EXPIRATION:
            self.stale.append(msg_json)
            return
        if "link" in msg_json and ("endpoints" in msg_json["link"]):  # TypeError on null
            self.provisioning.append(msg_json)
        elif "version" in msg_json:
            self.topologies.append({"id": msg_json["id"], "name": msg_json["name"],
                                    "version": msg_json["version"]})
        else:
            self.received.append(msg_json)

    def start_consumer(self) -> None:
        self.channel.exchange_declare(exchange=self.exchange_name, exchange_type="topic")
        queue_name = self.result.method.queue
        self.channel.queue_bind(exchange=self.exchange_name, queue=queue_name,
                                routing_key=self.routing_key)
        self.channel.basic_qos(prefetch_count=1)
        self.channel.basic_consume(queue=queue_name, on_message_callback=self.callback,
                                   auto_ack=True)
        self.consuming.set()
        self.channel.start_consuming()
        self.connection.close()  # the test's: SDX-LC's thread dies with its connection

    def stop(self) -> None:
        """From another thread: pika's one thread-safe entry point."""
        self.connection.add_callback_threadsafe(self.channel.stop_consuming)


async def test_sdx_lc_consumer_reads_the_status_copies_and_misreads_none(
        controller, amqp, exchange_prefix, broker_url, monkeypatch, producer_settings):
    monkeypatch.setattr(producer_settings, "LINK_STATUS", {
        **producer_settings.LINK_STATUS, "copy_routing_key": "{domain}"})
    monkeypatch.setenv("KYTOS_EVENTS_DOMAIN", DOMAIN)
    _, producer = await _start(controller)
    publisher = producer.publisher
    connections = f"{exchange_prefix}.connections"  # SDX-LC's "connections", ours alone
    try:
        sdx_lc = await asyncio.to_thread(SdxLcConsumer, broker_url, connections, DOMAIN)
        thread = threading.Thread(target=sdx_lc.start_consumer, name="sdx-lc", daemon=True)
        thread.start()
        try:
            assert await asyncio.to_thread(sdx_lc.consuming.wait, 10)
            # The operator: an exchange-to-exchange binding from the status exchange into it.
            destination = await amqp.get_exchange(connections)
            await destination.bind(f"{exchange_prefix}.links", routing_key=DOMAIN)

            link = make_link(27, interdomain=True)
            nni = make_nni(28, "zaoxi.ac.za:s1:50")
            nni_id = nni_link_id("zaoxi.ac.za:s1:50")
            plain = make_link(29)  # an ordinary link: no status, nothing for SDX-LC
            steps = [(False, "kytos/topology.interface.down"),
                     (True, "kytos/topology.interface.up"),
                     (True, "kytos/topology.interface.up"),  # repetitions: not copied
                     (False, "kytos/topology.interface.disabled"),
                     (False, "kytos/topology.interface.enabled")]
            for up, event in steps:
                await _put(controller, *link_event(link, up))
                await _put(controller, *interface_event(nni, event))
                await _put(controller, *link_event(plain, up))
                await _until_idle(controller, producer)
            expected = {str(link.id): ["DOWN", "UP", "DOWN"],
                        nni_id: ["DOWN", "UP", "DISABLED", "UP"]}
            await wait_until(lambda: len(sdx_lc.received) >= 7, timeout=15,
                             what="7 statuses at SDX-LC")
            await asyncio.sleep(0.5)  # nothing more comes
        finally:
            sdx_lc.stop()
            await asyncio.to_thread(thread.join, 10)
        assert not thread.is_alive()
        assert (sdx_lc.heartbeats, sdx_lc.stored, sdx_lc.invalid_time, sdx_lc.stale,
                sdx_lc.provisioning, sdx_lc.topologies, sdx_lc.errors) == \
            (0, [], [], [], [], [], [])
        statuses: dict[str, list[str]] = defaultdict(list)
        for message in sdx_lc.received:
            assert message["link"] is not None and "endpoints" not in message["link"]
            assert "version" not in message
            assert message["producer"]["domain"] == DOMAIN
            assert abs(time.time() - message["sent_time"]) < 60
            statuses[message["link"]["id"]].append(message["link"]["status"])
        assert dict(statuses) == expected
        assert len(sdx_lc.received) == publisher.counters.copied == _accepted(
            producer, [_queue_name(exchange_prefix, link_id) for link_id in expected])

        # mq_producer touched neither "connections" nor "oxp_update".
        transport = publisher.transport
        for name in (connections, "connections", "oxp_update"):
            assert name not in transport.destinations and name not in transport.queues
            assert name not in publisher.outcomes.exchanges(transport.destinations)
        assert not [outcome for outcome in publisher.outcomes.recent()
                    if "oxp_update" in (outcome["exchange"], outcome["routing_key"])]
        assert publisher.last_error is None and publisher.counters.rejected == 0
        # Still SDX-LC's non-durable exchange: declared durable it would refuse this (406).
        await _declare_as_sdx_lc(broker_url, connections)
        with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
            await _passive_queue(broker_url, "oxp_update")
    finally:
        await _delete_exchange(broker_url, connections)


async def _declare_as_sdx_lc(broker_url: str, name: str) -> None:
    """Declare ``name`` as SDX-LC does: topic, non-durable."""
    connection = await aio_pika.connect(broker_url)
    try:
        channel = await connection.channel()
        await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=False)
    finally:
        await connection.close()


async def _delete_exchange(broker_url: str, name: str) -> None:
    connection = await aio_pika.connect(broker_url)
    try:
        channel = await connection.channel()
        await channel.exchange_delete(name)
    finally:
        await connection.close()


async def _passive_queue(broker_url: str, name: str) -> Any:
    connection = await aio_pika.connect(broker_url)
    try:
        channel = await connection.channel()
        return await channel.declare_queue(name, passive=True)
    finally:
        await connection.close()


# 4. Refresh -------------------------------------------------------------------------------

async def test_status_left_unread_is_refreshed_without_a_copy(
        controller, amqp, exchange_prefix, monkeypatch, producer_settings):
    monkeypatch.setattr(producer_settings, "LINK_STATUS", {
        **producer_settings.LINK_STATUS, "refresh_after": 1.5})
    _, producer = await _start(controller)
    copies = await amqp.declare_queue(exclusive=True)
    await copies.bind(f"{exchange_prefix}.links", "#")
    link = make_link(31, interdomain=True)
    name = _queue_name(exchange_prefix, str(link.id))
    await _put(controller, *link_event(link, False))
    await _until_idle(controller, producer)
    await wait_until(lambda: producer.publisher.counters.refreshed >= 1, timeout=10,
                     what="a refresh")
    await _until_idle(controller, producer)
    assert await _depth(amqp, name) == 1
    refreshed = await _next_status(await amqp.declare_queue(name, passive=True))
    [copy] = await _drain(copies, 1)  # the acceptance's copy, stamped when it was accepted
    assert await _depth(amqp, copies.name) == 0  # none for the refresh
    assert refreshed["link"]["status"] == copy["link"]["status"] == "DOWN"
    assert refreshed["producer"] == copy["producer"]  # the same status, ...
    assert refreshed["sent_time"] > copy["sent_time"]  # ... published again 1.5 s later


# 4b. A status the queue lost otherwise than to its consumer ------------------------------

async def test_a_snapshot_gives_a_restarted_consumer_the_status_it_had_read(
        controller, amqp, exchange_prefix):
    """SDX-LC restarted has lost what it read, and its copies' queue (server-named): it asks
    for a snapshot, which goes to the link's queue and to the copies whatever the queue last
    accepted; a change's status equal to it is still suppressed."""
    listen, producer = await _start(controller)
    link = make_link(41, interdomain=True)
    nni = make_nni(42, "zaoxi.ac.za:s1:51")
    controller.links = {link.id: link}
    controller.switches = {nni.switch.id: nni.switch}
    names = [_queue_name(exchange_prefix, str(link.id)),
             _queue_name(exchange_prefix, nni_link_id("zaoxi.ac.za:s1:51"))]
    await _put(controller, *link_event(link, True))
    await _put(controller, *interface_event(nni, LINK_UP))
    await _until_idle(controller, producer)
    for name in names:  # read: the consumer has both statuses
        assert (await _next_status(await _status_queue(amqp, producer, name)))[
            "link"]["status"] == "UP"
    copies = await amqp.declare_queue(exclusive=True)  # the restarted consumer's
    await copies.bind(f"{exchange_prefix}.links", "#")
    response = await listen.snapshot(None)
    assert json.loads(response.body) == {"links": 1, "nni_ports": 1}
    await _until_idle(controller, producer)
    for name in names:
        status = await _next_status(await amqp.declare_queue(name, passive=True))
        assert (status["msg_type"], status["link"]["status"]) == ("snapshot", "UP")
    assert sorted(copy["link"]["id"] for copy in await _drain(copies, 2)) == sorted(
        [str(link.id), nni_link_id("zaoxi.ac.za:s1:51")])
    # Unread this time: a second snapshot replaces what waits (one message, the newest).
    await listen.snapshot(None)
    await _until_idle(controller, producer)
    await listen.snapshot(None)
    await _until_idle(controller, producer)
    got = [await _next_status(await amqp.declare_queue(names[0], passive=True))]
    assert await _depth(amqp, names[0]) == 0 and got[0]["msg_type"] == "snapshot"
    counters = producer.publisher.counters
    assert counters.replaced >= 2 and counters.dropped == 0
    # An event of the same status is nothing new to the consumer: suppressed, as before.
    suppressed = counters.suppressed
    await _put(controller, *link_event(link, True))
    await _until_idle(controller, producer)
    assert counters.suppressed == suppressed + 1 and await _depth(amqp, names[0]) == 0


async def test_a_status_purged_unread_goes_again_after_the_refresh_finds_it_gone(
        controller, amqp, exchange_prefix, monkeypatch, producer_settings):
    """Purged by hand (or expired by a policy, rejected by its consumer): the producer cannot
    tell it from a read until REFRESH_AFTER, when its refresh finds the queue empty; from
    then on the same status goes again."""
    monkeypatch.setattr(producer_settings, "LINK_STATUS", {
        **producer_settings.LINK_STATUS, "refresh_after": 1.0})
    _, producer = await _start(controller)
    link = make_link(43, interdomain=True)
    name = _queue_name(exchange_prefix, str(link.id))
    await _put(controller, *link_event(link, False))
    await _until_idle(controller, producer)
    queue = await _status_queue(amqp, producer, name)
    await queue.purge()
    counters = producer.publisher.counters
    # Before the refresh: taken for read, the same status is suppressed (the control).
    await _put(controller, *link_event(link, False))
    await _until_idle(controller, producer)
    assert counters.suppressed == 1 and await _depth(amqp, name) == 0
    await wait_until(lambda: producer.publisher._refresh_timers == {}, timeout=10,
                     what="the refresh")
    await _until_idle(controller, producer)
    assert counters.refreshed == 0  # nothing was there to refresh
    await _put(controller, *link_event(link, False))
    await _until_idle(controller, producer)
    assert await _depth(amqp, name) == 1 and counters.suppressed == 1
    assert (await _next_status(queue))["link"]["status"] == "DOWN"


async def test_a_status_queue_deleted_is_declared_again_and_gets_the_status(
        controller, amqp, exchange_prefix, caplog):
    _, producer = await _start(controller)
    link = make_link(44, interdomain=True)
    name = _queue_name(exchange_prefix, str(link.id))
    await _put(controller, *link_event(link, False))
    await _until_idle(controller, producer)
    await _status_queue(amqp, producer, name)
    await amqp.queue_delete(name)
    # The same status (the queue had it) and a change: the change comes back unroutable, the
    # queue is declared again, and the present status goes to it.
    await _put(controller, *link_event(link, False))
    await _put(controller, *link_event(link, True))
    await _until_idle(controller, producer)
    queue = await _status_queue(amqp, producer, name)
    assert (await _next_status(queue))["link"]["status"] == "UP"
    counters = producer.publisher.counters
    assert counters.returned >= 1 and counters.dropped == 0
    assert producer.publisher.status()["queues"][name] == "ok"
    gone = [r.getMessage() for r in caplog.records if "came back unroutable" in r.getMessage()]
    assert len(gone) == 1 and f"its queue {name!r} was deleted or unbound" in gone[0]
    # Deleted again, with the link's status unread: the next change finds it again.
    await amqp.queue_delete(name)
    await _put(controller, *link_event(link, False))
    await _until_idle(controller, producer)
    queue = await _status_queue(amqp, producer, name)
    assert (await _next_status(queue))["link"]["status"] == "DOWN"


async def test_a_link_id_the_client_cannot_name_a_queue_with_costs_only_its_own_queue(
        controller, amqp, exchange_prefix, monkeypatch, producer_settings, caplog):
    """RabbitMQ takes any UTF-8 in a queue name, aiormq's encoder (pamqp) does not: a
    parenthesis or an accent in an NNI's sdx_nni. Its ValueError failed the whole batch of
    queues declared with it (LINK_STATUS.link_ids are declared together at start): the
    others were 'not declared' too, and their statuses came back unroutable."""
    odd, plain = nni_link_id("ufrgs.br:São_Paulo:eth(1)"), "plain-link-51"
    monkeypatch.setattr(producer_settings, "LINK_STATUS", {
        **producer_settings.LINK_STATUS, "link_ids": [odd, plain]})
    _, producer = await _start(controller)
    queues = producer.publisher.transport.queues
    plain_queue = await _status_queue(amqp, producer, _queue_name(exchange_prefix, plain))
    odd_name = _queue_name(exchange_prefix, odd)
    await wait_until(lambda: queues.get(odd_name, "").startswith("not declared"),
                     what="the odd queue refused")
    assert "the AMQP client takes letters, digits" in queues[odd_name]
    said = [r.getMessage() for r in caplog.records if odd_name in r.getMessage()]
    assert len(said) == 1 and "Invalid value for queue" in said[0], said
    assert not [r for r in caplog.records if "link status queues failed" in r.getMessage()]
    assert plain_queue.declaration_result.message_count == 0  # declared, bound, empty


# 5. A flood ------------------------------------------------------------------------------

FLAPS = 11_000  # of one interdomain Kytos link, and of one NNI port
ORDINARY = 5_000  # link_up / link_down of ordinary links, interleaved
ORDINARY_LINKS = 50
BATCH = 100  # events put on the app buffer between two settle()


async def test_flood_keeps_one_pending_status_per_link_and_every_ordinary_event(
        controller, amqp, exchange_prefix, capsys):
    _, producer = await _start(controller)
    publisher = producer.publisher
    link = make_link(21, interdomain=True)
    nni = make_nni(22, "zaoxi.ac.za:s1:50")
    nni_id = nni_link_id(nni.metadata["sdx_nni"])
    ordinary = [make_link(30 + index) for index in range(ORDINARY_LINKS)]
    ordinary_ids = {str(other.id) for other in ordinary}
    firehose = await amqp.declare_queue(exclusive=True)  # everything, kept in the broker
    for kind in ("operational_events", "admin_events", "other_events"):
        await firehose.bind(f"{exchange_prefix}.{kind}", "#")

    samples: list[dict[str, int]] = []

    async def sample() -> None:
        while True:
            samples.append(dict(publisher.status()["status_lanes"]))
            await asyncio.sleep(0.01)

    def schedule():
        done = 0
        for index in range(FLAPS):
            up = index % 2 == 1  # DOWN first; the last flap (odd) leaves both UP
            yield link_event(link, up)
            yield interface_event(nni, LINK_UP if up else LINK_DOWN)
            while done < (index + 1) * ORDINARY // FLAPS:
                other = ordinary[done % ORDINARY_LINKS]
                yield link_event(other, (done // ORDINARY_LINKS) % 2 == 1)
                done += 1

    sampler = asyncio.get_running_loop().create_task(sample())
    started = time.monotonic()
    events = 0
    try:
        for name, content in schedule():
            await _put(controller, name, content)
            events += 1
            if events % BATCH == 0:
                await controller.settle()
                samples.append(dict(publisher.status()["status_lanes"]))
        await _until_idle(controller, producer, timeout=120)
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    flood_seconds = time.monotonic() - started
    counters = publisher.counters.as_dict()
    assert events == 2 * FLAPS + ORDINARY

    # The lanes: two links, never more than one pending status each.
    max_pending = max(sample["pending"] for sample in samples)
    max_in_flight = max(sample["in_flight"] for sample in samples)
    max_links = max(sample["links"] for sample in samples)
    with capsys.disabled():
        print(f"\nflood: {events} events in {flood_seconds:.1f}s; status lanes over "
              f"{len(samples)} samples: links {max_links}, max pending {max_pending}, max in "
              f"flight {max_in_flight} (lanes' own max_pending "
              f"{getattr(publisher.status_lanes, 'max_pending', '?')}); counters {counters}")
    assert max_links == 2
    assert max_pending <= 2 and max_in_flight <= 2
    assert getattr(publisher.status_lanes, "max_pending", 0) <= 2
    # Status lanes and their copies never cost the firehose a message.
    assert counters["dropped"] == 0, f"firehose messages dropped: {counters}"
    assert counters["rejected"] == 0
    assert counters["discarded"] == 0

    # The firehose carried every event, in order per link.
    depth = await _depth(amqp, firehose.name)
    assert depth == events
    by_link: dict[str, list[dict]] = defaultdict(list)
    for message in await _drain(firehose, depth, timeout=120):
        assert message["link"] is not None
        by_link[message["link"]["id"]].append(message)
    assert sum(len(by_link[link_id]) for link_id in ordinary_ids) == ORDINARY
    for link_id in ordinary_ids:
        messages = by_link[link_id]
        assert [m["link"]["status"] for m in messages] == \
            ["DOWN", "UP"] * (ORDINARY // ORDINARY_LINKS // 2)
        sequences = [m["producer"]["sequence"] for m in messages]
        assert sequences == sorted(sequences)
    for link_id in (str(link.id), nni_id):
        messages = by_link[link_id]
        assert [m["link"]["status"] for m in messages] == ["DOWN", "UP"] * (FLAPS // 2)
        sequences = [m["producer"]["sequence"] for m in messages]
        assert sequences == sorted(sequences)
    assert {m["link"]["kind"] for m in by_link[nni_id]} == {"nni"}

    # A reader that comes now gets the present status first, then each change.
    names = {str(link.id): _queue_name(exchange_prefix, str(link.id)),
             nni_id: _queue_name(exchange_prefix, nni_id)}
    seen: dict[str, list[dict]] = {link_id: [] for link_id in names}
    tags = []
    for link_id, name in names.items():
        assert await _depth(amqp, name) == 1  # the present status only

        async def read(message, link_id=link_id):
            seen[link_id].append(body(message))
            await message.ack()

        queue = await amqp.declare_queue(name, passive=True)
        tags.append((queue, await queue.consume(read)))
    await wait_until(lambda: all(seen.values()), what="the present statuses")
    for link_id in names:
        first = seen[link_id][0]
        last = by_link[link_id][-1]
        assert first["link"]["status"] == last["link"]["status"] == "UP"
        # The last event's own message, or an earlier UP still unread when the link went
        # DOWN and UP again: the queue had the present status, nothing was replaced.
        assert first["producer"]["sequence"] <= last["producer"]["sequence"]
        assert first["link"]["id"] == link_id
    for count, up in enumerate((False, True, False), start=2):
        await _put(controller, *link_event(link, up))
        await _put(controller, *interface_event(nni, LINK_UP if up else LINK_DOWN))
        await controller.settle()
        await wait_until(lambda count=count: all(len(v) >= count for v in seen.values()),
                         what=f"change {count - 1} read")
    await _until_idle(controller, producer)
    for queue, tag in tags:
        await queue.cancel(tag)
    for link_id in names:
        assert [m["link"]["status"] for m in seen[link_id]] == ["UP", "DOWN", "UP", "DOWN"]
    assert publisher.counters.dropped == 0
