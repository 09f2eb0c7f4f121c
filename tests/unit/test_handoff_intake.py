"""mq_producer's hand-off intake against the in-memory transport: backpressure from a full
buffer while the broker confirms, and what a stop in the middle of a hand-off event counts."""

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from mq_producer.handoff import HandOffIntake
from mq_producer.intake import is_large
from mq_producer.publisher import Publisher
from tests.support.memory_transport import MemoryTransport
from tests.support.waiting import wait_until
from tests.unit.test_publisher_memory import make_config

HANDOFF = "kytos/listen_events.broadcast"


def envelopes(numbers: range) -> dict[str, object]:
    """Hand-off event content: one minimal publishable envelope per number, each its own key."""
    return {"envelopes": [
        {"schema_version": 1, "message_id": f"e{number}", "msg_type": "event",
         "event_name": "kytos/topology.link_down", "event_class": "operational",
         "key": f"link:{number}", "producer": None, "link": None, "content": {}}
        for number in numbers]}


@pytest.fixture
async def transport() -> AsyncIterator[MemoryTransport]:
    """Connected, and holding every publish unanswered (the test sets ``hold`` to answer)."""
    memory = MemoryTransport()
    yield memory
    memory.hold.set()
    await memory.close()


@pytest.fixture
async def intake(transport: MemoryTransport) -> AsyncIterator[HandOffIntake]:
    """An intake feeding a running publisher whose buffer holds 16 messages."""
    publisher = Publisher(transport, make_config(buffer_size=16, max_in_flight=16))
    publisher.start()
    await wait_until(lambda: transport.connected, what="connected")
    transport.hold.clear()
    running = HandOffIntake(publisher)
    yield running
    running.stop()
    publisher.abandon()


async def test_intake_waits_for_room_then_submits_everything(transport: MemoryTransport,
                                                              intake: HandOffIntake):
    publisher = intake.publisher
    intake.push(HANDOFF, "h1", envelopes(range(40)))
    await wait_until(lambda: len(publisher.outbox) == 16, what="a full buffer")
    for _ in range(20):
        await asyncio.sleep(0)
    assert publisher.counters.received == 17  # the 17th waits for room, unsubmitted
    assert intake.backlog == 1 and publisher.counters.dropped == 0
    transport.hold.set()
    await wait_until(lambda: publisher.counters.confirmed == 40, what="40 confirms")
    assert publisher.counters.dropped == 0
    assert [a.message_id for a in transport.delivered] == [f"e{n}" for n in range(40)]


async def test_a_stop_while_waiting_for_room_counts_the_envelopes_not_submitted(
        intake: HandOffIntake):
    intake.push(HANDOFF, "h1", envelopes(range(20)))
    intake.push(HANDOFF, "h2", envelopes(range(20, 25)))
    await wait_until(lambda: len(intake.publisher.outbox) == 16, what="a full buffer")
    await asyncio.sleep(0)
    # 4 of the first hand-off event (the one waiting included) and 5 of the second.
    assert intake.stop() == 9


async def test_a_topology_sized_envelope_is_published_as_one_orjson_call_would_encode_it(
        transport: MemoryTransport, intake: HandOffIntake):
    content = envelopes(range(1))
    large = content["envelopes"][0]  # type: ignore[index]
    large["content"] = {"topology": {"links": {f"l{n}": {"id": f"l{n}", "n": n}
                                                for n in range(500)}}}
    assert is_large(large)  # encoded piece by piece, with the loop's turns between
    transport.hold.set()
    intake.push(HANDOFF, "h1", content)
    await wait_until(lambda: intake.publisher.counters.confirmed == 1, what="1 confirm")
    [attempt] = transport.delivered
    assert attempt.body == orjson.dumps(large)
