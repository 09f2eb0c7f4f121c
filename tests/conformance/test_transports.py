"""One suite for every real transport: what mq_producer promises must hold on each broker.

Each test runs against a private RabbitMQ node (``amqp``) and a private nats-server with
JetStream (``jetstream``) that this module starts on free ports, stops and restarts. Messages
go through mq_producer's own path - routing (intake.to_messages), the outbox and the
Publisher, over the transport ``make_transport`` chooses - and are read back with each
broker's client: an AMQP queue bound with ``#``, a JetStream pull consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import nats
import nats.errors
import nats.js.errors
import pytest

from mq_producer.config import ProducerConfig, load_config
from mq_producer.envelopes import to_messages
from mq_producer.publisher import Publisher
from mq_producer.transports.base import PublishOutcome, TransportError
from mq_producer.transports.factory import make_transport
from mq_producer.transports.jetstream.subjects import destination, subject
from tests.support.nats_node import NatsNode, nats_available
from tests.support.rabbit_node import RabbitNode, rabbitmq_available
from tests.support.stall_proxy import StallProxy
from tests.support.waiting import wait_until

pytestmark = pytest.mark.private_broker

KINDS = [
    pytest.param("amqp", marks=pytest.mark.skipif(
        not rabbitmq_available(), reason="RabbitMQ server binaries not installed "
        "(scripts/setup installs them)")),
    # The same broker through aiormq's public basic_publish (AMQP_FAST_PATH off)
    pytest.param("amqp-public", marks=pytest.mark.skipif(
        not rabbitmq_available(), reason="RabbitMQ server binaries not installed "
        "(scripts/setup installs them)")),
    pytest.param("jetstream", marks=pytest.mark.skipif(
        not nats_available(), reason="nats-server not installed (scripts/ensure-nats "
        "installs it)")),
]


@dataclass
class Received:
    body: dict
    message_id: str | None
    address: str  # the AMQP routing key, or the NATS subject


class AmqpHarness:
    kind = "amqp"

    def __init__(self, node: RabbitNode, *, fast_path: bool = True) -> None:
        self.node = node
        self.fast_path = fast_path  # settings AMQP_FAST_PATH
        self.via_port: int | None = None  # the producer connects through a StallProxy
        self._queues: set[str] = set()
        self._exchanges: set[str] = set()

    def environ(self) -> dict[str, str]:
        port = self.via_port or self.node.port
        return {"KYTOS_MQ_TRANSPORT": "amqp",
                "KYTOS_MQ_URL": f"amqp://guest:guest@127.0.0.1:{port}/"}

    async def ensure_up(self) -> None:
        if not self.node.running:
            await asyncio.to_thread(self.node.start)
        await asyncio.to_thread(self.node.start_app)  # no-op when running

    async def stop(self, how: str) -> None:
        if how == "kill -9":
            await asyncio.to_thread(self.node.flush_metadata)  # see RabbitNode.flush_metadata
            await asyncio.to_thread(self.node.kill)
        else:
            await asyncio.to_thread(self.node.stop_app)

    async def start(self, how: str) -> None:
        await asyncio.to_thread(self.node.start if how == "kill -9" else self.node.start_app)

    async def prepare(self, exchange: str) -> None:
        """A durable queue taking everything the exchange gets (a stream keeps it anyway)."""
        connection = await aio_pika.connect(self.node.url)
        channel = await connection.channel()
        declared = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC,
                                                  durable=True)
        queue = await channel.declare_queue(f"{exchange}.all", durable=True)
        await queue.bind(declared, "#")
        await connection.close()
        self._exchanges.add(exchange)
        self._queues.add(queue.name)

    async def read(self, exchange: str, expected: int, timeout: float = 30) -> list[Received]:
        """What the exchange delivered, until ``expected`` distinct message ids arrived (at
        least once: a retry may have stored a message twice)."""
        connection = await aio_pika.connect(self.node.url)
        channel = await connection.channel()
        queue = await channel.declare_queue(f"{exchange}.all", durable=True, passive=True)
        received: list[Received] = []
        async with asyncio.timeout(timeout):
            while len({item.body["message_id"] for item in received}) < expected:
                message = await queue.get(fail=False, no_ack=True)
                if message is None:
                    await asyncio.sleep(0.05)
                    continue
                received.append(Received(json.loads(message.body), message.message_id,
                                         message.routing_key or ""))
        await connection.close()
        return received

    async def take_link_status(self, config: ProducerConfig, link_id: str
                               ) -> Received | None:
        """What an SDX-LC does: take the one message the link's status queue holds."""
        name = config.link_status.queue(link_id)
        self._queues.add(name)
        connection = await aio_pika.connect(self.node.url)
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        message = await queue.get(fail=False, no_ack=True)
        await connection.close()
        return None if message is None else Received(json.loads(message.body),
                                                     message.message_id,
                                                     message.routing_key or "")

    async def cleanup(self, config: ProducerConfig) -> None:
        connection = await aio_pika.connect(self.node.url)
        channel = await connection.channel()
        for name in {*self._queues, config.dead_letter}:
            await channel.queue_delete(name)
        for name in {*self._exchanges, *config.router.exchanges, config.link_status.exchange,
                     config.dead_letter}:
            await channel.exchange_delete(name)
        await connection.close()


