import types

import pytest

from mq_producer import settings
from mq_producer.checks import SettingsError
from mq_producer.config import QueueSpec, load_config
from mq_producer.transports.amqp.broker import broker_from_env
from tests.support.settings import settings_with


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


def test_kytos_mq_tls_that_agrees_with_the_url_is_taken():
    for url, tls in (("amqps://u:p@h/", "true"), ("amqp://u:p@h/", "false"),
                     ("amqp://u:p@h/", "")):
        assert broker_from_env({"KYTOS_MQ_URL": url, "KYTOS_MQ_TLS": tls}).scheme == \
            url.partition(":")[0]


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
    ({"KYTOS_MQ_URL": "amqp://u:p@h/", "KYTOS_MQ_TLS": "maybe"}, "KYTOS_MQ_TLS: expected"),
    ({"KYTOS_MQ_URL": "amqp://u:p@h/", "KYTOS_MQ_TLS": "true"},
     "KYTOS_MQ_TLS: 'true' contradicts KYTOS_MQ_URL's amqp://"),
    ({"KYTOS_MQ_URL": "amqps://u:p@h/", "KYTOS_MQ_TLS": "no"},
     "KYTOS_MQ_TLS: 'no' contradicts KYTOS_MQ_URL's amqps://"),
])
def test_bad_environment_names_the_variable(environ, message):
    with pytest.raises(SettingsError, match=message) as error:
        broker_from_env(environ)
    assert "p@" not in str(error.value)


def _settings(**overrides):
    return settings_with(settings, **overrides)


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



NNI_PORT = {"id": "urn:sdx:port:amlight.net:s1:1", "kind": "nni", "metadata": {}}


@pytest.mark.parametrize(("nni", "has_queue"), [(True, True), (False, False)])
def test_link_status_nni_decides_whether_nni_ports_have_status_queues(nni, has_queue):
    link_status = {**settings.LINK_STATUS, "enabled": True, "nni": nni, "link_ids": []}
    config = load_config(_settings(LINK_STATUS=link_status), ENV).link_status
    assert config.is_interdomain(NNI_PORT) is has_queue
    # A port listed by id has one all the same; a Kytos link is not an NNI port.
    listed = {**link_status, "link_ids": [NNI_PORT["id"]]}
    assert load_config(_settings(LINK_STATUS=listed), ENV).link_status.is_interdomain(NNI_PORT)
    assert not config.is_interdomain({**NNI_PORT, "kind": "link"})


def test_link_status_nni_must_be_a_boolean():
    link_status = {**settings.LINK_STATUS, "nni": "no"}
    with pytest.raises(SettingsError, match=r"LINK_STATUS\.nni: expected True or False"):
        load_config(_settings(LINK_STATUS=link_status), ENV)

# -- NAPP_QUEUES and VERBOSE_QUEUE ---------------------------------------------------------------

BOUNDED = {"x-max-length": 100_000, "x-max-length-bytes": 64 * 1024 * 1024}
EXCHANGES = ("admin_events", "operational_events", "other_events")


def _own_queues(config):
    """The specs of NAPP_QUEUES and VERBOSE_QUEUE (after QUEUES'), by queue name."""
    by_name: dict[str, list[QueueSpec]] = {}
    for spec in config.queues[len(settings.QUEUES):]:
        by_name.setdefault(spec.name, []).append(spec)
    return by_name


def test_default_napp_queues_and_verbose_queue():
    config = load_config(_settings(), ENV)
    assert config.queues[:len(settings.QUEUES)] == tuple(
        QueueSpec(q["queue"], q["exchange"], q["binding"], q["arguments"])
        for q in settings.QUEUES)
    napps = ("kytos/topology", "kytos/of_core", "version/control", "kytos/listen_events",
             "kytos/mef_eline",
             "kytos/flow_manager", "kytos/of_lldp", "kytos/maintenance")
    assert config.napp_queues.napps == napps
    by_name = _own_queues(config)
    assert list(by_name) == [f"napp.{napp}" for napp in napps] + ["verbose"]
    for napp in napps:  # bound to every exchange of ROUTES, the pattern rendered for the NApp
        assert by_name[f"napp.{napp}"] == [QueueSpec(f"napp.{napp}", exchange, f"*.{napp}.#",
                                                     BOUNDED) for exchange in EXCHANGES]
    assert by_name["verbose"] == [QueueSpec("verbose", exchange, "#", BOUNDED)
                                  for exchange in EXCHANGES]
    # no dead-letter exchange: what the caps drop would pile up in DEAD_LETTER's queue
    assert all("x-dead-letter-exchange" not in spec.arguments for spec in config.queues)


def test_napp_queues_follow_routes_and_the_settings():
    config = load_config(_settings(
        ROUTES=[{"exchange": "one", "routing_key": "{napp}.{event_name}"},
                {"event_class": "x", "exchange": "two", "routing_key": "{napp}"}],
        QUEUES=[],
        NAPP_QUEUES={"enabled": True, "prefix": "", "napps": ["amlight/sdntrace"],
                     "binding": "{napp}.#", "arguments": {}},
        VERBOSE_QUEUE={"enabled": True, "queue": "everything", "arguments": {"x-max-length": 5}}),
        ENV)
    assert config.queues == (
        QueueSpec("amlight/sdntrace", "one", "amlight/sdntrace.#", {}),
        QueueSpec("amlight/sdntrace", "two", "amlight/sdntrace.#", {}),
        QueueSpec("everything", "one", "#", {"x-max-length": 5}),
        QueueSpec("everything", "two", "#", {"x-max-length": 5}))


