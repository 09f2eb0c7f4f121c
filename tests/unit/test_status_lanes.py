"""The link status lanes (mq_producer/status_lanes.py): the latest status only, per link."""

from hypothesis import given, settings
from hypothesis import strategies as st

from mq_producer.outbox import OutboundMessage
from mq_producer.status_lanes import StatusLanes

_numbers = iter(range(1, 10**9))


def status(link_id: str, state: str) -> OutboundMessage:
    number = next(_numbers)
    return OutboundMessage(f"s{number}:status", "kytos/topology.link_down", "links", link_id,
                           b"{}", f"status:{link_id}", 1.0, link_id=link_id, status=state)


def accepted(lanes: StatusLanes, link_id: str, state: str) -> OutboundMessage:
    """A status offered, taken and accepted by the link's queue."""
    message = status(link_id, state)
    lanes.offer(message)
    assert lanes.take(10)[0] == [message]
    lanes.settled(message, accepted=True)
    return message


def refused_change(lanes: StatusLanes) -> OutboundMessage:
    """L1: UP accepted, then DOWN taken and refused (the UP unread): waiting for the purge."""
    accepted(lanes, "L1", "UP")
    down = status("L1", "DOWN")
    lanes.offer(down)
    lanes.take(10)
    assert lanes.refused(down) == (None, True)
    return down


def test_a_newer_status_replaces_the_pending_one():
    lanes = StatusLanes()
    first, second = status("L1", "DOWN"), status("L1", "UP")
    assert lanes.offer(first) is None
    assert lanes.offer(second) is first
    assert lanes.pending == 1
    taken, suppressed = lanes.take(10)
    assert taken == [second] and suppressed == [] and second.attempts == 1


def test_one_in_flight_per_link_and_links_are_independent():
    lanes = StatusLanes()
    a1, b1, a2 = status("A", "DOWN"), status("B", "DOWN"), status("A", "UP")
    for message in (a1, b1, a2):
        lanes.offer(message)
    assert lanes.take(10)[0] == [a2, b1]
    a3 = status("A", "DOWN")
    lanes.offer(a3)
    assert lanes.take(10) == ([], [])  # A has one in flight
    lanes.settled(a2, accepted=True)
    assert lanes.take(10)[0] == [a3]


def test_the_status_the_queue_has_is_suppressed():
    lanes = StatusLanes()
    up = accepted(lanes, "L1", "UP")
    again = status("L1", "UP")
    lanes.offer(again)
    assert lanes.take(10) == ([], [again])
    assert lanes.idle("L1") and lanes.accepted("L1") is up


def snapshot_status(link_id: str, state: str) -> OutboundMessage:
    message = status(link_id, state)
    message.envelope = {"msg_type": "snapshot"}
    return message


def test_a_snapshot_goes_even_when_the_queue_was_given_its_status():
    """A consumer asked for the present status (a restarted one lost what it had read)."""
    lanes = StatusLanes()
    accepted(lanes, "L1", "UP")
    snapshot = snapshot_status("L1", "UP")
    lanes.offer(snapshot)
    assert lanes.take(10) == ([snapshot], [])
    # The queue still holds the "UP" unread: refused, it is replaced (a purge, then it goes).
    assert lanes.refused(snapshot) == (None, True)
    lanes.purged("L1", 1)
    lanes.release("L1")
    assert lanes.take(10) == ([snapshot], [])
    lanes.settled(snapshot, accepted=True)
    # A change's status equal to the snapshot's is suppressed, as any other.
    again = status("L1", "UP")
    lanes.offer(again)
    assert lanes.take(10) == ([], [again])


def test_a_status_forgotten_goes_again():
    lanes = StatusLanes()
    accepted(lanes, "L1", "UP")
    lanes.forget("L1")  # the queue found empty by a refresh, or gone
    assert lanes.accepted("L1") is None
    again = status("L1", "UP")
    lanes.offer(again)
    assert lanes.take(10) == ([again], [])
    lanes.forget("unknown")  # no lane: nothing to forget


def test_a_flap_back_while_a_change_is_pending_leaves_nothing_to_publish():
    lanes = StatusLanes()
    down = refused_change(lanes)  # pending again, waiting for the purge
    back_up = status("L1", "UP")
    assert lanes.offer(back_up) is down
    lanes.purged("L1", 0)  # the consumer read "UP" meanwhile
    lanes.release("L1")
    assert lanes.take(10) == ([], [back_up])


def test_a_purged_queue_takes_whatever_is_pending():
    lanes = StatusLanes()
    refused_change(lanes)
    assert lanes.take(10) == ([], [])  # waits for the purge
    back_up = status("L1", "UP")
    lanes.offer(back_up)
    lanes.purged("L1", 1)  # the unread "UP" is gone: the present status must go again
    lanes.release("L1")
    assert lanes.take(10) == ([back_up], [])


def test_a_failed_publish_is_pending_again_unless_a_newer_one_came():
    lanes = StatusLanes()
    first = status("L1", "DOWN")
    lanes.offer(first)
    lanes.take(10)
    assert lanes.put_back(first) is None
    assert lanes.take(10)[0] == [first] and first.attempts == 2
    newer = status("L1", "UP")
    lanes.offer(newer)
    assert lanes.put_back(first) is first
    assert lanes.take(10)[0] == [newer]


def test_discard_all_forgets_everything():
    lanes = StatusLanes()
    for link in "ABC":
        lanes.offer(status(link, "UP"))
    lanes.take(1)
    assert len(lanes) == 3 and lanes.discard_all() == 3
    assert len(lanes) == 0 and lanes.take(10) == ([], [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["offer", "take", "accept", "refuse", "fail",
                                           "purge0", "purge1"]),
                          st.sampled_from(["A", "B"]), st.sampled_from(["UP", "DOWN"])),
                max_size=80))
def test_whatever_happens_a_link_holds_at_most_one_pending_and_the_latest_wins(steps):
    lanes = StatusLanes()
    latest: dict[str, OutboundMessage] = {}
    in_flight: dict[str, OutboundMessage] = {}
    refused: set[str] = set()  # links waiting for the publisher's purge
    for action, link, state in steps:
        if action == "offer":
            latest[link] = message = status(link, state)
            lanes.offer(message)
        elif action == "take":
            for message in lanes.take(10)[0]:
                in_flight[message.link_id] = message
        elif action.startswith("purge"):
            if link in refused:  # as the publisher: a purge follows a refusal
                refused.discard(link)
                lanes.purged(link, int(action[-1]))
                lanes.release(link)
        elif link in in_flight:
            message = in_flight.pop(link)
            if action == "accept":
                lanes.settled(message, accepted=True)
            elif action == "refuse":
                if lanes.refused(message)[1]:
                    refused.add(link)
            else:
                lanes.put_back(message)
        assert lanes.pending <= lanes.links <= 2
        assert lanes.in_flight == len(in_flight)
    # Drain: accept everything; the last status accepted per link is the latest offered,
    # unless the queue already had that status.
    for link in list(in_flight):
        lanes.settled(in_flight.pop(link), accepted=True)
    for link in refused:
        lanes.purged(link, 1)
        lanes.release(link)
    while True:
        taken, _ = lanes.take(10)
        if not taken:
            break
        for message in taken:
            lanes.settled(message, accepted=True)
    for link, message in latest.items():
        accepted = lanes.accepted(link)
        assert accepted is not None and accepted.status == message.status
