"""Broker outages against a private RabbitMQ node the tests start, stop, kill and stall.

For each fault: events keep arriving, nothing blocks, the alarm and recovery lines appear
once, and afterwards every event handed on is in the queue (duplicates allowed: at least
once), in order per key. At the end, mq_producer unloaded while Kytos runs, with what a
stalled link held up: flushed, or counted as discarded once the flush's time is up.
"""

import asyncio
import datetime as dt
import logging
import random
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import aio_pika
import orjson
import pytest
from kytos.core import KytosEvent

from mq_producer.transports.amqp.confirm_reads import LingeringReader
from tests.support.delivery import first_copies_in_order
from tests.support.handoff import handed_envelopes
from tests.support.kytos_controller import FakeController
from tests.support.napp_stack import Stack
from tests.support.rabbit_node import RabbitNode, free_port, private_node, rabbitmq_available
from tests.support.stall_meter import BLOCKED_LOOP, StallMeter
from tests.support.stall_proxy import StallProxy
from tests.support.topology import make_link
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.private_broker,
    pytest.mark.skipif(not rabbitmq_available(), reason="RabbitMQ server binaries not "
                       "installed (scripts/setup installs them)"),
]

EXCHANGE = "outage_events"
QUEUE = "outage_events_all"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    yield from private_node(tmp_path_factory.mktemp("rabbit"))


@pytest.fixture
async def running_node(node: RabbitNode) -> RabbitNode:
    """The node, up and with an empty durable queue bound to the test exchange."""
    if not node.running:
        await asyncio.to_thread(node.start)
    await asyncio.to_thread(node.start_app)  # no-op when already running
    connection = await aio_pika.connect(node.url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC,
                                              durable=True)
    queue = await channel.declare_queue(QUEUE, durable=True)
    await queue.bind(exchange, "#")
    await queue.purge()
    await connection.close()
    return node


@pytest.fixture
def fast_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from mq_producer import settings

    monkeypatch.setattr(settings, "NAPP_QUEUES", {"enabled": False})
    monkeypatch.setattr(settings, "VERBOSE_QUEUE", {"enabled": False})
    monkeypatch.setattr(settings, "ROUTES", [{"exchange": EXCHANGE,
                                              "routing_key": "{event_class}.{event_name}"}])
    monkeypatch.setattr(settings, "RETRY_INTERVAL", 0.25)
    monkeypatch.setattr(settings, "PUBLISH_TIMEOUT", 2.0)
    monkeypatch.setattr(settings, "HEARTBEAT", 1)
    monkeypatch.setattr(settings, "ALARM_REMINDER_INTERVAL", 1.0)
    monkeypatch.setattr(settings, "MAX_IN_FLIGHT", 64)
    monkeypatch.setattr(settings, "QUEUES", [])


@pytest.fixture
async def stack_factory(monkeypatch: pytest.MonkeyPatch,
                        fast_settings: None) -> AsyncIterator:
    stacks: list[Stack] = []

    def make(url: str) -> Stack:
        monkeypatch.setenv("KYTOS_MQ_URL", url)
        stack = Stack.start()
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        await stack.stop()


LINKS = [make_link(index) for index in range(1, 9)]


async def emit_stream(controller: FakeController, count: int, rate: float,
                      seed: int = 3, until: asyncio.Event | None = None) -> None:
    """``count`` link_up/link_down events on 8 links at about ``rate`` per second (or
    until ``until`` is set)."""
    rng = random.Random(seed)
    for index in range(count):
        if until is not None and until.is_set():
            return
        link = rng.choice(LINKS)
        name = "kytos/topology.link_up" if index % 2 else "kytos/topology.link_down"
        await controller.buffers.app.aput(KytosEvent(name, {"link": link, "reason": str(index)}))
        if index % 10 == 9:
            await asyncio.sleep(10 / rate)


async def put_link_events(controller: FakeController, count: int,
                          links: list = LINKS) -> None:
    """``count`` link_down events over ``links`` in turn, put and settled (handed on)."""
    for index in range(count):
        await controller.buffers.app.aput(KytosEvent(
            "kytos/topology.link_down", {"link": links[index % len(links)], "reason": str(index)}))
    await controller.settle()


