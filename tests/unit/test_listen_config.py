import re

import pytest

from listen_events import settings
from listen_events.config import load_config
from listen_events.patterns import SettingsError
from tests.support.settings import settings_with


def _settings(**overrides):
    return settings_with(settings, **overrides)


def test_environment_overrides_identity():
    config = load_config(_settings(), {"KYTOS_EVENTS_CONTROLLER": "amlight",
                                       "KYTOS_EVENTS_DOMAIN": "ampath.net"})
    assert (config.controller, config.domain) == ("amlight", "ampath.net")
    assert load_config(_settings(), {}).controller == settings.CONTROLLER_NAME


@pytest.mark.parametrize(("overrides", "environ", "message"), [
    ({"HANDOFF_EVENT": "has space"}, {}, "HANDOFF_EVENT"),
    ({"HANDOFF_EVENT": ""}, {}, "HANDOFF_EVENT"),
    ({"SUBSCRIBED_EVENTS": ["ok", "(bad"]}, {}, r"SUBSCRIBED_EVENTS\[1\]"),
    ({}, {"KYTOS_EVENTS_CONTROLLER": ""}, "KYTOS_EVENTS_CONTROLLER / CONTROLLER_NAME"),
    ({"CLASSES": {"a": "x"}, "OPERATIONAL_CLASSES": []}, {}, r"CLASSES\['a'\]: expected a list"),
    ({"LINK_STATUS_BY_EVENT": {"kytos/topology.link_up": "up"}}, {},
     r"LINK_STATUS_BY_EVENT\['kytos/topology.link_up'\]: 'up' is not one of UP, DOWN"),
    ({"LINK_STATUS_BY_EVENT": ["kytos/topology.link_up"]}, {},
     "LINK_STATUS_BY_EVENT: expected a dict"),
    ({"NNI_METADATA_KEY": 7}, {}, "NNI_METADATA_KEY: expected an interface metadata key"),
    ({"NNI_METADATA_KEY": "   "}, {}, "NNI_METADATA_KEY: .* got '   '"),
    ({"NNI_METADATA_KEY": ["sdx_nni"]}, {}, "NNI_METADATA_KEY"),
    ({"NNI_METADATA_KEY": False}, {}, r"or \"\" / None to disable NNI handling, got False"),
    ({"DIRECT_HAND_OFF": "yes"}, {}, "DIRECT_HAND_OFF: expected True or False, got 'yes'"),
    ({"DIRECT_HAND_OFF": 1}, {}, "DIRECT_HAND_OFF: expected True or False, got 1"),
    ({"SNAPSHOT_ON_TOPOLOGY_LOADED": None}, {},
     "SNAPSHOT_ON_TOPOLOGY_LOADED: expected True or False, got None"),
])
def test_bad_settings_name_the_setting(overrides, environ, message):
    with pytest.raises(SettingsError, match=message):
        load_config(_settings(**overrides), environ)


def test_nni_metadata_key_defaults_to_sdx_nni_and_empty_or_none_disables_it():
    assert settings.NNI_METADATA_KEY == "sdx_nni"
    assert load_config(_settings(), {}).nni_metadata_key == "sdx_nni"
    assert load_config(_settings(NNI_METADATA_KEY="oxp_nni"), {}).nni_metadata_key == "oxp_nni"
    assert load_config(_settings(NNI_METADATA_KEY=""), {}).nni_metadata_key is None
    assert load_config(_settings(NNI_METADATA_KEY=None), {}).nni_metadata_key is None


def test_the_default_link_statuses_cover_links_and_interfaces():
    statuses = load_config(_settings(), {}).link_status_by_event
    assert statuses == {
        "kytos/topology.link_up": "UP",
        "kytos/topology.link_down": "DOWN",
        "kytos/of_core.switch.interface.link_up": "UP",
        "kytos/of_core.switch.interface.link_down": "DOWN",
        "kytos/topology.interface.up": "UP",
        "kytos/topology.interface.down": "DOWN",
        "kytos/topology.interface.disabled": "DISABLED",
    }


# -- profiles and the block-list (issue 16) ------------------------------------------------

def _subscribed(config, name: str) -> bool:
    """Whether Kytos would call the handler: core's notify_listeners appends "$" and
    re.match()es the one pattern of @alisten_to."""
    return re.match(config.subscription + "$", name) is not None


def test_the_default_profile_is_the_topology_one_and_subscribes_as_before():
    assert (settings.PROFILE, settings.UNCLASSIFIED_CLASS) == ("topology", "other_events")
    config = load_config(_settings(), {})
    assert config.profile == "topology"
    assert config.classifier.unclassified is None  # unclassified events: not action events
    assert config.classifier.classify("kytos/mef_eline.created", True) is None
    for name in ("kytos/topology.link_up", "kytos/of_core.switch.interface.link_down",
                 "version/control.initialize", "kytos/topology.topology_loaded"):
        assert _subscribed(config, name), name
    for name in ("kytos/mef_eline.created", "kytos/topology.updated", "kytos/core.shutdown",
                 "kytos/topology.link_upX"):
        assert not _subscribed(config, name), name


