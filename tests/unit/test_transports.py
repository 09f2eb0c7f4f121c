"""Choosing the transport, the JetStream naming rules, and who imports which client."""

import ast
import dataclasses
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mq_producer
from mq_producer import settings
from mq_producer.checks import SettingsError
from mq_producer.config import load_config
from mq_producer.transports.amqp.transport import AmqpTransport
from mq_producer.transports.base import Transport
from mq_producer.transports.factory import make_transport
from mq_producer.transports.jetstream.settings import jetstream_options, nats_from_env
from mq_producer.transports.jetstream.subjects import (
    destination,
    destinations_for,
    stream_name,
    subject,
    tokens,
)
from mq_producer.transports.jetstream.transport import JetStreamTransport

AMQP_ENV = {"KYTOS_MQ_URL": "amqp://u:p@localhost/"}
NATS_ENV = {**AMQP_ENV, "KYTOS_MQ_TRANSPORT": "jetstream",
            "KYTOS_NATS_URL": "nats://kytos:hunter2@nats.example:4223"}

# Client libraries and the one transports/ package allowed to import each.
CLIENTS = {"aio_pika": "amqp", "aiormq": "amqp", "pamqp": "amqp", "nats": "jetstream"}
PACKAGE = Path(mq_producer.__file__).parent