def handed_on(stack: Stack) -> list[dict]:
    return [envelope for event in stack.controller.seen
            if event.name == "kytos/listen_events.broadcast"
            for envelope in handed_envelopes(event.content)]


async def drain_queue(url: str, expected_at_least: int, timeout: float = 30) -> list[dict]:
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    queue = await channel.declare_queue(QUEUE, durable=True, passive=True)
    bodies: list[dict] = []
    async with asyncio.timeout(timeout):
        while True:
            message = await queue.get(fail=False, no_ack=True)
            if message is None:
                if len(bodies) >= expected_at_least:
                    break
                await asyncio.sleep(0.05)
                continue
            bodies.append(orjson.loads(message.body))
    await connection.close()
    return bodies


@dataclass
class Delivery:
    offered: int
    delivered: int
    missing: int
    duplicates: int

    def __str__(self) -> str:
        return (f"offered={self.offered} delivered={self.delivered} missing={self.missing} "
                f"duplicated={self.duplicates}")


def check_delivery(sent: list[dict], received: list[dict]) -> Delivery:
    """Every sent envelope arrived; order per key holds after de-duplication."""
    unique = first_copies_in_order(received)
    missing = {envelope["message_id"] for envelope in sent} - unique.keys()
    return Delivery(len(sent), len(unique), len(missing), len(received) - len(unique))


def alarm_lines(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str], list[str]]:
    messages = [r.getMessage() for r in caplog.records
                if r.name == "kytos.napps.kytos/mq_producer"]
    first = [m for m in messages if "ALARM: broker unreachable" in m]
    reminders = [m for m in messages if "ALARM: broker still unreachable" in m]
    recovered = [m for m in messages if "reachable again after" in m]
    return first, reminders, recovered


async def test_broker_down_at_start_then_everything_is_delivered(
        running_node: RabbitNode, stack_factory, caplog: pytest.LogCaptureFixture):
    await asyncio.to_thread(running_node.stop_app)
    stack = stack_factory(running_node.url)
    await emit_stream(stack.controller, 200, rate=2000)
    await stack.controller.settle()
    publisher = stack.producer.publisher
    await wait_until(lambda: publisher.alarm.outage is not None, what="the alarm")
    await asyncio.sleep(1.5)  # long enough for a reminder
    assert publisher.counters.confirmed == 0 and len(publisher.outbox) == 200
    status = publisher.status()
    assert status["outage"]["reason"] and status["last_alarm"]
    assert status["buffer"]["queued"] == 200

    await asyncio.to_thread(running_node.start_app)
    await wait_until(lambda: publisher.counters.confirmed == 200, timeout=30,
                     what="200 confirms after recovery")
    delivery = check_delivery(handed_on(stack), await drain_queue(running_node.url, 200))
    assert delivery.missing == 0
    first, reminders, recovered = alarm_lines(caplog)
    assert len(first) == 1 and len(recovered) == 1
    assert reminders and "200 buffered" in reminders[0]
    assert "200 buffered messages to deliver" in recovered[0]
    assert publisher.status()["outage"] is None


async def _stream_through(fault, stack: Stack, url: str, caplog, count: int = 1500) -> Delivery:
    stream = asyncio.create_task(emit_stream(stack.controller, count, rate=300))
    await asyncio.sleep(1.0)
    await fault()
    await stream
    await stack.controller.settle()
    publisher = stack.producer.publisher
    await wait_until(lambda: len(publisher.outbox) == 0 and publisher.alarm.outage is None,
                     timeout=60, what="the buffer to empty after recovery")
    delivery = check_delivery(handed_on(stack), await drain_queue(url, count))
    logging.getLogger(__name__).warning("%s: %s", fault.__name__, delivery)
    first, _, recovered = alarm_lines(caplog)
    assert len(first) == 1 and len(recovered) == 1, (first, recovered)
    assert publisher.counters.dropped == 0
    return delivery