class JetStreamHarness:
    kind = "jetstream"

    def __init__(self, node: NatsNode) -> None:
        self.node = node
        self.via_port: int | None = None  # the producer connects through a StallProxy
        self._consumers: set[tuple[str, str]] = set()

    def environ(self) -> dict[str, str]:
        # KYTOS_MQ_URL: config.py still reads the AMQP location whatever the transport.
        port = self.via_port or self.node.port
        url = f"nats://{self.node.user}:{self.node.password}@127.0.0.1:{port}"
        return {"KYTOS_MQ_TRANSPORT": "jetstream", "KYTOS_NATS_URL": url,
                "KYTOS_MQ_URL": "amqp://unused:unused@127.0.0.1:1/"}

    async def ensure_up(self) -> None:
        if not self.node.running:
            await asyncio.to_thread(self.node.start)

    async def stop(self, how: str) -> None:
        await asyncio.to_thread(self.node.kill if how == "kill -9" else self.node.stop)

    async def start(self, how: str) -> None:
        await asyncio.to_thread(self.node.start)

    async def prepare(self, exchange: str) -> None:
        """Nothing: the transport creates the stream, which keeps every message."""

    async def read(self, exchange: str, expected: int, timeout: float = 30) -> list[Received]:
        dest = destination(exchange)
        nc = await nats.connect(self.node.url)
        js = nc.jetstream()
        pull = await js.pull_subscribe(dest.filter, stream=dest.stream)  # ephemeral, from 1
        received: list[Received] = []
        try:
            async with asyncio.timeout(timeout):
                while len({item.body["message_id"] for item in received}) < expected:
                    try:
                        batch = await pull.fetch(256, timeout=1)
                    except nats.errors.TimeoutError:
                        continue
                    for message in batch:
                        await message.ack()
                        received.append(Received(json.loads(message.data),
                                                 (message.headers or {}).get("Nats-Msg-Id"),
                                                 message.subject))
        finally:
            await nc.close()
        return received

    async def stored(self, exchange: str) -> int:
        """How many messages the exchange's stream holds."""
        nc = await nats.connect(self.node.url)
        try:
            info = await nc.jetstream().stream_info(destination(exchange).stream)
        finally:
            await nc.close()
        return info.state.messages

    async def take_link_status(self, config: ProducerConfig, link_id: str
                               ) -> Received | None:
        """What an SDX-LC does: a durable pull consumer on the link's subject acks (and so
        removes: a work queue) the one message it holds."""
        dest = destination(config.link_status.exchange)
        durable = f"sdx-{link_id}"
        self._consumers.add((dest.stream, durable))
        nc = await nats.connect(self.node.url)
        js = nc.jetstream()
        try:
            pull = await js.pull_subscribe(subject(dest, link_id), durable=durable,
                                           stream=dest.stream)
            try:
                [message] = await pull.fetch(1, timeout=1)
            except nats.errors.TimeoutError:
                return None
            await message.ack_sync()
            return Received(json.loads(message.data), message.headers.get("Nats-Msg-Id"),
                            message.subject)
        finally:
            await nc.close()

    async def cleanup(self, config: ProducerConfig) -> None:
        nc = await nats.connect(self.node.url)
        js = nc.jetstream()
        for exchange in {*config.router.exchanges, config.link_status.exchange}:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(destination(exchange).stream)
        await nc.close()


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    node = RabbitNode(tmp_path_factory.mktemp("conformance-rabbit"))
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def nats_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsNode]:
    node = NatsNode(Path(tmp_path_factory.mktemp("conformance-nats")), user="kytos",
                    password="nats-s3cret")
    node.start()
    yield node
    node.stop()


