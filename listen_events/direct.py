"""Handing envelopes on without a second trip through core, to producer NApps that offer it.

A hand-off event (settings.HANDOFF_EVENT) costs the controller a second dispatch for every
batch: a put on and a get from the app buffer (a janus queue: thread locks both ways), every
listener pattern of every NApp matched against its name (core's ``notify_listeners``), and a
handler task. At a steady pace every event is a batch of its own, so every event paid it twice.

A producer NApp may offer ``take_hand_off(event_name, envelopes)`` on its Main: sync, never
awaits nor blocks, and does what its handler does with a hand-off event of that name whose
content is ``{"envelopes": envelopes}`` (kytos/mq_producer does). When every listener core
holds for the hand-off event's name is a method of such a NApp, one listener per NApp, those
methods are called instead, in the order core would start the handlers: the same NApps get the
same envelopes in the same order, in the step that built them. Any other listener (a NApp
without the method, a plain function, one NApp listening twice) and the event goes through
core as before, for all of them: nobody misses a hand-off, nobody gets one twice.

No Kytos import: the listeners are core's ``controller.events_listeners`` (pattern -> list of
bound methods), read, never changed.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

DIRECT_METHOD = "take_hand_off"
# Core's listeners are looked at again at least this often (seconds), and whenever the number
# of their patterns, or of the listeners of a pattern that matched, has changed (a NApp loaded
# or unloaded): the count alone misses a NApp loaded while another was unloaded.
RECHECK_AFTER = 1.0

TakeHandOff = Callable[[str, list[Any]], None]


class DirectHandOff:
    """Which producer NApps take ``event_name``'s hand-offs directly (``sinks``), if all do."""

    def __init__(self, event_name: str) -> None:
        self.event_name = event_name
        self.napps: tuple[str, ...] = ()  # the NApps of the sinks, for v1/status
        self._sinks: tuple[TakeHandOff, ...] | None = None
        self._checked_at = float("-inf")
        self._patterns = -1  # len(events_listeners) when checked
        # The listener lists whose pattern matched, each with its length when checked.
        self._matched: list[tuple[Sequence[Any], int]] = []

    def sinks(self, events_listeners: Mapping[str, Sequence[Any]] | None,
              now: float) -> tuple[TakeHandOff, ...] | None:
        """The ``take_hand_off`` methods to call, in core's order; None: send the event.
        ``now``: time.monotonic(). Costs a few comparisons unless the listeners changed."""
        if events_listeners is None:
            return None
        if now - self._checked_at < RECHECK_AFTER and len(events_listeners) == self._patterns \
                and all(len(listeners) == count for listeners, count in self._matched):
            return self._sinks
        self._checked_at = now
        self._patterns = len(events_listeners)
        self._matched = [(listeners, len(listeners)) for pattern, listeners
                         in list(events_listeners.items())
                         if _core_matches(pattern, self.event_name)]
        self._sinks, self.napps = _direct_sinks(
            [listener for listeners, _ in self._matched for listener in listeners])
        return self._sinks


def _core_matches(pattern: str, name: str) -> bool:
    """Whether core's ``notify_listeners`` (kytos-ng 2025.2.1) starts ``pattern``'s listeners
    for an event named ``name``: "$" appended unless the pattern ends with an unescaped one."""
    if not pattern.endswith("$") or pattern.endswith("\\$"):
        pattern += "$"
    try:
        return re.match(pattern, name) is not None
    except re.error:  # core would fail on it for every event; not ours to report
        return False


def _direct_sinks(listeners: list[Any]) -> tuple[tuple[TakeHandOff, ...] | None,
                                                 tuple[str, ...]]:
    """Each listener's NApp's ``take_hand_off``, and the NApps' ids; (None, ()) unless every
    listener is a method of a NApp that has it, each NApp once, and there is one at least."""
    sinks: list[TakeHandOff] = []
    owners: list[Any] = []
    for listener in listeners:
        owner = getattr(listener, "__self__", None)
        take = getattr(owner, DIRECT_METHOD, None)
        if not callable(take) or any(owner is seen for seen in owners):
            return None, ()
        owners.append(owner)
        sinks.append(take)
    if not sinks:
        return None, ()
    return tuple(sinks), tuple(_napp_id(owner) for owner in owners)


def _napp_id(napp: Any) -> str:
    username, name = getattr(napp, "username", None), getattr(napp, "name", None)
    return f"{username}/{name}" if username and name else type(napp).__qualname__
