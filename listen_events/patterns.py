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


def subscription_pattern(patterns: Sequence[str]) -> str:
    """One ``@alisten_to`` pattern for all subscribed events.

    ``alisten_to`` calls a handler once per matching pattern, so several patterns could deliver
    one event twice; a single alternation delivers it once.
    """
    compiled = compile_anchored("SUBSCRIBED_EVENTS", patterns)
    if compiled is None:
        raise SettingsError("SUBSCRIBED_EVENTS: at least one pattern is required")
    # alisten_to appends "$" itself; strip our own anchor.
    return compiled.pattern.removesuffix(r"\Z")
