"""Security settings at load: TLS files, message size, malformed values, secrets in texts.

Every bad value fails in ``load_config`` / ``broker_from_env`` with a SettingsError naming the
setting or environment variable; the password appears in no error, repr or display.
"""

import json
import re
import ssl
import subprocess
import types
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listen_events import settings as listen_settings
from listen_events.config import load_config as load_listen_config
from listen_events.patterns import SettingsError as ListenSettingsError
from mq_producer import settings as producer_settings
from mq_producer.checks import SettingsError
from mq_producer.config import load_config
from mq_producer.envelopes import InvalidEnvelope, to_messages
from mq_producer.main import Main as MqProducer
from mq_producer.transports.amqp.broker import broker_from_env
from mq_producer.transports.jetstream.settings import nats_from_env
from tests.support.kytos_controller import FakeController
from tests.support.tls import Pki, make_pki, openssl_available

ENV = {"KYTOS_MQ_URL": "amqp://guest:guest@127.0.0.1/"}
TLS_URL = "amqps://kytos:Tls-Pw-9f@broker.example:5671/"


def _settings(module, **overrides):
    values = {name: getattr(module, name) for name in dir(module) if name.isupper()}
    values.update(overrides)
    return types.SimpleNamespace(**values)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if not openssl_available():
        pytest.skip("the openssl command is not installed")
    return make_pki(tmp_path_factory.mktemp("pki"))


# -- TLS files -------------------------------------------------------------------------------

def test_tls_files_give_a_verifying_context_with_the_client_certificate(pki):
    broker = broker_from_env({"KYTOS_MQ_URL": TLS_URL, "KYTOS_MQ_CA_FILE": str(pki.ca_cert),
                              "KYTOS_MQ_CERT_FILE": str(pki.client_cert),
                              "KYTOS_MQ_KEY_FILE": str(pki.client_key)})
    assert (broker.ca_file, broker.cert_file, broker.key_file) == \
        (str(pki.ca_cert), str(pki.client_cert), str(pki.client_key))
    context = broker.ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [cert["subject"] for cert in context.get_ca_certs()] == \
        [((("commonName", "kytos test ca"),),)]
    assert "Tls-Pw-9f" not in repr(broker) and "Tls-Pw-9f" not in broker.display


def test_tls_with_host_variables_and_system_cas(pki):
    broker = broker_from_env({"KYTOS_MQ_HOST": "broker", "KYTOS_MQ_USERNAME": "kytos",
                              "KYTOS_MQ_PASSWORD": "pw", "KYTOS_MQ_TLS": "true",
                              "KYTOS_MQ_CA_FILE": str(pki.ca_cert)})
    assert (broker.scheme, broker.port, broker.ca_file, broker.cert_file) == \
        ("amqps", 5671, str(pki.ca_cert), None)
    without_ca = broker_from_env({"KYTOS_MQ_URL": TLS_URL})
    assert without_ca.ssl_context().verify_mode == ssl.CERT_REQUIRED  # system CAs, verified
    assert broker_from_env(ENV).ssl_context() is None  # plain amqp


@pytest.mark.parametrize(("variables", "message"), [
    ({"KYTOS_MQ_CA_FILE": "{ca}"}, "KYTOS_MQ_CA_FILE: only meaningful with TLS"),
    ({"KYTOS_MQ_CERT_FILE": "{cert}", "KYTOS_MQ_KEY_FILE": "{key}"},
     "KYTOS_MQ_CERT_FILE: only meaningful with TLS"),
])
def test_tls_files_without_amqps_name_the_variable(pki, variables, message):
    environ = {**ENV, **{k: v.format(ca=pki.ca_cert, cert=pki.client_cert, key=pki.client_key)
                         for k, v in variables.items()}}
    with pytest.raises(SettingsError, match=message):
        broker_from_env(environ)


def _encrypted_key(directory: Path) -> Path:
    path = directory / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", str(directory / "client.key"), "-aes256",
                    "-passout", "pass:x", "-out", str(path)], check=True, capture_output=True)
    return path


