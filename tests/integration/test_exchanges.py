"""mq_producer checks its exchanges at start: creates, reuses, reports a bad one."""

import asyncio
import time

import aio_pika
import aiormq
import pytest

from mq_producer.main import Main as MqProducer
from mq_producer.outbox import OutboundMessage
from tests.integration.conftest import TEST_EXCHANGES
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.usefixtures("producer_settings",
                                                           "cleanup_exchanges")]


async def _exists(broker_url: str, name: str) -> bool:
    connection = await aio_pika.connect(broker_url)
    try:
        channel = await connection.channel()
        await channel.declare_exchange(name, passive=True)
        return True
    except aiormq.exceptions.ChannelNotFoundEntity:
        return False
    finally:
        await connection.close()


async def test_missing_exchanges_are_created_durable_topic(controller, broker_url,
                                                           exchange_prefix, caplog):
    names = [f"{exchange_prefix}.{kind}" for kind in TEST_EXCHANGES]
    assert not any([await _exists(broker_url, name) for name in names])
    producer = controller.load_napp(MqProducer)
    await wait_until(lambda: producer.publisher.transport.connected, what="connected")
    assert all([await _exists(broker_url, name) for name in names])
    created = [r.getMessage() for r in caplog.records if "created exchange" in r.getMessage()]
    assert len(created) == 5
    # Each check ran on a channel of its own, which the broker closed on the 404 of a missing
    # exchange: none may come back (a robust channel reopens itself) - one channel stays open.
    await asyncio.sleep(0.5)
    connection = producer.publisher.transport._connection.transport.connection
    assert [number for number, channel in connection.channels.items()
            if channel is not None and not channel.is_closed] == [1]
    # Durable and of type topic: re-declaring with exactly those properties must succeed.
    connection = await aio_pika.connect(broker_url)
    channel = await connection.channel()
    for name in names:
        await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
    await connection.close()


async def test_existing_exchanges_are_reused(controller, amqp, exchange_prefix, caplog):
    for kind in TEST_EXCHANGES:
        await amqp.declare_exchange(f"{exchange_prefix}.{kind}", aio_pika.ExchangeType.TOPIC,
                                    durable=True)
    producer = controller.load_napp(MqProducer)
    await wait_until(lambda: producer.publisher.transport.connected, what="connected")
    assert not [r for r in caplog.records if "created exchange" in r.getMessage()]
    assert set(producer.publisher.transport.destinations.values()) == {"ok"}


async def test_exchange_of_wrong_type_holds_only_its_own_messages_until_fixed(
        controller, amqp, exchange_prefix, caplog):
    """An exchange of another type is not published to (its messages wait, checked again
    every RETRY_INTERVAL); the other exchanges' messages go on; fixed, it is used."""
    wrong = f"{exchange_prefix}.operational_events"
    other = f"{exchange_prefix}.other_events"
    await amqp.declare_exchange(wrong, aio_pika.ExchangeType.FANOUT, durable=True)
    producer = controller.load_napp(MqProducer)
    publisher = producer.publisher
    await wait_until(lambda: publisher.transport.connected, what="connected")
    assert publisher.transport.destinations[wrong] == "wrong type"
    assert publisher.destinations[wrong] == "wrong type"
    assert publisher.destinations[other] == "ok"
    alarms = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert alarms == [
        f"mq_producer ALARM: broker refuses publishing to exchange '{wrong}': exists but is "
        "not a durable topic exchange: delete it or change EXCHANGE_TYPE / ROUTES; its "
        "messages wait in the buffer and the other exchanges' go on; it is checked again "
        f"every {publisher.config.retry_interval:g}s (docs/operating.rst: Exchanges at start)"]
    queue = await amqp.declare_queue(exclusive=True)
    await queue.bind(other, "#")
    connection, channel = publisher.transport._connection, publisher.transport._channel
    for number, exchange in enumerate([wrong, other]):
        publisher.submit(OutboundMessage(f"id-{number}", "kytos/test.event", exchange,
                                         "test.kytos/test.event", b"{}", None, time.time()))
    await wait_until(lambda: publisher.counters.confirmed == 1, what="the other confirmed")
    assert await queue.get(no_ack=True, timeout=5) is not None
    assert len(publisher.outbox) == 1  # the wrong exchange's, waiting
    assert publisher.refusals.as_dict(lambda exchange: 0)[wrong]["reason"].startswith(
        "exists but is not a durable topic exchange")
    # The operator deletes it; the next check creates it as it should be, on this connection
    # (nothing was published to it on the publishing channel: that channel is still open).
    await amqp.exchange_delete(wrong)
    await wait_until(lambda: publisher.counters.returned == 1,  # nothing bound to it
                     what="the waiting one published")
    assert publisher.transport.destinations[wrong] == "ok" == publisher.destinations[wrong]
    assert publisher.transport._connection is connection and not publisher.refusals
    assert publisher.transport._channel is channel
