"""A broker that blocks publishing (memory alarm) and one that restarts, against a private
RabbitMQ node (issue #14's fault matrix, cases 7 and 9)."""

import asyncio
import dataclasses
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator

import aio_pika
import pytest

from mq_producer.config import ProducerConfig, load_config
from mq_producer.outbox import OutboundMessage
from mq_producer.publisher import PROMPT_RETRY, Publisher
from mq_producer.transports.amqp import transport as amqp_transport
from mq_producer.transports.amqp.transport import AmqpTransport
from mq_producer.transports.base import TransportError
from mq_producer.transports.factory import make_transport
from tests.integration.conftest import assert_publish_path
from tests.support.rabbit_node import RabbitNode, port_open, private_node, rabbitmq_available
from tests.support.stall_meter import BLOCKED_LOOP, StallMeter
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.private_broker,
    pytest.mark.skipif(not rabbitmq_available(), reason="RabbitMQ server binaries not "
                       "installed (scripts/setup installs them)"),
    pytest.mark.usefixtures("publish_path"),
]

EXCHANGE = "alarm_events"
QUEUE = "alarm_events_all"
LOGGER = "kytos.napps.kytos/mq_producer"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    yield from private_node(tmp_path_factory.mktemp("rabbit-alarms"))


async def start_publisher(node: RabbitNode, monkeypatch: pytest.MonkeyPatch,
                          **changes: object) -> Publisher:
    """A Publisher on the AMQP transport to the node, connected, its exchange bound to an
    empty queue; ``changes`` to its config."""
    running = Publisher(*await node_transport(node, monkeypatch, **changes))
    running.start()
    await wait_until(lambda: running.transport.connected, what="connected")
    return running


async def node_transport(node: RabbitNode, monkeypatch: pytest.MonkeyPatch,
                         **changes: object) -> tuple[AmqpTransport, ProducerConfig]:
    """A Publisher's AMQP transport to the node, not connected yet, and its config
    (``changes`` to it); the exchange bound to an empty queue."""
    from mq_producer import settings

    if not port_open(node.port):
        await asyncio.to_thread(node.start_app)
    connection = await aio_pika.connect(node.url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC,
                                              durable=True)
    queue = await channel.declare_queue(QUEUE, durable=True)
    await queue.bind(exchange, "#")
    await queue.purge()
    await connection.close()
    monkeypatch.setattr(settings, "NAPP_QUEUES", {"enabled": False})
    monkeypatch.setattr(settings, "VERBOSE_QUEUE", {"enabled": False})
    monkeypatch.setattr(settings, "ROUTES", [{"exchange": EXCHANGE,
                                              "routing_key": "{event_class}"}])
    monkeypatch.setattr(settings, "QUEUES", [])
    monkeypatch.setattr(settings, "LINK_STATUS", {**settings.LINK_STATUS, "enabled": False})
    environ = {"KYTOS_MQ_URL": node.url}
    config = dataclasses.replace(load_config(settings, environ), **{
        "publish_timeout": 5.0, "retry_interval": 5.0, "heartbeat": 5,
        "alarm_reminder_interval": 60.0, **changes})
    transport = make_transport(config, environ, settings=settings)
    assert isinstance(transport, AmqpTransport)
    return transport, config


@pytest.fixture
async def publisher(node: RabbitNode, monkeypatch: pytest.MonkeyPatch, publish_path: str
                    ) -> AsyncIterator[Publisher]:
    running = await start_publisher(node, monkeypatch)
    assert_publish_path(running.transport, publish_path)
    yield running
    await running.stop(flush_timeout=0)


def message(number: int) -> OutboundMessage:
    return OutboundMessage(f"alarm-{number}", "kytos/topology.link_down", EXCHANGE,
                           "operational", b'{"n": %d}' % number, f"link:{number % 50}",
                           time.time())


