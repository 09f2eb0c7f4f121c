import re
import types

import pytest

from listen_events import settings
from listen_events.classify import MAX_CACHED_NAMES, Classifier
from listen_events.config import load_config
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


# -- the "all events" profile and its block-list (issue 16) -----------------------------------
#
# Names read from kytos-ng 2025.2 (core, of_core, flow_manager, of_lldp, topology, mef_eline,
# maintenance).

NOISY = [
    # every OpenFlow message of_core receives or sends (msg_in / msg_out buffers)
    "kytos/of_core.v0x04.messages.in.ofpt_echo_request",
    "kytos/of_core.v0x04.messages.out.ofpt_echo_reply",
    "kytos/of_core.v0x04.messages.in.ofpt_packet_in",
    "kytos/of_core.v0x04.messages.out.ofpt_packet_out",
    "kytos/of_core.v0x04.messages.in.ofpt_multipart_reply",
    "kytos/of_core.v0x04.messages.out.ofpt_multipart_request",
    "kytos/of_core.v0x04.messages.in.ofpt_barrier_reply",
    "kytos/of_core.v0x04.messages.out.ofpt_flow_mod",
    "kytos/of_core.v0x04.messages.in.ofpt_port_status",
    "kytos/of_core.v0x04.messages.in.ofpt_features_reply",
    "kytos/of_core.v0x01.messages.in.ofpt_hello",
    "kytos/of_core.v0x06.messages.in.ofpt_hello",  # a switch of an unsupported version
    "kytos/of_core.v0x04.messages.out.hello_failed",
    # OpenFlow messages other NApps hand to core
    "kytos/flow_manager.messages.out.ofpt_flow_mod",
    "kytos/flow_manager.messages.out.ofpt_barrier_request",
    "kytos/of_lldp.messages.out.ofpt_packet_out",
    # core's internals
    "kytos/core.openflow.raw.in",
    "kytos/core.openflow.connection.new",
    "kytos/core.openflow.connection.lost",
    "kytos/core.openflow.connection.error",
    "kytos/core.shutdown",
    "kytos/core.shutdown.kytos/of_core",
    "kytos/core.switch.new",
    "kytos/core.switch.reconnected",
    "kytos/core.interface_tags",
    # per packet / per poll
    "kytos/of_core.reachable.mac",
    "kytos/of_core.flow_stats.received",
    "kytos/of_lldp.interface.is.nni",
    # topology's internals, and the whole topology on almost every change
    "kytos/topology.notify_link_up_if_status",
    "kytos/topology.topo_controller.upsert_switch",
    "kytos/topology.updated",
    # this project's own
    "kytos/listen_events.broadcast",
    "kytos/listen_events.loaded",
    "kytos/listen_events.link_snapshot",
    "kytos/mq_producer.loaded",
]

# (name, its class in the "all" profile)
USEFUL = [
    ("kytos/mef_eline.created", "other_events"),
    ("kytos/mef_eline.deployed", "other_events"),
    ("kytos/mef_eline.undeployed", "other_events"),
    ("kytos/mef_eline.deleted", "other_events"),
    ("kytos/mef_eline.redeployed_link_down", "other_events"),
    ("kytos/mef_eline.failover_link_down", "other_events"),
    ("kytos/mef_eline.uni_active_updated", "other_events"),
    ("kytos/flow_manager.flow.added", "other_events"),
    ("kytos/flow_manager.flow.removed", "other_events"),
    ("kytos/flow_manager.flow.error", "other_events"),
    ("kytos/of_lldp.liveness.up", "other_events"),
    ("kytos/of_lldp.liveness.down", "other_events"),
    ("kytos/of_lldp.loop.detected", "other_events"),
    ("kytos/of_lldp.network_status.updated", "other_events"),
    # kytos/maintenance's window start and end (its events are named topology.interruption.*)
    ("topology.interruption.start", "other_events"),
    ("topology.interruption.end", "other_events"),
    ("kytos/of_core.handshake.completed", "other_events"),
    ("kytos/of_core.port_stats", "other_events"),
    ("kytos/of_core.table_stats.received", "other_events"),
    ("kytos/of_core.switch.port.created", "other_events"),
    ("kytos/of_core.hello_failed", "other_events"),
    ("kytos/of_multi_table.enable_table", "other_events"),
    ("kytos/topology.switch.deleted", "other_events"),
    ("kytos/topology.link.disabled", "other_events"),
    ("kytos/topology.port.created", "other_events"),
    # the seed's classes where they apply
    ("kytos/of_core.switch.interface.link_up", "operational"),
    ("kytos/of_core.switch.interface.link_down", "operational"),
    ("kytos/topology.link_up", "operational"),
    ("kytos/topology.topology_loaded", "operational"),
    ("kytos/topology.interface.down", "operational"),
    ("kytos/topology.switch.enabled", "administrative"),
    ("kytos/topology.links.metadata.added", "administrative"),
    ("version/control.initialize", "administrative"),
]


def _config(profile: str):
    values = {name: getattr(settings, name) for name in dir(settings) if name.isupper()}
    return load_config(types.SimpleNamespace(**{**values, "PROFILE": profile}), {})


@pytest.mark.parametrize("profile", ["topology", "all"])
@pytest.mark.parametrize("name", NOISY)
def test_noisy_events_are_blocked_in_both_profiles(profile, name):
    config = _config(profile)
    assert config.is_blocked(name)
    assert not _matches(config.subscription, name)


@pytest.mark.parametrize(("name", "expected"), USEFUL)
def test_useful_events_are_subscribed_and_classified_in_the_all_profile(name, expected):
    config = _config("all")
    assert not config.is_blocked(name)
    assert _matches(config.subscription, name)
    assert config.classifier.classify(name, True) == expected


@pytest.mark.parametrize(("name", "expected"), USEFUL)
def test_the_topology_profile_is_unchanged_by_the_all_profiles_classes(name, expected):
    config = _config("topology")
    assert config.classifier.classify(name, True) == DEFAULT.classify(name, True)
    assert _matches(config.subscription, name) == (DEFAULT.classify(name, True) is not None)


def test_the_default_block_list_blocks_no_event_of_the_seed():
    config = _config("topology")
    for name, _, _ in SEED_TABLE + INTERFACE_TABLE:
        if DEFAULT.classify(name, True) is not None:
            assert not config.is_blocked(name), name


def test_classification_caches_a_bounded_number_of_names():
    classifier = Classifier(settings.CLASSES, settings.OPERATIONAL_CLASSES, "other_events")
    for number in range(MAX_CACHED_NAMES * 3):
        assert classifier.classify(f"acme/app.event_{number}", True) == "other_events"
    assert len(classifier._cache) <= MAX_CACHED_NAMES
