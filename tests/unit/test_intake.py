"""mq_producer's hand-off intake against the in-memory transport: backpressure from a full
buffer while the broker confirms, and what a stop in the middle of a hand-off event counts."""

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace

import orjson
import pytest

from mq_producer.intake import SMALL_HAND_OFF, HandOffIntake
from mq_producer.publisher import Publisher
from mq_producer.transports.base import TransportError
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
    await wait_until(lambda: publisher.counters.received == 40, what="40 envelopes taken")
    for _ in range(20):
        await asyncio.sleep(0)
    # The buffer holds 16, unanswered; the other 24 wait encoded, in order, none dropped.
    assert (len(publisher.outbox), intake.waiting, intake.backlog) == (16, 24, 0)
    assert not intake.idle and publisher.counters.dropped == 0
    transport.hold.set()
    await wait_until(lambda: publisher.counters.confirmed == 40, what="40 confirms")
    await wait_until(lambda: intake.idle, what="the intake idle")
    assert publisher.counters.dropped == 0
    assert [a.message_id for a in transport.delivered] == [f"e{n}" for n in range(40)]


async def test_messages_waiting_for_room_are_warned_about_at_capacity_and_each_doubling(
        transport: MemoryTransport, intake: HandOffIntake, caplog):
    """The buffer holds 16: the intake warns when 16 more wait, again at 32 and 64 (not in
    between), reports them in its status, and says when they are all in the buffer."""
    caplog.set_level(logging.INFO, logger="kytos.napps.kytos/mq_producer")
    publisher = intake.publisher
    for start in range(0, 96, 8):  # 96 envelopes, 8 per hand-off event
        intake.push(HANDOFF, f"h{start}", envelopes(range(start, start + 8)))
    await wait_until(lambda: publisher.counters.received == 96, what="96 envelopes taken")
    assert intake.status() == {"hand_off_events": 0, "waiting": 80}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [line.split(" messages wait")[0] for line in warnings] == [
        "mq_producer: 16", "mq_producer: 32", "mq_producer: 64"]
    assert warnings[0] == (
        "mq_producer: 16 messages wait for room in the buffer (BUFFER_SIZE 16, full): the "
        "broker confirms slower than events arrive; they wait in memory, none dropped while it "
        "keeps confirming (up to MAX_WAITING 50000)")
    transport.hold.set()
    await wait_until(lambda: publisher.counters.confirmed == 96, what="96 confirms")
    assert publisher.counters.dropped == 0 and intake.status()["waiting"] == 0
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO
            and "waited" in r.getMessage()] == [
        "mq_producer: the messages that waited for room in the buffer are all in it now (80 "
        "waited at the most)"]


@pytest.mark.parametrize("max_waiting", [24, 1000], ids=["limit", "control"])
async def test_past_max_waiting_the_oldest_buffered_are_dropped_not_kept_in_memory(
        transport: MemoryTransport, intake: HandOffIntake, caplog, max_waiting):
    """The buffer holds 16, the broker answers nothing yet (but within PUBLISH_TIMEOUT: it
    is not out), 96 envelopes come. With MAX_WAITING 24, 24 wait and the rest push the oldest
    buffered out: the newest 40 are kept, 56 dropped and counted, one WARNING, and an INFO
    line with the count once they are all in the buffer. Control: a limit above the burst
    keeps all 80 waiting, none dropped."""
    caplog.set_level(logging.INFO, logger="kytos.napps.kytos/mq_producer")
    publisher = intake.publisher
    publisher.config = replace(publisher.config, max_waiting=max_waiting)
    for start in range(0, 96, 8):
        intake.push(HANDOFF, f"h{start}", envelopes(range(start, start + 8)))
    await wait_until(lambda: publisher.counters.received == 96, what="96 envelopes taken")
    # Kept: the 24 waiting and what the buffer holds - 16, or 17 when all 16 were in flight
    # (the publisher ran between two pushes): a message in flight is never dropped, so the
    # buffer takes the newest and drops the one before it.
    dropped = publisher.counters.dropped
    if max_waiting == 24:
        assert intake.waiting == 24 and dropped == 96 - 24 - len(publisher.outbox) > 50
    else:
        assert (intake.waiting, dropped) == (80, 0)
    warnings = [r.getMessage() for r in caplog.records if "MAX_WAITING):" in r.getMessage()]
    assert len(warnings) == (max_waiting == 24)
    transport.hold.set()
    await wait_until(lambda: intake.idle and not publisher.outbox, what="all settled")
    delivered = [int(a.message_id[1:]) for a in transport.delivered]
    # What was dropped is the oldest queued: the newest are all delivered, in order.
    assert len(delivered) == 96 - dropped and delivered == sorted(delivered)
    assert delivered[-24:] == list(range(72, 96))
    done = [r.getMessage() for r in caplog.records if "all in it now" in r.getMessage()]
    assert done[-1].endswith(f"waited at the most; {dropped} dropped from the buffer to stay "
                             "within MAX_WAITING)" if dropped else "waited at the most)")


