"""The web UI's queue inspection (mq_producer/transports/amqp/inspect.py) against the real
broker: messages ready and consumers as RabbitMQ counts them, a missing queue reported (and
not created), every queue after it still answered."""

import asyncio
import os

import aio_pika
import aiormq
import pytest

from mq_producer.transports.amqp.broker import broker_from_env
from mq_producer.transports.amqp.inspect import queue_depths
from mq_producer.transports.base import TransportError
from tests.support.rabbit_node import free_port

pytestmark = pytest.mark.broker


async def test_depth_and_consumers_as_the_broker_counts_them(amqp, broker_url,
                                                             exchange_prefix):
    waiting, consumed, missing = (f"{exchange_prefix}.{name}"
                                  for name in ("waiting", "consumed", "missing"))
    waiting_queue = await amqp.declare_queue(waiting, auto_delete=True)
    consumed_queue = await amqp.declare_queue(consumed, auto_delete=True)
    for number in range(3):
        await amqp.default_exchange.publish(aio_pika.Message(str(number).encode()), waiting)

    async def take(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        await message.ack()

    tag = await consumed_queue.consume(take)
    broker = broker_from_env(os.environ)
    try:
        answers = await queue_depths(broker, [missing, waiting, consumed], 5.0)
        assert answers == {
            missing: {"messages": None, "consumers": None, "error": "not found on the broker"},
            waiting: {"messages": 3, "consumers": 0, "error": None},
            consumed: {"messages": 0, "consumers": 1, "error": None},
        }
        connection = await aio_pika.connect(broker_url)
        try:
            channel = await connection.channel()
            with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):  # not created
                await channel.declare_queue(missing, passive=True)
        finally:
            await connection.close()
    finally:
        await consumed_queue.cancel(tag)
        await waiting_queue.delete(if_unused=False, if_empty=False)


async def test_an_unreachable_broker_is_an_error_without_the_password():
    port = free_port()
    broker = broker_from_env({"KYTOS_MQ_URL": f"amqp://kytos:Insp-Secret-9@127.0.0.1:{port}/"})
    with pytest.raises(TransportError) as raised:
        await asyncio.wait_for(queue_depths(broker, ["q"], 2.0), 10)
    assert str(raised.value).startswith(f"cannot connect to amqp://kytos:***@127.0.0.1:{port}/")
    assert "Insp-Secret-9" not in str(raised.value)
