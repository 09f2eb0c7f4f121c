"""The Publisher against the in-memory transport: confirms, retries with the same message id,
order per key, refusals (REJECTED) and returns, outages - without a broker."""

import asyncio
import dataclasses
import logging
import random
from collections.abc import AsyncIterator

import pytest

from mq_producer import settings
from mq_producer.config import ProducerConfig, load_config
from mq_producer.outbox import OutboundMessage
from mq_producer.publisher import Publisher
from mq_producer.transports.base import PublishOutcome, TransportError
from tests.support.memory_transport import MemoryTransport
from tests.support.waiting import wait_until

RETRY = 0.05


def make_config(**changes: object) -> ProducerConfig:
    config = load_config(settings, {"KYTOS_MQ_URL": "amqp://u:p@localhost/"})
    return dataclasses.replace(config, **{"retry_interval": RETRY, "publish_timeout": 1.0,
                                          "max_in_flight": 16, "buffer_size": 1000,
                                          **changes})


def message(number: int, key: str | None = None, *, link_id: str | None = None,
            status: str | None = None) -> OutboundMessage:
    return OutboundMessage(message_id=f"m{number}", event_name="kytos/topology.link_down",
                           exchange="operational_events",
                           routing_key="operational.kytos/topology.link_down",
                           body=b'{"n": %d}' % number, key=key, timestamp=1.0,
                           link_id=link_id, status=status)


@pytest.fixture
def transport() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
async def publisher(transport: MemoryTransport) -> AsyncIterator[Publisher]:
    running = Publisher(transport, make_config())
    running.start()
    yield running
    running.abandon()
    await transport.close()


async def test_confirmed_messages_are_published_once(publisher: Publisher,
                                                     transport: MemoryTransport):
    for number in range(5):
        publisher.submit(message(number, key=f"link:{number % 2}"))
    await wait_until(lambda: publisher.counters.confirmed == 5, what="5 confirms")
    assert sorted(a.message_id for a in transport.delivered) == [f"m{n}" for n in range(5)]
    assert all(a.attempt == 1 for a in transport.attempts)
    assert len(publisher.outbox) == 0
    assert publisher.counters.published == 5 and publisher.counters.failed == 0
    assert publisher.alarm.outage is None


async def test_a_failed_publish_is_retried_with_the_same_message_id(
        publisher: Publisher, transport: MemoryTransport, caplog):
    transport.decide = lambda msg, attempt: (
        TransportError("connection reset") if msg.message_id == "m1" and attempt == 1
        else PublishOutcome.CONFIRMED)
    publisher.submit(message(1, key="link:a"))
    publisher.submit(message(2, key="link:a"))
    await wait_until(lambda: publisher.counters.confirmed == 2, what="2 confirms")
    tries = transport.tries("m1")
    assert [(a.attempt, a.outcome) for a in tries] == [(1, "TransportError"), (2, "confirmed")]
    assert tries[0].body == tries[1].body
    assert [a.message_id for a in transport.delivered] == ["m1", "m2"]  # m2 waited for m1
    assert publisher.counters.failed == 1
    alarms = [r.getMessage() for r in caplog.records if "ALARM" in r.getMessage()]
    assert len(alarms) == 1 and "connection reset" in alarms[0]
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    assert publisher.alarm.outage is None


async def test_order_per_key_holds_through_random_failures(publisher: Publisher,
                                                           transport: MemoryTransport):
    rng = random.Random(6)
    transport.decide = lambda msg, attempt: (
        TransportError("flaky") if rng.random() < 0.3 else PublishOutcome.CONFIRMED)
    keys = [f"link:{k}" for k in range(6)] + [None]
    sent: dict[str | None, list[str]] = {}
    for number in range(300):
        key = rng.choice(keys)
        publisher.submit(message(number, key))
        sent.setdefault(key, []).append(f"m{number}")
        if number % 25 == 0:
            await asyncio.sleep(0)
    await wait_until(lambda: publisher.counters.confirmed == 300, timeout=30,
                     what="300 confirms")
    delivered: dict[str | None, list[str]] = {}
    for attempt in transport.delivered:
        delivered.setdefault(attempt.key, []).append(attempt.message_id)
    for key in keys[:-1]:
        assert delivered[key] == sent[key], key
    assert sorted(delivered[None]) == sorted(sent[None])  # no key: no order promised
    assert transport.overlapping_lanes == []  # never two publishes of one key at once
    assert publisher.counters.failed > 0
    assert publisher.counters.published == len(transport.attempts)


