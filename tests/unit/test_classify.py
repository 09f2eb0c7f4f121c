import re

import pytest

from listen_events import settings
from listen_events.classify import Classifier
from listen_events.patterns import SettingsError, subscription_pattern

DEFAULT = Classifier(settings.CLASSES, settings.OPERATIONAL_CLASSES)

# The seed's listen_event, under the names kytos-ng core emits.
SEED_TABLE = [
    ("version/control.initialize", True, "administrative"),
    ("kytos/topology.switch.enabled", True, "administrative"),
    ("kytos/topology.switch.disabled", True, "administrative"),
    ("kytos/topology.switches.metadata.added", True, None),
    ("kytos/topology.interfaces.metadata.removed", True, None),
    ("kytos/topology.links.metadata.added", True, None),
    ("kytos/topology.topology_loaded", True, "operational"),
    ("kytos/topology.link_up", True, "operational"),
    ("kytos/topology.link_down", True, "operational"),
    ("kytos/topology.link_down", False, None),  # operational needs a timestamp
    ("kytos/topology.switch.enabled", False, "administrative"),
    ("kytos/topology.updated", True, None),
    ("kytos/topology.link_upX", True, None),
]


@pytest.mark.parametrize(("name", "has_timestamp", "expected"), SEED_TABLE)
def test_default_classification_reproduces_the_seed(name, has_timestamp, expected):
    assert DEFAULT.classify(name, has_timestamp) == expected


def _matches(pattern: str, name: str) -> bool:
    return re.match(pattern + "$", name) is not None  # as core's notify_listeners


def test_default_subscription_covers_every_seed_event_under_core_names():
    pattern = subscription_pattern(settings.SUBSCRIBED_EVENTS)
    for name, _, _ in SEED_TABLE[:9]:
        assert _matches(pattern, name), name
    for internal in ("kytos/topology.notify_link_up_if_status", "kytos/topology.updated",
                     "kytos/topology.link_upX", "kytos/topologyXlink_up",
                     "kytos/topology.topo_controller.upsert_switch"):
        assert not _matches(pattern, internal), internal


def test_subscription_is_one_pattern_so_no_event_is_delivered_twice():
    pattern = subscription_pattern([r"kytos/topology\.link_.*", r"kytos/topology\.link_up"])
    assert isinstance(pattern, str)
    assert _matches(pattern, "kytos/topology.link_up")


def test_glob_mistake_of_the_peers_matches_nothing_useful():
    # The seed's "kytos/topology.link_*" is a regex: it does not match link_up.
    assert not _matches("kytos/topology.link_*", "kytos/topology.link_up")


def test_classes_are_configurable():
    classifier = Classifier({"links": [r"kytos/topology\.link_.*"]}, [])
    assert classifier.classify("kytos/topology.link_down", False) == "links"
    assert classifier.classify("kytos/topology.switch.enabled", True) is None


@pytest.mark.parametrize(("classes", "timestamp_classes", "message"), [
    ({"admin": ["(unclosed"]}, [], r"CLASSES\['admin'\]\[0\]: invalid regex"),
    ({"two words": ["x"]}, [], "CLASSES: class name 'two words'"),
    ({"admin": ["x"]}, ["operational"], "OPERATIONAL_CLASSES: unknown classes"),
    (["admin"], [], "CLASSES: expected a dict"),
])
def test_bad_classification_settings_name_the_setting(classes, timestamp_classes, message):
    with pytest.raises(SettingsError, match=message):
        Classifier(classes, timestamp_classes)


def test_empty_subscription_is_an_error():
    with pytest.raises(SettingsError, match="SUBSCRIBED_EVENTS"):
        subscription_pattern([])
