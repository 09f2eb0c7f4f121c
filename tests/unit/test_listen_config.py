import types

import pytest

from listen_events import settings
from listen_events.config import load_config
from listen_events.patterns import SettingsError


def _settings(**overrides):
    values = {name: getattr(settings, name) for name in dir(settings) if name.isupper()}
    values.update(overrides)
    return types.SimpleNamespace(**values)


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
