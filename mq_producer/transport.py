"""The transport interface: all the producer asks of a message broker.

Routing, the outbox and the publisher only see this. Each implementation (amqp.py,
jetstream.py) is the only module that imports its client library; transports.py picks one.
"""

import enum
from collections.abc import Callable
from typing import Protocol

from .outbox import OutboundMessage


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

    async def publish(self, message: OutboundMessage) -> PublishOutcome:
        """Publish and wait for the broker's answer; raise TransportError if none came."""
        ...

    async def close(self) -> None:
        ...
