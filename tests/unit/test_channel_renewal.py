"""AmqpTransport._note_refused: when the broker has refused every message of one route
(exchange and routing key) for RETRY_INTERVAL, the next publish goes on a new channel - once
per such spell. The broker's side of it (a channel RabbitMQ 3.10.8 refuses for good) is in
tests/integration/test_cluster.py and test_refusals.py; here, the bookkeeping, on the clock."""

import aiormq
import pytest

from mq_producer import settings
from mq_producer.config import load_config
from mq_producer.outbox import OutboundMessage
from mq_producer.transports.amqp import transport as amqp_transport
from mq_producer.transports.amqp.transport import MAX_REFUSED_ROUTES, AmqpTransport
from mq_producer.transports.base import PublishOutcome

NACK = aiormq.exceptions.DeliveryError(None, None)
ACK = object()  # what aiormq's reader sets for an ack: anything that is not an error


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(amqp_transport.time, "monotonic", clock.monotonic)
    return clock


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> AmqpTransport:
    monkeypatch.setattr(settings, "RETRY_INTERVAL", 5.0)
    return AmqpTransport(load_config(settings, {"KYTOS_MQ_URL": "amqp://u:p@localhost/"}))


def _message(routing_key: str = "operational.kytos/topology.link_down") -> OutboundMessage:
    return OutboundMessage("m-1", "kytos/topology.link_down", "operational_events",
                           routing_key, b"{}", "link:1", 1.0)


def test_a_route_refused_for_retry_interval_asks_for_one_new_channel(transport, clock):
    message = _message()
    assert transport._outcome(message, NACK) is PublishOutcome.REJECTED
    clock.now += 4.9
    transport._outcome(message, NACK)
    assert not transport._renew
    clock.now += 0.1
    transport._outcome(message, NACK)
    assert transport._renew  # publish() opens the new channel before it sends
    transport._renew = False  # as _open_channel does
    for _ in range(3):  # the same spell goes on: no other new channel for it
        clock.now += 5.0
        transport._outcome(message, NACK)
        assert not transport._renew


def test_a_confirm_of_the_route_ends_its_spell_and_a_later_one_may_renew_again(transport,
                                                                                clock):
    message = _message()
    transport._outcome(message, NACK)
    clock.now += 3.0
    assert transport._outcome(message, ACK) is PublishOutcome.CONFIRMED
    clock.now += 3.0
    transport._outcome(message, NACK)  # a new spell: 3 s of it only
    assert not transport._renew
    clock.now += 5.0
    transport._outcome(message, NACK)
    assert transport._renew
    transport._renew = False
    transport._outcome(message, ACK)
    clock.now += 1.0
    transport._outcome(message, NACK)
    clock.now += 5.0
    transport._outcome(message, NACK)  # a spell that began after the last new channel
    assert transport._renew


def test_refusals_a_pause_apart_are_not_a_spell(transport, clock):
    """A link's status queue refuses a status while it holds an unread one, by design: two
    such refusals 15 s apart, with nothing on the route between them, were taken for 15 s of
    refusals and a new channel (a real kytosd, 2026-12-07)."""
    message = _message()
    transport._outcome(message, NACK)
    clock.now += 15.0  # nothing refused (or sent) on the route meanwhile
    transport._outcome(message, NACK)
    assert not transport._renew
    clock.now += 5.0  # then refused at every retry for RETRY_INTERVAL: a spell
    transport._outcome(message, NACK)
    assert transport._renew


def test_other_routes_confirmed_meanwhile_do_not_hide_a_refused_one(transport, clock):
    refused, confirmed = _message(), _message("administrative.kytos/topology.switch.enabled")
    transport._outcome(refused, NACK)
    for _ in range(10):
        clock.now += 0.5
        transport._outcome(confirmed, ACK)
    transport._outcome(refused, NACK)
    assert transport._renew


def test_a_link_status_is_followed_on_its_own_queue_route(transport, clock):
    """A status message goes to its link's queue alone (AmqpTransport.destination): its
    refusals are that queue's, not the status exchange's."""
    status = OutboundMessage("m-2", "kytos/topology.link_down", "interdomain_links", "x",
                             b"{}", "status:ab", 1.0, link_id="ab", status="DOWN")
    transport._outcome(status, NACK)
    assert list(transport._refused_since) == [(transport._config.link_status.queues_exchange,
                                               "ab")]


def test_the_routes_followed_are_bounded(transport, clock):
    for number in range(MAX_REFUSED_ROUTES + 10):
        transport._outcome(_message(f"operational.x.{number}"), NACK)
    assert len(transport._refused_since) <= MAX_REFUSED_ROUTES
