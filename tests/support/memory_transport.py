"""An in-memory Transport for unit tests of the Publisher: it records every publish attempt
and answers what the test tells it to. It does not route, has no exchanges, queues or
streams, and does not pretend to be a broker: the outcome of each attempt comes from
``decide`` (CONFIRMED by default) and the test reads back ``attempts`` and ``delivered``.

    transport = MemoryTransport()
    transport.decide = lambda message, attempt: (
        TransportError("boom") if attempt == 1 else PublishOutcome.CONFIRMED)
    transport.up = False          # connect() and publish() raise TransportError
    transport.lose("cable cut")   # as if an established connection broke
    transport.block("low on memory")  # the broker's connection.blocked; block(None) lifts it
    transport.hold.clear()        # publishes wait (stay in flight) until hold is set
    transport.unready.add("L1")   # link L1's messages wait (ready() False) ...
    transport.make_ready("L1")    # ... until its destination is "declared"
    transport.alone               # the message ids given to publish_alone, in order
    transport.unusable["x"] = ExchangeError("x", "does not exist")  # connect() finds it so;
    # its messages fail as AMQP's 404 does (a TransportError); check_exchange answers it
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from mq_producer.outbox import OutboundMessage
from mq_producer.transports.base import (
    ExchangeError,
    Outcome,
    PublishOutcome,
    Settle,
    TransportError,
)

Decision = PublishOutcome | BaseException


@dataclass(frozen=True)
class Attempt:
    """One publish() call, as the transport was asked it."""

    message_id: str
    exchange: str
    routing_key: str
    key: str | None
    body: bytes
    link_id: str | None
    status: str | None
    attempt: int  # 1 for the first attempt of this message id, 2 for its retry...
    outcome: str  # the PublishOutcome's value, or the exception's class name


class MemoryTransport:
    description = "memory://test"

    def __init__(self) -> None:
        self.up = True
        self.decide: Callable[[OutboundMessage, int], Decision] = \
            lambda message, attempt: PublishOutcome.CONFIRMED
        self.hold = asyncio.Event()
        self.hold.set()
        self.attempts: list[Attempt] = []
        self.connects = 0
        self.closes = 0
        self.in_flight: Counter[str] = Counter()  # lane -> publishes in flight now
        self.max_in_flight = 0
        self.overlapping_lanes: list[str] = []  # lanes seen with two publishes at once
        self._tries: Counter[str] = Counter()
        self._connected = False
        self._lost_callbacks: list[Callable[[str], None]] = []
        self._blocked_callbacks: list[Callable[[str | None], None]] = []
        self._tasks: set[asyncio.Task[PublishOutcome]] = set()
        self.unready: set[str] = set()  # link ids whose messages ready() holds back
        self.ready_checks: Counter[str] = Counter()  # link id -> ready() calls answered False
        self._ready_callbacks: list[Callable[[str], None]] = []
        self.status_copies = False
        self.sync = True  # can_publish_now: as the AMQP fast path, once connected
        # What purge_status answers (None: "cannot purge", the lane retries later), and the
        # link ids it was asked for.
        self.purge_answer: int | None = None
        self.purged: list[str] = []
        self.alone: list[str] = []  # message ids given to publish_alone, in order
        self.unusable: dict[str, ExchangeError] = {}
        self.checked: list[str] = []  # exchanges given to check_exchange, in order

    # -- the Transport protocol ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected and self.up

    @property
    def destinations(self) -> dict[str, str]:
        return {}

    @property
    def queues(self) -> dict[str, str]:
        return {}

    def on_lost(self, callback: Callable[[str], None]) -> None:
        self._lost_callbacks.append(callback)

    def destination(self, message: OutboundMessage) -> tuple[str, str]:
        return message.exchange, message.routing_key

    def ready(self, message: OutboundMessage) -> bool:
        if message.link_id is None or message.link_id not in self.unready:
            return True
        self.ready_checks[message.link_id] += 1
        return False

    def on_ready(self, callback: Callable[[str], None]) -> None:
        self._ready_callbacks.append(callback)

    def on_blocked(self, callback: Callable[[str | None], None]) -> None:
        self._blocked_callbacks.append(callback)

    async def purge_status(self, link_id: str) -> int | None:
        self.purged.append(link_id)
        return self.purge_answer

    def declare_again(self, link_id: str) -> bool:
        return False  # as a transport without per-link queues (JetStream)

    async def connect(self) -> None:
        self.connects += 1
        if not self.up:
            raise TransportError("memory transport is down")
        self._connected = True

    @property
    def unusable_exchanges(self) -> dict[str, ExchangeError]:
        return dict(self.unusable)

    async def check_exchange(self, exchange: str) -> ExchangeError | None:
        self.checked.append(exchange)
        if not self.connected:
            raise TransportError("memory transport is not connected")
        return self.unusable.get(exchange)

    async def publish(self, messages: Sequence[OutboundMessage], settle: Settle) -> None:
        self.publish_now(messages, settle)

    async def publish_alone(self, message: OutboundMessage) -> Outcome:
        """One attempt, decided as ``publish``'s are, awaited here; counted in ``alone``;
        an unusable exchange checked first."""
        self.alone.append(message.message_id)
        if not self.connected:
            return TransportError("memory transport is not connected")
        if message.exchange in self.unusable:
            unusable = await self.check_exchange(message.exchange)
            if unusable is not None:
                return unusable
        try:
            return await self._answer(message)
        except TransportError as exc:
            return exc

    def can_publish_now(self) -> bool:
        return self.connected and self.sync

    def answers_wanted(self) -> None:
        """Its answers are never held (each comes from a task of its own)."""

    def publish_now(self, messages: Sequence[OutboundMessage], settle: Settle) -> None:
        if not self.connected:
            raise TransportError("memory transport is not connected")
        for message in messages:
            task = asyncio.get_running_loop().create_task(self._answer(message))
            self._tasks.add(task)
            task.add_done_callback(partial(self._settle, message, message.attempts, settle))

    def _settle(self, message: OutboundMessage, attempt: int, settle: Settle,
                task: asyncio.Task[PublishOutcome]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            settle(message, attempt, TransportError("memory transport: publish cancelled"))
        else:
            error = task.exception()
            settle(message, attempt, error if isinstance(error, TransportError)
                   else task.result())

    def abandon(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def _answer(self, message: OutboundMessage) -> PublishOutcome:
        lane = message.key if message.key is not None else f"#{message.message_id}"
        if self.in_flight[lane]:
            self.overlapping_lanes.append(lane)
        self.in_flight[lane] += 1
        self.max_in_flight = max(self.max_in_flight, sum(self.in_flight.values()))
        try:
            await self.hold.wait()
            self._tries[message.message_id] += 1
            attempt = self._tries[message.message_id]
            decision = self.decide(message, attempt) if self.up else \
                TransportError("memory transport went down")
            if message.exchange in self.unusable:  # as AMQP's 404: the channel closes
                decision = TransportError(f"NOT_FOUND - no exchange {message.exchange!r}",
                                          refused=True)
            self.attempts.append(Attempt(
                message.message_id, message.exchange, message.routing_key, message.key,
                message.body, message.link_id, message.status, attempt,
                decision.value if isinstance(decision, PublishOutcome)
                else type(decision).__name__))
        finally:
            self.in_flight[lane] -= 1
        if isinstance(decision, BaseException):
            raise decision
        return decision

    async def close(self) -> None:
        self.closes += 1
        self._connected = False
        self.abandon()  # what is in flight gets no answer now

    # -- test controls --------------------------------------------------------------------

    def block(self, reason: str | None) -> None:
        """As the broker's connection.blocked (``reason``) and unblocked (None): publishes
        wait unanswered (``hold``) meanwhile."""
        if reason is None:
            self.hold.set()
        else:
            self.hold.clear()
        for callback in self._blocked_callbacks:
            callback(reason)

    def make_ready(self, link_id: str) -> None:
        """The link's destination is prepared: on_ready callbacks are told."""
        self.unready.discard(link_id)
        for callback in self._ready_callbacks:
            callback(link_id)

    def lose(self, reason: str) -> None:
        """An established connection broke: on_lost callbacks are told."""
        self._connected = False
        for callback in self._lost_callbacks:
            callback(reason)

    @property
    def delivered(self) -> list[Attempt]:
        """The attempts the transport confirmed, in the order it confirmed them."""
        return [a for a in self.attempts if a.outcome == PublishOutcome.CONFIRMED.value]

    def tries(self, message_id: str) -> list[Attempt]:
        return [a for a in self.attempts if a.message_id == message_id]