async def test_an_answer_wakes_the_publishing_task_only_when_it_frees_something_to_send(
        publisher: Publisher, transport: MemoryTransport, monkeypatch):
    """Issue 21: a wake-up costs a step and a turn of the loop. The answer to the only
    message buffered wakes nobody; one that frees the next message of its key does."""
    await wait_until(lambda: transport.connected, what="connected")
    wakes: list[int] = []
    wake = publisher._wake.set
    monkeypatch.setattr(publisher._wake, "set", lambda: (wakes.append(1), wake())[1])
    publisher.submit(message(1, key="link:1"))
    await wait_until(lambda: publisher.counters.confirmed == 1, what="1 confirm")
    assert len(wakes) == 1  # the submit's
    transport.hold.clear()
    publisher.submit(message(2, key="link:1"))
    publisher.submit(message(3, key="link:1"))  # waits for 2's answer
    await wait_until(lambda: publisher.outbox.in_flight == 1, what="2 in flight")
    transport.hold.set()
    await wait_until(lambda: publisher.counters.confirmed == 3, what="3 confirms")
    assert len(wakes) == 4  # two submits, and 2's answer (3 may go); not 3's
    assert [a.message_id for a in transport.delivered][-2:] == ["m2", "m3"]


async def test_keys_are_pipelined_with_one_publish_in_flight_per_key(
        publisher: Publisher, transport: MemoryTransport):
    transport.hold.clear()
    for number in range(10):
        publisher.submit(message(number, key=f"link:{number % 2}"))
    for number in range(10, 15):
        publisher.submit(message(number))
    await wait_until(lambda: sum(transport.in_flight.values()) == 7, what="7 in flight")
    assert publisher.outbox.in_flight == 7 and publisher.outbox.queued == 8
    transport.hold.set()
    await wait_until(lambda: publisher.counters.confirmed == 15, what="15 confirms")
    assert transport.overlapping_lanes == []


async def test_a_refused_status_change_is_offered_again_and_a_repetition_never_goes(
        publisher: Publisher, transport: MemoryTransport):
    """The broker refuses while the consumer has not read the previous status (a full
    reject-publish queue, a full JetStream subject): see status_lanes.py. A transport that
    cannot purge (``purge_answer`` None, as JetStream): the change waits RETRY_INTERVAL."""
    refusals = {("m3", 1), ("m3", 2)}
    transport.decide = lambda msg, attempt: (
        PublishOutcome.REJECTED if (msg.message_id, attempt) in refusals
        else PublishOutcome.CONFIRMED)
    key = "status:L1"
    publisher.submit(message(1, key, link_id="L1", status="UP"))
    await wait_until(lambda: publisher.counters.confirmed == 1, what="the first status")
    publisher.submit(message(2, key, link_id="L1", status="UP"))  # what the queue has
    await wait_until(lambda: publisher.counters.suppressed == 1, what="the suppression")
    publisher.submit(message(3, key, link_id="L1", status="DOWN"))  # a change: kept
    await wait_until(lambda: publisher.counters.confirmed == 2, what="3 delivered")
    assert [a.message_id for a in transport.delivered] == ["m1", "m3"]
    assert [a.attempt for a in transport.tries("m3")] == [1, 2, 3]
    assert transport.tries("m2") == []  # suppressed: never published
    assert transport.purged == ["L1", "L1"]  # asked at each refusal, could not
    assert publisher.counters.refused == 2 and publisher.counters.replaced == 0
    assert publisher.counters.failed == 0 and publisher.alarm.outage is None  # not an outage


