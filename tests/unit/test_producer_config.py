import types

import pytest

from mq_producer import settings
from mq_producer.checks import SettingsError
from mq_producer.config import load_config
from mq_producer.transports.amqp.broker import broker_from_env


def test_url_with_tls_and_vhost():
    broker = broker_from_env({"KYTOS_MQ_URL": "amqps://sdx:s3cr%40t@mq.example:5671/oxp%2Fa"})
    assert (broker.scheme, broker.host, broker.port, broker.username, broker.vhost) == \
        ("amqps", "mq.example", 5671, "sdx", "oxp/a")
    assert broker.password.reveal() == "s3cr@t"
    assert broker.url == "amqps://sdx:s3cr%40t@mq.example:5671/oxp%2Fa"


def test_host_variables_and_defaults():
    broker = broker_from_env({"KYTOS_MQ_HOST": "broker", "KYTOS_MQ_USERNAME": "kytos",
                              "KYTOS_MQ_PASSWORD": "pw", "KYTOS_MQ_TLS": "true"})
    assert (broker.scheme, broker.port, broker.vhost) == ("amqps", 5671, "/")
    assert broker_from_env({"KYTOS_MQ_HOST": "h"}).password.reveal() == "guest"


def test_password_never_shows():
    broker = broker_from_env({"KYTOS_MQ_URL": "amqp://u:hunter2@h/"})
    for text in (repr(broker), str(broker), broker.display, repr(broker.password)):
        assert "hunter2" not in text


@pytest.mark.parametrize(("environ", "message"), [
    ({}, "KYTOS_MQ_URL or KYTOS_MQ_HOST"),
    ({"KYTOS_MQ_URL": "http://h/"}, "KYTOS_MQ_URL: expected amqp"),
    ({"KYTOS_MQ_URL": "amqp://u:p@h:99999/"}, "KYTOS_MQ_URL: invalid port"),
    ({"KYTOS_MQ_URL": "amqp://h/"}, "KYTOS_MQ_URL: give the user and password"),
    ({"KYTOS_MQ_HOST": "h", "KYTOS_MQ_PORT": "x"}, "KYTOS_MQ_PORT"),
    ({"KYTOS_MQ_HOST": "h", "KYTOS_MQ_USERNAME": "u"}, "KYTOS_MQ_PASSWORD: required"),
    ({"KYTOS_MQ_HOST": "h", "KYTOS_MQ_TLS": "maybe"}, "KYTOS_MQ_TLS"),
])
def test_bad_environment_names_the_variable(environ, message):
    with pytest.raises(SettingsError, match=message) as error:
        broker_from_env(environ)
    assert "p@" not in str(error.value)


def _settings(**overrides):
    values = {name: getattr(settings, name) for name in dir(settings) if name.isupper()}
    values.update(overrides)
    return types.SimpleNamespace(**values)


ENV = {"KYTOS_MQ_URL": "amqp://guest:guest@127.0.0.1/"}


def test_default_settings_load():
    config = load_config(_settings(), ENV)
    assert config.router.exchanges == ("admin_events", "operational_events", "other_events")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"EXCHANGE_TYPE": "topics"}, "EXCHANGE_TYPE"),
    ({"SOURCE_EVENTS": "("}, "SOURCE_EVENTS"),
    ({"ROUTES": []}, "ROUTES: at least one"),
    ({"ROUTES": [{"exchange": "e", "routing_key": "{x}"}]}, r"ROUTES\[0\]\.routing_key"),
    ({"MAX_IN_FLIGHT": 0}, "MAX_IN_FLIGHT"),
    ({"BUFFER_SIZE": 10, "MAX_IN_FLIGHT": 20}, "BUFFER_SIZE: must be at least"),
    ({"RETRY_INTERVAL": "5"}, "RETRY_INTERVAL"),
    ({"HEARTBEAT": 1.5}, "HEARTBEAT"),
])
def test_bad_settings_name_the_setting(overrides, message):
    with pytest.raises(SettingsError, match=message):
        load_config(_settings(**overrides), ENV)


def test_broker_variables_are_read_only_for_the_amqp_transport():
    config = load_config(_settings(), {"KYTOS_MQ_TRANSPORT": "jetstream"})
    assert (config.transport, config.broker) == ("jetstream", None)
    with pytest.raises(SettingsError, match="KYTOS_MQ_URL or KYTOS_MQ_HOST"):
        load_config(_settings(), {})


def test_a_listed_link_id_whose_queue_name_is_over_255_bytes_is_refused_at_load():
    """Its status queue is declared at connect: its name and routing key are AMQP short
    strings. Refused with the setting named, rather than failing every connect."""
    link_status = {**settings.LINK_STATUS, "enabled": True, "link_ids": ["ok", "L" * 250]}
    module = types.SimpleNamespace(**{name: getattr(settings, name) for name in dir(settings)
                                      if name.isupper()})
    module.LINK_STATUS = link_status
    with pytest.raises(SettingsError, match=r"LINK_STATUS\.link_ids: 'LLL.*over the 255-byte"):
        load_config(module, {"KYTOS_MQ_URL": "amqp://u:p@h/"})
    module.LINK_STATUS = {**link_status, "link_ids": ["ok", "L" * 200]}
    assert "L" * 200 in load_config(module, {"KYTOS_MQ_URL": "amqp://u:p@h/"}).link_status.link_ids
