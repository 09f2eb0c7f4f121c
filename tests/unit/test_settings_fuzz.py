"""Every setting of both NApps, given values of the wrong type or out of range, either loads
or raises SettingsError naming it: never another exception, which in kytosd 2025.2.1 would
abort the whole controller while it loads the NApp (operating.rst, "Bad settings")."""

import math
import types

import pytest

from listen_events import settings as listen_settings
from listen_events.config import load_config as load_listen_config
from listen_events.patterns import SettingsError as ListenSettingsError
from mq_producer import settings as producer_settings
from mq_producer.checks import SettingsError as ProducerSettingsError
from mq_producer.config import load_config as load_producer_config
from mq_producer.transports.factory import make_transport
from tests.support.settings import settings_with


class Opaque:
    """A value of no type any setting takes."""

    def __repr__(self) -> str:
        return "Opaque()"


NON_FINITE = (math.nan, math.inf, -math.inf)
ODD_VALUES = [None, True, 0, -1, 1.5, *NON_FINITE, "", "x", "(", [], [None], [1], ["("], (),
              {}, {"x": None}, {"x": 1}, {"x": "("}, {1: "x"}, Opaque()]
AMQP = {"KYTOS_MQ_URL": "amqp://guest:guest@127.0.0.1/"}
NATS = {"KYTOS_MQ_TRANSPORT": "jetstream", "KYTOS_NATS_URL": "nats://127.0.0.1:4222"}
# Not read in that environment: KYTOS_MQ_TRANSPORT overrides TRANSPORT; JETSTREAM is the
# jetstream transport's.
UNREAD = {("TRANSPORT", "jetstream"), ("JETSTREAM", "amqp")}


def _names(module: types.ModuleType) -> list[str]:
    return [name for name in vars(module) if name.isupper() and not name.startswith("_")]


def _cases(module: types.ModuleType) -> list[tuple[str, object]]:
    return [(name, value) for name in _names(module) for value in ODD_VALUES]


def _ids(case: tuple[str, object]) -> str:
    return f"{case[0]}={case[1]!r}"


@pytest.mark.parametrize("case", _cases(listen_settings), ids=_ids)
def test_a_listen_events_setting_of_any_value_loads_or_is_named(case):
    name, value = case
    try:
        load_listen_config(settings_with(listen_settings, **{name: value}), {})
    except ListenSettingsError as exc:
        assert name in str(exc), str(exc)
    else:
        assert value not in NON_FINITE, f"{name} = {value!r} was taken"


@pytest.mark.parametrize("transport", ["amqp", "jetstream"])
@pytest.mark.parametrize("case", _cases(producer_settings), ids=_ids)
def test_an_mq_producer_setting_of_any_value_loads_or_is_named(case, transport):
    name, value = case
    environ = AMQP if transport == "amqp" else NATS
    try:
        config = load_producer_config(settings_with(producer_settings, **{name: value}),
                                      environ)
        make_transport(config, environ,
                       settings=settings_with(producer_settings, **{name: value}))
    except ProducerSettingsError as exc:
        assert name in str(exc), str(exc)
    else:
        assert value not in NON_FINITE or (name, transport) in UNREAD, \
            f"{name} = {value!r} was taken"


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize(("setting", "key"), [("LINK_STATUS", "refresh_after"),
                                              ("JETSTREAM", "max_age"),
                                              ("JETSTREAM", "duplicate_window")])
def test_a_non_finite_number_in_a_dict_setting_is_named(setting, key, value):
    """NaN passes every comparison's 'not': RETRY_INTERVAL = nan once made the retries'
    back-off grow without bound, as min(x, nan) is x."""
    environ = NATS if setting == "JETSTREAM" else AMQP
    changed = settings_with(producer_settings, **{
        setting: {**(getattr(producer_settings, setting, None) or {}), key: value}})
    with pytest.raises(ProducerSettingsError, match=f"{setting}.{key}"):
        make_transport(load_producer_config(changed, environ), environ, settings=changed)
