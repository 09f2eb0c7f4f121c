"""One message's trouble costs only that message, against the real broker (issue #14's fault
matrix, cases 1, 6 and 8): a status message over the AMQP name limits, twin message ids in
flight, and a burst after a quiet spell."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from mq_producer.intake import HandOffIntake
from mq_producer.outbox import OutboundMessage
from mq_producer.publisher import Publisher
from tests.integration.conftest import assert_publish_path, bound_queue, receive
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.usefixtures("publish_path")]

HANDOFF = "kytos/listen_events.broadcast"


@pytest.fixture
def running(start_publisher, publish_path: str) -> Callable[..., Awaitable[Publisher]]:
    """A Publisher on the real transport, through the test's publish path; the test sets the
    config through ``start``."""

    async def start(**changes: object) -> Publisher:
        publisher = await start_publisher(**changes)
        assert_publish_path(publisher.transport, publish_path)
        return publisher

    return start


def envelope(number: int, *, link: dict | None = None,
             message_id: str | None = None) -> dict[str, object]:
    return {"schema_version": 1, "message_id": message_id or f"iso-{number}",
            "msg_type": "event", "event_name": "kytos/topology.link_down",
            "event_class": "operational", "key": f"link:{number}", "producer": None,
            "link": link, "content": {"n": number}}


async def test_a_status_message_over_the_name_limits_costs_only_itself(
        running, amqp, exchange_prefix: str, caplog):
    """Case 1: a 300-byte interdomain link id. Its status message cannot exist (routing key
    and queue name over 255 bytes): rejected alone, one ERROR line; every event around it,
    its own included, is confirmed and delivered in order."""
    publisher = await running()
    events = await bound_queue(amqp, f"{exchange_prefix}.operational_events", "#")
    long_link = {"id": "L" * 300, "status": "DOWN", "metadata": {"interdomain": True}}
    intake = HandOffIntake(publisher)
    intake.push(HANDOFF, "h1", {"envelopes": [envelope(0), envelope(1, link=long_link),
                                              envelope(2)]})
    received = await receive(events, 3)
    assert [m.message_id for m in received] == ["iso-0", "iso-1", "iso-2"]
    await wait_until(lambda: publisher.counters.confirmed == 3, what="3 confirms")
    assert publisher.counters.rejected == 1 and publisher.alarm.outage is None
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "over the 255-byte limit" in errors[0]
    intake.stop()


async def test_twin_message_ids_in_flight_keep_their_own_outcomes(
        running, amqp, exchange_prefix: str, caplog):
    """Case 8: two messages with one message id, one routable and one not. A broker return
    names its message by id only; each must get its own outcome: the routable one
    confirmed and delivered, the other returned (and logged with its routing key)."""
    publisher = await running()
    exchange = f"{exchange_prefix}.operational_events"
    queue = await bound_queue(amqp, exchange, "routable")
    for round_number in range(20):  # both in one batch, each order, many times
        twins = [OutboundMessage(f"twin-{round_number}", "kytos/topology.link_down", exchange,
                                 key, b'{"k": "%s"}' % key.encode(), f"{key}:{round_number}",
                                 0.0)
                 for key in (("routable", "nowhere") if round_number % 2 else
                             ("nowhere", "routable"))]
        for twin in twins:
            publisher.submit(twin)
    counters = publisher.counters
    await wait_until(lambda: counters.confirmed + counters.returned == 40, what="40 answers")
    assert (counters.confirmed, counters.returned) == (20, 20)
    received = await receive(queue, 20)
    assert sorted(m.message_id for m in received) == sorted(f"twin-{n}" for n in range(20))
    assert all(m.routing_key == "routable" for m in received)
    assert await queue.get(fail=False) is None  # nothing more: no returned one slipped in
    returned = [r.getMessage() for r in caplog.records if "returned as unroutable" in
                r.getMessage()]
    assert len(returned) == 1 and "'nowhere'" in returned[0]


async def test_a_burst_after_a_quiet_spell_drops_nothing_on_a_healthy_broker(
        running, amqp, exchange_prefix: str):
    """Case 6: quiet for longer than PUBLISH_TIMEOUT, then a burst of 3,000 events into a
    buffer of 256: the intake waits for room while the broker confirms; nothing dropped."""
    publisher = await running(publish_timeout=1.0, buffer_size=256, max_in_flight=256)
    events = await bound_queue(amqp, f"{exchange_prefix}.operational_events", "#")
    intake = HandOffIntake(publisher)
    intake.push(HANDOFF, "warm-up", {"envelopes": [envelope(-1)]})
    await wait_until(lambda: publisher.counters.confirmed == 1, what="the first confirm")
    await asyncio.sleep(1.5)
    for start in range(0, 3000, 100):
        intake.push(HANDOFF, f"h{start}",
                    {"envelopes": [envelope(n) for n in range(start, start + 100)]})
    counters = publisher.counters
    await wait_until(lambda: counters.confirmed + counters.dropped == 3001, timeout=60,
                     what="3,001 confirmed or dropped")
    assert counters.dropped == 0 and counters.confirmed == 3001
    received = await receive(events, 3001)
    assert [m.message_id for m in received] == ["iso--1", *(f"iso-{n}" for n in range(3000))]
    intake.stop()
