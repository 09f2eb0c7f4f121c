"""Interdomain link status lanes: at most one pending status per link, the latest. Pure: no
I/O, no asyncio.

Each interdomain link (or SDX NNI port) has a queue of its own that holds one message and
refuses (nacks) the next while its consumer has not read the first. Status messages go
straight to that queue, apart from the firehose (outbox.py): a link's lane holds at most the
message in flight and one pending message, the latest - a newer status replaces the pending
one ("superseded"). So nothing per link grows with the number of flaps, and the lanes, bounded
by the number of interdomain links, never take room from BUFFER_SIZE.

The rules (docs/design.rst, "Link status lanes"):

- a pending status equal to the one the queue last accepted is not published
  ("suppressed"): the consumer has it, or it waits unread in the queue - except a snapshot's,
  which a consumer asked for (a restarted one has lost what it had read): it goes, and when
  the queue still holds that status unread it replaces it;
- a refusal means the queue holds an unread, older status: the lane waits while the
  publisher purges that queue (one message at most) and then publishes the present status,
  so a consumer that comes back reads the present status at once ("replaced");
- what the queue last accepted is forgotten (``forget``) when the queue may have lost it
  otherwise than to its consumer: found empty by a refresh (purged by hand, expired by a
  policy, rejected by the consumer), or gone (a status returned as unroutable);
- a failed publish (connection lost, no answer) goes back as pending unless a newer status
  came meanwhile.
"""

from collections import OrderedDict
from dataclasses import dataclass

from .outbox import OutboundMessage


@dataclass(slots=True)
class _Lane:
    pending: OutboundMessage | None = None
    in_flight: OutboundMessage | None = None
    waiting: bool = False  # not to be taken until release(): its queue is being purged, ...
    accepted: OutboundMessage | None = None  # the last message its queue accepted


