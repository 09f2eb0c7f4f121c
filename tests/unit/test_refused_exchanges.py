"""An exchange the broker refuses publishing to, on its own (mq_producer/refused_exchanges.py):
its messages wait while the other exchanges' go on, one is tried alone every RETRY_INTERVAL,
and once the broker takes it they all go, in order. The Publisher against the in-memory
transport; tests/integration/test_broker_settings.py does it against RabbitMQ."""

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

import pytest

from mq_producer import settings
from mq_producer.config import ProducerConfig, load_config
from mq_producer.outbox import OutboundMessage
from mq_producer.publisher import Publisher
from mq_producer.transports.base import ExchangeError, PublishOutcome, TransportError
from tests.support.memory_transport import MemoryTransport
from tests.support.waiting import wait_until

RETRY = 0.05
REFUSED, OTHER = "links_x", "operational_events"


def make_config(**changes: object) -> ProducerConfig:
    config = load_config(settings, {"KYTOS_MQ_URL": "amqp://u:p@localhost/"})
    return dataclasses.replace(config, **{"retry_interval": RETRY, "publish_timeout": 1.0,
                                          "max_in_flight": 16, "buffer_size": 1000,
                                          "alarm_reminder_interval": 60.0, **changes})


def message(number: int, exchange: str, key: str | None = None, *,
            link_id: str | None = None, status: str | None = None) -> OutboundMessage:
    return OutboundMessage(message_id=f"m{number}", event_name="kytos/topology.link_down",
                           exchange=exchange, routing_key="operational.link_down",
                           body=b'{"n": %d}' % number, key=key, timestamp=1.0,
                           link_id=link_id, status=status)


class Broker:
    """Refuses every publish to REFUSED, naming it (as RabbitMQ's ACCESS_REFUSED does), until
    ``allowed``."""

    def __init__(self, transport: MemoryTransport) -> None:
        self.allowed = False
        transport.decide = self.decide

    def decide(self, sent: OutboundMessage, attempt: int) -> PublishOutcome | TransportError:
        if sent.exchange == REFUSED and not self.allowed:
            return TransportError(f"ACCESS_REFUSED - access to exchange '{REFUSED}' refused",
                                  refused=True, exchange=REFUSED)
        return PublishOutcome.CONFIRMED


@pytest.fixture
def transport() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
async def start(transport: MemoryTransport) -> AsyncIterator:
    started: list[Publisher] = []

    def make(**changes: object) -> Publisher:
        publisher = Publisher(transport, make_config(**changes))
        publisher.start()
        started.append(publisher)
        return publisher

    yield make
    for publisher in started:
        publisher.abandon()
    await transport.close()


def lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if text in record.getMessage()]


def delivered(transport: MemoryTransport, exchange: str) -> list[str]:
    return [attempt.message_id for attempt in transport.delivered if attempt.exchange == exchange]


async def test_a_refused_exchange_waits_alone_and_all_its_messages_go_once_it_is_taken(
        start, transport: MemoryTransport, caplog: pytest.LogCaptureFixture):
    broker = Broker(transport)
    publisher = start()
    await wait_until(lambda: transport.connected, what="connected")
    refused_ids = []
    for number in range(60):
        exchange = REFUSED if number % 6 == 0 else OTHER
        publisher.submit(message(number, exchange, key=f"k{number % 4}"))
        if exchange == REFUSED:
            refused_ids.append(f"m{number}")
    # Lanes behind a refused message wait with it (their order holds): the other exchange's
    # messages of keys that never met one all go.
    await wait_until(lambda: len(transport.alone) >= 3, what="three tries of the exchange")
    assert not delivered(transport, REFUSED)
    assert publisher.alarm.outage is None  # the broker is there: no alarm of the whole broker
    assert len(lines(caplog, f"ALARM: broker refuses publishing to exchange '{REFUSED}'")) == 1
    held = publisher.status()["refused_exchanges"]
    assert list(held) == [REFUSED] and held[REFUSED]["waiting"] > 0
    assert publisher.status()["exchanges"][REFUSED] == "refuses publishing"
    # Tried alone, one message per try: after the first refusals, never on the main path.

    def main_path() -> int:
        return sum(1 for attempt in transport.attempts
                   if attempt.exchange == REFUSED) - len(transport.alone)

    first_refusals, tries = main_path(), len(transport.alone)
    await wait_until(lambda: len(transport.alone) >= tries + 2, what="two more tries")
    assert main_path() == first_refusals
    broker.allowed = True
    await wait_until(lambda: publisher.counters.confirmed == 60, what="all 60 confirmed")
    assert sorted(delivered(transport, REFUSED)) == sorted(refused_ids)
    for key in range(4):  # in order per key, the waiting ones included
        sent = [f"m{n}" for n in range(60) if n % 4 == key]
        assert [attempt.message_id for attempt in transport.delivered
                if attempt.key == f"k{key}"] == sent
    assert len(lines(caplog, f"takes publishes to exchange '{REFUSED}' again")) == 1
    assert publisher.status()["refused_exchanges"] == {}
    assert REFUSED not in publisher.destinations