@pytest.mark.parametrize(("variables", "message"), [
    ({"KYTOS_MQ_CA_FILE": "/nonexistent/ca.pem"},
     "KYTOS_MQ_CA_FILE: '/nonexistent/ca.pem' is not a file"),
    ({"KYTOS_MQ_CA_FILE": "{dir}"}, "KYTOS_MQ_CA_FILE: .* is not a file"),
    ({"KYTOS_MQ_CA_FILE": "{key}"}, "KYTOS_MQ_CA_FILE: no CA certificate"),
    ({"KYTOS_MQ_CERT_FILE": "/nonexistent/c.pem"}, "KYTOS_MQ_CERT_FILE: .* is not a file"),
    ({"KYTOS_MQ_KEY_FILE": "{key}"}, "KYTOS_MQ_KEY_FILE: given without KYTOS_MQ_CERT_FILE"),
    ({"KYTOS_MQ_CERT_FILE": "{cert}", "KYTOS_MQ_KEY_FILE": "{other_key}"},
     "KYTOS_MQ_CERT_FILE / KYTOS_MQ_KEY_FILE: cannot load .*KEY_VALUES_MISMATCH"),
    ({"KYTOS_MQ_CERT_FILE": "{cert}"},  # no key in the certificate file and none given
     "KYTOS_MQ_CERT_FILE: cannot load the client certificate"),
    ({"KYTOS_MQ_CERT_FILE": "{cert}", "KYTOS_MQ_KEY_FILE": "{encrypted}"},
     "KYTOS_MQ_KEY_FILE: .*the private key is encrypted"),
])
def test_bad_tls_files_name_the_variable(pki, variables, message):
    directory = pki.ca_cert.parent
    values = {"dir": directory, "key": pki.client_key, "cert": pki.client_cert,
              "other_key": pki.server_key, "encrypted": _encrypted_key(directory)}
    environ = {"KYTOS_MQ_URL": TLS_URL, **{k: v.format(**values) for k, v in variables.items()}}
    with pytest.raises(SettingsError, match=message) as error:
        broker_from_env(environ)
    assert "Tls-Pw-9f" not in str(error.value)


async def test_mq_producer_with_a_missing_ca_file_is_disabled_and_says_why(monkeypatch, caplog):
    monkeypatch.setenv("KYTOS_MQ_URL", TLS_URL)
    monkeypatch.setenv("KYTOS_MQ_CA_FILE", "/nonexistent/ca.pem")
    controller = FakeController()
    napp = controller.load_napp(MqProducer)  # does not raise: Kytos keeps running
    response = await napp.status(None)
    assert response.status_code == 503
    answer = json.loads(response.body)
    assert answer == {"description": "invalid setting: KYTOS_MQ_CA_FILE: '/nonexistent/ca.pem' "
                                     "is not a file", "code": 503}
    assert any("mq_producer DISABLED" in r.getMessage() and "KYTOS_MQ_CA_FILE" in r.getMessage()
               for r in caplog.records)
    assert all("Tls-Pw-9f" not in r.getMessage() for r in caplog.records)
    await controller.stop()


# -- malformed URLs and environment ---------------------------------------------------------

@pytest.mark.parametrize(("url", "message"), [
    ("amqp://u:p@[::1/", "KYTOS_MQ_URL: malformed URL"),
    ("amqp://u:p@h:0/", "KYTOS_MQ_URL: invalid port"),
    ("amqp://u:p@h:abc/", "KYTOS_MQ_URL: invalid port"),
    ("amqp://u:p@:5672/", "KYTOS_MQ_URL: no host"),
    ("amqps:/broker", "KYTOS_MQ_URL: no host"),
    ("broker:5672", "KYTOS_MQ_URL: expected amqp"),
    ("amqp://u@h/", "KYTOS_MQ_URL: give the user and password"),
])
def test_malformed_url_names_the_variable(url, message):
    with pytest.raises(SettingsError, match=message):
        broker_from_env({"KYTOS_MQ_URL": url})


