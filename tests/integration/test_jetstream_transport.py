"""JetStream-only behaviour against private nats-servers: streams that are missing, deleted,
of the wrong shape, JetStream switched off, messages over max_payload or over a stream's
max_msg_size."""

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig

from mq_producer import settings
from mq_producer.config import load_config
from mq_producer.envelopes import to_messages
from mq_producer.publisher import Publisher
from mq_producer.transports.base import PublishOutcome, TransportError
from mq_producer.transports.factory import make_transport
from mq_producer.transports.jetstream.subjects import destination
from tests.support.nats_node import NatsNode, nats_available
from tests.support.rabbit_node import free_port
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.private_broker,
    pytest.mark.skipif(not nats_available(), reason="nats-server not installed "
                       "(scripts/ensure-nats installs it)"),
]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsNode]:
    server = NatsNode(Path(tmp_path_factory.mktemp("js-transport")))
    server.start()
    yield server
    server.stop()


class OneRoute:
    """mq_producer's settings with one catch-all route to ``exchange``, no link status,
    fast retries."""

    def __init__(self, exchange: str) -> None:
        for name in dir(settings):
            if name.isupper():
                setattr(self, name, getattr(settings, name))
        self.ROUTES = [{"exchange": exchange, "routing_key": "{event_class}.{event_name}"}]
        self.LINK_STATUS = {**settings.LINK_STATUS, "enabled": False}
        self.RETRY_INTERVAL = 0.2
        self.PUBLISH_TIMEOUT = 2.0


def envelope(number: int, size: int = 0) -> dict:
    return {"message_id": uuid.uuid4().hex, "event_name": "kytos/topology.link_down",
            "event_class": "operational", "key": "link:1", "link": None,
            "producer": {"sequence": number}, "content": {"pad": "x" * size}}


@pytest.fixture
async def started(node: NatsNode) -> AsyncIterator:
    publishers: list[Publisher] = []

    def start(url: str, exchange: str) -> Publisher:
        environ = {"KYTOS_MQ_TRANSPORT": "jetstream", "KYTOS_NATS_URL": url,
                   "KYTOS_MQ_URL": "amqp://unused:unused@127.0.0.1:1/"}
        one_route = OneRoute(exchange)
        config = load_config(one_route, environ)
        publisher = Publisher(make_transport(config, environ, settings=one_route), config)
        publisher.start()
        publishers.append(publisher)
        return publisher

    yield start
    for publisher in publishers:
        publisher.abandon()
        await publisher.transport.close()


def send(publisher: Publisher, item: dict) -> None:
    for message in to_messages(item, publisher.config.router,
                               publisher.config.link_status, time.time(),
                               publisher.config.max_message_bytes):
        publisher.submit(message)


async def test_a_deleted_stream_is_created_again_and_nothing_is_lost(node, started):
    exchange = f"js-{uuid.uuid4().hex[:6]}.events"
    publisher = started(node.url, exchange)
    await wait_until(lambda: publisher.transport.connected, what="connected")
    send(publisher, envelope(1))
    await wait_until(lambda: publisher.counters.confirmed == 1, what="first confirm")
    nc = await nats.connect(node.url)
    js = nc.jetstream()
    await js.delete_stream(destination(exchange).stream)
    send(publisher, envelope(2))
    await wait_until(lambda: publisher.counters.confirmed == 2, what="second confirm")
    info = await js.stream_info(destination(exchange).stream)
    await nc.close()
    assert info.state.messages == 1  # the new stream holds the message sent after deletion
    assert publisher.counters.failed == 1 and publisher.counters.returned == 0
    assert (publisher.alarm.last_alarm or "").startswith(
        f"broker refuses publishing: publish to {exchange!r} failed: no JetStream stream takes")


async def test_a_stream_of_another_shape_is_reported_not_used(node, started, caplog):
    exchange = f"js-{uuid.uuid4().hex[:6]}"
    dest = destination(exchange)
    nc = await nats.connect(node.url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=dest.stream, subjects=[f"{exchange}.only.this"]))
    publisher = started(node.url, exchange)
    await wait_until(lambda: exchange in publisher.refusals, what="the exchange held")
    assert publisher.transport.connected and publisher.alarm.outage is None
    assert publisher.transport.destinations[exchange] == "mismatch"
    assert publisher.refusals.as_dict(lambda exchange: 0)[exchange]["reason"].startswith(
        f"JetStream stream {dest.stream!r} exists but captures")
    send(publisher, envelope(1))  # waits, tried alone after each check (which fails)
    await asyncio.sleep(0.5)
    assert len(publisher.outbox) == 1 and publisher.counters.failed > 0
    await js.delete_stream(dest.stream)  # fixed by an operator: created at the next check
    await wait_until(lambda: publisher.counters.confirmed == 1, what="the waiting one")
    assert publisher.transport.destinations[exchange] == "ok" and not publisher.refusals
    await nc.close()


async def test_jetstream_switched_off_is_an_outage_that_says_so(tmp_path, started):
    plain = NatsNode(tmp_path, jetstream=False)
    plain.start()
    try:
        publisher = started(f"nats://127.0.0.1:{plain.port}", "nojs")
        await wait_until(lambda: publisher.alarm.outage is not None, what="the alarm")
        assert "JetStream is not enabled" in publisher.last_error
    finally:
        plain.stop()