async def test_the_other_exchanges_messages_go_on_while_one_is_refused(
        start, transport: MemoryTransport):
    """Without keys nothing waits behind a refused message: every other one goes at once."""
    Broker(transport)
    publisher = start()
    for number in range(200):
        publisher.submit(message(number, REFUSED if number % 10 == 0 else OTHER))
    await wait_until(lambda: publisher.counters.confirmed == 180, what="180 confirmed")
    assert len(delivered(transport, OTHER)) == 180
    assert publisher.status()["refused_exchanges"][REFUSED]["waiting"] == 20


async def test_a_reminder_names_the_exchange_and_what_waits_for_it(
        start, transport: MemoryTransport, caplog: pytest.LogCaptureFixture):
    Broker(transport)
    publisher = start(alarm_reminder_interval=0.1)
    for number in range(3):
        publisher.submit(message(number, REFUSED))
    await wait_until(lambda: lines(caplog, "still refuses publishing to exchange"),
                     what="a reminder")
    reminder = lines(caplog, "still refuses publishing to exchange")[0]
    assert f"exchange '{REFUSED}' after" in reminder and "3 messages waiting for it" in reminder
    assert publisher.status()["last_alarm"] == reminder.removeprefix("mq_producer ALARM: ")


async def test_a_link_status_waits_for_its_exchange_and_only_the_latest_goes(
        start, transport: MemoryTransport):
    broker = Broker(transport)
    publisher = start()
    publisher.submit(message(1, REFUSED, "status:L1", link_id="L1", status="DOWN"))
    await wait_until(lambda: REFUSED in publisher.refusals, what="the exchange refused")
    publisher.submit(message(2, REFUSED, "status:L1", link_id="L1", status="UP"))
    await wait_until(lambda: len(transport.alone) >= 1, what="a try")
    broker.allowed = True
    await wait_until(lambda: publisher.counters.confirmed == 1, what="the status confirmed")
    assert delivered(transport, REFUSED) == ["m2"]  # the DOWN was superseded while it waited
    assert publisher.counters.superseded == 1
    assert publisher.status_lanes.pending == 0 and publisher.status_lanes.in_flight == 0


async def test_a_refusal_that_names_no_exchange_is_the_whole_brokers(
        start, transport: MemoryTransport, caplog: pytest.LogCaptureFixture):
    """Where the broker does not say which exchange it refuses, nothing is held: the outage
    alarm speaks, and the retries go as before."""
    allowed = []
    transport.decide = lambda sent, attempt: (
        PublishOutcome.CONFIRMED if allowed else TransportError("refused", refused=True))
    publisher = start()
    publisher.submit(message(1, OTHER))
    await wait_until(lambda: publisher.alarm.outage is not None, what="the outage alarm")
    assert not publisher.refusals and transport.alone == []
    allowed.append(True)
    await wait_until(lambda: publisher.counters.confirmed == 1, what="confirmed")
    assert lines(caplog, "broker takes publishes again")


async def test_abandon_stops_the_tries(start, transport: MemoryTransport):
    Broker(transport)
    publisher = start()
    publisher.submit(message(1, REFUSED))
    await wait_until(lambda: REFUSED in publisher.refusals, what="the exchange refused")
    assert publisher.abandon() == 1
    assert not publisher.refusals and not publisher._tries
    tries = len(transport.alone)
    await asyncio.sleep(4 * RETRY)
    assert len(transport.alone) == tries and not publisher._trying


