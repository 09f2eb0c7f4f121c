"""listen_events configuration: built once from ``settings.py`` and the environment."""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

from .classify import Classifier, class_word
from .filters import EventFilter
from .patterns import SettingsError, blocked_pattern, subscription_pattern

_EVENT_NAME = re.compile(r"[A-Za-z0-9_./-]+")

PROFILES = ("topology", "all")
ALL_EVENTS = [".*"]  # the "all" profile's subscription, but the blocked events


@dataclass(frozen=True)
class ListenConfig:
    subscription: str  # the one @alisten_to pattern: the profile's events but the blocked ones
    classifier: Classifier
    event_filter: EventFilter
    controller: str
    domain: str
    handoff_event: str
    snapshot_event: str
    snapshot_class: str
    snapshot_on_topology_loaded: bool
    link_status_by_event: dict[str, str]
    nni_metadata_key: str | None  # None: NNI handling disabled
    profile: str = "topology"
    linger: float = 0.0  # LINGER_MS, in seconds
    direct_hand_off: bool = True  # DIRECT_HAND_OFF
    # BLOCKED_EVENTS and HANDOFF_EVENT: never subscribed nor handed on (``.match(name)``)
    blocked: re.Pattern[str] = re.compile("(?!)")

    def is_blocked(self, event_name: str) -> bool:
        return self.blocked.match(event_name) is not None


def _text(setting: str, value: object, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise SettingsError(f"{setting}: expected a {'' if allow_empty else 'non-empty '}"
                            f"string, got {value!r}")
    return value


def _event_name(setting: str, value: object) -> str:
    name = _text(setting, value)
    if not _EVENT_NAME.fullmatch(name):
        raise SettingsError(f"{setting}: {name!r} is not an event name "
                            "(letters, digits, '_', '.', '/', '-')")
    return name


_LINK_STATUSES = ("UP", "DOWN", "DISABLED")


def _link_status_by_event(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise SettingsError(f"LINK_STATUS_BY_EVENT: expected a dict, got {value!r}")
    for name, status in value.items():
        _event_name("LINK_STATUS_BY_EVENT key", name)
        if status not in _LINK_STATUSES:
            raise SettingsError(f"LINK_STATUS_BY_EVENT[{name!r}]: {status!r} is not one of "
                                f"{', '.join(_LINK_STATUSES)}")
    return dict(value)


def _nni_metadata_key(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"NNI_METADATA_KEY: expected an interface metadata key (a "
                            f"non-blank string), or \"\" / None to disable NNI handling, "
                            f"got {value!r}")
    return value


def _profile(value: object) -> str:
    if not isinstance(value, str) or value not in PROFILES:
        raise SettingsError(f"PROFILE: expected one of {', '.join(map(repr, PROFILES))}, "
                            f"got {value!r}")
    return value


def _unclassified_class(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SettingsError(f"UNCLASSIFIED_CLASS: expected a class name (one word) or None, "
                            f"got {value!r}")
    return class_word("UNCLASSIFIED_CLASS", value)


def _flag(setting: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise SettingsError(f"{setting}: expected True or False, got {value!r}")
    return value


def load_config(settings: ModuleType, environ: Mapping[str, str] = os.environ) -> ListenConfig:
    """Validate every setting; raise SettingsError naming the first bad one."""
    _flag("SNAPSHOT_ON_TOPOLOGY_LOADED", settings.SNAPSHOT_ON_TOPOLOGY_LOADED)
    snapshot_class = _text("SNAPSHOT_CLASS", settings.SNAPSHOT_CLASS)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", snapshot_class):
        raise SettingsError(f"SNAPSHOT_CLASS: {snapshot_class!r} must be one word")
    profile = _profile(settings.PROFILE)
    unclassified = _unclassified_class(settings.UNCLASSIFIED_CLASS)
    handoff_event = _event_name("HANDOFF_EVENT", settings.HANDOFF_EVENT)
    # What we hand on is never taken in again, whatever BLOCKED_EVENTS says.
    blocked = blocked_pattern(settings.BLOCKED_EVENTS, always=[handoff_event])
    if profile == "all":
        subscribed, classifier = ALL_EVENTS, Classifier(
            settings.CLASSES, settings.OPERATIONAL_CLASSES, unclassified)
    else:  # the seed's: only the subscribed events, and unclassified ones are no action events
        subscribed, classifier = settings.SUBSCRIBED_EVENTS, Classifier(
            settings.CLASSES, settings.OPERATIONAL_CLASSES)
    return ListenConfig(
        subscription=subscription_pattern(subscribed, blocked),
        classifier=classifier,
        event_filter=EventFilter(settings.ALLOW_EVENTS, settings.DENY_EVENTS,
                                 settings.CONTENT_RULES),
        controller=_text("KYTOS_EVENTS_CONTROLLER / CONTROLLER_NAME",
                         environ.get("KYTOS_EVENTS_CONTROLLER", settings.CONTROLLER_NAME)),
        domain=_text("KYTOS_EVENTS_DOMAIN / DOMAIN",
                     environ.get("KYTOS_EVENTS_DOMAIN", settings.DOMAIN), allow_empty=True),
        handoff_event=handoff_event,
        snapshot_event=_event_name("SNAPSHOT_EVENT", settings.SNAPSHOT_EVENT),
        snapshot_class=snapshot_class,
        snapshot_on_topology_loaded=settings.SNAPSHOT_ON_TOPOLOGY_LOADED,
        link_status_by_event=_link_status_by_event(settings.LINK_STATUS_BY_EVENT),
        nni_metadata_key=_nni_metadata_key(settings.NNI_METADATA_KEY),
        profile=profile,
        linger=_linger(getattr(settings, "LINGER_MS", 0)),
        direct_hand_off=_flag("DIRECT_HAND_OFF", getattr(settings, "DIRECT_HAND_OFF", True)),
        blocked=blocked,
    )


def _linger(value: object) -> float:
    """LINGER_MS, in seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not 0 <= value <= 1000:
        raise SettingsError(f"LINGER_MS: expected milliseconds from 0 to 1000, got {value!r}")
    return value / 1000