@pytest.fixture(params=[5, 100], ids=["confirm-reads-5ms", "confirm-reads-100ms"])
def holds(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """CONFIRM_READ_LINGER_MS at its default and at its most; the holds of reads begun
    (their lengths), so a test can check the fault met reads held."""
    from mq_producer import settings

    monkeypatch.setattr(settings, "CONFIRM_READ_LINGER_MS", request.param)
    begun: list[float] = []
    received = LingeringReader.data_received

    def data_received(self, data):
        holding = self.holding
        received(self, data)
        if self.holding and not holding:
            begun.append(self._linger.seconds)

    monkeypatch.setattr(LingeringReader, "data_received", data_received)
    return begun


async def test_stop_app_mid_stream(running_node: RabbitNode, stack_factory, caplog,
                                   holds: list[float]):
    stack = stack_factory(running_node.url)
    await wait_until(lambda: stack.producer.publisher.transport.connected, what="connected")

    async def stop_app_for_3s() -> None:
        await asyncio.to_thread(running_node.stop_app)
        await asyncio.sleep(3)
        await asyncio.to_thread(running_node.start_app)

    delivery = await _stream_through(stop_app_for_3s, stack, running_node.url, caplog)
    assert delivery.missing == 0
    assert holds and set(holds) == {stack.producer.publisher.config.confirm_read_linger}


async def test_kill_9_and_restart_mid_stream(running_node: RabbitNode, stack_factory, caplog,
                                             holds: list[float]):
    stack = stack_factory(running_node.url)
    await wait_until(lambda: stack.producer.publisher.transport.connected, what="connected")

    async def kill_and_restart() -> None:
        await asyncio.to_thread(running_node.flush_metadata)  # see RabbitNode.flush_metadata
        await asyncio.to_thread(running_node.kill)
        await asyncio.sleep(1)
        await asyncio.to_thread(running_node.start)

    delivery = await _stream_through(kill_and_restart, stack, running_node.url, caplog)
    assert delivery.missing == 0
    assert holds and set(holds) == {stack.producer.publisher.config.confirm_read_linger}


async def test_stalled_connection_is_detected_and_recovered(
        running_node: RabbitNode, stack_factory, caplog):
    proxy = StallProxy("127.0.0.1", running_node.port)
    port = await proxy.start()
    stack = stack_factory(f"amqp://guest:guest@127.0.0.1:{port}/")
    await wait_until(lambda: stack.producer.publisher.transport.connected, what="connected")
    publisher = stack.producer.publisher

    async def stall_for_6s() -> None:
        proxy.stall()
        await wait_until(lambda: publisher.alarm.outage is not None, timeout=10,
                         what="the stall to be noticed")
        await asyncio.sleep(4)
        proxy.resume()

    try:
        delivery = await _stream_through(stall_for_6s, stack, running_node.url, caplog)
    finally:
        await proxy.close()
    assert delivery.missing == 0


async def test_full_buffer_keeps_the_latest_per_link_and_counts_drops(
        running_node: RabbitNode, stack_factory, monkeypatch, caplog):
    from mq_producer import settings

    monkeypatch.setattr(settings, "BUFFER_SIZE", 20)
    monkeypatch.setattr(settings, "MAX_IN_FLIGHT", 5)
    await asyncio.to_thread(running_node.stop_app)
    stack = stack_factory(running_node.url)
    # 3 links x 10 status changes, then 10 events without a key.
    links = LINKS[:3]
    for index in range(30):
        link = links[index % 3]
        await stack.controller.buffers.app.aput(
            KytosEvent("kytos/topology.link_down", {"link": link, "reason": str(index)}))
    for index in range(10):
        await stack.controller.buffers.app.aput(KytosEvent("version/control.initialize",
                                                           {"n": index}))
    await stack.controller.settle()
    publisher = stack.producer.publisher
    assert len(publisher.outbox) == 20
    assert publisher.counters.dropped == 20
    assert publisher.status()["counters"]["dropped"] == 20

    await asyncio.to_thread(running_node.start_app)
    await wait_until(lambda: publisher.counters.confirmed == 20, timeout=30, what="20 confirms")
    received = await drain_queue(running_node.url, 20)
    assert len(received) == 20
    sent = handed_on(stack)
    # The newest event of every link survived; drops came from the oldest.
    for link in links:
        newest = [e for e in sent if e["key"] == f"link:{link.id}"][-1]
        assert newest["message_id"] in {body["message_id"] for body in received}
    unkeyed = [body for body in received if body["key"] is None]
    assert [body["content"]["n"] for body in unkeyed] == list(range(10 - len(unkeyed), 10))
    check_delivery([], received)  # order per key



async def test_full_buffer_waits_for_room_while_the_broker_confirms(
        running_node: RabbitNode, stack_factory, monkeypatch, caplog):
    """A burst larger than BUFFER_SIZE with the broker up: nothing dropped, all delivered."""
    from mq_producer import settings

    monkeypatch.setattr(settings, "BUFFER_SIZE", 20)
    monkeypatch.setattr(settings, "MAX_IN_FLIGHT", 5)
    stack = stack_factory(running_node.url)
    publisher = stack.producer.publisher
    await wait_until(lambda: publisher.transport.connected, what="connected")
    # 3 lanes, one message in flight each: the 600 events arrive far faster than confirms.
    await put_link_events(stack.controller, 600, LINKS[:3])
    await wait_until(lambda: publisher.counters.confirmed == 600, timeout=60,
                     what="600 confirms")
    assert publisher.counters.dropped == 0
    assert not [r for r in caplog.records if "buffer full" in r.getMessage()]
    delivery = check_delivery(handed_on(stack), await drain_queue(running_node.url, 600))
    assert (delivery.missing, delivery.delivered) == (0, 600)

async def test_one_stream_through_repeated_outages_of_every_kind(
        running_node: RabbitNode, stack_factory, caplog):
    """The figures of the issue's note: N events across two outages of each kind."""
    proxy = StallProxy("127.0.0.1", running_node.port)
    port = await proxy.start()
    stack = stack_factory(f"amqp://guest:guest@127.0.0.1:{port}/")
    publisher = stack.producer.publisher
    await wait_until(lambda: publisher.transport.connected, what="connected")

    async def outage(kind: str) -> None:
        if kind == "stop_app":
            await asyncio.to_thread(running_node.stop_app)
            await asyncio.sleep(2)
            await asyncio.to_thread(running_node.start_app)
        elif kind == "kill -9":
            await asyncio.to_thread(running_node.flush_metadata)
            await asyncio.to_thread(running_node.kill)
            await asyncio.to_thread(running_node.start)
        else:
            proxy.stall()
            await asyncio.sleep(5)
            proxy.resume()
        await wait_until(lambda: publisher.alarm.outage is None, timeout=60,
                         what=f"recovery from {kind}")

    done = asyncio.Event()
    stream = asyncio.create_task(emit_stream(stack.controller, 100_000, rate=250, seed=38,
                                             until=done))
    try:
        for kind in ("stop_app", "kill -9", "stall", "stop_app", "kill -9", "stall"):
            await asyncio.sleep(1.5)
            await outage(kind)
        await asyncio.sleep(1.5)
        done.set()
        await stream
        await stack.controller.settle()
        await wait_until(lambda: len(publisher.outbox) == 0, timeout=60, what="empty buffer")
        first, reminders, recovered = alarm_lines(caplog)
    finally:
        await proxy.close()  # the producer sees that as one more outage: count before
    sent = handed_on(stack)
    delivery = check_delivery(sent, await drain_queue(running_node.url, len(sent)))
    figures = (f"{delivery} dropped={publisher.counters.dropped} "
               f"failed_attempts={publisher.counters.failed} alarms={len(first)} "
               f"reminders={len(reminders)} recoveries={len(recovered)}")
    print(f"\nrepeated outages: {figures}")
    assert delivery.missing == 0 and publisher.counters.dropped == 0
    assert len(first) == len(recovered) >= 6


async def test_consumer_reconnects_and_resumes_after_a_broker_outage(running_node: RabbitNode):
    from listen_events.envelope import Envelope, EnvelopeBuilder
    from mq_consumer.consumer import Binding, ConsumerOptions, EventConsumer
    from mq_producer.transports.amqp.broker import broker_from_env

    handled: list[int] = []

    async def handle(envelope: Envelope) -> None:
        handled.append(envelope.producer.sequence)

    consumer = EventConsumer(broker_from_env({"KYTOS_MQ_URL": running_node.url}),
                             ConsumerOptions(bindings=[Binding(EXCHANGE, "#")],
                                             queue="consumer_resume"), handle)
    await consumer.start()
    builder = EnvelopeBuilder("c", "d")

    async def publish_one() -> None:
        envelope = builder.build(event_name="kytos/topology.link_up",
                                 event_class="operational", event_id=None,
                                 event_timestamp=dt.datetime.now(dt.UTC), content={})
        connection = await aio_pika.connect(running_node.url)
        channel = await connection.channel()
        exchange = await channel.get_exchange(EXCHANGE)
        await exchange.publish(aio_pika.Message(orjson.dumps(envelope),
                                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                               "operational.x")
        await connection.close()

    try:
        await publish_one()
        await wait_until(lambda: handled == [1], what="the first event")
        await asyncio.to_thread(running_node.stop_app)
        await asyncio.to_thread(running_node.start_app)
        await publish_one()  # the queue is durable: it waits for the consumer to come back
        await wait_until(lambda: handled == [1, 2], timeout=30, what="the consumer to resume")
    finally:
        await consumer.close()


async def test_publishes_waiting_for_answers_fail_at_once_when_the_connection_closes(
        running_node: RabbitNode, fast_settings: None, monkeypatch: pytest.MonkeyPatch):
    """Publishes the broker has not answered yet are settled as failures (to be retried) as
    soon as the connection closes, not left waiting for PUBLISH_TIMEOUT: the transport fails
    them itself (aiormq only rejects the futures it made)."""
    from mq_producer import settings
    from mq_producer.config import load_config
    from mq_producer.outbox import OutboundMessage
    from mq_producer.transports.base import PublishOutcome, TransportError
    from mq_producer.transports.factory import make_transport

    monkeypatch.setattr(settings, "PUBLISH_TIMEOUT", 60.0)
    monkeypatch.setattr(settings, "HEARTBEAT", 60)
    proxy = StallProxy("127.0.0.1", running_node.port)
    port = await proxy.start()
    environ = {"KYTOS_MQ_TRANSPORT": "amqp",
               "KYTOS_MQ_URL": f"amqp://guest:guest@127.0.0.1:{port}/"}
    config = load_config(settings, environ)
    transport = make_transport(config, environ, settings=settings)
    answers: dict[str, object] = {}
    messages = [OutboundMessage(f"closing-{index}", "kytos/topology.link_down", EXCHANGE,
                                "operational.kytos/topology.link_down", b"{}", None, 0.0)
                for index in range(20)]
    try:
        await transport.connect()
        await transport.publish(messages[:10], lambda message, _attempt, outcome:
                                answers.__setitem__(message.message_id, outcome))
        await wait_until(lambda: len(answers) == 10, what="the first ten confirmed")
        proxy.stall()  # the next ten reach nobody, so no answer can come
        await transport.publish(messages[10:], lambda message, _attempt, outcome:
                                answers.__setitem__(message.message_id, outcome))
        await asyncio.sleep(0.3)
        assert len(answers) == 10
        await transport.close()  # bounded: the broker's reply to the close cannot come
        # Nothing here times publishes out (the Publisher's watchdog is not running).
        await wait_until(lambda: len(answers) == 20, timeout=10, what="the rest failed")
    finally:
        await proxy.close()
    assert [answers[m.message_id] for m in messages[:10]] == [PublishOutcome.CONFIRMED] * 10
    failed = [answers[m.message_id] for m in messages[10:]]
    assert all(isinstance(outcome, TransportError) for outcome in failed), failed
    assert "closed" in str(failed[0])


async def test_a_connect_cut_short_leaves_nothing_reconnecting(
        running_node: RabbitNode, fast_settings: None):
    """The publisher gives connect() PUBLISH_TIMEOUT; when that cuts it short (here a link that
    carries nothing), close() must leave no client task behind trying again for good."""
    from mq_producer import settings
    from mq_producer.config import load_config
    from mq_producer.transports.factory import make_transport

    def reconnecting() -> list[asyncio.Task]:
        return [task for task in asyncio.all_tasks() if not task.done()
                and "RobustConnection" in getattr(task.get_coro(), "__qualname__", "")]

    proxy = StallProxy("127.0.0.1", running_node.port)
    port = await proxy.start()
    proxy.stall()  # the TCP connection opens; the AMQP handshake never gets an answer
    environ = {"KYTOS_MQ_TRANSPORT": "amqp",
               "KYTOS_MQ_URL": f"amqp://guest:guest@127.0.0.1:{port}/"}
    config = load_config(settings, environ)
    transport = make_transport(config, environ, settings=settings)
    before = reconnecting()
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(transport.connect(), 0.5)
        await transport.close()
        await asyncio.sleep(settings.RETRY_INTERVAL * 2)  # a leftover would have retried
        assert [task for task in reconnecting() if task not in before] == []
    finally:
        await proxy.close()


# Unloaded while Kytos runs (core's unload_napp, e.g. the NApp disabled through Kytos' API):
# the loop goes on, so shutdown() schedules a flush of at most SHUTDOWN_FLUSH_TIMEOUT, then a
# full close (docs/operating.rst, "Restart from the real-time point").


async def _stalled_with_a_backlog(stack: Stack, proxy: StallProxy, count: int) -> None:
    """``count`` link events handed on to mq_producer while the link to the broker is stalled:
    all of them in its buffer, none confirmed."""
    await wait_until(lambda: stack.producer.publisher.transport.connected, what="connected")
    proxy.stall()
    await put_link_events(stack.controller, count)
    publisher = stack.producer.publisher
    assert len(handed_on(stack)) == count
    assert (publisher.counters.confirmed, len(publisher.outbox)) == (0, count)


async def test_unloaded_with_a_backlog_it_flushes_then_closes_cleanly(
        running_node: RabbitNode, stack_factory, caplog):
    proxy = StallProxy("127.0.0.1", running_node.port)
    port = await proxy.start()
    log_start = running_node.node_log.stat().st_size
    try:
        stack = stack_factory(f"amqp://guest:guest@127.0.0.1:{port}/")
        await _stalled_with_a_backlog(stack, proxy, 100)
        caplog.set_level(logging.INFO)
        stack.controller.unload_napp(("kytos", "mq_producer"))
        await asyncio.sleep(0.5)  # within the flush's 2 s (SHUTDOWN_FLUSH_TIMEOUT)
        proxy.resume()
        unloading = stack.producer._stopping
        assert unloading is not None
        await asyncio.wait_for(unloading, 10)
    finally:
        await proxy.close()
    publisher = stack.producer.publisher
    assert (publisher.counters.confirmed, publisher.counters.discarded) == (100, 0)
    assert not publisher.transport.connected
    assert any("mq_producer: stopped; discarded 0 envelopes handed on but not taken in yet "
               "and 0 unconfirmed messages" in r.getMessage() for r in caplog.records)
    delivery = check_delivery(handed_on(stack), await drain_queue(running_node.url, 100))
    assert (delivery.missing, delivery.delivered) == (0, 100)

    def closed_lines() -> list[str]:
        with running_node.node_log.open("rb") as log:
            log.seek(log_start)
            text = log.read().decode(errors="replace")
        return [line for line in text.splitlines() if "closing AMQP connection" in line
                and "kytos/mq_producer" in line]

    # Close-Ok awaited: the broker logs a client's close, not a dropped TCP connection.
    await wait_until(lambda: closed_lines(), timeout=10, what="the broker's closing line")
    assert "[info]" in closed_lines()[0], running_node.log_tail()


async def test_unloaded_with_the_broker_unreachable_it_gives_up_after_the_flush_timeout(
        running_node: RabbitNode, stack_factory, monkeypatch, caplog):
    """What the flush could not deliver is discarded, counted and said in one INFO line; the
    unload ends within the flush and the close's bounds (the close waits for a Close-Ok that
    cannot come through a stalled link), and never holds the loop."""
    from mq_producer import settings

    monkeypatch.setattr(settings, "SHUTDOWN_FLUSH_TIMEOUT", 1.0)
    proxy = StallProxy("127.0.0.1", running_node.port)
    port = await proxy.start()
    try:
        stack = stack_factory(f"amqp://guest:guest@127.0.0.1:{port}/")
        await _stalled_with_a_backlog(stack, proxy, 100)
        caplog.set_level(logging.INFO)
        started = time.monotonic()
        with StallMeter() as stalls:
            stack.controller.unload_napp(("kytos", "mq_producer"))
            unloading = stack.producer._stopping
            assert unloading is not None
            await asyncio.wait_for(unloading, 10)
        took = time.monotonic() - started
    finally:
        await proxy.close()
    publisher = stack.producer.publisher
    # The flush's 1 s, then the close's bound: min(PUBLISH_TIMEOUT, 2 s) = 2 s here.
    assert 1.0 <= took < 4.5, took
    assert stalls.longest_cpu < BLOCKED_LOOP, stalls
    assert (publisher.counters.confirmed, publisher.counters.discarded) == (0, 100)
    assert not publisher.transport.connected
    assert any("mq_producer: stopped; discarded 0 envelopes handed on but not taken in yet "
               "and 100 unconfirmed messages from the buffer (those in flight may have reached "
               "the broker)" in r.getMessage() for r in caplog.records)


async def test_a_stalled_link_with_nothing_to_publish_is_noticed_by_the_heartbeat(
        running_node: RabbitNode, stack_factory, monkeypatch, caplog):
    """Nothing in flight, so PUBLISH_TIMEOUT has nothing to time: the AMQP heartbeat alone
    notices the stall (two missed, about 2 x HEARTBEAT), raises the alarm once, and the
    producer is back once the link carries bytes again."""
    from mq_producer import settings

    monkeypatch.setattr(settings, "PUBLISH_TIMEOUT", 60.0)
    monkeypatch.setattr(settings, "ALARM_REMINDER_INTERVAL", 60.0)
    proxy = StallProxy("127.0.0.1", running_node.port)
    port = await proxy.start()
    try:
        stack = stack_factory(f"amqp://guest:guest@127.0.0.1:{port}/")
        publisher = stack.producer.publisher
        await wait_until(lambda: publisher.transport.connected, what="connected")
        caplog.set_level(logging.INFO)
        stalled_at = time.monotonic()
        proxy.stall()
        await wait_until(lambda: publisher.alarm.outage is not None, timeout=15,
                         what="the idle stall to be noticed")
        noticed_in = time.monotonic() - stalled_at
        proxy.resume()
        await wait_until(lambda: publisher.transport.connected and publisher.alarm.outage is None,
                         timeout=30, what="connected again")
        # Still a working producer: an event after the outage is confirmed.
        await stack.controller.buffers.app.aput(KytosEvent(
            "kytos/topology.link_down", {"link": LINKS[0], "reason": "after the stall"}))
        await wait_until(lambda: publisher.counters.confirmed == 1, timeout=10,
                         what="a confirm after the stall")
    finally:
        await proxy.close()
    assert noticed_in < 10, noticed_in  # HEARTBEAT 1 s; PUBLISH_TIMEOUT (60 s) never ran
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "mq_producer ALARM" in m]) == 1, messages
    assert len([m for m in messages if "broker reachable again" in m]) == 1, messages
    assert (publisher.counters.dropped, publisher.counters.discarded) == (0, 0)


