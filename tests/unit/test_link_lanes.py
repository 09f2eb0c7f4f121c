"""A link whose status queue is not ready yet (the transport still declaring it, issue 14
case 5): its status waits in its own lane - the latest only (issue 15) - everything else
flows, nothing counts against the stall timer, and the lane goes once the transport says so.
On the in-memory transport (its ``unready`` / ``make_ready`` controls)."""

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

import pytest

from mq_producer import settings
from mq_producer.config import load_config
from mq_producer.outbox import OutboundMessage, Outbox
from mq_producer.publisher import Publisher
from tests.support.memory_transport import MemoryTransport
from tests.support.waiting import wait_until


def status(number: int, link_id: str, link_status: str = "DOWN") -> OutboundMessage:
    return OutboundMessage(f"s{number}:status", "kytos/topology.link_down", "links", link_id,
                           b"{}", f"status:{link_id}", 1.0, link_id=link_id,
                           status=link_status)


def event(number: int) -> OutboundMessage:
    return OutboundMessage(f"e{number}", "kytos/topology.link_down", "operational_events",
                           "operational.kytos/topology.link_down", b"{}", f"link:{number}", 1.0)


@pytest.fixture
def transport() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
async def publisher(transport: MemoryTransport) -> AsyncIterator[Publisher]:
    config = dataclasses.replace(load_config(settings, {"KYTOS_MQ_URL": "amqp://u:p@h/"}),
                                 retry_interval=0.05, publish_timeout=0.3, max_in_flight=16)
    running = Publisher(transport, config)
    running.start()
    yield running
    running.abandon()
    await transport.close()


async def test_a_link_not_ready_waits_in_its_lane_while_the_rest_flows(
        publisher: Publisher, transport: MemoryTransport, caplog):
    transport.unready.add("L1")
    publisher.submit(status(1, "L1", "DOWN"))
    for number in range(10):
        publisher.submit(event(number))
    publisher.submit(status(2, "L2"))
    await wait_until(lambda: publisher.counters.confirmed == 11, what="the 11 others")
    publisher.submit(status(3, "L1", "UP"))  # the latest: replaces the waiting DOWN
    await asyncio.sleep(1.0)  # over three PUBLISH_TIMEOUTs: waiting is no stall
    assert {a.message_id for a in transport.attempts} == \
        {f"e{n}" for n in range(10)} | {"s2:status"}
    assert publisher.status_lanes.pending == 1 and publisher.status_lanes.in_flight == 0
    assert publisher.counters.superseded == 1 and len(publisher.outbox) == 0
    assert transport.ready_checks["L1"] == 1  # asked once, then parked: no polling
    assert publisher.counters.published == 11
    assert transport.closes == 0 and publisher.alarm.outage is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    transport.make_ready("L1")
    await wait_until(lambda: publisher.counters.confirmed == 12, what="L1's latest, released")
    assert [(a.message_id, a.attempt) for a in transport.attempts[-1:]] == [("s3:status", 1)]
    assert publisher.counters.published == 12 and len(publisher.status_lanes) == 0


async def test_a_ready_callback_for_a_lane_not_waiting_changes_nothing(
        publisher: Publisher, transport: MemoryTransport):
    transport.make_ready("nobody")  # a link whose lane was never held back
    publisher.submit(status(1, "L1"))
    await wait_until(lambda: publisher.counters.confirmed == 1, what="a confirm")
    assert transport.ready_checks == {}


async def test_a_link_that_becomes_unready_again_waits_again(
        publisher: Publisher, transport: MemoryTransport):
    """As after a reconnection, when the transport declares every link queue again."""
    publisher.submit(status(1, "L1"))
    await wait_until(lambda: publisher.counters.confirmed == 1, what="the first")
    transport.unready.add("L1")
    publisher.submit(status(2, "L1", "UP"))
    await wait_until(lambda: transport.ready_checks["L1"] == 1, what="held back")
    assert publisher.status_lanes.pending == 1
    transport.make_ready("L1")
    await wait_until(lambda: publisher.counters.confirmed == 2, what="the second")


def test_hold_puts_a_taken_message_back_without_counting_an_attempt():
    outbox = Outbox(10)
    first, second = status(1, "L1"), status(2, "L1", "UP")
    outbox.put(first)
    outbox.put(second)
    [taken] = outbox.take(10)
    assert taken is first and first.attempts == 1
    outbox.hold(first)
    assert first.attempts == 0 and outbox.in_flight == 0 and outbox.queued == 2
    assert outbox.take(10) == []  # the lane waits
    outbox.release(first.lane)
    assert outbox.take(10) == [first] and first.attempts == 1