@pytest.fixture(params=KINDS)
async def harness(request: pytest.FixtureRequest) -> AmqpHarness | JetStreamHarness:
    if request.param.startswith("amqp"):
        broker: AmqpHarness | JetStreamHarness = AmqpHarness(
            request.getfixturevalue("rabbit"), fast_path=request.param == "amqp")
    else:
        broker = JetStreamHarness(request.getfixturevalue("nats_node"))
    await broker.ensure_up()
    return broker


class Outage:
    """How the broker goes away: "stop" (clean), "kill -9" (then a restart), "stall" (the
    TCP connection stays open but nothing moves, through a StallProxy)."""

    def __init__(self, harness: AmqpHarness | JetStreamHarness, how: str) -> None:
        self.harness = harness
        self.how = how
        self.proxy: StallProxy | None = None

    async def begin(self) -> None:
        if self.proxy is not None:
            self.proxy.stall()
        else:
            await self.harness.stop(self.how)

    async def end(self) -> None:
        if self.proxy is not None:
            self.proxy.resume()
        else:
            await self.harness.start(self.how)


@pytest.fixture(params=["stop", "kill -9", "stall"])
async def outage(request: pytest.FixtureRequest, harness) -> AsyncIterator[Outage]:
    fault = Outage(harness, request.param)
    if request.param == "stall":
        fault.proxy = StallProxy("127.0.0.1", harness.node.port)
        harness.via_port = await fault.proxy.start()
    yield fault
    if fault.proxy is not None:
        await fault.proxy.close()


@dataclass
class Producer:
    config: ProducerConfig
    publisher: Publisher
    exchange: str  # where every event goes (one catch-all route)

    def send(self, envelope: dict) -> None:
        for message in to_messages(envelope, self.config.router, self.config.link_status,
                                   time.time(), self.config.max_message_bytes):
            self.publisher.submit(message)


@pytest.fixture
async def producer(harness, monkeypatch: pytest.MonkeyPatch,
                   request: pytest.FixtureRequest) -> AsyncIterator[Producer]:
    """mq_producer's Publisher over the transport make_transport picks for this broker; its
    exchange names hold a dot, as the JetStream mapping must handle."""
    from mq_producer import settings

    if "outage" in request.fixturenames:
        request.getfixturevalue("outage")  # a stall proxy must exist before we connect

    prefix = f"conf-{uuid.uuid4().hex[:8]}"
    exchange = f"{prefix}.events"
    monkeypatch.setattr(settings, "ROUTES", [{"exchange": exchange,
                                              "routing_key": "{event_class}.{event_name}"}])
    monkeypatch.setattr(settings, "QUEUES", [])
    monkeypatch.setattr(settings, "NAPP_QUEUES", {"enabled": False})
    monkeypatch.setattr(settings, "VERBOSE_QUEUE", {"enabled": False})
    monkeypatch.setattr(settings, "LINK_STATUS", {
        "enabled": True, "exchange": f"{prefix}.links", "queue_prefix": f"{prefix}.link.",
        "metadata": {"interdomain": True}, "link_ids": []})
    monkeypatch.setattr(settings, "DEAD_LETTER", f"{prefix}.dead")
    monkeypatch.setattr(settings, "RETRY_INTERVAL", 0.25)
    monkeypatch.setattr(settings, "PUBLISH_TIMEOUT", 3.0)
    monkeypatch.setattr(settings, "HEARTBEAT", 1)
    monkeypatch.setattr(settings, "MAX_IN_FLIGHT", 64)
    monkeypatch.setattr(settings, "AMQP_FAST_PATH", getattr(harness, "fast_path", True))
    environ = harness.environ()
    config = load_config(settings, environ)
    transport = make_transport(config, environ, settings=settings)
    assert type(transport).__module__ == f"mq_producer.transports.{harness.kind}.transport"
    await harness.prepare(exchange)
    publisher = Publisher(transport, config)
    publisher.start()
    await wait_until(lambda: transport.connected, what=f"{harness.kind} connected")
    if isinstance(harness, AmqpHarness):
        assert transport.publish_path == ("fast" if harness.fast_path else "basic_publish")
    yield Producer(config, publisher, exchange)
    publisher.abandon()
    await transport.close()
    await harness.ensure_up()
    await harness.cleanup(config)


def envelope(sequence: int, key: str | None, *, event: str = "kytos/topology.link_down",
             link: dict | None = None) -> dict:
    return {"schema_version": 1, "message_id": uuid.uuid4().hex, "msg_type": "event",
            "sent_time": int(time.time()), "event_name": event,
            "event_class": "operational", "event_id": uuid.uuid4().hex,
            "event_timestamp": "2026-11-27T19:44:17.349012+00:00",
            "producer": {"controller": "kytos", "domain": "conformance", "instance": "i",
                         "sequence": sequence},
            "key": key, "link": link, "content": {"n": sequence}}