async def test_a_stop_counts_the_messages_waiting_for_room(intake: HandOffIntake):
    intake.push(HANDOFF, "h1", envelopes(range(20)))
    intake.push(HANDOFF, "h2", envelopes(range(20, 25)))
    await wait_until(lambda: intake.publisher.counters.received == 25, what="25 taken")
    assert intake.stop() == 9  # 25 less the 16 the buffer holds


async def test_a_stop_names_the_last_envelope_received_whatever_its_form(
        intake: HandOffIntake):
    """What the stop line names: envelopes handed on after it were still in Kytos' app buffer
    when it stopped (listen_events' stop line names the last it handed on)."""
    assert intake.last_received is None
    intake.push(HANDOFF, "h1", encoded(range(3)))
    assert intake.last_received == "e2"
    intake.push(HANDOFF, "h2", envelopes(range(3, 5)))  # dicts: their id is kept, not them
    assert intake._last_received == "e4" and intake.last_received == "e4"
    for malformed in (None, {"envelopes": []}, {"envelopes": "e9"}, {"envelopes": [7]}):
        intake.push(HANDOFF, "h3", malformed)  # rejected: the last real one stays named
    assert intake.last_received == "e4"
    intake.push(HANDOFF, "h4", {"envelopes": [b"[1]"]})  # bytes, but no envelope: rejected
    assert intake.last_received is None
    intake.stop()
    intake.push(HANDOFF, "h5", encoded(range(5, 6)))  # after the stop: discarded, not named
    assert intake.last_received is None


async def test_a_stop_in_the_middle_of_a_hand_off_event_counts_what_it_had_left(
        intake: HandOffIntake):
    content = envelopes(range(6))
    large = content["envelopes"][3]  # type: ignore[index]
    large["content"] = {"links": [{"id": f"l{n}", "n": n} for n in range(300_000)]}
    intake.push(HANDOFF, "h1", content)
    # The large one is being encoded, with the loop's turns between its pieces.
    await wait_until(lambda: intake.publisher.counters.received == 4, what="4 taken")
    assert intake.stop() == 3  # the large one and the two after it


async def test_a_topology_sized_envelope_is_published_as_one_orjson_call_would_encode_it(
        transport: MemoryTransport, intake: HandOffIntake):
    content = envelopes(range(1))
    large = content["envelopes"][0]  # type: ignore[index]
    large["content"] = {"topology": {"links": {f"l{n}": {"id": f"l{n}", "n": n}
                                                for n in range(500)}}}
    transport.hold.set()
    intake.push(HANDOFF, "h1", content)
    await wait_until(lambda: intake.publisher.counters.confirmed == 1, what="1 confirm")
    [attempt] = transport.delivered
    assert attempt.body == orjson.dumps(large)


@pytest.mark.parametrize("link_id, message_id", [
    ("L" * 300, "e-long-link"),  # the link id: status routing key and queue name
    ("L" * 240, "e-long-queue"),  # fits alone, over 255 with the queue prefix
    ("short-link", "m" * 250),  # the envelope's id fits; with ':status' it does not
])
async def test_a_status_message_over_the_amqp_name_limits_is_rejected_alone(
        transport: MemoryTransport, intake: HandOffIntake, caplog, link_id, message_id):
    """The event's own message and the envelopes around it are published; the status
    message that cannot exist is counted as rejected with one ERROR line saying why."""
    publisher = intake.publisher
    transport.hold.set()
    content = envelopes(range(3))
    interdomain = content["envelopes"][1]
    interdomain["message_id"] = message_id
    interdomain["link"] = {"id": link_id, "status": "DOWN", "metadata": {"interdomain": True}}
    intake.push(HANDOFF, "h1", content)
    await wait_until(lambda: publisher.counters.confirmed == 3, what="3 confirms")
    await wait_until(lambda: intake.idle, what="the intake idle")
    assert [a.message_id for a in transport.delivered] == ["e0", message_id, "e2"]
    assert (publisher.counters.received, publisher.counters.rejected) == (3, 1)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "link status message" in errors[0] and "over the 255-byte limit" in errors[0]
    assert "h1" in errors[0] and "envelope 2 of 3" in errors[0]


async def test_a_status_message_within_the_limits_is_published_beside_its_event(
        transport: MemoryTransport, intake: HandOffIntake):
    publisher = intake.publisher
    transport.hold.set()
    content = envelopes(range(1))
    content["envelopes"][0]["link"] = {"id": "L" * 200, "status": "UP",
                                       "metadata": {"interdomain": True}}
    intake.push(HANDOFF, "h1", content)
    await wait_until(lambda: publisher.counters.confirmed == 2, what="2 confirms")
    assert sorted(a.message_id for a in transport.delivered) == ["e0", "e0:status"]
    assert publisher.counters.rejected == 0