@pytest.mark.parametrize("overrides", [
    {"NAPP_QUEUES": {"enabled": False}, "VERBOSE_QUEUE": {"enabled": False}},
    {"NAPP_QUEUES": {**settings.NAPP_QUEUES, "enabled": False},
     "VERBOSE_QUEUE": {**settings.VERBOSE_QUEUE, "enabled": False}},
])
def test_disabled_napp_queues_and_verbose_queue_declare_nothing(overrides):
    config = load_config(_settings(**overrides), ENV)
    assert _own_queues(config) == {}
    assert not config.napp_queues.enabled and not config.verbose_queue.enabled


def test_settings_of_before_napp_queues_have_none():
    module = _settings()
    del module.NAPP_QUEUES, module.VERBOSE_QUEUE
    assert _own_queues(load_config(module, ENV)) == {}


def _napp_queues(**changes):
    return {"NAPP_QUEUES": {**settings.NAPP_QUEUES, **changes}}


@pytest.mark.parametrize(("overrides", "message"), [
    ({"NAPP_QUEUES": ["kytos/topology"]}, r"NAPP_QUEUES: expected a dict"),
    ({"NAPP_QUEUES": {**settings.NAPP_QUEUES, "exchange": "e"}}, r"NAPP_QUEUES: expected"),
    ({"NAPP_QUEUES": {"enabled": True}}, r"NAPP_QUEUES: missing \['arguments', 'binding'"),
    (_napp_queues(enabled="yes"), r"NAPP_QUEUES\.enabled: expected True or False"),
    (_napp_queues(prefix="amq.napp."), r"NAPP_QUEUES\.prefix"),
    (_napp_queues(prefix="napp "), r"NAPP_QUEUES\.prefix"),
    (_napp_queues(prefix=None), r"NAPP_QUEUES\.prefix"),
    (_napp_queues(napps="kytos/topology"), r"NAPP_QUEUES\.napps: expected a list"),
    (_napp_queues(napps=["kytos/topology", "topology"]), r"NAPP_QUEUES\.napps\[1\]"),
    (_napp_queues(napps=["kytos/topology.x"]), r"NAPP_QUEUES\.napps\[0\]"),
    (_napp_queues(napps=["kytos/*"]), r"NAPP_QUEUES\.napps\[0\]"),
    (_napp_queues(napps=["a/b", "a/b"]), r"NAPP_QUEUES\.napps\[1\]: 'a/b' is listed twice"),
    (_napp_queues(prefix="p" * 120, napps=["kytos/" + "n" * 80]),
     r"NAPP_QUEUES\.napps\[0\]: its queue"),
    (_napp_queues(binding="#"), r"NAPP_QUEUES\.binding: expected a binding pattern using"),
    (_napp_queues(binding="*.{napp}.{event_name}"), r"NAPP_QUEUES\.binding"),
    (_napp_queues(binding="*.{napp"), r"NAPP_QUEUES\.binding"),
    (_napp_queues(binding=None), r"NAPP_QUEUES\.binding"),
    (_napp_queues(binding="{napp}" * 20), r"NAPP_QUEUES\.binding: over 255 bytes"),
    (_napp_queues(arguments=[("x-max-length", 1)]), r"NAPP_QUEUES\.arguments"),
    ({"VERBOSE_QUEUE": "verbose"}, r"VERBOSE_QUEUE: expected a dict"),
    ({"VERBOSE_QUEUE": {"enabled": True, "queue": "v"}}, r"VERBOSE_QUEUE: missing"),
    ({"VERBOSE_QUEUE": {**settings.VERBOSE_QUEUE, "enabled": 1}}, r"VERBOSE_QUEUE\.enabled"),
    ({"VERBOSE_QUEUE": {**settings.VERBOSE_QUEUE, "queue": ""}}, r"VERBOSE_QUEUE\.queue"),
    ({"VERBOSE_QUEUE": {**settings.VERBOSE_QUEUE, "arguments": None}},
     r"VERBOSE_QUEUE\.arguments"),
    # names apart from the other queues'
    ({"VERBOSE_QUEUE": {**settings.VERBOSE_QUEUE, "queue": "napp.kytos/topology"}},
     r"VERBOSE_QUEUE: queue 'napp.kytos/topology' is also NAPP_QUEUES'"),
    ({"VERBOSE_QUEUE": {**settings.VERBOSE_QUEUE, "queue": "kytos_events.dead"}},
     r"VERBOSE_QUEUE: queue 'kytos_events.dead' is also DEAD_LETTER's"),
    ({"QUEUES": [{"queue": "verbose", "exchange": "admin_events", "binding": "#"}]},
     r"VERBOSE_QUEUE: queue 'verbose' is also QUEUES'"),
    (_napp_queues(prefix="interdomain_link."), r"NAPP_QUEUES: queue 'interdomain_link\.kytos/"
                                               r"topology' starts with LINK_STATUS"),
    ({"QUEUES": [{"queue": "q", "exchange": "a", "binding": "#"},
                 {"queue": "q", "exchange": "b", "binding": "#", "arguments": {"x": 1}}]},
     r"QUEUES: queue 'q' is listed with different arguments"),
])
def test_bad_napp_or_verbose_queue_settings_name_the_setting(overrides, message):
    with pytest.raises(SettingsError, match=message):
        load_config(_settings(**overrides), ENV)
