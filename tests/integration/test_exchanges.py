"""mq_producer checks its exchanges at start: creates, reuses, reports a bad one."""

import asyncio

import aio_pika
import aiormq
import pytest

from mq_producer.main import Main as MqProducer
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


async def test_exchange_of_wrong_type_is_reported_and_retried_never_crashes(
        controller, amqp, exchange_prefix, caplog):
    wrong = f"{exchange_prefix}.operational_events"
    await amqp.declare_exchange(wrong, aio_pika.ExchangeType.FANOUT, durable=True)
    producer = controller.load_napp(MqProducer)
    await wait_until(lambda: producer.publisher.counters.received == 0
                     and producer.publisher.last_error is not None, what="an error")
    await wait_until(lambda: producer.publisher.transport.destinations.get(wrong)
                     == "wrong type", what="wrong type state")
    assert not producer.publisher.transport.connected
    assert wrong in producer.publisher.last_error
    alarms = [r for r in caplog.records if r.levelname == "ERROR" and wrong in r.getMessage()]
    assert alarms and "not a durable topic exchange" in alarms[0].getMessage()
    assert alarms[0].getMessage().startswith(
        f"mq_producer ALARM: broker refuses publishing: exchange '{wrong}': exists but")
    # It keeps retrying; once the operator fixes the exchange it connects.
    await amqp.exchange_delete(wrong)
    await wait_until(lambda: producer.publisher.transport.connected, what="recovery")
    assert producer.publisher.transport.destinations[wrong] == "ok"
