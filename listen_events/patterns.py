"""Event-name patterns with the semantics of ``@alisten_to``: regexes anchored at both ends."""

import re
from collections.abc import Sequence


class SettingsError(ValueError):
    """A setting of listen_events is invalid; the message names the setting."""


def compile_anchored(setting: str, patterns: Sequence[str]) -> re.Pattern[str] | None:
    """Join ``patterns`` into one anchored regex, or None when there are none.

    Each pattern is checked alone first so that the error names the bad one.
    """
    if not isinstance(patterns, list | tuple):
        raise SettingsError(f"{setting}: expected a list of regex strings, got {patterns!r}")
    parts = []
    for index, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not pattern:
            raise SettingsError(f"{setting}[{index}]: expected a non-empty regex string, "
                                f"got {pattern!r}")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise SettingsError(f"{setting}[{index}]: invalid regex {pattern!r}: {exc}") from exc
        parts.append(f"(?:{pattern})")
    if not parts:
        return None
    return re.compile("(?:" + "|".join(parts) + r")\Z")


def blocked_pattern(patterns: Sequence[str], always: Sequence[str] = ()) -> re.Pattern[str]:
    """BLOCKED_EVENTS, and the event names in ``always`` (blocked whatever the setting says),
    as one regex to ``match()``: it ends with "$" as core's ``notify_listeners`` makes every
    subscription end, so that an event name is blocked exactly when the subscription's negative
    lookahead (``subscription_pattern``) keeps it out. Matches nothing when both are empty."""
    compiled = compile_anchored("BLOCKED_EVENTS", patterns)
    parts = [re.escape(name) for name in always]
    if compiled is not None:
        parts.insert(0, compiled.pattern.removesuffix(r"\Z"))
    if not parts:
        return re.compile("(?!)")
    return re.compile("(?:" + "|".join(parts) + ")$")


def subscription_pattern(patterns: Sequence[str],
                         blocked: re.Pattern[str] | None = None) -> str:
    """One ``@alisten_to`` pattern for all subscribed events, but the ``blocked`` ones.

    ``alisten_to`` calls a handler once per matching pattern, so several patterns could deliver
    one event twice; a single alternation delivers it once. ``blocked`` (``blocked_pattern``)
    becomes a negative lookahead in front of it: Kytos then starts no handler for them.
    """
    compiled = compile_anchored("SUBSCRIBED_EVENTS", patterns)
    if compiled is None:
        raise SettingsError("SUBSCRIBED_EVENTS: at least one pattern is required")
    # alisten_to appends "$" itself; strip our own anchor.
    pattern = compiled.pattern.removesuffix(r"\Z")
    if blocked is None or blocked.pattern == "(?!)":
        return pattern
    return f"(?!{blocked.pattern})" + pattern