async def test_disabled_through_kytos_api_from_a_thread_of_core_each_napp_stops_on_its_loop(
        running_node: RabbitNode, stack_factory, caplog):
    """Kytos' API disables a NApp from a thread of its own: kytos-ng 2025.2.1's disable route
    and watchdog's observer, which sees the NApp's symlink go, both call unload_napp, hence
    shutdown(), off the loop's thread. The NApps' tasks and timers belong to the loop's
    thread: the work is handed to it. In debug mode asyncio raises on a loop call from another
    thread; core then never removed the NApp's listeners, and kytosd's stop waited for its
    shutdown for ever (a real kytosd, 2026-12-06)."""
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    try:
        caplog.set_level(logging.INFO)
        stack = stack_factory(running_node.url)
        publisher = stack.producer.publisher
        await wait_until(lambda: publisher.transport.connected, what="connected")
        await put_link_events(stack.controller, 20)
        await asyncio.to_thread(stack.controller.unload_napp, ("kytos", "mq_producer"))
        await wait_until(lambda: stack.producer._stopping is not None
                         and stack.producer._stopping.done(), timeout=10,
                         what="mq_producer unloaded")
        await asyncio.to_thread(stack.controller.unload_napp, ("kytos", "listen_events"))
        await wait_until(lambda: any("listen_events: stopped;" in r.getMessage()
                                     for r in caplog.records), timeout=10,
                         what="listen_events stopped")
        # What still reaches its handler (core started it before the listener went) counts.
        await stack.listen.on_event(KytosEvent("kytos/topology.link_up",
                                               {"link": LINKS[0], "reason": "late"}))
    finally:
        loop.set_debug(False)
    assert stack.listen.worker.after_stop == 1
    assert (publisher.counters.confirmed, publisher.counters.discarded) == (20, 0)
    assert not publisher.transport.connected
    messages = [r.getMessage() for r in caplog.records]
    assert any("mq_producer: stopped; discarded 0 envelopes" in m for m in messages), messages
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], messages


