"""The transport interface: all the producer asks of a message broker.

Routing, the outbox and the publisher only see this. Each implementation (the amqp and
jetstream packages) is the only place that imports its client library; factory.py picks one.
"""

import enum
from collections.abc import Callable, Sequence
from typing import Protocol

from ..outbox import OutboundMessage


class PublishOutcome(enum.Enum):
    CONFIRMED = "confirmed"  # the broker has taken responsibility for the message
    RETURNED = "returned"  # the broker confirmed it but no queue matched (unroutable)
    REJECTED = "rejected"  # the broker refused it (nack), e.g. a full reject-publish queue


class TransportError(Exception):
    """The broker is unreachable or refused: what was attempted may be retried.

    Messages never contain credentials.
    """


class ExchangeError(TransportError):
    """An exchange is missing and cannot be created, or is not what the settings say."""

    def __init__(self, exchange: str, reason: str) -> None:
        super().__init__(f"exchange {exchange!r}: {reason}")
        self.exchange = exchange
        self.reason = reason


Settle = Callable[[OutboundMessage, int, PublishOutcome | TransportError], None]
"""``settle(message, attempt, outcome)``: the broker's answer to one publish. ``attempt`` is
``message.attempts`` as it was when the message was sent, so that a late answer to an earlier
attempt can be told apart. A TransportError means no answer came: the message may be retried."""


class Transport(Protocol):
    """A broker connection that publishes with confirmation."""

    @property
    def description(self) -> str:
        """Where it connects, safe to log (no password)."""
        ...

    @property
    def connected(self) -> bool:
        """True while publishing may succeed (connected, destinations verified)."""
        ...

    @property
    def destinations(self) -> dict[str, str]:
        """Each exchange (or stream/topic root) and its state, for the status endpoint."""
        ...

    @property
    def queues(self) -> dict[str, str]:
        """Each queue the transport declared and its state (empty where there are none)."""
        ...

    def on_lost(self, callback: Callable[[str], None]) -> None:
        """Have ``callback(reason)`` called when an established connection is lost, so an
        outage is noticed even while there is nothing to publish."""
        ...

    async def connect(self) -> None:
        """Connect if needed and check (creating when missing) every destination.

        Raises TransportError (ExchangeError for an exchange) when that cannot be done.
        """
        ...

    async def publish(self, messages: Sequence[OutboundMessage], settle: Settle) -> None:
        """Send ``messages`` in order; return once they are handed to the client, without
        waiting for the broker's answers. ``settle`` is then called exactly once per message,
        never from inside this call.

        Raises TransportError when nothing could be sent (settle is not called then).
        """
        ...

    async def close(self) -> None:
        """Drop the connection (bounded wait). Messages still unanswered are settled with a
        TransportError."""
        ...

    def abandon(self) -> None:
        """Sync: cancel the tasks the transport created (the controller is stopping)."""
        ...
