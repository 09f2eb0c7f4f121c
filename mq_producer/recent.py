"""What just went out, for the web UI panel: a bounded ring of the latest outcomes, and counts
per exchange and per link status queue. Pure: no I/O, no asyncio.

The publisher calls ``record()`` once per outcome of a message (confirmed, returned, refused,
suppressed, superseded, dropped, rejected) and ``count()`` for an attempt that failed and is retried
(counted, not kept in the ring: an outage puts back every buffered message, again at each
attempt). What is kept of a message is its id, event name, exchange, routing key, the outcome
and the time: never its body. Exchange and routing key are those the transport publishes it
with (``Transport.destination``: AMQP sends a link status through LINK_STATUS' queues
exchange, to its link's queue).
"""

import time
from collections import deque
from collections.abc import Callable

from .config import ProducerConfig
from .outbox import OutboundMessage

RECENT_CAPACITY = 100  # outcomes kept in the ring
OUTCOMES = ("confirmed", "returned", "refused", "suppressed", "superseded", "dropped", "rejected",
            "failed")
# Per link status queue: what the broker said to the messages routed to it.
QUEUE_OUTCOMES = ("confirmed", "refused", "suppressed", "superseded")


Destination = Callable[[OutboundMessage], tuple[str, str]]  # exchange and routing key


def own_destination(message: OutboundMessage) -> tuple[str, str]:
    return message.exchange, message.routing_key


class OutcomeLog:
    def __init__(self, config: ProducerConfig, capacity: int = RECENT_CAPACITY,
                 clock: Callable[[], float] = time.time,
                 destination: Destination = own_destination) -> None:
        self.capacity = capacity
        self._destination = destination
        self._link_status = config.link_status
        names = [*config.router.exchanges]
        if config.link_status.enabled:
            names.append(config.link_status.exchange)
        self._configured = tuple(dict.fromkeys(names))
        self._clock = clock
        self._ring: deque[tuple[str, str, str, str, str, float]] = deque(maxlen=capacity)
        self._exchanges: dict[str, dict[str, int]] = {}
        self._last_at: dict[str, float] = {}
        self._queues: dict[str, dict[str, int]] = {}

    def record(self, message: OutboundMessage, outcome: str) -> None:
        """One message's outcome: kept in the ring and counted."""
        now = self._clock()
        exchange, routing_key = self._destination(message)
        self._ring.append((message.message_id, message.event_name, exchange, routing_key,
                           outcome, now))
        self._count(message, outcome, now, exchange)

    def count(self, message: OutboundMessage, outcome: str) -> None:
        """Counted only (a failed attempt, retried)."""
        self._count(message, outcome, self._clock(), self._destination(message)[0])

    def _count(self, message: OutboundMessage, outcome: str, now: float,
               exchange: str) -> None:
        counts = self._exchanges.get(exchange)
        if counts is None:
            counts = self._exchanges[exchange] = dict.fromkeys(OUTCOMES, 0)
        counts[outcome] += 1
        self._last_at[exchange] = now
        if message.link_id is not None and outcome in QUEUE_OUTCOMES:
            queue = self._link_status.queue(message.link_id)
            per_queue = self._queues.get(queue)
            if per_queue is None:
                per_queue = self._queues[queue] = dict.fromkeys(QUEUE_OUTCOMES, 0)
            per_queue[outcome] += 1

    def recent(self) -> list[dict[str, object]]:
        """The ring, newest first."""
        return [{"message_id": message_id, "event_name": event_name, "exchange": exchange,
                 "routing_key": routing_key, "outcome": outcome, "time": at}
                for message_id, event_name, exchange, routing_key, outcome, at
                in reversed(self._ring)]

    def exchanges(self, states: dict[str, str]) -> dict[str, dict[str, object]]:
        """Each exchange of the settings, with its state as the transport last checked it
        (None before it did), and any other one that has counts."""
        names = list(dict.fromkeys([*self._configured, *states, *self._exchanges]))
        return {name: {"state": states.get(name), **self._exchanges.get(
            name, dict.fromkeys(OUTCOMES, 0)), "last_at": self._last_at.get(name)}
            for name in names}

    def queue_counts(self, name: str) -> dict[str, int] | None:
        """What was counted for a link status queue; None for any other queue (the producer
        publishes to exchanges: where a message went is the broker's routing)."""
        counts = self._queues.get(name)
        if counts is not None:
            return dict(counts)
        if self._link_status.is_status_queue(name):
            return dict.fromkeys(QUEUE_OUTCOMES, 0)
        return None