async def test_a_refused_change_purges_the_queue_and_the_latest_status_goes(
        publisher: Publisher, transport: MemoryTransport):
    """The queue holds an unread older status: it is purged, then the present status goes
    at once; the statuses that came meanwhile leave only the latest."""
    transport.purge_answer = 1
    transport.decide = lambda msg, attempt: (
        PublishOutcome.REJECTED if (msg.message_id, attempt) == ("m2", 1)
        else PublishOutcome.CONFIRMED)
    key = "status:L1"
    publisher.submit(message(1, key, link_id="L1", status="UP"))
    await wait_until(lambda: publisher.counters.confirmed == 1, what="the first status")
    transport.hold.clear()
    publisher.submit(message(2, key, link_id="L1", status="DOWN"))  # will be refused
    await wait_until(lambda: publisher.status_lanes.in_flight == 1, what="m2 in flight")
    for number, state in ((3, "UP"), (4, "DOWN"), (5, "UP"), (6, "DOWN")):
        publisher.submit(message(number, key, link_id="L1", status=state))
    assert publisher.status_lanes.pending == 1  # never more than the latest
    transport.hold.set()
    await wait_until(lambda: publisher.counters.confirmed == 2, what="the present status")
    assert [a.message_id for a in transport.delivered] == ["m1", "m6"]
    assert transport.purged == ["L1"] and publisher.counters.replaced == 1
    assert publisher.counters.superseded == 4  # m3, m4, m5, then the refused m2
    assert publisher.status_lanes.max_pending == 1


async def test_rejected_ordinary_message_is_offered_again(publisher: Publisher,
                                                          transport: MemoryTransport, caplog):
    transport.decide = lambda msg, attempt: (
        PublishOutcome.REJECTED if msg.message_id == "m1" and attempt <= 2
        else PublishOutcome.CONFIRMED)
    publisher.submit(message(1, key="switch:1"))
    publisher.submit(message(2, key="switch:1"))
    publisher.submit(message(3, key="switch:2"))  # another key is not held up
    await wait_until(lambda: publisher.counters.confirmed == 3, what="3 confirms")
    order = [a.message_id for a in transport.delivered]
    assert order.index("m3") < order.index("m1") < order.index("m2")
    assert publisher.counters.refused == 2
    warnings = [r for r in caplog.records
                if r.levelno == logging.WARNING and "refused message" in r.getMessage()]
    assert len(warnings) == 1


async def test_returned_is_counted_and_not_retried(publisher: Publisher,
                                                   transport: MemoryTransport):
    transport.decide = lambda msg, attempt: PublishOutcome.RETURNED
    publisher.submit(message(1, key="link:a"))
    publisher.submit(message(2, key="link:a"))
    await wait_until(lambda: publisher.counters.returned == 2, what="2 returns")
    assert [a.attempt for a in transport.attempts] == [1, 1]
    assert publisher.counters.confirmed == 0 and len(publisher.outbox) == 0


async def test_down_at_start_buffers_then_delivers(transport: MemoryTransport):
    transport.up = False
    publisher = Publisher(transport, make_config())
    publisher.start()
    try:
        for number in range(20):
            publisher.submit(message(number, key=f"link:{number % 3}"))
        await wait_until(lambda: publisher.alarm.outage is not None, what="the alarm")
        await asyncio.sleep(3 * RETRY)
        assert transport.attempts == [] and len(publisher.outbox) == 20
        assert transport.connects >= 2  # retried at RETRY_INTERVAL
        transport.up = True
        await wait_until(lambda: publisher.counters.confirmed == 20, what="20 confirms")
        assert publisher.alarm.outage is None
    finally:
        publisher.abandon()


