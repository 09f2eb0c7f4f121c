"""Filtering before publication: allow / deny rules on names, rules on serialized content."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .classify import MAX_CACHED_NAMES
from .patterns import SettingsError, compile_anchored

_MISSING = object()
_OPERATORS = ("equals", "in", "exists")


@dataclass(frozen=True, slots=True)
class ContentRule:
    """For events whose name matches ``events``, the value at ``path`` must pass the test."""

    setting: str
    events: re.Pattern[str]
    path: tuple[str, ...]
    operator: str
    operand: Any

    def applies_to(self, event_name: str) -> bool:
        return self.events.match(event_name) is not None

    def passes(self, content: Mapping[str, Any]) -> bool:
        value: Any = content
        for part in self.path:
            value = value.get(part, _MISSING) if isinstance(value, Mapping) else _MISSING
            if value is _MISSING:
                break
        if self.operator == "exists":
            return (value is not _MISSING) == self.operand
        if self.operator == "in":
            return value in self.operand
        return value == self.operand

    def describe(self) -> str:
        return f"{self.setting}: {'.'.join(self.path)} {self.operator} {self.operand!r}"


def _content_rule(index: int, rule: Any) -> ContentRule:
    setting = f"CONTENT_RULES[{index}]"
    if not isinstance(rule, Mapping):
        raise SettingsError(f"{setting}: expected a dict, got {rule!r}")
    unknown = set(rule) - {"events", "path", *_OPERATORS}
    if unknown:
        raise SettingsError(f"{setting}: unknown keys {sorted(unknown)}")
    events = compile_anchored(f"{setting}.events", [rule.get("events", ".*")])
    path = rule.get("path")
    if not isinstance(path, str) or not path or any(not part for part in path.split(".")):
        raise SettingsError(f"{setting}.path: expected a dotted path like "
                            f"'link.metadata.interdomain', got {path!r}")
    operators = [name for name in _OPERATORS if name in rule]
    if len(operators) != 1:
        raise SettingsError(f"{setting}: give exactly one of {', '.join(_OPERATORS)}")
    operator = operators[0]
    operand = rule[operator]
    if operator == "exists" and not isinstance(operand, bool):
        raise SettingsError(f"{setting}.exists: expected true or false, got {operand!r}")
    if operator == "in":
        if not isinstance(operand, list | tuple | set | frozenset):
            raise SettingsError(f"{setting}.in: expected a list, got {operand!r}")
        operand = tuple(operand)
    assert events is not None
    return ContentRule(setting, events, tuple(path.split(".")), operator, operand)


class EventFilter:
    """Decides which classified events are published."""

    def __init__(self, allow: Sequence[str], deny: Sequence[str],
                 content_rules: Sequence[Mapping[str, Any]]) -> None:
        self._allow = compile_anchored("ALLOW_EVENTS", allow)
        self._deny = compile_anchored("DENY_EVENTS", deny)
        if not isinstance(content_rules, list | tuple):
            raise SettingsError(f"CONTENT_RULES: expected a list, got {content_rules!r}")
        self._rules = tuple(_content_rule(i, rule) for i, rule in enumerate(content_rules))
        self._name_cache: dict[str, bool] = {}

    def allows_name(self, event_name: str) -> bool:
        try:
            return self._name_cache[event_name]
        except KeyError:
            allowed = ((self._allow is None or self._allow.match(event_name) is not None)
                       and (self._deny is None or self._deny.match(event_name) is None))
            if len(self._name_cache) >= MAX_CACHED_NAMES:  # names are not a closed set
                self._name_cache.clear()
            self._name_cache[event_name] = allowed
            return allowed

    def failed_content_rule(self, event_name: str,
                            content: Mapping[str, Any]) -> ContentRule | None:
        """The first content rule the event fails, or None when it passes them all."""
        for rule in self._rules:
            if rule.applies_to(event_name) and not rule.passes(content):
                return rule
        return None