def check_order(sent: list[dict], received: list[Received]) -> None:
    """Everything sent arrived (duplicates allowed), in order per key."""
    first: dict[str, dict] = {}
    for item in received:
        first.setdefault(item.body["message_id"], item.body)
    assert {e["message_id"] for e in sent} - set(first) == set(), "messages missing"
    per_key: dict[str, list[int]] = {}
    for body in first.values():
        if body["key"] is not None:
            per_key.setdefault(body["key"], []).append(body["producer"]["sequence"])
    for key, sequences in per_key.items():
        assert sequences == sorted(sequences), f"order broken for {key}: {sequences}"


async def test_publish_and_confirm(harness, producer: Producer):
    events = ["kytos/topology.link_down", "kytos/topology.link_up",
              "kytos/topology.switch.enabled"]
    sent = [envelope(n, None if n % 4 == 3 else f"link:{n % 4}", event=events[n % 3])
            for n in range(30)]
    for item in sent:
        producer.send(item)
    publisher = producer.publisher
    await wait_until(lambda: publisher.counters.confirmed == 30, what="30 confirms")
    received = await harness.read(producer.exchange, 30)
    assert len(received) == 30
    by_id = {item.body["message_id"]: item for item in received}
    dest = destination(producer.exchange)
    for item in sent:
        got = by_id[item["message_id"]]
        assert got.body == item  # the same envelope, byte for byte JSON
        assert got.message_id == item["message_id"]
        routing_key = f"operational.{item['event_name']}"
        assert got.address == (routing_key if harness.kind == "amqp"
                               else subject(dest, routing_key))
    counters = publisher.counters
    assert (counters.published, counters.failed, counters.returned) == (30, 0, 0)
    assert publisher.transport.destinations[producer.exchange] == "ok"
    assert publisher.status()["connected"] is True


async def test_a_message_published_alone_is_answered_and_arrives(harness, producer: Producer):
    """``publish_alone``, as the publisher tries an exchange that refused publishing: the
    broker's answer is awaited and returned, and the message arrives as any other does; a
    closed transport answers a TransportError, never raises."""
    transport = producer.publisher.transport
    sent = envelope(1, "link:alone")
    [message] = to_messages(sent, producer.config.router, producer.config.link_status,
                            time.time(), producer.config.max_message_bytes)
    assert await transport.publish_alone(message) is PublishOutcome.CONFIRMED
    [received] = await harness.read(producer.exchange, 1)
    assert received.body == sent and received.message_id == sent["message_id"]
    await transport.close()
    assert isinstance(await transport.publish_alone(message), TransportError)


async def test_an_exchange_is_checked_again_on_request_and_never_asserts_when_closed(
        harness, producer: Producer):
    """``check_exchange``, as the publisher checks an exchange connect() found unusable:
    None for a usable one (and it is not in ``unusable_exchanges``); a closed transport
    raises a TransportError - a try during an outage - never anything else."""
    transport = producer.publisher.transport
    assert transport.unusable_exchanges == {}
    assert await transport.check_exchange(producer.exchange) is None
    assert transport.unusable_exchanges == {}
    await transport.close()
    with pytest.raises(TransportError):
        await transport.check_exchange(producer.exchange)


async def test_order_per_key(harness, producer: Producer):
    sent = [envelope(n, f"link:{n % 8}") for n in range(400)]
    for item in sent:
        producer.send(item)
    await wait_until(lambda: producer.publisher.counters.confirmed == 400, timeout=30,
                     what="400 confirms")
    received = await harness.read(producer.exchange, 400)
    check_order(sent, received)
    assert len(received) == 400