async def test_a_lost_connection_raises_the_alarm_while_idle(publisher: Publisher,
                                                             transport: MemoryTransport):
    await wait_until(lambda: transport.connected, what="connected")
    transport.lose("connection to memory://test lost: cable cut")
    assert publisher.alarm.outage is not None
    assert "cable cut" in publisher.status()["outage"]["reason"]
    await wait_until(lambda: publisher.alarm.outage is None, what="recovery")
    publisher.submit(message(1))
    await wait_until(lambda: publisher.counters.confirmed == 1, what="a confirm")


async def test_a_broker_that_stops_answering_is_dropped_and_its_messages_sent_again(
        transport: MemoryTransport, caplog: pytest.LogCaptureFixture):
    """One watchdog, not a timer per publish: when the oldest message in flight has had no
    answer for PUBLISH_TIMEOUT, the connection is closed and everything in flight goes back."""
    publisher = Publisher(transport, make_config(publish_timeout=0.3))
    publisher.start()
    try:
        transport.hold.clear()  # the broker takes the messages and never answers
        for number in range(6):
            publisher.submit(message(number, key=f"link:{number % 3}"))
        with caplog.at_level(logging.ERROR):
            await wait_until(lambda: transport.closes >= 1, what="the connection dropped")
        assert "no answer from memory://test to message m0 in 0.3s" in (publisher.last_error
                                                                          or "")
        assert any("no answer" in record.getMessage() for record in caplog.records)
        # Closing cancels the publishes in flight; their failures come a few turns later.
        await wait_until(lambda: publisher.counters.failed >= 3, what="in flight put back")
        assert publisher.counters.confirmed == 0
        transport.hold.set()
        await wait_until(lambda: publisher.counters.confirmed == 6, what="6 confirms")
        assert [a.message_id for a in transport.delivered if a.key == "link:0"] == ["m0", "m3"]
        assert sorted(a.message_id for a in transport.delivered) == [f"m{n}" for n in range(6)]
        assert len(publisher.outbox) == 0 and publisher.alarm.outage is None
    finally:
        publisher.abandon()


async def test_a_bug_in_the_transport_is_logged_and_the_publisher_lives_on(
        transport: MemoryTransport, caplog: pytest.LogCaptureFixture):
    publisher = Publisher(transport, make_config())
    publisher.start()
    original, calls = transport.publish, 0

    async def buggy_once(messages, settle):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("a bug")
        await original(messages, settle)

    transport.publish = buggy_once  # type: ignore[method-assign]
    try:
        with caplog.at_level(logging.ERROR):
            publisher.submit(message(1))
            await wait_until(lambda: publisher.counters.confirmed == 1, what="the retry")
        assert any("internal error while publishing 1 messages (first m1)" in r.getMessage()
                   and r.exc_info for r in caplog.records)
        assert publisher.counters.failed == 1 and calls == 2
    finally:
        publisher.abandon()


async def _full(transport: MemoryTransport, **changes: object) -> Publisher:
    """A running publisher whose buffer (16) is full of messages in flight, unanswered."""
    publisher = Publisher(transport, make_config(buffer_size=16, max_in_flight=16, **changes))
    publisher.start()
    await wait_until(lambda: transport.connected, what="connected")
    transport.hold.clear()  # publishes stay in flight: nothing is confirmed
    for number in range(16):
        publisher.submit(message(number, key=f"link:{number}"))
    await wait_until(lambda: publisher.outbox.in_flight == 16, what="16 in flight")
    return publisher


async def test_room_waits_while_the_broker_confirms(transport: MemoryTransport):
    publisher = await _full(transport)
    try:
        waiting = asyncio.create_task(publisher.room())
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiting.done()  # full, connected, within PUBLISH_TIMEOUT: it waits
        transport.hold.set()  # the broker answers
        await wait_until(waiting.done, what="room after confirms")
        publisher.submit(message(99, key="link:99"))
        await wait_until(lambda: publisher.counters.confirmed == 17, what="17 confirms")
        assert publisher.counters.dropped == 0
    finally:
        publisher.abandon()
        await transport.close()


