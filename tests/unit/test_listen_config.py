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
])
def test_bad_settings_name_the_setting(overrides, environ, message):
    with pytest.raises(SettingsError, match=message):
        load_config(_settings(**overrides), environ)
