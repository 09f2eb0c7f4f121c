"""A queue of the operator's that refuses (full, reject-publish): the broker nacks every
message routed to it. They are retried every RETRY_INTERVAL, never dropped; the transport
opens one new channel once everything has been refused for RETRY_INTERVAL (what unsticks a
RabbitMQ channel refused for good after a quorum queue's leader was lost: test_cluster.py),
and only one while the refusals go on; once the queue has room, everything is confirmed."""

import asyncio
import logging

import pytest

from mq_producer.outbox import OutboundMessage
from tests.integration.conftest import assert_publish_path
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker

LOGGER = "kytos.napps.kytos/mq_producer"


async def test_a_refusing_queue_costs_one_new_channel_and_nothing_is_lost(
        publish_path: str, start_publisher, amqp, exchange_prefix: str,
        cleanup_exchanges: set[str], caplog: pytest.LogCaptureFixture):
    full = f"{exchange_prefix}.full"
    cleanup_exchanges.add(full)
    caplog.set_level(logging.INFO, logger=LOGGER)
    publisher = await start_publisher()
    assert_publish_path(publisher.transport, publish_path)
    exchange = f"{exchange_prefix}.operational_events"
    queue = await amqp.declare_queue(full, durable=True, arguments={
        "x-max-length": 1, "x-overflow": "reject-publish"})
    await queue.bind(exchange, "#")

    def message(number: int) -> OutboundMessage:
        return OutboundMessage(f"refused-{number}", "kytos/topology.link_down", exchange,
                               "operational.x", b'{"n":%d}' % number, "link:1", 1.0)

    publisher.submit(message(0))  # fills the queue
    await wait_until(lambda: publisher.counters.confirmed == 1, what="the first confirmed")
    for number in range(1, 6):
        publisher.submit(message(number))
    interval = publisher.config.retry_interval
    await asyncio.sleep(6 * interval)  # refused, retried, refused... for 6 intervals
    renewals = [r.getMessage() for r in caplog.records if r.name == LOGGER
                and "publishing on a new channel" in r.getMessage()]
    assert publisher.counters.refused >= 3 and publisher.counters.confirmed == 1
    assert len(renewals) == 1, renewals
    assert len(publisher.outbox) == 5 and publisher.counters.dropped == 0

    received = []
    async with asyncio.timeout(30):
        while len(received) < 6:  # read as they come: each makes room for the next retry
            incoming = await queue.get(fail=False)
            if incoming is None:
                await asyncio.sleep(interval / 3)
                continue
            received.append(incoming.message_id)
            await incoming.ack()
    await wait_until(lambda: publisher.counters.confirmed == 6, what="all confirmed")
    assert received == [f"refused-{number}" for number in range(6)]  # order per key kept
    assert publisher.counters.dropped == publisher.counters.failed == 0
    alarms = [r for r in caplog.records if r.name == LOGGER and "ALARM" in r.getMessage()]
    assert alarms == []
