"""The bounded buffer between the Kytos listener and the broker. Pure: no I/O, no asyncio.

Messages that share a key (a link, a switch) leave strictly in order and one at a time: the
next one for a key is handed out only after the previous one is confirmed, so a failed publish
that is retried can never land after a newer message for its key. Messages without a key are
independent. When the buffer is full the newest information is kept: a message replaces the
oldest queued one of its key, otherwise the oldest queued message is dropped.

Two messages with the same message id are never in flight at once: a broker's return names
the message by its id only (AMQP Basic.Return), so two in flight could swap outcomes. The
later one's lane waits until the first is settled.
"""

import itertools
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class OutboundMessage:
    message_id: str
    event_name: str
    exchange: str
    routing_key: str
    body: bytes | bytearray  # a bytearray when built in pieces (a topology)
    key: str | None
    timestamp: float
    link_id: str | None = None  # set on link status messages (see status_lanes.py)
    status: str | None = None  # the link status they carry
    # A link status message's envelope: its body is encoded again with a new sent_time each
    # time it is published (envelopes.stamped).
    envelope: dict[str, Any] | None = field(default=None, repr=False)
    copy_key: str | None = None  # routing key of its one copy on the status exchange
    seq: int = 0
    attempts: int = 0
    sent_at: float = 0.0  # time.monotonic() of the last attempt
    lane: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Dropped:
    message: OutboundMessage
    reason: str  # "superseded" (a newer message of its key) or "overflow" (oldest dropped)