def encoded(numbers: range) -> dict[str, object]:
    """``envelopes(numbers)`` in listen_events' hand-off form: each envelope its JSON bytes."""
    return {"envelopes": [orjson.dumps(envelope) for envelope in envelopes(numbers)["envelopes"]]}


async def test_a_small_hand_off_is_taken_in_the_handlers_step(intake: HandOffIntake):
    """A few envelopes in their bytes form, nothing waiting before them: checked, routed and
    submitted before push() returns - no task step of the intake's own (issue 21)."""
    publisher = intake.publisher
    intake.push(HANDOFF, "h1", encoded(range(2)))
    assert publisher.counters.received == 2 and len(publisher.outbox) == 2
    assert intake._task is None and intake.idle
    # A bad one is rejected on its own there too, the others still go.
    intake.push(HANDOFF, "h2", {"envelopes": [b"[1]", *encoded(range(2, 3))["envelopes"]]})
    assert (publisher.counters.received, publisher.counters.rejected) == (4, 1)
    assert len(publisher.outbox) == 3


async def test_a_small_hand_off_is_published_in_the_handlers_step(transport: MemoryTransport,
                                                                   intake: HandOffIntake):
    """The publisher waits for work and the transport can send at once: the messages are
    sent before push() returns, and the publishing task is not woken for them (issue 21)."""
    publisher = intake.publisher
    await wait_until(lambda: publisher._waiting_for_work, what="the publisher idle")
    intake.push(HANDOFF, "h1", encoded(range(2)))
    assert publisher.counters.published == 2 and publisher.outbox.in_flight == 2
    assert not publisher._wake.is_set()
    transport.hold.set()
    await wait_until(lambda: publisher.counters.confirmed == 2, what="2 confirms")
    assert [a.message_id for a in transport.delivered] == ["e0", "e1"]


@pytest.mark.parametrize("why", ["transport", "in flight", "bytes"])
async def test_what_cannot_be_published_in_the_step_wakes_the_publishing_task(
        transport: MemoryTransport, intake: HandOffIntake, monkeypatch, why: str):
    """A transport that cannot send without awaiting, no room in flight, or more than
    SYNC_PUBLISH_BYTES of bodies: the task publishes what is left, in order."""
    publisher = intake.publisher
    await wait_until(lambda: publisher._waiting_for_work, what="the publisher idle")
    if why == "transport":
        transport.sync = False
    elif why == "in flight":
        monkeypatch.setattr(publisher, "config", replace(publisher.config, max_in_flight=1))
    else:
        monkeypatch.setattr("mq_producer.publisher.SYNC_PUBLISH_BYTES", 1)
    intake.push(HANDOFF, "h1", encoded(range(3)))
    in_step = publisher.counters.published
    assert in_step == {"transport": 0, "in flight": 1, "bytes": 0}[why]
    assert publisher._wake.is_set()
    transport.hold.set()
    await wait_until(lambda: publisher.counters.confirmed == 3, what="3 confirms")
    assert [a.message_id for a in transport.delivered] == ["e0", "e1", "e2"]


async def test_a_publish_that_fails_in_the_step_is_retried(transport: MemoryTransport,
                                                           intake: HandOffIntake, monkeypatch):
    publisher = intake.publisher
    await wait_until(lambda: publisher._waiting_for_work, what="the publisher idle")
    calls = []

    def fail_once(messages, settle):
        calls.append([m.message_id for m in messages])
        monkeypatch.undo()
        raise TransportError("the socket went away")

    monkeypatch.setattr(transport, "publish_now", fail_once)
    intake.push(HANDOFF, "h1", encoded(range(1)))
    assert calls == [["e0"]] and publisher.counters.failed == 1
    assert publisher.last_error == "the socket went away"
    transport.hold.set()
    await wait_until(lambda: publisher.counters.confirmed == 1, what="the retry confirmed")
    assert [a.message_id for a in transport.delivered] == ["e0"]


async def test_a_small_hand_off_behind_a_queued_one_keeps_its_place(transport: MemoryTransport,
                                                                    intake: HandOffIntake):
    publisher = intake.publisher
    intake.push(HANDOFF, "h1", envelopes(range(3)))  # dicts: the task's paced work
    intake.push(HANDOFF, "h2", encoded(range(3, 4)))  # small, but the first is not taken yet
    assert publisher.counters.received == 0 and intake.backlog == 2
    transport.hold.set()
    await wait_until(lambda: publisher.counters.confirmed == 4, what="4 confirms")
    assert [a.message_id for a in transport.delivered] == [f"e{n}" for n in range(4)]


async def test_a_hand_off_of_more_than_small_goes_to_the_task(intake: HandOffIntake):
    publisher = intake.publisher
    intake.push(HANDOFF, "h1", encoded(range(SMALL_HAND_OFF + 1)))
    assert publisher.counters.received == 0 and intake.backlog == 1  # not in push()'s step
    await wait_until(lambda: publisher.counters.received == SMALL_HAND_OFF + 1,
                     what="taken by the task")
