import re

import pytest

from listen_events import settings
from listen_events.classify import Classifier
from listen_events.patterns import SettingsError, subscription_pattern

DEFAULT = Classifier(settings.CLASSES, settings.OPERATIONAL_CLASSES)

# The seed's listen_event, under the names kytos-ng core emits; the metadata events, subscribed
# by the seed but left unclassified (so never handed on), are administrative since issue 15.
SEED_TABLE = [
    ("version/control.initialize", True, "administrative"),
    ("kytos/topology.switch.enabled", True, "administrative"),
    ("kytos/topology.switch.disabled", True, "administrative"),
    ("kytos/topology.switches.metadata.added", True, "administrative"),
    ("kytos/topology.interfaces.metadata.removed", True, "administrative"),
    ("kytos/topology.links.metadata.added", True, "administrative"),
    ("kytos/topology.topology_loaded", True, "operational"),
    ("kytos/topology.link_up", True, "operational"),
    ("kytos/topology.link_down", True, "operational"),
    ("kytos/topology.link_down", False, None),  # operational needs a timestamp
    ("kytos/topology.switch.enabled", False, "administrative"),
    ("kytos/topology.updated", True, None),
    ("kytos/topology.link_upX", True, None),
]


# The events of an interface, which carry the status of an NNI port (issue 15).
INTERFACE_TABLE = [
    ("kytos/of_core.switch.interface.link_up", True, "operational"),
    ("kytos/of_core.switch.interface.link_down", True, "operational"),
    ("kytos/of_core.switch.interface.link_down", False, None),  # operational: timestamp
    ("kytos/topology.interface.up", True, "operational"),
    ("kytos/topology.interface.down", True, "operational"),
    ("kytos/topology.interface.enabled", True, "administrative"),
    ("kytos/topology.interface.disabled", True, "administrative"),
    ("kytos/topology.interface.disabled", False, "administrative"),
    ("kytos/topology.switches.metadata.removed", True, "administrative"),
    ("kytos/topology.interfaces.metadata.added", True, "administrative"),
    ("kytos/topology.links.metadata.removed", True, "administrative"),
    # anchored regexes: near misses are not classified
    ("kytos/of_core.switch.interface.link_upX", True, None),
    ("kytos/of_coreXswitch.interface.link_up", True, None),
    ("kytos/topology.interface.deleted", True, None),
    ("kytos/topology.interface.up.more", True, None),
    ("kytos/topology.interface.metadata.added", True, None),  # core's name is plural
]


@pytest.mark.parametrize(("name", "has_timestamp", "expected"), SEED_TABLE)
def test_default_classification_reproduces_the_seed(name, has_timestamp, expected):
    assert DEFAULT.classify(name, has_timestamp) == expected


@pytest.mark.parametrize(("name", "has_timestamp", "expected"), INTERFACE_TABLE)
def test_default_classification_of_interface_and_metadata_events(name, has_timestamp,
                                                                  expected):
    assert DEFAULT.classify(name, has_timestamp) == expected


def test_default_subscription_covers_the_interface_events_and_no_near_miss():
    pattern = subscription_pattern(settings.SUBSCRIBED_EVENTS)
    for name, has_timestamp, expected in INTERFACE_TABLE:
        if has_timestamp:  # the rows with a timestamp: classified if and only if subscribed
            assert _matches(pattern, name) == (expected is not None), name


def test_every_event_with_a_link_status_is_subscribed_and_classified():
    pattern = subscription_pattern(settings.SUBSCRIBED_EVENTS)
    for name in settings.LINK_STATUS_BY_EVENT:
        assert _matches(pattern, name), name
        assert DEFAULT.classify(name, True) is not None, name


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
