"""Event classification: administrative, operational, ... or None (not an action event)."""

import re
from collections.abc import Mapping, Sequence

from .patterns import SettingsError, compile_anchored

# Answers kept per event name, at most (then forgotten all at once): with the "all" profile
# the names are whatever the NApps emit, and some put ids in them.
MAX_CACHED_NAMES = 4096

_WORD = re.compile(r"[A-Za-z0-9_-]+")


def class_word(setting: str, name: object) -> str:
    """A class name: one word, as it becomes a routing-key word."""
    if not isinstance(name, str) or not _WORD.fullmatch(name):
        raise SettingsError(f"{setting}: class name {name!r} must be a word "
                            "(letters, digits, '_' or '-'): it becomes a routing-key word")
    return name


class Classifier:
    """Maps an event name (and whether it has a timestamp) to its class.

    Reproduces the seed's ``listen_event`` with the default settings: the first class whose
    patterns match wins; classes listed as timestamp-bound need ``event.timestamp``. An event
    no class matches is in ``unclassified`` (the "all" profile's UNCLASSIFIED_CLASS), or, when
    that is None, not an action event.
    """

    def __init__(self, classes: Mapping[str, Sequence[str]],
                 timestamp_classes: Sequence[str], unclassified: str | None = None) -> None:
        if not isinstance(classes, Mapping):
            raise SettingsError(f"CLASSES: expected a dict of class -> patterns, got {classes!r}")
        if unclassified is not None:
            class_word("UNCLASSIFIED_CLASS", unclassified)
        compiled: list[tuple[str, re.Pattern[str]]] = []
        for name, patterns in classes.items():
            class_word("CLASSES", name)
            pattern = compile_anchored(f"CLASSES[{name!r}]", patterns)
            if pattern is not None:
                compiled.append((name, pattern))
        if not isinstance(timestamp_classes, list | tuple) or not all(
                isinstance(name, str) for name in timestamp_classes):
            raise SettingsError(f"OPERATIONAL_CLASSES: expected a list of class names, "
                                f"got {timestamp_classes!r}")
        unknown = set(timestamp_classes) - set(classes)
        if unknown:
            raise SettingsError(f"OPERATIONAL_CLASSES: unknown classes {sorted(unknown)}")
        self._classes = compiled
        self._timestamp_classes = frozenset(timestamp_classes)
        self.unclassified = unclassified
        self._cache: dict[str, str | None] = {}

    def classify(self, event_name: str, has_timestamp: bool) -> str | None:
        """The event's class, or None when it is not an action event."""
        try:
            event_class = self._cache[event_name]
        except KeyError:
            event_class = next((name for name, pattern in self._classes
                                if pattern.match(event_name)), self.unclassified)
            if len(self._cache) >= MAX_CACHED_NAMES:
                self._cache.clear()
            self._cache[event_name] = event_class
        if event_class in self._timestamp_classes and not has_timestamp:
            return None
        return event_class