async def test_a_clean_stop_of_the_server_is_an_outage_not_a_stream_deleted(tmp_path):
    """nats-server's clean stop (SIGTERM) shuts JetStream down before it closes the
    connections: for a moment no stream answers a publish, as if it were deleted. JetStream
    is then asked about the stream, and does not answer either: the server is going away,
    an outage, not the broker refusing (CI, 2026-12-07: "broker refuses publishing ...
    stream deleted?" for a stop). Publishers race the stop until one meets that moment."""
    exchange = f"js-{uuid.uuid4().hex[:6]}"
    server = NatsNode(tmp_path)
    environ = {"KYTOS_MQ_TRANSPORT": "jetstream", "KYTOS_NATS_URL": server.url,
               "KYTOS_MQ_URL": "amqp://unused:unused@127.0.0.1:1/"}
    one_route = OneRoute(exchange)
    config = load_config(one_route, environ)
    errors: list[TransportError] = []

    async def publish_until_refused(transport) -> None:
        while True:
            [message] = to_messages(envelope(0), config.router, config.link_status,
                                    time.time(), config.max_message_bytes)
            outcome = await transport.publish_alone(message)
            if isinstance(outcome, TransportError):
                errors.append(outcome)
                return
            assert outcome is PublishOutcome.CONFIRMED, outcome

    try:
        for _ in range(10):
            server.start()
            transport = make_transport(config, environ, settings=one_route)
            await transport.connect()
            publishers = [asyncio.create_task(publish_until_refused(transport))
                          for _ in range(20)]
            await asyncio.sleep(0.2)
            await asyncio.to_thread(server.stop)
            await asyncio.wait_for(asyncio.gather(*publishers), timeout=10)
            await transport.close()
            if any("answers neither" in str(error) for error in errors):
                break
    finally:
        server.stop()
    assert [str(error) for error in errors if error.refused] == []
    assert any(str(error).startswith(
        f"publish to {exchange!r} failed: JetStream answers neither for {exchange}.> nor "
        f"about stream {destination(exchange).stream!r} (the server stopping?)")
        for error in errors), [str(error) for error in errors]


async def test_a_message_over_max_payload_is_refused_and_logged_once(node, started, caplog):
    exchange = f"js-{uuid.uuid4().hex[:6]}"
    publisher = started(node.url, exchange)
    await wait_until(lambda: publisher.transport.connected, what="connected")
    send(publisher, envelope(1, size=2 * 1024 * 1024))  # over the default 1 MB
    send(publisher, envelope(2))  # same key: waits behind it
    other = envelope(3)
    other["key"] = "link:2"
    send(publisher, other)
    await wait_until(lambda: publisher.counters.refused >= 2, what="refused twice")
    await asyncio.sleep(0.3)
    assert publisher.counters.confirmed == 1  # the other key went through
    assert publisher.alarm.outage is None  # a refusal, not an outage
    errors = [r.getMessage() for r in caplog.records
              if r.levelno == logging.ERROR and "max_payload" in r.getMessage()]
    assert len(errors) == 1 and "raise max_payload" in errors[0]


async def test_a_message_over_a_streams_max_msg_size_costs_only_itself(node, started, caplog):
    """An operator's stream with max_msg_size: the server refuses a larger message whatever
    the retries (err_code 10054). It is rejected alone, logged, and nothing else waits; it
    was a broker outage every RETRY_INTERVAL, for good."""
    exchange = f"js-{uuid.uuid4().hex[:6]}"
    dest = destination(exchange)
    nc = await nats.connect(node.url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=dest.stream, subjects=[dest.filter],
                                     max_msg_size=2000))
    try:
        publisher = started(node.url, exchange)
        await wait_until(lambda: publisher.transport.connected, what="connected")
        send(publisher, envelope(1, size=5000))
        send(publisher, envelope(2))  # same key: behind it
        await wait_until(lambda: publisher.counters.confirmed == 1, what="the second confirmed")
        await asyncio.sleep(0.5)  # RETRY_INTERVAL 0.2: time for retries, were there any
        counters = publisher.counters
        assert (counters.rejected, counters.failed, counters.refused) == (1, 0, 0)
        assert publisher.alarm.outage is None and publisher.alarm.last_alarm is None
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1 and "over the max_msg_size of stream" in errors[0], errors
        assert (await js.stream_info(dest.stream)).state.messages == 1
    finally:
        await js.delete_stream(dest.stream)
        await nc.close()


async def test_a_server_refusing_connections_is_said_at_once(started):
    """nats-py retried a refused server for two minutes, every 2 s, inside connect(): the
    alarm said "no answer in PUBLISH_TIMEOUT" and the prompt retry never came."""
    publisher = started(f"nats://127.0.0.1:{free_port()}", "refused")
    await wait_until(lambda: publisher.alarm.outage is not None, what="the alarm")
    assert "ConnectionRefusedError" in publisher.last_error, publisher.last_error
    assert "no answer" not in publisher.last_error


async def test_a_permission_the_account_lacks_is_logged_with_the_servers_words(
        tmp_path, started, caplog):
    exchange = f"js-{uuid.uuid4().hex[:6]}"
    # Publishing to its exchange's subjects only: not the JetStream API (stream info).
    permissions = f'publish: {{ allow: ["{exchange}.>"] }}, subscribe: {{ allow: ["_INBOX.>"] }}'
    limited = NatsNode(tmp_path, config=f"""
        authorization {{ users = [ {{
            user: "producer", password: "S3cret-pw", permissions: {{ {permissions} }}
        }} ] }}""")
    limited.start()
    try:
        publisher = started(f"nats://producer:S3cret-pw@127.0.0.1:{limited.port}", exchange)
        await wait_until(lambda: publisher.alarm.outage is not None, timeout=15,
                         what="the alarm")
        await asyncio.sleep(0.5)
    finally:
        limited.stop()
    denied = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR
              and "denies a request of producer" in r.getMessage()]
    assert len(denied) == 1, denied  # once, however often it is retried
    stream = destination(exchange).stream
    assert f'permissions violation for publish to "$js.api.stream.info.{stream}' \
        in denied[0].lower()
    assert all("S3cret-pw" not in r.getMessage() for r in caplog.records)