async def test_room_stops_waiting_when_the_broker_goes_silent(transport: MemoryTransport):
    publisher = await _full(transport, publish_timeout=0.3)
    try:
        # No confirm for PUBLISH_TIMEOUT: room() returns with the buffer still full, so that
        # the drop policy works instead of the intake being held for ever.
        await asyncio.wait_for(publisher.room(), timeout=10)
        assert len(publisher.outbox) == 16 and publisher.counters.confirmed == 0
    finally:
        transport.hold.set()
        publisher.abandon()
        await transport.close()


async def test_room_does_not_wait_while_the_broker_is_unreachable(transport: MemoryTransport):
    transport.up = False
    publisher = Publisher(transport, make_config(buffer_size=16, max_in_flight=16))
    publisher.start()
    try:
        for number in range(16):
            publisher.submit(message(number, key=f"link:{number}"))
        waiting = asyncio.create_task(publisher.room())
        await asyncio.sleep(0)
        assert waiting.done()  # returned in its first step: the bounded buffer drops
        publisher.submit(message(99))
        assert publisher.counters.dropped == 1 and len(publisher.outbox) == 16
    finally:
        publisher.abandon()
        await transport.close()


async def test_a_burst_after_a_quiet_spell_longer_than_publish_timeout_drops_nothing(
        transport: MemoryTransport):
    """The broker is silent only when it owes an answer: a quiet spell is not a stall, so a
    burst into a full buffer waits for room (room()) instead of pushing messages out."""
    running = Publisher(transport, make_config(publish_timeout=0.3, buffer_size=8,
                                               max_in_flight=4))
    running.start()
    try:
        await wait_until(lambda: transport.connected, what="connected")
        running.submit(message(0))
        await wait_until(lambda: running.counters.confirmed == 1, what="first confirm")
        await asyncio.sleep(0.5)  # quiet for longer than PUBLISH_TIMEOUT
        for number in range(1, 41):  # submitted in one go while room() lets them in
            await running.room()
            running.submit(message(number))
        counters = running.counters
        await wait_until(lambda: counters.confirmed + counters.dropped == 41,
                         what="41 confirmed or dropped")
        assert (counters.confirmed, counters.dropped) == (41, 0)
    finally:
        running.abandon()
        await transport.close()


async def test_a_blocked_broker_is_waited_for_without_reconnects_or_duplicates(
        transport: MemoryTransport, caplog):
    """connection.blocked (a memory or disk alarm): one WARNING, a status field, the drop
    policy as in an outage, no ALARM, no reconnect, nothing sent twice; one line when it
    lifts, and everything delivered."""
    caplog.set_level(logging.INFO, logger="kytos.napps.kytos/mq_producer")
    running = Publisher(transport, make_config(publish_timeout=0.3, buffer_size=4,
                                               max_in_flight=2))
    running.start()
    try:
        await wait_until(lambda: transport.connected, what="connected")
        transport.block("low on memory")
        for number in range(6):
            running.submit(message(number, key=f"link:{number}"))
        await asyncio.sleep(1.0)  # over three PUBLISH_TIMEOUTs with nothing answered
        status = running.status()
        assert status["blocked"]["reason"] == "low on memory" and status["outage"] is None
        assert running.has_room()  # the drop policy applies, as in an outage
        assert running.counters.dropped == 2 and len(running.outbox) == 4
        transport.block(None)
        await wait_until(lambda: running.counters.confirmed == 4, what="4 confirms")
        assert transport.connects == 1 and transport.closes == 0
        assert all(attempt.attempt == 1 for attempt in transport.attempts)
        assert running.status()["blocked"] is None
    finally:
        running.abandon()
        await transport.close()
    lines = [r.getMessage() for r in caplog.records
             if r.levelno >= logging.WARNING and "buffer full" not in r.getMessage()]
    assert len(lines) == 2, lines  # no ALARM, no reminder within ALARM_REMINDER_INTERVAL
    assert lines[0] == ("mq_producer: broker blocked publishing: low on memory; 0 messages "
                        "buffered; waiting for it to lift (no reconnect)")
    assert lines[1].startswith("mq_producer: broker takes publishes again after ")
    assert lines[1].endswith("; 4 buffered messages to deliver, 2 dropped meanwhile")