async def test_outage_and_recovery(harness, outage: Outage, producer: Producer, caplog):
    """Stop, kill or stall the broker mid-stream: events keep coming and are buffered; bring
    it back: all of them are delivered, in order per key."""
    publisher = producer.publisher
    sent: list[dict] = []
    during_outage = 0
    stop_emitting = asyncio.Event()

    async def emit() -> None:
        nonlocal during_outage
        number = 0
        while not stop_emitting.is_set():
            item = envelope(number, f"link:{number % 6}")
            sent.append(item)
            producer.send(item)  # never blocks
            if publisher.alarm.outage is not None:
                during_outage += 1
            number += 1
            await asyncio.sleep(0.005)

    emitter = asyncio.create_task(emit())
    await asyncio.sleep(0.5)
    await outage.begin()
    await wait_until(lambda: publisher.alarm.outage is not None, timeout=15, what="the alarm")
    await asyncio.sleep(1.5)
    await outage.end()
    await asyncio.sleep(0.5)
    stop_emitting.set()
    await emitter
    await wait_until(lambda: len(publisher.outbox) == 0 and publisher.alarm.outage is None,
                     timeout=60, what="the buffer to empty after recovery")
    received = await harness.read(producer.exchange, len(sent))
    check_order(sent, received)
    if harness.kind == "jetstream":  # retries carried the same Nats-Msg-Id: stored once
        assert await harness.stored(producer.exchange) == len(sent)
    assert during_outage > 50, during_outage
    assert publisher.counters.dropped == 0
    messages = [r.getMessage() for r in caplog.records
                if r.name == "kytos.napps.kytos/mq_producer"]
    assert sum("ALARM: broker unreachable" in m for m in messages) == 1
    assert sum("reachable again" in m for m in messages) == 1
    assert "nats-s3cret" not in caplog.text


async def test_link_status_continuity(harness, producer: Producer):
    """One status per link: the same status again is not published; a change the queue
    refuses (it holds the previous one, unread) ends up there as the present status -
    RabbitMQ: the unread one is purged and replaced at once; JetStream (no purge): the
    change is offered again after RETRY_INTERVAL, once the consumer has taken the first."""
    publisher = producer.publisher
    link_id = uuid.uuid4().hex

    def link(status: str) -> dict:
        return {"id": link_id, "status": status, "metadata": {"interdomain": True}}

    first = envelope(1, f"link:{link_id}", link=link("UP"))
    producer.send(first)  # the event and its status message
    await wait_until(lambda: publisher.counters.confirmed == 2, what="first status")
    producer.send(envelope(2, f"link:{link_id}", link=link("UP")))
    await wait_until(lambda: publisher.counters.suppressed == 1, what="repetition dropped")
    change = envelope(3, f"link:{link_id}", event="kytos/topology.link_up",
                      link=link("DOWN"))
    producer.send(change)
    await wait_until(lambda: publisher.counters.refused >= 1, what="the change refused")

    if harness.kind == "amqp":
        await wait_until(lambda: publisher.counters.confirmed == 5, what="the change replaced")
        assert publisher.counters.replaced == 1
    else:
        assert publisher.counters.confirmed == 4  # three events, one status
        taken = await harness.take_link_status(producer.config, link_id)
        assert taken is not None and taken.body["message_id"] == first["message_id"]
        assert taken.message_id == f"{first['message_id']}:status"
        await wait_until(lambda: publisher.counters.confirmed == 5, what="the change accepted")
    taken = await harness.take_link_status(producer.config, link_id)
    assert taken is not None and taken.body["link"]["status"] == "DOWN"
    assert taken.message_id == f"{change['message_id']}:status"
    assert await harness.take_link_status(producer.config, link_id) is None
    assert publisher.counters.failed == 0 and publisher.alarm.outage is None


async def test_the_documented_differences(harness, producer: Producer):
    """Where the brokers differ (docs/operating.rst, "Transports"): a message id published
    twice (a retry whose confirm was lost) is stored once by JetStream's duplicate window, twice by
    RabbitMQ (consumers de-duplicate); an event nobody is bound to is returned by RabbitMQ,
    kept by JetStream's stream."""
    publisher = producer.publisher
    twice = envelope(1, "link:x")
    producer.send(twice)
    await wait_until(lambda: publisher.counters.confirmed == 1, what="first copy")
    producer.send(twice)
    await wait_until(lambda: publisher.counters.confirmed == 2, what="second copy")
    marker = envelope(2, "link:x")
    producer.send(marker)
    await wait_until(lambda: publisher.counters.confirmed == 3, what="marker")
    stored = 3 if harness.kind == "amqp" else 2
    received = await harness.read(producer.exchange, 2)  # two distinct message ids
    assert [item.body["message_id"] for item in received][-1] == marker["message_id"]
    assert len(received) == stored

    # A status message for a link whose queue/subject nobody declared: AMQP declares the
    # link queue on first sight, so use an unbound routing key on an exchange instead.
    if harness.kind == "amqp":
        connection = await aio_pika.connect(harness.node.url)
        channel = await connection.channel()
        await channel.queue_delete(f"{producer.exchange}.all")  # nothing bound any more
        await connection.close()
    producer.send(envelope(3, "link:y"))
    await wait_until(lambda: publisher.counters.confirmed + publisher.counters.returned == 4,
                     what="the last publish")
    assert publisher.counters.returned == (1 if harness.kind == "amqp" else 0)