class StatusLanes:
    def __init__(self) -> None:
        self._lanes: dict[str, _Lane] = {}
        self._ready: OrderedDict[str, None] = OrderedDict()  # links whose pending may go
        self._pending = 0
        self._in_flight = 0
        self.max_pending = 0  # the most pending messages seen at once (all links)

    def __len__(self) -> int:
        return self._pending + self._in_flight

    @property
    def links(self) -> int:
        return len(self._lanes)

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def in_flight_messages(self) -> list[OutboundMessage]:
        return [lane.in_flight for lane in self._lanes.values() if lane.in_flight is not None]

    def oldest_in_flight(self) -> OutboundMessage | None:
        return min(self.in_flight_messages(), key=lambda message: message.sent_at,
                   default=None)

    def is_in_flight(self, message: OutboundMessage) -> bool:
        lane = self._lanes.get(message.link_id or "")
        return lane is not None and lane.in_flight is message

    def accepted(self, link_id: str) -> OutboundMessage | None:
        """The last message the link's queue accepted (None: none since the NApp started)."""
        lane = self._lanes.get(link_id)
        return None if lane is None else lane.accepted

    def idle(self, link_id: str) -> bool:
        """Nothing pending, in flight or waiting for the link."""
        lane = self._lanes.get(link_id)
        return lane is None or (lane.pending is None and lane.in_flight is None
                                and not lane.waiting)

    def offer(self, message: OutboundMessage) -> OutboundMessage | None:
        """The link's latest status; returns the pending message it replaced, if any."""
        assert message.link_id is not None
        message.lane = f"status:{message.link_id}"
        lane = self._lanes.setdefault(message.link_id, _Lane())
        replaced = self._set_pending(lane, message)
        self._mark_ready(message.link_id, lane)
        return replaced

    def take(self, limit: int) -> tuple[list[OutboundMessage], list[OutboundMessage]]:
        """Up to ``limit`` messages to publish now, one per link; and the pending messages
        dropped because their queue already has their status (to count as suppressed)."""
        taken: list[OutboundMessage] = []
        suppressed: list[OutboundMessage] = []
        while self._ready and len(taken) < limit:
            link_id, _ = self._ready.popitem(last=False)
            lane = self._lanes[link_id]
            message = lane.pending
            if message is None or lane.in_flight is not None or lane.waiting:
                continue
            if _suppressed(lane, message):
                lane.pending = None
                self._pending -= 1
                suppressed.append(message)
                continue
            taken.append(self._send(lane))
        return taken, suppressed

    def settled(self, message: OutboundMessage, *, accepted: bool) -> None:
        """The broker answered (accepted into the queue, or returned / unpublishable): the
        link's next status may go."""
        lane = self._landed(message)
        if lane is None:
            return
        if accepted:
            lane.accepted = message
        self._mark_ready(message.link_id or "", lane)

    def refused(self, message: OutboundMessage) -> tuple[OutboundMessage | None, bool]:
        """The queue holds an unread status. Returns the refused message when a newer one
        supersedes it, and whether the queue must be purged: the link then waits (for
        ``purged``) with its present status pending. When that status is the one the queue
        holds, there is nothing to replace: it is left pending, ``take`` suppresses it."""
        lane = self._landed(message)
        if lane is None:
            return None, False
        superseded = message if lane.pending is not None else None
        if superseded is None:
            self._set_pending(lane, message)
        assert lane.pending is not None
        if _suppressed(lane, lane.pending):
            self._mark_ready(message.link_id or "", lane)
            return superseded, False
        lane.waiting = True
        return superseded, True

    def purged(self, link_id: str, removed: int) -> None:
        """The queue was purged of ``removed`` messages (0: its consumer read the last one
        meanwhile). Call ``release`` next."""
        lane = self._lanes.get(link_id)
        if lane is not None and removed:
            lane.accepted = None  # the queue is empty: whatever is pending must go

    def forget(self, link_id: str) -> None:
        """The link's queue may not hold what it last accepted any more (see the module's
        docstring): the next status goes, whatever it is."""
        lane = self._lanes.get(link_id)
        if lane is not None:
            lane.accepted = None

    def put_back(self, message: OutboundMessage, *, ready: bool = True) -> OutboundMessage | None:
        """Not delivered (no answer, or not sent): pending again, unless a newer status came
        meanwhile - then it is returned, superseded. A lane that is not ``ready`` waits until
        ``release``."""
        lane = self._landed(message)
        if lane is None:
            return None
        replaced = message if lane.pending is not None else None
        if replaced is None:
            self._set_pending(lane, message)
        if ready:
            self._mark_ready(message.link_id or "", lane)
        else:
            lane.waiting = True
        return replaced

    def wait(self, link_id: str) -> None:
        """Keep the link's lane from being taken until ``release``."""
        self._lanes.setdefault(link_id, _Lane()).waiting = True

    def release(self, link_id: str) -> None:
        lane = self._lanes.get(link_id)
        if lane is not None:
            lane.waiting = False
            self._mark_ready(link_id, lane)

    def has_pending(self, link_id: str) -> bool:
        lane = self._lanes.get(link_id)
        return lane is not None and lane.pending is not None

    def take_link(self, link_id: str) -> OutboundMessage | None:
        """The link's pending status, in flight now on its own, whether its lane waits or
        not (the publisher tries it alone); None when nothing is pending, one is in flight,
        or the pending one is to be suppressed (``take`` does that, once the lane goes)."""
        lane = self._lanes.get(link_id)
        if lane is None or lane.pending is None or lane.in_flight is not None \
                or _suppressed(lane, lane.pending):
            return None
        lane.waiting = False
        self._ready.pop(link_id, None)
        return self._send(lane)

    def _send(self, lane: _Lane) -> OutboundMessage:
        """The lane's pending status goes in flight: an attempt."""
        message = lane.pending
        assert message is not None
        lane.pending, lane.in_flight = None, message
        self._pending -= 1
        self._in_flight += 1
        message.attempts += 1
        return message

    def discard_all(self) -> int:
        """Forget what is pending and in flight (restart from the real-time point); return
        how many messages that was."""
        count = len(self)
        self._lanes.clear()
        self._ready.clear()
        self._pending = self._in_flight = 0
        return count

    def _landed(self, message: OutboundMessage) -> _Lane | None:
        lane = self._lanes.get(message.link_id or "")
        if lane is None or lane.in_flight is not message:
            return None  # discarded meanwhile, or an answer to an attempt given up
        lane.in_flight = None
        self._in_flight -= 1
        return lane

    def _set_pending(self, lane: _Lane, message: OutboundMessage) -> OutboundMessage | None:
        replaced = lane.pending
        lane.pending = message
        if replaced is None:
            self._pending += 1
            self.max_pending = max(self.max_pending, self._pending)
        return replaced

    def _mark_ready(self, link_id: str, lane: _Lane) -> None:
        if lane.pending is not None and lane.in_flight is None and not lane.waiting:
            self._ready[link_id] = None


def _suppressed(lane: _Lane, message: OutboundMessage) -> bool:
    """Whether ``message``, pending, is not to be published: its queue accepted that status
    last, and no consumer asked for it (``asked_for``)."""
    return lane.accepted is not None and lane.accepted.status == message.status \
        and not asked_for(message)


def asked_for(message: OutboundMessage) -> bool:
    """A snapshot's status (listen_events' v1/snapshot, topology_loaded): a consumer asked
    for the present status, whether or not it had it."""
    return message.envelope is not None and message.envelope.get("msg_type") == "snapshot"