async def test_what_was_sent_while_blocked_has_a_whole_publish_timeout_after_the_block(
        transport: MemoryTransport):
    """Messages sent while the broker blocked publishing wait longer than PUBLISH_TIMEOUT
    by the time it lifts the block. A broker that then takes a while (under the timeout) to
    confirm its backlog is no stalled one: no reconnect, nothing sent twice (seen once with a
    loaded RabbitMQ: a reconnect, and 47 duplicates)."""
    running = Publisher(transport, make_config(publish_timeout=0.4, max_in_flight=2))
    running.start()
    try:
        await wait_until(lambda: transport.connected, what="connected")
        transport.block("low on memory")
        for number in range(2):
            running.submit(message(number))
        await asyncio.sleep(1.0)  # both in flight since well over PUBLISH_TIMEOUT
        assert running.outbox.in_flight == 2
        for callback in transport._blocked_callbacks:  # lifted; its backlog's answers
            callback(None)  # come 0.25 s later: more than a watch period (0.1 s), less
        await asyncio.sleep(0.25)  # than the timeout
        transport.hold.set()
        await wait_until(lambda: running.counters.confirmed == 2, what="2 confirms")
        assert transport.connects == 1 and running.counters.failed == 0
        assert all(attempt.attempt == 1 for attempt in transport.attempts)
    finally:
        running.abandon()
        await transport.close()


async def test_the_outage_ends_with_the_first_answer_after_reconnecting(
        transport: MemoryTransport, caplog):
    """Connecting is not recovery: a broker that accepts the connection but answers nothing
    is still out. 'reachable again' comes with the first answer to a message sent since."""
    running = Publisher(transport, make_config(retry_interval=0.05))
    transport.up = False
    running.start()
    try:
        running.submit(message(1))
        await wait_until(lambda: running.alarm.outage is not None, what="the outage")
        transport.hold.clear()  # it will accept the connection, and answer nothing yet
        transport.up = True
        await wait_until(lambda: transport.connected and transport.in_flight["#m1"] == 1,
                         what="m1 sent on the new connection")
        await asyncio.sleep(0.2)
        assert running.alarm.outage is not None
        assert not any("reachable again" in r.getMessage() for r in caplog.records)
        transport.hold.set()
        await wait_until(lambda: running.counters.confirmed == 1, what="the confirm")
        assert running.alarm.outage is None
        assert sum("reachable again" in r.getMessage() for r in caplog.records) == 1
    finally:
        transport.hold.set()
        running.abandon()
        await transport.close()


async def test_retries_come_promptly_then_back_off_to_retry_interval(
        transport: MemoryTransport):
    """Nothing listening: every PROMPT_RETRY. Refused otherwise: doubling up to
    RETRY_INTERVAL, back to prompt once the broker answers."""
    from mq_producer.publisher import PROMPT_RETRY

    running = Publisher(transport, make_config(retry_interval=3.0))
    assert [running._retry_delay(True) for _ in range(3)] == [PROMPT_RETRY] * 3
    assert [running._retry_delay(False) for _ in range(5)] == [
        PROMPT_RETRY, 2 * PROMPT_RETRY, 4 * PROMPT_RETRY, 3.0, 3.0]
    running._settle(message(1), 0, PublishOutcome.CONFIRMED)  # not in flight: ignored
    assert running._retry_delay(False) == 3.0