def test_the_account_says_one_line_when_an_exchange_is_first_refused_and_one_at_its_end(
        caplog: pytest.LogCaptureFixture):
    from mq_producer.alarm import OutageAlarm
    from mq_producer.refused_exchanges import RefusedExchanges

    now = [100.0]
    alarm = OutageAlarm(60.0)
    refusals = RefusedExchanges(alarm, 5.0, 60.0, clock=lambda: now[0])
    caplog.set_level(logging.WARNING)
    assert refusals.refused("x", "ACCESS_REFUSED", dropped=0)
    assert not refusals.refused("x", "ACCESS_REFUSED again", dropped=0)
    refusals.still_refused("x", waiting=4, dropped=0)  # no reminder due yet
    now[0] += 61
    refusals.still_refused("x", waiting=4, dropped=2)
    now[0] += 1.5
    assert refusals.taken("x", waiting=4) is not None and not refusals
    assert refusals.taken("x", waiting=0) is None
    said = [record.getMessage() for record in caplog.records]
    assert said == [
        "mq_producer ALARM: broker refuses publishing to exchange 'x': ACCESS_REFUSED; its "
        "messages wait in the buffer and the other exchanges' go on; one is tried every 5s "
        "(docs/operating.rst: Least privilege)",
        "mq_producer ALARM: broker still refuses publishing to exchange 'x' after 61s: "
        "ACCESS_REFUSED again; 4 messages waiting for it, 2 dropped from the buffer so far",
        "mq_producer: broker takes publishes to exchange 'x' again after 62.5s; 4 waiting "
        "messages of it go now"]
    assert alarm.last_alarm is not None and alarm.last_alarm.startswith("broker still refuses")


async def test_an_exchange_none_of_whose_messages_waits_any_more_is_let_go_untried(
        start, transport: MemoryTransport, caplog: pytest.LogCaptureFixture):
    """Its messages dropped from a full buffer meanwhile: nothing to try; the exchange's next
    message is published as any other (and held again if refused)."""
    caplog.set_level(logging.INFO)
    Broker(transport)
    publisher = start(buffer_size=4)
    for number in range(3):
        publisher.submit(message(number, REFUSED))
    await wait_until(lambda: publisher.status()["refused_exchanges"].get(
        REFUSED, {}).get("waiting") == 3, what="three waiting")
    transport.hold.clear()  # the broker stops answering: what follows stays in the buffer
    for number in range(3, 10):
        publisher.submit(message(number, OTHER))
    assert publisher.counters.dropped >= 3  # the oldest first: the three waiting ones
    await wait_until(lambda: not publisher.refusals, what="the exchange let go")
    assert lines(caplog, f"no message waits for exchange '{REFUSED}' any more")
    assert not lines(caplog, "takes publishes to exchange")
    transport.hold.set()


async def test_an_exchange_unusable_at_connect_is_held_before_any_of_its_messages_is_sent(
        start, transport: MemoryTransport, caplog: pytest.LogCaptureFixture):
    """connect() found the exchange unusable (missing, and the user may not create it): held
    from then on, checked again every RETRY_INTERVAL while nothing of it waits; its messages
    wait without ever reaching the publishing path (AMQP's 404 would close the channel over
    the others); once a check passes they go, in order, with the others unharmed."""
    transport.unusable[REFUSED] = ExchangeError(REFUSED, "does not exist (test)")
    publisher = start()
    await wait_until(lambda: len(transport.checked) >= 2, what="two checks, none waiting")
    assert transport.connects == 1 and publisher.alarm.outage is None
    assert lines(caplog, "ALARM") == [
        f"mq_producer ALARM: broker refuses publishing to exchange '{REFUSED}': does not exist "
        "(test); its messages wait in the buffer and the other exchanges' go on; it is checked "
        f"again every {RETRY:g}s (docs/operating.rst: Exchanges at start)"]
    for number in range(40):
        publisher.submit(message(number, REFUSED if number % 4 == 0 else OTHER,
                                 key=f"k{number % 8}"))
    await wait_until(lambda: publisher.counters.confirmed == 30, what="the others confirmed")
    await wait_until(lambda: len(transport.alone) >= 2, what="two tries of a waiting one")
    assert not [attempt for attempt in transport.attempts if attempt.exchange == REFUSED]
    assert publisher.status()["refused_exchanges"][REFUSED]["waiting"] == 10
    del transport.unusable[REFUSED]  # an administrator declared it
    await wait_until(lambda: publisher.counters.confirmed == 40, what="all 40 confirmed")
    assert delivered(transport, REFUSED) == [f"m{n}" for n in range(0, 40, 4)]
    assert transport.connects == 1 and not publisher.refusals
    assert len(lines(caplog, f"takes publishes to exchange '{REFUSED}' again")) == 1
    assert len(lines(caplog, "ALARM")) == 1


