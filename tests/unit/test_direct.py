"""listen_events/direct.py: which listeners of the hand-off event take it directly."""

from typing import Any

from listen_events.direct import RECHECK_AFTER, DirectHandOff

HANDOFF = "kytos/listen_events.broadcast"
SOURCE = r"kytos/listen_events\.broadcast"  # mq_producer's SOURCE_EVENTS


class Producer:
    """A producer NApp's Main, as core holds it: username, name, a listener method."""

    def __init__(self, name: str = "mq_producer") -> None:
        self.username, self.name = "kytos", name
        self.taken: list[tuple[str, list[Any]]] = []

    async def on_envelopes(self, event: Any) -> None:
        raise AssertionError("core's path: not taken here")

    async def on_other(self, event: Any) -> None:
        raise AssertionError("core's path: not taken here")

    def take_hand_off(self, name: str, envelopes: list[Any]) -> None:
        self.taken.append((name, envelopes))


class Listener:
    """A NApp listening to the hand-off event without offering take_hand_off."""

    username, name = "someone", "audit"

    async def on_envelopes(self, event: Any) -> None:
        raise AssertionError("not called here")


def test_the_only_listener_offering_it_takes_the_hand_off_directly():
    producer = Producer()
    direct = DirectHandOff(HANDOFF)
    listeners = {"kytos/core.shutdown": [producer.on_other], SOURCE: [producer.on_envelopes]}
    [take] = direct.sinks(listeners, 0.0)
    take(HANDOFF, [b"{}"])
    assert producer.taken == [(HANDOFF, [b"{}"])]
    assert direct.napps == ("kytos/mq_producer",)


def test_any_listener_without_it_sends_the_event_to_all():
    producer, audit = Producer(), Listener()

    async def function_listener(event: Any) -> None:
        raise AssertionError("not called here")

    for others in ([audit.on_envelopes], [function_listener]):
        listeners = {SOURCE: [producer.on_envelopes], r"kytos/listen_events\..*": others}
        direct = DirectHandOff(HANDOFF)
        assert direct.sinks(listeners, 0.0) is None
        assert direct.napps == ()


def test_a_napp_listening_twice_gets_the_event_twice_from_core_so_no_direct_path():
    producer = Producer()
    listeners = {SOURCE: [producer.on_envelopes], r"kytos/listen_events\..*": [producer.on_other]}
    assert DirectHandOff(HANDOFF).sinks(listeners, 0.0) is None


def test_two_producers_offering_it_are_both_called_in_cores_order():
    first, second = Producer("first"), Producer("second")
    listeners = {r"kytos/listen_events\..*": [second.on_envelopes], SOURCE: [first.on_envelopes]}
    direct = DirectHandOff(HANDOFF)
    sinks = direct.sinks(listeners, 0.0)
    assert sinks is not None
    for take in sinks:
        take(HANDOFF, [b"1"])
    assert (first.taken, second.taken) == ([(HANDOFF, [b"1"])], [(HANDOFF, [b"1"])])
    assert direct.napps == ("kytos/second", "kytos/first")


def test_patterns_match_as_core_matches_them():
    """core appends "$" (unless the pattern ends with an unescaped one) and re.match()es."""
    producer = Producer()
    for pattern, matches in [(SOURCE, True), (SOURCE + "$", True), ("kytos/listen_events", False),
                             (r"kytos/listen_events\.broadcast\$", False), (".*", True),
                             ("(unclosed", False), ("kytos/listen_events.broadcast.x", False)]:
        direct = DirectHandOff(HANDOFF)
        found = direct.sinks({pattern: [producer.on_envelopes]}, 0.0)
        assert (found is not None) is matches, pattern
    assert DirectHandOff(HANDOFF + ".x").sinks({SOURCE: [producer.on_envelopes]}, 0.0) is None


def test_no_listener_or_no_registry_sends_the_event():
    direct = DirectHandOff(HANDOFF)
    assert direct.sinks({}, 0.0) is None
    assert direct.sinks({"kytos/core.shutdown": [Producer().on_other]}, 0.0) is None
    assert direct.sinks(None, 0.0) is None  # a core without events_listeners


def test_a_listener_loaded_or_unloaded_is_seen_at_the_next_hand_off():
    producer, audit = Producer(), Listener()
    direct = DirectHandOff(HANDOFF)
    listeners: dict[str, list[Any]] = {SOURCE: [producer.on_envelopes]}
    assert direct.sinks(listeners, 0.0) is not None
    listeners[SOURCE].append(audit.on_envelopes)  # same pattern: the list grew
    assert direct.sinks(listeners, 0.1) is None
    listeners[SOURCE].remove(audit.on_envelopes)
    assert direct.sinks(listeners, 0.2) is not None
    listeners[r"kytos/listen_events\..*"] = [audit.on_envelopes]  # a pattern more
    assert direct.sinks(listeners, 0.3) is None
    del listeners[r"kytos/listen_events\..*"]  # core deletes a pattern left without listeners
    assert direct.sinks(listeners, 0.4) is not None
    listeners[SOURCE].remove(producer.on_envelopes)  # the producer unloaded
    del listeners[SOURCE]
    assert direct.sinks(listeners, 0.5) is None


def test_the_listeners_are_looked_at_again_after_recheck_after_whatever_the_counts():
    """One NApp unloaded and another loaded between two hand-offs leave every count as it was:
    the change is seen within RECHECK_AFTER, not at once (the counts are what costs nothing)."""
    producer, audit = Producer(), Listener()
    direct = DirectHandOff(HANDOFF)
    listeners: dict[str, list[Any]] = {SOURCE: [producer.on_envelopes],
                                       "kytos/of_core.x": [producer.on_other]}
    assert direct.sinks(listeners, 10.0) is not None
    del listeners["kytos/of_core.x"]
    listeners[r"kytos/listen_events\..*"] = [audit.on_envelopes]
    assert direct.sinks(listeners, 10.0 + RECHECK_AFTER / 2) is not None  # not looked at
    assert direct.sinks(listeners, 10.0 + RECHECK_AFTER) is None