# A cluster (docs/operating.rst, "Broker clusters"): the nodes in KYTOS_MQ_URL, the first one
# refusing connections (nothing listens on its port), the second the private node.


def _cluster_url(node: RabbitNode) -> str:
    return f"amqp://guest:guest@127.0.0.1:{free_port()}/,{node.url}"


async def test_a_cluster_node_that_refuses_is_skipped_at_once_without_an_alarm(
        running_node: RabbitNode, stack_factory, caplog):
    caplog.set_level(logging.INFO)
    stack = stack_factory(_cluster_url(running_node))
    publisher = stack.producer.publisher
    await wait_until(lambda: publisher.transport.connected, timeout=5, what="connected")
    messages = [r.getMessage() for r in caplog.records]
    connected = [m for m in messages if "connected to cluster node" in m]
    assert len(connected) == 1 and connected[0].endswith("(2 of 2) after 1 failed"), messages
    assert f"127.0.0.1:{running_node.port}" in connected[0]
    assert not [m for m in messages if "ALARM" in m], messages
    assert f"127.0.0.1:{running_node.port}" in (await stack.status())["broker"]
    assert not [m for m in messages if "guest:guest" in m]


async def test_with_every_cluster_node_refusing_one_alarm_then_the_node_that_answered(
        running_node: RabbitNode, stack_factory, caplog):
    """The alarm comes once every node has refused in a row: it names the last one tried
    (the second), not the first; the recovery line names the node that answered."""
    caplog.set_level(logging.INFO)
    await asyncio.to_thread(running_node.stop_app)
    stack = stack_factory(_cluster_url(running_node))
    publisher = stack.producer.publisher
    await wait_until(lambda: publisher.alarm.outage is not None, timeout=10, what="the alarm")
    await asyncio.sleep(1.5)  # more rounds of refusals: still the one alarm (and reminders)
    await asyncio.to_thread(running_node.start_app)
    await wait_until(lambda: publisher.transport.connected and publisher.alarm.outage is None,
                     timeout=30, what="connected to the node again")
    messages = [r.getMessage() for r in caplog.records]
    alarms = [m for m in messages if "ALARM: broker unreachable" in m]
    assert len(alarms) == 1, messages
    assert f"cannot connect to amqp://guest:***@127.0.0.1:{running_node.port}/" in alarms[0]
    [recovered] = [m for m in messages if "broker reachable again" in m]
    assert recovered.endswith(f"(amqp://guest:***@127.0.0.1:{running_node.port}/%2F)"), recovered
    assert not [m for m in messages if "guest:guest" in m]