async def received_ids(url: str, count: int, timeout: float = 30) -> list[str]:
    """Read ``count`` messages from QUEUE (and a moment more, to see any duplicate)."""
    connection = await aio_pika.connect(url)
    ids: list[str] = []
    try:
        queue = await (await connection.channel()).declare_queue(QUEUE, durable=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            incoming = await queue.get(fail=False, no_ack=True)
            if incoming is None:
                if len(ids) >= count:
                    await asyncio.sleep(0.5)
                    if await queue.get(fail=False, no_ack=True) is None:
                        break
                await asyncio.sleep(0.05)
                continue
            ids.append(incoming.message_id)
    finally:
        await connection.close()
    return ids


async def test_a_memory_alarm_is_waited_out_without_reconnects_or_duplicates(
        node: RabbitNode, publisher: Publisher, caplog):
    """Case 7: the node's memory alarm for 12 s (over two PUBLISH_TIMEOUTs) during a stream: one
    'blocked' WARNING and one line when it lifts, no ALARM, no reconnect, every message
    delivered exactly once afterwards; the loop is never held 10 ms (this thread's time)."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    connects = 0
    connect = publisher.transport.connect

    async def counted_connect() -> None:
        nonlocal connects
        connects += 1
        await connect()

    publisher.transport.connect = counted_connect  # type: ignore[method-assign]
    total = 1200
    with StallMeter() as meter:
        for number in range(400):
            publisher.submit(message(number))
        await wait_until(lambda: publisher.counters.confirmed == 400, what="400 confirmed")
        await asyncio.to_thread(node.rabbitmqctl, "set_vm_memory_high_watermark", "0.0000001")
        try:
            for number in range(400, total):  # arrive while blocked, 80 per second
                publisher.submit(message(number))
                await asyncio.sleep(0.0125)
            await wait_until(lambda: publisher.status()["blocked"] is not None, timeout=10,
                             what="the blocked state")
            assert publisher.status()["outage"] is None
            await asyncio.sleep(max(0.0, 12 - 800 * 0.0125))
        finally:
            await asyncio.to_thread(node.rabbitmqctl, "set_vm_memory_high_watermark", "0.4")
        await wait_until(lambda: publisher.counters.confirmed == total, timeout=30,
                         what=f"{total} confirmed")
    ids = await received_ids(node.url, total)
    print(f"memory alarm: {len(ids)} received, {len(set(ids))} distinct, reconnects "
          f"{connects}, failed attempts {publisher.counters.failed}, longest loop stall "
          f"{meter.longest * 1000:.1f} ms ({meter.longest_cpu * 1000:.1f} ms of this thread's "
          "time)")
    assert sorted(ids) == sorted(f"alarm-{n}" for n in range(total))  # each once
    assert connects == 0 and publisher.counters.failed == 0
    assert publisher.counters.dropped == 0 and publisher.status()["blocked"] is None
    lines = [r.getMessage() for r in caplog.records
             if r.name == LOGGER and r.levelno >= logging.WARNING]
    assert [line for line in lines if "ALARM" in line] == []
    assert sum("broker blocked publishing: low on memory" in line for line in lines) == 1
    assert sum("broker takes publishes again after" in line for line in lines) == 1
    library = [r.getMessage() for r in caplog.records
               if r.name.startswith(("aiormq", "aio_pika")) and r.levelno >= logging.WARNING]
    assert library == []
    assert meter.longest_cpu < BLOCKED_LOOP, meter


async def test_while_blocked_it_reminds_every_alarm_reminder_interval(
        node: RabbitNode, monkeypatch: pytest.MonkeyPatch, publish_path: str, caplog):
    """Blocked for longer than ALARM_REMINDER_INTERVAL (0.5 s here): WARNINGs say how long,
    why, what is buffered and dropped so far - never an ALARM - and v1/status shows it all
    along; once the alarm lifts, everything is confirmed."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    publisher = await start_publisher(node, monkeypatch, alarm_reminder_interval=0.5)
    assert_publish_path(publisher.transport, publish_path)
    try:
        await asyncio.to_thread(node.rabbitmqctl, "set_vm_memory_high_watermark", "0.0000001")
        try:
            for number in range(50):
                publisher.submit(message(number))
                await asyncio.sleep(0.02)
            await wait_until(lambda: publisher.status()["blocked"] is not None, timeout=10,
                             what="the blocked state")
            await asyncio.sleep(3)
            status = publisher.status()
        finally:
            await asyncio.to_thread(node.rabbitmqctl, "set_vm_memory_high_watermark", "0.4")
        await wait_until(lambda: publisher.counters.confirmed == 50, timeout=30,
                         what="50 confirmed")
    finally:
        await publisher.stop(flush_timeout=0)
    assert status["blocked"] is not None and status["outage"] is None
    lines = [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]
    reminders = [r.getMessage() for r in lines
                 if "broker still blocking publishing after" in r.getMessage()]
    assert len(reminders) >= 2, [r.getMessage() for r in lines]
    assert all(re.search(r"after \d+s: low on memory; \d+ buffered, 0 dropped so far$", line)
               for line in reminders), reminders
    assert [r for r in lines if "ALARM" in r.getMessage() or r.levelno > logging.WARNING] == []
    assert publisher.counters.dropped == 0


async def test_a_restarted_broker_gets_the_first_confirm_within_two_seconds(
        node: RabbitNode, publisher: Publisher, caplog):
    """Case 9: the broker stopped (messages buffered meanwhile) and started again: the
    producer, retrying every PROMPT_RETRY while nothing listens, has its first confirm within
    2 s of the node accepting connections; one ALARM line, one recovery line."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    await asyncio.to_thread(node.stop_app)
    for number in range(100):
        publisher.submit(message(number))
    await asyncio.sleep(3 * PROMPT_RETRY + 1)
    accepting: list[float] = []

    def watch_port() -> None:
        while not accepting:
            if port_open(node.port, timeout=0.05):
                accepting.append(time.monotonic())
            else:
                time.sleep(0.02)

    watcher = threading.Thread(target=watch_port, daemon=True)
    watcher.start()
    await asyncio.to_thread(node.start_app)
    await wait_until(lambda: publisher.counters.confirmed > 0, timeout=30, what="a confirm")
    first_confirm = time.monotonic()
    watcher.join(5)
    delay = first_confirm - accepting[0]
    print(f"restart: first confirm {delay:.2f} s after the node accepted connections")
    await wait_until(lambda: publisher.counters.confirmed == 100, what="100 confirmed")
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert sum("ALARM: broker unreachable" in line for line in lines) == 1
    assert sum("broker reachable again" in line for line in lines) == 1
    assert delay < 2.0


@pytest.mark.parametrize("says_why", [True, False], ids=["as-built", "control-no-reason"])
async def test_a_publish_that_finds_the_connection_closed_by_the_broker_says_why(
        node: RabbitNode, monkeypatch: pytest.MonkeyPatch, says_why: bool):
    """The broker closed the connection (an operator's close_connection, a node shutting
    down: CONNECTION_FORCED). A publish that finds it gone before the connection's close
    callbacks have run fails with the broker's reason, which the outage alarm logs: in a
    real kytosd the ALARM said "not connected to amqp://..." and nothing more."""
    if not says_why:  # the control: the reason is not looked for
        monkeypatch.setattr(amqp_transport, "_closed_by", lambda channel: None)
    transport, _ = await node_transport(node, monkeypatch)
    await transport.connect()
    try:
        assert transport.connected
        await asyncio.to_thread(node.rabbitmqctl, "close_all_connections", "closed by the test")
        await wait_until(lambda: not transport.connected, what="the connection closed")
        with pytest.raises(TransportError) as raised:
            await transport.publish([message(1)], lambda *_: None)
    finally:
        await transport.close()
    text = str(raised.value)
    assert text.startswith(f"not connected to {transport.description}")
    if says_why:
        assert "CONNECTION_FORCED" in text and "closed by the test" in text, text
        assert "guest:guest" not in text  # the password never shows
    else:
        assert "CONNECTION_FORCED" not in text