def test_the_all_profile_subscribes_to_every_event_but_the_blocked_ones():
    config = load_config(_settings(PROFILE="all"), {})
    assert config.profile == "all"
    for name in ("kytos/mef_eline.created", "topology.interruption.start", "a", "",
                 "kytos/of_multi_table.enable_table", "kytos/topology.link_up"):
        assert _subscribed(config, name), name
    for name in ("kytos/of_core.v0x04.messages.in.ofpt_echo_request", "kytos/core.shutdown",
                 "kytos/listen_events.broadcast", "kytos/topology.updated"):
        assert not _subscribed(config, name), name
    assert config.classifier.classify("kytos/mef_eline.created", False) == "other_events"
    assert config.classifier.classify("kytos/topology.link_up", True) == "operational"
    assert config.classifier.classify("kytos/topology.link_up", False) is None  # timestamp rule


def test_unclassified_class_is_a_setting_of_the_all_profile():
    config = load_config(_settings(PROFILE="all", UNCLASSIFIED_CLASS="kytos_events"), {})
    assert config.classifier.classify("kytos/flow_manager.flow.added", True) == "kytos_events"
    # None: subscribed to everything, but only CLASSES' events are action events
    config = load_config(_settings(PROFILE="all", UNCLASSIFIED_CLASS=None), {})
    assert config.classifier.classify("kytos/flow_manager.flow.added", True) is None
    assert config.classifier.classify("kytos/topology.switch.enabled", True) == "administrative"
    # not used by the topology profile
    config = load_config(_settings(UNCLASSIFIED_CLASS="kytos_events"), {})
    assert config.classifier.classify("kytos/flow_manager.flow.added", True) is None


def test_blocked_events_are_left_out_of_either_profiles_subscription():
    blocked = [r"kytos/topology\.link_down"]
    for profile in ("topology", "all"):
        config = load_config(_settings(PROFILE=profile, BLOCKED_EVENTS=blocked), {})
        assert not _subscribed(config, "kytos/topology.link_down"), profile
        assert config.is_blocked("kytos/topology.link_down")
        assert _subscribed(config, "kytos/topology.link_up"), profile
        # anchored like every pattern: a longer name is not blocked
        assert not config.is_blocked("kytos/topology.link_downs")


def test_the_hand_off_event_is_blocked_whatever_the_settings_say():
    for overrides in ({"BLOCKED_EVENTS": []},
                      {"BLOCKED_EVENTS": [], "HANDOFF_EVENT": "acme/relay.out"},
                      {"BLOCKED_EVENTS": [], "HANDOFF_EVENT": "acme/relay.out",
                       "SUBSCRIBED_EVENTS": ["acme/.*"]}):
        for profile in ("topology", "all"):
            config = load_config(_settings(PROFILE=profile, **overrides), {})
            handoff = config.handoff_event
            assert config.is_blocked(handoff) and not _subscribed(config, handoff), overrides
            # its name is a literal: its dots match dots only
            assert not config.is_blocked(handoff.replace(".", "X"))
    config = load_config(_settings(PROFILE="all", BLOCKED_EVENTS=[]), {})
    assert _subscribed(config, "kytos/core.shutdown")  # the list emptied: only the hand-off


@pytest.mark.parametrize(("overrides", "message"), [
    ({"PROFILE": "everything"}, "PROFILE: expected one of 'topology', 'all', got 'everything'"),
    ({"PROFILE": None}, "PROFILE: expected one of"),
    ({"UNCLASSIFIED_CLASS": "other events"},
     "UNCLASSIFIED_CLASS: class name 'other events' must be a word"),
    ({"UNCLASSIFIED_CLASS": ""}, "UNCLASSIFIED_CLASS: class name '' must be a word"),
    ({"UNCLASSIFIED_CLASS": 3}, "UNCLASSIFIED_CLASS: expected a class name"),
    ({"UNCLASSIFIED_CLASS": "a.b", "PROFILE": "all"}, "UNCLASSIFIED_CLASS: class name 'a.b'"),
    ({"BLOCKED_EVENTS": ["kytos/core\\..*", "(unclosed"]},
     r"BLOCKED_EVENTS\[1\]: invalid regex '\(unclosed'"),
    ({"BLOCKED_EVENTS": [""]}, r"BLOCKED_EVENTS\[0\]: expected a non-empty regex"),
    ({"BLOCKED_EVENTS": "kytos/core\\..*"}, "BLOCKED_EVENTS: expected a list of regex"),
])
def test_bad_profile_settings_name_the_setting(overrides, message):
    with pytest.raises(SettingsError, match=message):
        load_config(_settings(**overrides), {})


def test_direct_hand_off_is_on_by_default_and_may_be_turned_off():
    assert settings.DIRECT_HAND_OFF is True
    assert load_config(_settings(), {}).direct_hand_off is True
    assert load_config(_settings(DIRECT_HAND_OFF=False), {}).direct_hand_off is False


def test_the_all_profile_does_not_need_subscribed_events():
    config = load_config(_settings(PROFILE="all", SUBSCRIBED_EVENTS=[]), {})
    assert _subscribed(config, "kytos/mef_eline.created")
    with pytest.raises(SettingsError, match="SUBSCRIBED_EVENTS: at least one pattern"):
        load_config(_settings(SUBSCRIBED_EVENTS=[]), {})