def module_imports(path: Path) -> tuple[set[str], set[str]]:
    """The roots of the absolute imports, and the mq_producer modules imported (relative
    imports resolved), at any depth: a lazy import inside a function counts too."""
    tree = ast.parse(path.read_text(), str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    here = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package = here[:-1]
    internal: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            target = [*base, *(node.module.split(".") if node.module else [])]
            for alias in node.names:
                candidate = PACKAGE.parent.joinpath(*target, alias.name)
                name = [*target, alias.name] if candidate.with_suffix(".py").exists() \
                    or candidate.is_dir() else target
                internal.add(".".join(name))
    return roots, internal


def test_only_the_transport_packages_import_a_broker_client():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 20
    offenders = []
    for path in modules:
        parts = path.relative_to(PACKAGE).parts
        for root in module_imports(path)[0] & set(CLIENTS):
            if parts[:2] != ("transports", CLIENTS[root]):
                offenders.append(f"{'/'.join(parts)} imports {root}")
    assert offenders == []
    # and the check sees the imports it is about
    assert {"aio_pika", "aiormq"} <= module_imports(PACKAGE / "transports/amqp/transport.py")[0]
    assert "nats" in module_imports(PACKAGE / "transports/jetstream/transport.py")[0]


def test_mq_producer_modules_import_each_other_without_cycles():
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        graph[name.removesuffix(".__init__")] = module_imports(path)[1]
    assert "mq_producer.transports.amqp.frames" in graph["mq_producer.transports.amqp.transport"]
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for imported in graph.get(module, ()):
            visit(imported, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())


def test_the_settings_and_the_factory_load_no_client_library():
    code = ("import sys, mq_producer.config, mq_producer.transports.factory, "
            "mq_producer.transports.jetstream.settings; "
            "print(sorted({'aio_pika', 'aiormq', 'nats'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=PACKAGE.parent, check=True)
    assert result.stdout.strip() == "[]"


def config(**changes):
    return dataclasses.replace(load_config(settings, AMQP_ENV), **changes)


def settings_with(**setting_values) -> types.SimpleNamespace:
    module = types.SimpleNamespace(**{name: getattr(settings, name) for name in dir(settings)
                                      if name.isupper()})
    for name, value in setting_values.items():
        setattr(module, name, value)
    return module


def selected(environ, **setting_values) -> object:
    module = settings_with(**setting_values)
    return make_transport(load_config(module, environ), environ, settings=module)


def test_amqp_is_the_default_and_both_satisfy_the_interface():
    amqp = selected(AMQP_ENV)
    jetstream = selected(NATS_ENV)
    assert isinstance(amqp, AmqpTransport) and isinstance(jetstream, JetStreamTransport)
    members = [name for name in vars(Transport) if not name.startswith("_")]
    assert set(members) == {"description", "connected", "destinations", "queues", "on_lost",
                            "on_blocked", "ready", "on_ready", "answers_wanted",
                            "connect", "publish", "publish_alone", "can_publish_now", "publish_now",
                            "close", "abandon", "status_copies", "purge_status", "declare_again",
                            "destination", "unusable_exchanges", "check_exchange"}
    for transport in (amqp, jetstream):
        for name in members:
            assert hasattr(transport, name), (type(transport).__name__, name)
        assert transport.connected is False
    assert make_transport(config(), AMQP_ENV).__class__ is AmqpTransport  # settings module


def test_setting_and_environment_choose_and_the_environment_wins():
    env = {k: v for k, v in NATS_ENV.items() if k != "KYTOS_MQ_TRANSPORT"}
    assert isinstance(selected(env, TRANSPORT="jetstream"), JetStreamTransport)
    assert isinstance(selected({**env, "KYTOS_MQ_TRANSPORT": "AMQP"}, TRANSPORT="jetstream"),
                      AmqpTransport)
    assert isinstance(selected({**env, "KYTOS_MQ_TRANSPORT": "jetstream"}), JetStreamTransport)


@pytest.mark.parametrize(("environ", "values", "message"), [
    (AMQP_ENV, {"TRANSPORT": "kafka"}, "TRANSPORT: expected one of amqp, jetstream"),
    ({**AMQP_ENV, "KYTOS_MQ_TRANSPORT": "mqtt"}, {}, "KYTOS_MQ_TRANSPORT: expected one of"),
    ({**AMQP_ENV, "KYTOS_MQ_TRANSPORT": "jetstream"}, {}, "KYTOS_NATS_URL: required"),
    ({**NATS_ENV, "KYTOS_NATS_URL": "amqp://h/"}, {}, "KYTOS_NATS_URL: expected nats://"),
    ({**NATS_ENV, "KYTOS_NATS_URL": "nats://h:99999"}, {}, "KYTOS_NATS_URL: invalid port"),
    ({**NATS_ENV, "KYTOS_NATS_URL": "nats://h:4222/x"}, {}, "KYTOS_NATS_URL: expected no path"),
    ({**NATS_ENV, "KYTOS_NATS_URL": "nats://:pw@h"}, {}, "KYTOS_NATS_URL: a password without"),
    (NATS_ENV, {"JETSTREAM": {"max_msgs": 0}}, "JETSTREAM.max_msgs"),
    (NATS_ENV, {"JETSTREAM": {"storage": "disk"}}, "JETSTREAM.storage"),
    (NATS_ENV, {"JETSTREAM": {"replicas": 7}}, "JETSTREAM.replicas"),
    (NATS_ENV, {"JETSTREAM": {"duplicate_window": 0}}, "JETSTREAM.duplicate_window"),
    (NATS_ENV, {"JETSTREAM": {"max_age": 60, "duplicate_window": 120}},
     "JETSTREAM.duplicate_window: must not exceed max_age"),
    (NATS_ENV, {"JETSTREAM": {"retention": "interest"}}, "JETSTREAM: expected a dict"),
])
def test_bad_values_name_the_setting_or_variable(environ, values, message):
    with pytest.raises(SettingsError, match=message) as error:
        selected(environ, **values)
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize(("exchanges", "message"), [
    (["kytos.events", "kytos_events"], "both map to JetStream stream 'kytos_events'"),
    (["kytos", "kytos.admin"], "overlapping JetStream subjects"),
])
def test_exchanges_that_would_clash_on_jetstream_are_refused(exchanges, message):
    routes = [{"exchange": exchanges[0], "event_class": "operational",
               "routing_key": "{event_name}"},
              {"exchange": exchanges[1], "routing_key": "{event_name}"}]
    with pytest.raises(SettingsError, match=f"ROUTES / LINK_STATUS.exchange: .*{message}"):
        selected(NATS_ENV, ROUTES=routes)
    assert isinstance(selected(AMQP_ENV, ROUTES=routes), AmqpTransport)


def test_nats_url_forms_and_the_secret_never_shows():
    server = nats_from_env({"KYTOS_NATS_URL": "nats://kytos:s3cr%40t@broker:4333"})
    assert (server.host, server.port, server.username) == ("broker", 4333, "kytos")
    assert server.password.reveal() == "s3cr@t" and server.server == "nats://broker:4333"
    assert server.display == "nats://kytos:***@broker:4333"
    token = nats_from_env({"KYTOS_NATS_URL": "tls://t0ken@[::1]"})
    assert (token.scheme, token.port, token.token.reveal()) == ("tls", 4222, "t0ken")
    assert token.server == "tls://[::1]:4222" and "t0ken" not in token.display
    plain = nats_from_env({"KYTOS_NATS_URL": "nats://127.0.0.1"})
    assert plain.display == plain.server == "nats://127.0.0.1:4222"
    transport = selected(NATS_ENV)
    for text in (repr(server), str(server), transport.description, repr(transport)):
        assert "s3cr@t" not in text and "hunter2" not in text


def test_jetstream_options_default_from_settings():
    options = jetstream_options(settings.JETSTREAM)
    assert (options.max_msgs, options.duplicate_window, options.storage) == \
        (100_000, 120, "file")
    assert jetstream_options(None).max_msgs == 100_000


# -- subjects ----------------------------------------------------------------------------


def test_the_documented_subject_mapping():
    operational = destination("operational_events")
    assert (operational.stream, operational.filter) == \
        ("operational_events", "operational_events.>")
    assert subject(operational, "operational.kytos/topology.link_down") == \
        "operational_events.operational.kytos/topology.link_down"
    assert subject(operational, "administrative.kytos/topology.switch.enabled") == \
        "operational_events.administrative.kytos/topology.switch.enabled"
    assert subject(destination("interdomain_links"), "24b1a3") == "interdomain_links.24b1a3"
    dotted = destination("test-1a2b.operational_events")
    assert (dotted.stream, dotted.root) == ("test-1a2b_operational_events",
                                            "test-1a2b.operational_events")
    assert stream_name("kytos_events.dead:x/y") == "kytos_events_dead_x_y"
    assert tokens("a b.c*d.e>f.g%h") == "a%20b.c%2Ad.e%3Ef.g%25h"
    assert tokens("a..b.") == "a.%.b.%" and tokens("") == "%"
    assert tokens("tab\there.é") == "tab%09here.é"


def test_clashes():
    with pytest.raises(ValueError, match="overlapping"):
        destinations_for(["x.y", "x"])
    with pytest.raises(ValueError, match="both map"):
        destinations_for(["x:y", "x-y", "x_y"])
    assert set(destinations_for(["a", "ab", "a_b", "a-b"])) == {"a", "ab", "a_b", "a-b"}


_FORBIDDEN = set(" \t\r\n*>")


@given(st.text(max_size=40), st.text(max_size=40))
def test_subjects_are_always_valid_and_one_to_one(first: str, second: str):
    dest = destination("operational_events")
    for routing_key in (first, second):
        name = subject(dest, routing_key)
        assert all(token for token in name.split("."))
        assert not _FORBIDDEN & set(name) and not any(ch.isspace() for ch in name)
        assert name.startswith("operational_events.")
        assert name.count(".") == routing_key.count(".") + 1  # one token per AMQP word
    if first != second:
        assert subject(dest, first) != subject(dest, second)


# -- the NApp ------------------------------------------------------------------------------


@pytest.mark.parametrize(("variables", "message"), [
    ({"KYTOS_MQ_TRANSPORT": "kafka"}, "KYTOS_MQ_TRANSPORT: expected one of amqp, jetstream"),
    ({"KYTOS_MQ_TRANSPORT": "jetstream", "KYTOS_NATS_URL": "http://kytos:hunter2@nats/"},
     "KYTOS_NATS_URL: expected nats://"),
])
async def test_mq_producer_with_a_bad_transport_is_disabled_and_says_why(
        monkeypatch, caplog, variables, message):
    from mq_producer.main import Main as MqProducer
    from tests.support.kytos_controller import FakeController

    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    controller = FakeController()
    napp = controller.load_napp(MqProducer)  # does not raise
    response = await napp.status(None)
    assert response.status_code == 503
    assert message in json.loads(response.body)["description"]
    assert "hunter2" not in response.body.decode() and "hunter2" not in caplog.text
    assert any("mq_producer DISABLED" in r.getMessage() and message in r.getMessage()
               for r in caplog.records)
    await controller.stop()