async def test_a_reconnection_that_finds_the_exchange_usable_lets_it_go_untried(
        start, transport: MemoryTransport, caplog: pytest.LogCaptureFixture):
    transport.unusable[REFUSED] = ExchangeError(REFUSED, "does not exist (test)")
    publisher = start(retry_interval=30.0)  # no try comes in this test's time
    await wait_until(lambda: REFUSED in publisher.refusals, what="held at connect")
    publisher.submit(message(1, REFUSED, key="k1"))
    publisher.submit(message(2, OTHER, key="k1"))  # behind it in its lane: waits with it
    await asyncio.sleep(0.1)
    assert publisher.counters.confirmed == 0 and not transport.attempts
    del transport.unusable[REFUSED]
    transport.lose("cable cut")  # the next connect() checks every exchange again
    await wait_until(lambda: publisher.counters.confirmed == 2, what="both confirmed")
    assert [attempt.message_id for attempt in transport.delivered] == ["m1", "m2"]
    assert transport.checked == [] and transport.alone == [] and not publisher.refusals
    assert len(lines(caplog, f"takes publishes to exchange '{REFUSED}' again")) == 1


@pytest.mark.parametrize("first", ["in that batch", "in an earlier batch"])
async def test_a_batch_refused_before_it_is_sent_costs_no_alarm_of_the_whole_broker(
        start, transport: MemoryTransport, caplog: pytest.LogCaptureFixture, first: str):
    """The channel closed over a refused exchange while a batch was being written: that
    publish raises "not connected", naming the refused exchange (AMQP: the channel's closing
    reason). CI, 2026-12-08: the whole broker's alarm ("broker unreachable: not connected
    ... ACCESS_REFUSED ...") came beside the exchange's. The batch's messages of that
    exchange wait with it; the others go again, with one alarm line, the exchange's."""
    broker = Broker(transport)
    publisher = start()
    await wait_until(lambda: transport.connected, what="connected")
    if first == "in an earlier batch":  # the exchange held already
        publisher.submit(message(100, REFUSED, key="k100"))
        await wait_until(lambda: REFUSED in publisher.refusals, what="held")
    closing = TransportError(
        f"not connected to memory://test: ChannelAccessRefused: ACCESS_REFUSED - access to "
        f"exchange '{REFUSED}' in vhost '/' refused for user 'u'", refused=True,
        exchange=REFUSED)
    sent = transport.publish_now
    raised: list[int] = []

    def publish_now(messages, settle) -> None:  # the next publish meets the closed channel
        if not raised:
            raised.append(len(messages))
            raise closing
        sent(messages, settle)

    transport.publish_now = publish_now  # type: ignore[method-assign]
    for number in range(20):
        publisher.submit(message(number, REFUSED if number % 5 == 0 else OTHER,
                                 key=f"k{number}"))
    await wait_until(lambda: publisher.counters.confirmed == 16, what="the others confirmed")
    assert raised and publisher.alarm.outage is None
    assert len(lines(caplog, "ALARM")) == 1
    assert lines(caplog, "ALARM") == lines(
        caplog, f"ALARM: broker refuses publishing to exchange '{REFUSED}'")
    broker.allowed = True
    await wait_until(lambda: publisher.counters.confirmed == 20 + (first != "in that batch"),
                     what="all confirmed")
    assert len(delivered(transport, REFUSED)) == 4 + (first != "in that batch")