def test_unescaped_password_is_not_echoed_in_the_error():
    # '/' ends the authority: "Ab/cdEFGH" splits into a port "Ab" and a path "cdEFGH@broker"
    for url in ("amqp://kytos:Ab/cdEFGH@broker/", "amqp://kytos:Ab#cdEFGH@broker/",
                "amqp://kytos:[cdEFGH]@broker/"):
        with pytest.raises(SettingsError, match="KYTOS_MQ_URL: ") as error:
            broker_from_env({"KYTOS_MQ_URL": url})
        assert "Ab" not in str(error.value) and "cdEFGH" not in str(error.value)


def test_a_url_without_scheme_is_not_quoted_either():
    # urllib takes "kytos" (the user) for the scheme of kytos:pw@broker
    for variable, load in (("KYTOS_MQ_URL", broker_from_env), ("KYTOS_NATS_URL", nats_from_env)):
        with pytest.raises(SettingsError, match=f"{variable}: expected .*, got no scheme") \
                as error:
            load({variable: "kytos:Zq9pw@broker:5672"})
        assert "kytos" not in str(error.value) and "Zq9pw" not in str(error.value)


SECRET_CHARS = "BCFGJNVXZ"
# Each variable, how it is read, and what follows the host and port in its URLs.
URL_VARIABLES = {"KYTOS_MQ_URL": (broker_from_env, "/vhost"),
                 "KYTOS_NATS_URL": (nats_from_env, "")}


@pytest.mark.parametrize("variable", URL_VARIABLES)
@settings(max_examples=1000, deadline=None)
@given(password=st.text(SECRET_CHARS + "@:/#?%[] ", min_size=8, max_size=20),
       escape=st.booleans(), user=st.text("abcdefg", min_size=1, max_size=6),
       host=st.sampled_from(["broker", "127.0.0.1", "[::1]", "", "h:"]),
       port=st.sampled_from(["", ":5671", ":0", ":99999", ":x"]),
       scheme=st.sampled_from(["amqp", "amqps", "nats", "tls", "http", ""]))
def test_any_url_loads_or_names_the_variable_and_never_shows_the_password(
        variable, password, escape, user, host, port, scheme):
    load, path = URL_VARIABLES[variable]
    secret = quote(password, safe="") if escape else password
    url = f"{scheme}://{user}:{secret}@{host}{port}{path}"
    try:
        server = load({variable: url})
    except SettingsError as exc:
        texts = [str(exc)]
        assert str(exc).startswith(variable)
    else:
        texts = [repr(server), str(server), server.display]
        if escape:
            assert server.password.reveal() == password
    pieces = [piece for piece in re.split(r"[@:/#?%\[\] ]", password) if len(piece) >= 4]
    for text in texts:
        assert password not in text
        assert secret not in text
        for piece in pieces:
            assert piece not in text


# -- MAX_MESSAGE_BYTES ----------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 100, -1, 1.5e6, "16MB", True, None])
def test_bad_max_message_bytes_names_the_setting(value):
    with pytest.raises(SettingsError, match="MAX_MESSAGE_BYTES"):
        load_config(_settings(producer_settings, MAX_MESSAGE_BYTES=value), ENV)


def test_max_message_bytes_default_and_value():
    assert load_config(_settings(producer_settings), ENV).max_message_bytes == 16 * 1024 * 1024
    assert load_config(_settings(producer_settings, MAX_MESSAGE_BYTES=65536),
                       ENV).max_message_bytes == 65536


def _envelope(size: int) -> dict:
    return {"message_id": "m1", "event_name": "kytos/topology.link_down",
            "event_class": "operational", "key": None, "content": {"blob": "x" * size}}


def test_intake_rejects_a_message_larger_than_max_message_bytes():
    config = load_config(_settings(producer_settings), ENV)
    accepted = to_messages(_envelope(4000), config.router, config.link_status, 0.0, 8192)
    assert len(accepted[0].body) <= 8192
    with pytest.raises(InvalidEnvelope, match=r"message m1 \(kytos/topology.link_down\) of "
                                              r"\d+ bytes is larger than MAX_MESSAGE_BYTES "
                                              r"\(8192\); not published"):
        to_messages(_envelope(9000), config.router, config.link_status, 0.0, 8192)