async def test_drops_are_counted_each_and_logged_the_first_then_every_thousandth(
        transport: MemoryTransport, caplog):
    """A long outage drops one message per event once the buffer is full: a line for each
    would flood the log, none would hide it. The lines name the message and the count."""
    transport.up = False
    publisher = Publisher(transport, make_config(buffer_size=4, max_in_flight=4))
    publisher.start()
    try:
        with caplog.at_level(logging.WARNING, logger="kytos.napps.kytos/mq_producer"):
            for number in range(2004):  # no key: the oldest goes
                publisher.submit(message(number))
        assert publisher.counters.dropped == 2000 and len(publisher.outbox) == 4
        lines = [r for r in caplog.records if "buffer full" in r.getMessage()]
        assert [r.levelno for r in lines] == [logging.WARNING] * 3
        for line, (dropped_id, count) in zip(lines, [("m0", 1), ("m999", 1000),
                                                     ("m1999", 2000)], strict=True):
            assert f"message {dropped_id} for no key ({count} dropped in all)" \
                in line.getMessage(), line.getMessage()
    finally:
        publisher.abandon()
        await transport.close()


async def test_every_outcome_counts_on_its_exchange_and_the_ring_keeps_each(
        publisher: Publisher, transport: MemoryTransport):
    """v1/exchanges and v1/recent (openapi.yml): a message refused twice counts twice in
    refused, then once in confirmed; a returned one once in returned; a failed attempt,
    retried, is counted in failed and not kept in the ring."""
    transport.decide = lambda msg, attempt: (
        PublishOutcome.REJECTED if msg.message_id == "m1" and attempt <= 2
        else PublishOutcome.RETURNED if msg.message_id == "m2"
        else TransportError("lost") if msg.message_id == "m3" and attempt == 1
        else PublishOutcome.CONFIRMED)
    for number in (1, 2, 3):
        publisher.submit(message(number, key=f"switch:{number}"))
    await wait_until(lambda: publisher.counters.confirmed == 2
                     and publisher.counters.returned == 1, what="every answer")
    counts = publisher.outcomes.exchanges({"operational_events": "ok"})["operational_events"]
    assert {outcome: counts[outcome] for outcome in ("confirmed", "returned", "refused",
                                                     "failed")} == \
        {"confirmed": 2, "returned": 1, "refused": 2, "failed": 1}
    assert counts["state"] == "ok" and isinstance(counts["last_at"], float)
    ring = [(entry["message_id"], entry["outcome"]) for entry in publisher.outcomes.recent()]
    assert sorted(ring) == [("m1", "confirmed"), ("m1", "refused"), ("m1", "refused"),
                            ("m2", "returned"), ("m3", "confirmed")]
    assert ring.index(("m1", "confirmed")) < ring.index(("m1", "refused"))  # newest first


async def test_returned_routing_keys_are_logged_once_each_and_remembered_boundedly(
        publisher: Publisher, transport: MemoryTransport, caplog, monkeypatch):
    """Each routing key's first return is logged; past RETURNED_KEYS_LOGGED keys one line
    says the others are only counted, and no more keys are remembered (a template with the
    link id or the key makes as many keys as the network has objects)."""
    monkeypatch.setattr("mq_producer.publisher.RETURNED_KEYS_LOGGED", 5)
    transport.decide = lambda msg, attempt: PublishOutcome.RETURNED
    for number in range(12):
        routed = message(number)
        routed.routing_key = f"operational.kytos/topology.link_down.link{number % 8}"
        publisher.submit(routed)
    await wait_until(lambda: publisher.counters.returned == 12, what="12 returns")
    lines = [r.getMessage() for r in caplog.records if "unroutable" in r.getMessage()]
    assert len(lines) == 6 and lines[-1].startswith(
        "mq_producer: messages of 5 routing keys were returned as unroutable")
    assert [line.rsplit("routing key ", 1)[1].split(" (")[0] for line in lines[:5]] == [
        f"'operational.kytos/topology.link_down.link{number}'" for number in range(5)]
    assert len(publisher._returned_keys) == 5
