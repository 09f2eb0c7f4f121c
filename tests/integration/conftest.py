"""Fixtures for tests against a real RabbitMQ: the broker named by KYTOS_MQ_URL."""

import asyncio
import contextlib
import dataclasses
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import aio_pika
import pytest

from mq_producer.config import load_config
from mq_producer.publisher import Publisher
from mq_producer.transports.factory import make_transport
from tests.support.kytos_controller import FakeController
from tests.support.waiting import wait_until


@pytest.fixture(params=["fast", "public"])
def publish_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test through both AMQP publish paths: mq_producer's own frame writer (the
    default) and aiormq's public basic_publish (AMQP_FAST_PATH off, as when an aiormq upgrade
    lacks an internal the fast path needs)."""
    from mq_producer import settings

    monkeypatch.setattr(settings, "AMQP_FAST_PATH", request.param == "fast")
    return request.param


def assert_publish_path(transport: object, publish_path: str) -> None:
    """The transport really publishes the way ``publish_path`` says."""
    assert getattr(transport, "publish_path", None) == (
        "fast" if publish_path == "fast" else "basic_publish")


@pytest.fixture
def broker_url() -> str:
    return os.environ["KYTOS_MQ_URL"]


@pytest.fixture
async def amqp(broker_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A channel for the test's own checks, on the same broker the producer uses."""
    connection = await aio_pika.connect(broker_url)
    channel = await connection.channel()
    yield channel
    await connection.close()


@pytest.fixture
def exchange_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def producer_settings(monkeypatch: pytest.MonkeyPatch, exchange_prefix: str):
    """mq_producer settings for a test: its own exchanges, fast retries."""
    from mq_producer import settings

    routes = [
        {"event_class": "administrative", "exchange": f"{exchange_prefix}.admin_events",
         "routing_key": "{event_class}.{event_name}"},
        {"event_class": "operational", "exchange": f"{exchange_prefix}.operational_events",
         "routing_key": "{event_class}.{event_name}"},
        {"exchange": f"{exchange_prefix}.other_events",
         "routing_key": "{event_class}.{event_name}"},
    ]
    monkeypatch.setattr(settings, "ROUTES", routes)
    monkeypatch.setattr(settings, "QUEUES", [])
    # None of the per-NApp queues and verbose queue (unprefixed names, left on the shared
    # broker; the verbose queue takes what tests expect returned): test_napp_queues.py sets
    # them, prefixed, and the controller fixture deletes them.
    monkeypatch.setattr(settings, "NAPP_QUEUES", {"enabled": False})
    monkeypatch.setattr(settings, "VERBOSE_QUEUE", {"enabled": False})
    monkeypatch.setattr(settings, "LINK_STATUS", {
        "enabled": True, "exchange": f"{exchange_prefix}.links",
        "queue_prefix": f"{exchange_prefix}.link.", "metadata": {"interdomain": True},
        "link_ids": []})
    monkeypatch.setattr(settings, "DEAD_LETTER", f"{exchange_prefix}.dead")
    monkeypatch.setattr(settings, "RETRY_INTERVAL", 0.3)
    monkeypatch.setattr(settings, "PUBLISH_TIMEOUT", 5.0)
    monkeypatch.setattr(settings, "SHUTDOWN_FLUSH_TIMEOUT", 1.0)
    return settings


# The exchanges of producer_settings, by what follows the test's prefix: mq_producer checks
# each on connecting and creates the missing ones. The dead-letter exchange ("dead") comes on
# top, with the first queue it is declared for.
TEST_EXCHANGES = ("admin_events", "operational_events", "other_events", "links", "link.queues")


@pytest.fixture
async def cleanup_exchanges(broker_url: str, exchange_prefix: str) -> AsyncIterator[set[str]]:
    """Deletes the test's exchanges and the queues named in the yielded set (all of them
    prefixed, so nothing of anyone else's goes) from the shared broker."""
    queues: set[str] = set()
    yield queues
    connection = await aio_pika.connect(broker_url)
    channel = await connection.channel()
    for name in queues:
        if name.startswith(exchange_prefix):
            # ValueError: a name the client cannot encode (never declared either)
            with contextlib.suppress(ValueError):
                await channel.queue_delete(name)
    for kind in (*TEST_EXCHANGES, "dead"):
        await channel.exchange_delete(f"{exchange_prefix}.{kind}")
    await connection.close()


@pytest.fixture
async def start_publisher(producer_settings, broker_url: str, cleanup_exchanges: set[str]
                          ) -> AsyncIterator[Callable[..., Awaitable[Publisher]]]:
    """``await start_publisher(**config_changes)``: a Publisher of the test's settings on the
    real transport, started and connected. After the test each is abandoned, its transport
    closed and its queues deleted."""
    started: list[Publisher] = []

    async def start(**changes: object) -> Publisher:
        environ = {"KYTOS_MQ_URL": broker_url}
        config = dataclasses.replace(load_config(producer_settings, environ), **changes)
        publisher = Publisher(make_transport(config, environ, settings=producer_settings),
                              config)
        publisher.start()
        started.append(publisher)
        await wait_until(lambda: publisher.transport.connected, what="connected")
        return publisher

    yield start
    for publisher in started:
        cleanup_exchanges.update(publisher.transport.queues)
        await publisher.stop(flush_timeout=0)


@pytest.fixture
async def controller(cleanup_exchanges: set[str]) -> AsyncIterator[FakeController]:
    fake = FakeController()
    yield fake
    await fake.stop()
    # Kytos stops its loop after shutdown(); here the loop goes on, so close what is left.
    for napp in fake.napps.values():
        if getattr(napp, "publisher", None) is not None:
            cleanup_exchanges.update(napp.publisher.transport.queues)
            await napp.publisher.transport.close()


async def bound_queue(channel: aio_pika.abc.AbstractChannel, exchange: str,
                      binding: str) -> aio_pika.abc.AbstractQueue:
    """An exclusive queue bound to ``exchange`` (which must exist) with ``binding``."""
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, binding)
    return queue


async def receive(queue: aio_pika.abc.AbstractQueue, count: int,
                  timeout: float = 10.0) -> list[aio_pika.abc.AbstractIncomingMessage]:
    messages = []
    async with queue.iterator() as iterator:
        while len(messages) < count:
            message = await asyncio.wait_for(anext(iterator), timeout)
            await message.ack()
            messages.append(message)
    return messages


def body(message: aio_pika.abc.AbstractIncomingMessage) -> dict:
    return json.loads(message.body)
