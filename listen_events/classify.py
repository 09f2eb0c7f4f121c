"""Event classification: administrative, operational, ... or None (not an action event)."""

import re
from collections.abc import Mapping, Sequence

from .patterns import SettingsError, compile_anchored


class Classifier:
    """Maps an event name (and whether it has a timestamp) to its class.

    Reproduces the seed's ``listen_event`` with the default settings: the first class whose
    patterns match wins; classes listed as timestamp-bound need ``event.timestamp``.
    """

    def __init__(self, classes: Mapping[str, Sequence[str]],
                 timestamp_classes: Sequence[str]) -> None:
        if not isinstance(classes, Mapping):
            raise SettingsError(f"CLASSES: expected a dict of class -> patterns, got {classes!r}")
        compiled: list[tuple[str, re.Pattern[str]]] = []
        for name, patterns in classes.items():
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
                raise SettingsError(f"CLASSES: class name {name!r} must be a word "
                                    "(letters, digits, '_' or '-'): it becomes a routing-key word")
            pattern = compile_anchored(f"CLASSES[{name!r}]", patterns)
            if pattern is not None:
                compiled.append((name, pattern))
        unknown = set(timestamp_classes) - set(classes)
        if unknown:
            raise SettingsError(f"OPERATIONAL_CLASSES: unknown classes {sorted(unknown)}")
        self._classes = compiled
        self._timestamp_classes = frozenset(timestamp_classes)
        self._cache: dict[str, str | None] = {}

    def classify(self, event_name: str, has_timestamp: bool) -> str | None:
        """The event's class, or None when it is not an action event."""
        try:
            event_class = self._cache[event_name]
        except KeyError:
            event_class = next((name for name, pattern in self._classes
                                if pattern.match(event_name)), None)
            self._cache[event_name] = event_class
        if event_class in self._timestamp_classes and not has_timestamp:
            return None
        return event_class