# -- other bad settings ---------------------------------------------------------------------

@pytest.mark.parametrize(("overrides", "message"), [
    ({"EXCHANGE_TYPE": "x-delayed"}, "EXCHANGE_TYPE: expected one of topic"),
    ({"ROUTES": [{"exchange": "e", "routing_key": "k", "events": "(bad"}]},
     r"ROUTES\[0\]\.events: invalid regex"),
    ({"ROUTES": [{"exchange": "e", "routing_key": "k", "priority": 1}]},
     r"ROUTES\[0\]: unknown keys \['priority'\]"),
    ({"ROUTES": [{"exchange": "amq.topic", "routing_key": "k"}]}, r"ROUTES\[0\]\.exchange"),
    ({"ROUTES": [{"exchange": "e", "routing_key": "{event_name"}]},
     r"ROUTES\[0\]\.routing_key: malformed template"),
    ({"QUEUES": [{"queue": "q", "exchange": "e"}]}, r"QUEUES\[0\]\.binding"),
    ({"QUEUES": [{"queue": "q", "exchange": "e", "binding": "#", "durable": False}]},
     r"QUEUES\[0\]: expected a dict"),
    ({"QUEUES": "q"}, "QUEUES: expected a list"),
    ({"LINK_STATUS": {"enabled": True}}, "LINK_STATUS: expected a dict with"),
    ({"LINK_STATUS": {**producer_settings.LINK_STATUS, "enabled": "yes"}},
     "LINK_STATUS.enabled"),
    ({"DEAD_LETTER": "amq.dead"}, "DEAD_LETTER"),
    ({"PUBLISH_TIMEOUT": -1}, "PUBLISH_TIMEOUT"),
    ({"SOURCE_EVENTS": None}, "SOURCE_EVENTS: invalid regex"),
])
def test_bad_producer_settings_name_the_setting(overrides, message):
    with pytest.raises(SettingsError, match=message):
        load_config(_settings(producer_settings, **overrides), ENV)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"ALLOW_EVENTS": ["kytos/topology.link_*", "[z-a]"]}, r"ALLOW_EVENTS\[1\]: invalid regex"),
    ({"ALLOW_EVENTS": "kytos/.*"}, "ALLOW_EVENTS: expected a list"),
    ({"CONTENT_RULES": [{"path": "link.metadata", "equals": 1, "contains": 2}]},
     r"CONTENT_RULES\[0\]: unknown keys"),
    ({"CONTENT_RULES": [{"path": "a..b", "equals": 1}]}, r"CONTENT_RULES\[0\]\.path"),
    ({"CONTENT_RULES": [{"path": "a", "equals": 1, "exists": True}]},
     r"CONTENT_RULES\[0\]: give exactly one"),
    ({"CONTENT_RULES": [{"events": "(", "path": "a", "exists": True}]},
     r"CONTENT_RULES\[0\]\.events\[0\]: invalid regex"),
    ({"CLASSES": {"two words": ["x"]}}, "CLASSES: class name 'two words'"),
    ({"OPERATIONAL_CLASSES": ["nonexistent"]}, "OPERATIONAL_CLASSES: unknown classes"),
    ({"SUBSCRIBED_EVENTS": []}, "SUBSCRIBED_EVENTS: at least one pattern"),
    ({"SNAPSHOT_CLASS": "a.b"}, "SNAPSHOT_CLASS"),
    ({"SNAPSHOT_ON_TOPOLOGY_LOADED": "yes"}, "SNAPSHOT_ON_TOPOLOGY_LOADED"),
])
def test_bad_listen_settings_name_the_setting(overrides, message):
    with pytest.raises(ListenSettingsError, match=message):
        load_listen_config(_settings(listen_settings, **overrides), {})