class Outbox:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._seq = itertools.count(1)
        self._lanes: dict[str, deque[OutboundMessage]] = {}
        self._ready: OrderedDict[str, None] = OrderedDict()  # lanes whose head may be sent
        self._queued: OrderedDict[int, OutboundMessage] = OrderedDict()  # by age
        self._in_flight: dict[str, OutboundMessage] = {}  # lane -> message
        self._parked: set[str] = set()  # lanes waiting for release()
        self._ids_in_flight: set[str] = set()
        self._held: dict[str, list[str]] = {}  # message id in flight -> lanes whose head has it
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._queued) + len(self._in_flight)

    @property
    def queued(self) -> int:
        return len(self._queued)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def has_ready(self) -> bool:
        """Whether ``take`` may hand out a message now (a lane whose head is not held back by
        its twin in flight; one that is makes ``take`` return nothing)."""
        return bool(self._ready)

    def is_in_flight(self, message: OutboundMessage) -> bool:
        return self._in_flight.get(message.lane) is message

    def in_flight_messages(self) -> list[OutboundMessage]:
        return list(self._in_flight.values())

    def oldest_in_flight(self) -> OutboundMessage | None:
        """The message in flight the longest (dicts keep insertion order: take() order)."""
        return next(iter(self._in_flight.values()), None)

    def put(self, message: OutboundMessage, *, force: bool = False) -> Dropped | None:
        """Queue a message; return what had to be dropped to make room, if anything.
        ``force``: nothing is dropped for it, the buffer goes over capacity instead."""
        message.seq = next(self._seq)
        message.lane = message.key if message.key is not None else f"#{message.seq}"
        dropped = None
        if len(self) >= self.capacity and not force:
            dropped = self._make_room(message.lane)
        lane = self._lanes.setdefault(message.lane, deque())
        lane.append(message)
        self._queued[message.seq] = message
        if message.lane not in self._in_flight and message.lane not in self._parked:
            self._ready[message.lane] = None
        return dropped

    def _make_room(self, lane_name: str) -> Dropped | None:
        lane = self._lanes.get(lane_name)
        if lane:
            victim, reason = lane[0], "superseded"
        elif self._queued:
            victim, reason = next(iter(self._queued.values())), "overflow"
        else:  # everything is in flight: go over capacity by one rather than lose the new one
            return None
        self._remove_head(victim)
        self.dropped += 1
        return Dropped(victim, reason)

    def _remove_head(self, message: OutboundMessage) -> None:
        lane = self._lanes[message.lane]
        lane.popleft()
        del self._queued[message.seq]
        if not lane:
            del self._lanes[message.lane]
            self._ready.pop(message.lane, None)

    def take(self, limit: int, max_bytes: int | None = None) -> list[OutboundMessage]:
        """Up to ``limit`` messages to publish now, at most one per lane, oldest lanes first;
        with ``max_bytes``, no more than that many bytes of bodies (the next message that
        would go over stays first in line)."""
        taken = []
        ids = self._ids_in_flight
        room = max_bytes
        while self._ready and len(taken) < limit:
            lane_name, _ = self._ready.popitem(last=False)
            message = self._lanes[lane_name][0]
            if message.message_id in ids:  # its twin is in flight: wait for its answer
                self._held.setdefault(message.message_id, []).append(lane_name)
                continue
            if room is not None:
                room -= len(message.body)
                if room < 0:
                    self._ready[lane_name] = None
                    self._ready.move_to_end(lane_name, last=False)
                    break
            self._send(message)
            taken.append(message)
        return taken

    def _send(self, message: OutboundMessage) -> None:
        """The head of its lane goes in flight: an attempt."""
        self._remove_head(message)
        self._in_flight[message.lane] = message
        self._ids_in_flight.add(message.message_id)
        message.attempts += 1

    def _landed(self, message: OutboundMessage) -> None:
        """``message`` is no longer in flight: lanes held back by its id may go."""
        del self._in_flight[message.lane]
        self._ids_in_flight.discard(message.message_id)
        if self._held:
            for lane in self._held.pop(message.message_id, ()):
                if lane in self._lanes and lane not in self._in_flight \
                        and lane not in self._parked:
                    self._ready[lane] = None

    def confirm(self, message: OutboundMessage) -> None:
        """The broker has the message (or returned it): its lane may move on."""
        if not self.is_in_flight(message):
            return  # discarded meanwhile
        self._landed(message)
        if message.lane in self._lanes and message.lane not in self._parked:
            self._ready[message.lane] = None

    def retry(self, message: OutboundMessage, *, ready: bool = True) -> None:
        """Publishing failed: the message goes back to the head of its lane. A lane that is
        not ``ready`` waits (with what follows it) until ``release`` is called."""
        if not self.is_in_flight(message):
            return  # discarded meanwhile
        self._landed(message)
        lane = self._lanes.setdefault(message.lane, deque())
        lane.appendleft(message)
        self._queued[message.seq] = message
        self._queued.move_to_end(message.seq, last=False)
        if ready:
            self.release(message.lane)
        else:
            self._parked.add(message.lane)

    def hold(self, message: OutboundMessage) -> None:
        """Taken but not sent (its destination is not ready yet): back to the head of its
        lane, which waits until ``release`` is called; the attempt ``take`` counted is undone."""
        if not self.is_in_flight(message):
            return
        message.attempts -= 1
        self.retry(message, ready=False)

    def release(self, lane: str) -> None:
        """A waiting lane may be published again."""
        self._parked.discard(lane)
        if lane in self._lanes and lane not in self._in_flight:
            self._ready[lane] = None
            self._ready.move_to_end(lane, last=False)

    def lane_size(self, lane: str) -> int:
        """Messages queued in ``lane`` (not the one in flight)."""
        return len(self._lanes.get(lane, ()))

    def take_lane(self, lane: str) -> OutboundMessage | None:
        """The head of ``lane``, in flight now on its own, whether the lane waits or not (the
        publisher tries it alone); None when the lane has nothing queued, has a message in
        flight, or its head's twin is in flight."""
        queued = self._lanes.get(lane)
        if not queued or lane in self._in_flight \
                or queued[0].message_id in self._ids_in_flight:
            return None
        self._parked.discard(lane)
        self._ready.pop(lane, None)
        message = queued[0]
        self._send(message)
        return message

    def discard_all(self) -> int:
        """Forget everything (restart from the real-time point); return how many were held."""
        count = len(self)
        self._lanes.clear()
        self._ready.clear()
        self._queued.clear()
        self._in_flight.clear()
        self._parked.clear()
        self._ids_in_flight.clear()
        self._held.clear()
        return count
