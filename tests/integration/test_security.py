"""Security against a private RabbitMQ node with a TLS listener that requires client
certificates, and users with least privilege (docs/operating.rst, "Security").

- TLS: producer and consumer connect with verification on, through the certificates the test
  makes; a wrong CA or a missing client certificate is a clear error naming the broker without
  its password (log line, status ``last_error``, consumer exception, ``mq-consumer`` stderr).
- Least privilege: a producer user that may only write to its exchanges publishes when they
  exist and reports a missing one as needing an administrator, then recovers once it is
  declared; a consumer user may read only its own queue.
- Secrets: during failing and succeeding connections every log line of every logger at DEBUG,
  every status answer, error and repr is searched for the passwords.
"""

import asyncio
import json
import logging
import os
import secrets
import subprocess
import sys
import traceback
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import aio_pika
import aiormq
import pytest
from kytos.core import KytosEvent

from mq_consumer.consumer import (
    Binding,
    ConsumerConnectionError,
    ConsumerOptions,
    EventConsumer,
)
from mq_producer.transports.amqp.broker import broker_from_env
from tests.support.napp_stack import Stack
from tests.support.rabbit_node import RabbitNode, free_port, rabbitmq_available
from tests.support.tls import Pki, broker_tls_config, make_pki, openssl_available
from tests.support.topology import make_link
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.private_broker,
    pytest.mark.skipif(not rabbitmq_available(), reason="RabbitMQ server binaries not "
                       "installed (scripts/setup installs them)"),
    pytest.mark.skipif(not openssl_available(), reason="the openssl command is not installed"),
]

# Passwords with characters that must be escaped in a URL: both forms are searched for.
PRODUCER_USER, PRODUCER_PW = "kytos_producer", f"Prod/{secrets.token_hex(6)}@!"
CONSUMER_USER, CONSUMER_PW = "sdx_consumer", f"Cons?{secrets.token_hex(6)}#%"
WRONG_PW = f"Wrong:{secrets.token_hex(6)}"

EXCHANGES = ("sec_admin", "sec_oper", "sec_other")
LATE_EXCHANGE = "sec_late"  # the producer may write to it, nobody declares it in advance
DEAD = "sec_dead"
CONSUMER_QUEUE = "sdx_links"
# What docs/operating.rst "Security" tells an administrator to run, with this test's names.
PRODUCER_PERMISSIONS = ("^$", "^sec_(admin|oper|other|late)$", "^$")
# A producer with LINK_STATUS declares each interdomain link's queue and binds it; RabbitMQ
# wants 'read' on a queue declared with a dead-letter exchange, and 'write' on that exchange.
LINKS_USER, LINKS_PW = "kytos_links", f"Links&{secrets.token_hex(6)}"
LINKS_EXCHANGE, LINK_QUEUE_PREFIX = "sec_links", "sec_link."
LINKS_PERMISSIONS = (r"^sec_link\..*$", r"^(sec_(admin|oper|other|links|dead)|sec_link\..*)$",
                     r"^(sec_links|sec_link\..*)$")
SECRETS = [PRODUCER_PW, CONSUMER_PW, WRONG_PW, LINKS_PW]
CONSUMER_PERMISSIONS = (f"^({CONSUMER_QUEUE}|{DEAD})$", f"^({CONSUMER_QUEUE}|{DEAD})$",
                        f"^({CONSUMER_QUEUE}|{DEAD}|sec_oper)$")


@dataclass
class TlsNode:
    rabbit: RabbitNode
    pki: Pki
    tls_port: int

    def url(self, user: str, password: str, port: int | None = None,
            scheme: str = "amqps") -> str:
        return (f"{scheme}://{user}:{quote(password, safe='')}@127.0.0.1:"
                f"{port or self.tls_port}/")

    def env(self, user: str, password: str, *, ca: Path | None = None,
            client_cert: bool = True) -> dict[str, str]:
        env = {"KYTOS_MQ_URL": self.url(user, password),
               "KYTOS_MQ_CA_FILE": str(ca or self.pki.ca_cert)}
        if client_cert:
            env |= {"KYTOS_MQ_CERT_FILE": str(self.pki.client_cert),
                    "KYTOS_MQ_KEY_FILE": str(self.pki.client_key)}
        return env

    def display(self, user: str) -> str:
        return f"amqps://{user}:***@127.0.0.1:{self.tls_port}/%2F"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsNode]:
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    tls_port = free_port()
    rabbit = RabbitNode(tmp_path_factory.mktemp("rabbit"),
                        extra_config=broker_tls_config(pki, tls_port))
    rabbit.start()
    try:
        for user, password, permissions in ((PRODUCER_USER, PRODUCER_PW, PRODUCER_PERMISSIONS),
                                            (CONSUMER_USER, CONSUMER_PW, CONSUMER_PERMISSIONS),
                                            (LINKS_USER, LINKS_PW, LINKS_PERMISSIONS)):
            rabbit.rabbitmqctl("add_user", user, password)
            rabbit.rabbitmqctl("set_permissions", "-p", "/", user, *permissions)
        asyncio.run(_declare_topology(rabbit.url))
        yield TlsNode(rabbit, pki, tls_port)
        for user in (PRODUCER_USER, CONSUMER_USER, LINKS_USER):
            rabbit.rabbitmqctl("delete_user", user)
        assert PRODUCER_USER not in rabbit.rabbitmqctl("list_users")
    finally:
        rabbit.stop()


async def _declare_topology(admin_url: str) -> None:
    """What an administrator declares for users without 'configure' permission."""
    connection = await aio_pika.connect(admin_url)
    channel = await connection.channel()
    for name in (*EXCHANGES, LINKS_EXCHANGE):
        await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
    dead = await channel.declare_exchange(DEAD, aio_pika.ExchangeType.FANOUT, durable=True)
    dead_queue = await channel.declare_queue(DEAD, durable=True)
    await dead_queue.bind(dead)
    await channel.declare_queue("someone_elses_queue", durable=True)
    await connection.close()


@pytest.fixture
def producer_settings(monkeypatch: pytest.MonkeyPatch):
    from mq_producer import settings

    monkeypatch.setattr(settings, "NAPP_QUEUES", {"enabled": False})
    monkeypatch.setattr(settings, "VERBOSE_QUEUE", {"enabled": False})
    monkeypatch.setattr(settings, "ROUTES", [
        {"event_class": "administrative", "exchange": "sec_admin",
         "routing_key": "{event_class}.{event_name}"},
        {"event_class": "operational", "exchange": "sec_oper",
         "routing_key": "{event_class}.{event_name}"},
        {"exchange": "sec_other", "routing_key": "{event_class}.{event_name}"}])
    monkeypatch.setattr(settings, "QUEUES", [])
    monkeypatch.setattr(settings, "LINK_STATUS", {**settings.LINK_STATUS, "enabled": False})
    monkeypatch.setattr(settings, "DEAD_LETTER", DEAD)
    monkeypatch.setattr(settings, "RETRY_INTERVAL", 0.3)
    monkeypatch.setattr(settings, "PUBLISH_TIMEOUT", 3.0)
    return settings


TLS_VARIABLES = ("KYTOS_MQ_URL", "KYTOS_MQ_CA_FILE", "KYTOS_MQ_CERT_FILE", "KYTOS_MQ_KEY_FILE")


@pytest.fixture
async def stacks(monkeypatch: pytest.MonkeyPatch, producer_settings) -> AsyncIterator:
    """make(env): both NApps with mq_producer configured by ``env`` (as kytosd's environment)."""
    made: list[Stack] = []

    def make(env: dict[str, str]) -> Stack:
        for name in TLS_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        stack = Stack.start()
        assert stack.producer.publisher is not None, stack.producer.disabled_reason
        made.append(stack)
        return stack

    yield make
    for stack in made:
        await stack.stop()


@pytest.fixture
async def consumers() -> AsyncIterator:
    started: list[EventConsumer] = []

    def make(env: dict[str, str], handler) -> EventConsumer:
        consumer = EventConsumer(broker_from_env(env), ConsumerOptions(
            [Binding("sec_oper", "#")], queue=CONSUMER_QUEUE, dead_letter=DEAD,
            declare_exchanges=False), handler)
        started.append(consumer)
        return consumer

    yield make
    for consumer in started:
        await consumer.close()


async def _connected(stack: Stack) -> None:
    await wait_until(lambda: stack.producer.publisher.transport.connected, 20,
                     "the producer connected with every exchange checked")


async def _failed(stack: Stack) -> str:
    await wait_until(lambda: stack.producer.publisher.last_error is not None, 20,
                     "the producer's first connection error")
    return stack.producer.publisher.last_error


def _link_down(index: int = 1) -> KytosEvent:
    return KytosEvent("kytos/topology.link_down", {"link": make_link(index), "reason": "test"})


def _connections(node: TlsNode) -> list[dict]:
    return json.loads(node.rabbit.rabbitmqctl(
        "list_connections", "user", "ssl", "ssl_protocol", "peer_cert_subject",
        "--formatter", "json", "--quiet"))


# -- TLS and least privilege, succeeding -------------------------------------------------------

async def test_producer_and_consumer_over_tls_with_least_privilege(node, stacks, consumers):
    received: list = []

    async def handle(envelope) -> None:
        received.append(envelope)

    consumer = consumers(node.env(CONSUMER_USER, CONSUMER_PW), handle)
    await consumer.start()
    stack = stacks(node.env(PRODUCER_USER, PRODUCER_PW))
    await _connected(stack)
    status = await stack.status()
    assert status["broker"] == node.display(PRODUCER_USER)
    assert status["exchanges"] == dict.fromkeys(
        EXCHANGES, "exists (type not verified: no configure permission)")
    # no 'configure' permission: the dead-letter exchange is the administrator's, not declared
    assert status["queues"] == {DEAD: f"refused: user '{PRODUCER_USER}' lacks a permission to "
                                      "declare or bind it (docs/operating.rst: Least privilege)"}

    event = _link_down()
    await stack.controller.buffers.app.aput(event)
    # The consumer's queue is durable, on the module's node: an earlier test may have left
    # events in it, which the consumer reads first
    await wait_until(lambda: any(e.event_id == str(event.id) for e in received), 15,
                     "the event at the consumer")
    ours = next(e for e in received if e.event_id == str(event.id))
    assert ours.event_name == "kytos/topology.link_down" and ours.link is not None
    assert ours.link.id == make_link(1).id
    assert (await stack.status())["counters"]["confirmed"] == 1

    connections = {c["user"]: c for c in _connections(node)}
    for user in (PRODUCER_USER, CONSUMER_USER):
        assert connections[user]["ssl"] is True
        assert connections[user]["ssl_protocol"] in ("tlsv1.3", "tlsv1.2")
        assert "CN=kytos-client" in connections[user]["peer_cert_subject"]


async def test_users_cannot_go_beyond_their_permissions(node):
    """The permissions of docs/operating.rst "Security" are enforced by the broker (over TLS)."""
    async def refused(env: dict[str, str], action) -> str:
        broker = broker_from_env(env)
        connection = await aio_pika.connect(broker.url, ssl_context=broker.ssl_context())
        try:
            channel = await connection.channel()
            with pytest.raises(aiormq.exceptions.ChannelAccessRefused) as error:
                await action(channel)
            return str(error.value)
        finally:
            await connection.close()

    producer_env = node.env(PRODUCER_USER, PRODUCER_PW)
    consumer_env = node.env(CONSUMER_USER, CONSUMER_PW)

    async def read_queue(channel):
        await channel.declare_queue(DEAD, passive=True)
        queue = await channel.get_queue(DEAD, ensure=False)
        await queue.get(fail=False)

    async def declare_exchange(channel):
        await channel.declare_exchange("sec_new", aio_pika.ExchangeType.TOPIC, durable=True)

    async def publish(channel):
        exchange = await channel.get_exchange("sec_oper", ensure=False)
        await exchange.publish(aio_pika.Message(b"{}"), "operational.x")

    async def read_others(channel):
        queue = await channel.get_queue("someone_elses_queue", ensure=False)
        await queue.get(fail=False)

    assert "ACCESS_REFUSED" in await refused(producer_env, read_queue)
    assert "ACCESS_REFUSED" in await refused(producer_env, declare_exchange)
    assert "ACCESS_REFUSED" in await refused(consumer_env, publish)
    assert "ACCESS_REFUSED" in await refused(consumer_env, read_others)
    assert "ACCESS_REFUSED" in await refused(consumer_env, declare_exchange)


async def test_missing_exchange_without_configure_permission_costs_only_its_own_events(
        node, stacks, producer_settings, monkeypatch, caplog):
    """An exchange nobody declared, which the producer may not create: its events wait in the
    buffer, checked again every RETRY_INTERVAL, while every other exchange's go on; once an
    administrator declares it, they go, with no reconnection."""
    monkeypatch.setattr(producer_settings, "NAPP_QUEUES", {"enabled": False})
    monkeypatch.setattr(producer_settings, "VERBOSE_QUEUE", {"enabled": False})
    monkeypatch.setattr(producer_settings, "ROUTES", [
        {"event_class": "operational", "exchange": LATE_EXCHANGE,
         "routing_key": "{event_class}.{event_name}"},
        {"exchange": "sec_other", "routing_key": "{event_class}.{event_name}"}])
    admin = await aio_pika.connect(node.rabbit.url)
    try:
        channel = await admin.channel()
        others = await channel.declare_queue(exclusive=True)
        await others.bind("sec_other", "#")
        stack = stacks(node.env(PRODUCER_USER, PRODUCER_PW))
        await _connected(stack)
        reason = (f"does not exist and user '{PRODUCER_USER}' may not create it (no "
                  "'configure' permission): a broker administrator must declare it as a "
                  "durable topic exchange")
        # The broker is there, refusing: not "unreachable" (an administrator must act).
        alarms = [r.getMessage() for r in caplog.records if "ALARM" in r.getMessage()]
        assert alarms == [f"mq_producer ALARM: broker refuses publishing to exchange "
                          f"'{LATE_EXCHANGE}': {reason}; its messages wait in the buffer and "
                          "the other exchanges' go on; it is checked again every 0.3s "
                          "(docs/operating.rst: Exchanges at start)"]
        status = await stack.status()
        assert status["exchanges"] == {
            LATE_EXCHANGE: "missing",
            "sec_other": "exists (type not verified: no configure permission)"}
        assert status["refused_exchanges"][LATE_EXCHANGE]["reason"] == reason
        for index in (2, 3):
            await stack.controller.buffers.app.aput(_link_down(index))  # operational
            await stack.controller.buffers.app.aput(KytosEvent(
                "kytos/topology.switch.enabled", {"dpid": f"00:00:00:00:00:00:00:0{index}"}))
        publisher = stack.producer.publisher
        channel_used = publisher.transport._channel
        await wait_until(lambda: publisher.counters.confirmed == 2
                         and publisher.outbox.queued == 2, 10,
                         "the other exchange's events confirmed, the late one's waiting")
        other = [await others.get(no_ack=True, timeout=5) for _ in range(2)]
        assert [json.loads(m.body)["event_name"] for m in other] == [
            "kytos/topology.switch.enabled"] * 2
        assert (await stack.status())["refused_exchanges"][LATE_EXCHANGE]["waiting"] == 2

        connection = publisher.transport._connection
        exchange = await channel.declare_exchange(LATE_EXCHANGE, aio_pika.ExchangeType.TOPIC,
                                                  durable=True)  # the administrator, now
        late = await channel.declare_queue(exclusive=True)
        await late.bind(exchange, "#")
        await wait_until(lambda: publisher.counters.confirmed == 4, 10,
                         "the waiting events confirmed once the exchange exists")
        arrived = [await late.get(no_ack=True, timeout=5) for _ in range(2)]
        assert [json.loads(m.body)["link"]["id"] for m in arrived] == [
            make_link(2).id, make_link(3).id]
        # None was sent where the broker would have closed the channel: no new one, no
        # reconnection, no alarm but the exchange's own.
        assert publisher.transport._connection is connection
        assert publisher.transport._channel is channel_used
        assert (await stack.status())["exchanges"][LATE_EXCHANGE] == \
            "exists (type not verified: no configure permission)"
        assert [r.getMessage() for r in caplog.records if "ALARM" in r.getMessage()] == alarms
        assert any(r.getMessage().startswith(
            f"mq_producer: broker takes publishes to exchange '{LATE_EXCHANGE}' again after")
            for r in caplog.records)
        await channel.exchange_delete(LATE_EXCHANGE)
    finally:
        await admin.close()


async def test_link_status_queues_with_the_documented_permissions(
        node, stacks, producer_settings, monkeypatch):
    """The producer permissions of docs/operating.rst with LINK_STATUS: configure and write on
    the per-link queues, read on their exchange - and still no configure on any exchange."""
    monkeypatch.setattr(producer_settings, "LINK_STATUS", {
        "enabled": True, "exchange": LINKS_EXCHANGE, "queue_prefix": LINK_QUEUE_PREFIX,
        "metadata": {"interdomain": True}, "link_ids": []})
    admin = await aio_pika.connect(node.rabbit.url)
    try:
        channel = await admin.channel()
        # The event's own queue, whichever tests ran before (the consumers' is theirs)
        events = await channel.declare_queue(exclusive=True)
        await events.bind("sec_oper", "#")
        stack = stacks(node.env(LINKS_USER, LINKS_PW))
        await _connected(stack)
        link = make_link(9, interdomain=True)
        await stack.controller.buffers.app.aput(
            KytosEvent("kytos/topology.link_down", {"link": link, "reason": "test"}))
        counters = stack.producer.publisher.counters
        await wait_until(lambda: counters.confirmed == 2, 15, "the event and the link's status")
        status = await stack.status()
        assert status["queues"][f"{LINK_QUEUE_PREFIX}{link.id}"] == "ok"
        assert status["exchanges"][LINKS_EXCHANGE] == \
            "exists (type not verified: no configure permission)"
        await wait_until(lambda: counters.returned == 1, 15, "the status's copy")
        # (on the links exchange, once the link's queue took the status: nobody is bound there)
        queue = await channel.declare_queue(f"{LINK_QUEUE_PREFIX}{link.id}", passive=True)
        message = await queue.get(no_ack=True)
        assert json.loads(message.body)["link"]["id"] == str(link.id)
        await channel.queue_delete(f"{LINK_QUEUE_PREFIX}{link.id}")
    finally:
        await admin.close()


# -- TLS, failing --------------------------------------------------------------------------

def _wrong_ca_text(node: TlsNode) -> str:
    return ("TLS: the broker's certificate was not accepted (self-signed certificate in "
            f"certificate chain); check KYTOS_MQ_CA_FILE ({node.pki.other_ca_cert}) and the "
            "host name")


async def test_wrong_ca_is_a_clear_error_naming_the_broker(node, stacks, consumers, caplog):
    stack = stacks(node.env(PRODUCER_USER, PRODUCER_PW, ca=node.pki.other_ca_cert))
    error = await _failed(stack)
    assert error == f"cannot connect to {node.display(PRODUCER_USER)}: {_wrong_ca_text(node)}"
    status = await stack.status()
    assert status["connected"] is False and status["last_error"] == error
    alarms = [r.getMessage() for r in caplog.records if "ALARM" in r.getMessage()]
    assert alarms == [f"mq_producer ALARM: broker unreachable: {error}; 0 messages buffered; "
                      "retrying"]

    consumer = consumers(node.env(CONSUMER_USER, CONSUMER_PW, ca=node.pki.other_ca_cert),
                         _ignore)
    with pytest.raises(ConsumerConnectionError) as raised:
        await consumer.start()
    assert str(raised.value) == \
        f"cannot connect to {node.display(CONSUMER_USER)}: {_wrong_ca_text(node)}"


async def test_missing_client_certificate_is_a_clear_error(node, consumers):
    """With TLS 1.3 the client learns of the refusal after its side of the handshake: as the
    broker's alert (most often) or as a reset connection; both texts say what to set."""
    for _ in range(3):
        consumer = consumers(node.env(CONSUMER_USER, CONSUMER_PW, client_cert=False), _ignore)
        with pytest.raises(ConsumerConnectionError) as raised:
            await consumer.start()
        assert str(raised.value) in (
            f"cannot connect to {node.display(CONSUMER_USER)}: TLS: the broker requires a "
            "client certificate; set KYTOS_MQ_CERT_FILE and KYTOS_MQ_KEY_FILE "
            "(TLSV13_ALERT_CERTIFICATE_REQUIRED)",
            f"cannot connect to {node.display(CONSUMER_USER)}: AMQPConnectionError: Server "
            "connection reset: ConnectionResetError(104, 'Connection reset by peer'); if the "
            "broker requires a client certificate, set KYTOS_MQ_CERT_FILE and "
            "KYTOS_MQ_KEY_FILE")


def _run_cli(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KYTOS_MQ_")}
    return subprocess.run([sys.executable, "-m", "mq_consumer.cli", "--count", "1"],
                          env=clean | env, capture_output=True, text=True, timeout=60,
                          check=False, cwd=Path(__file__).parents[2])


async def test_mq_consumer_command_reports_a_wrong_ca_in_one_line(node):
    result = await asyncio.to_thread(
        _run_cli, node.env(CONSUMER_USER, CONSUMER_PW, ca=node.pki.other_ca_cert))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == \
        f"mq-consumer: cannot connect to {node.display(CONSUMER_USER)}: {_wrong_ca_text(node)}"
    assert "Traceback" not in result.stderr


async def _ignore(_envelope) -> None:
    return None


# -- secrets ------------------------------------------------------------------------------

class _Everything(logging.Handler):
    """Every record of every logger, formatted with its traceback and its raw arguments."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.texts: list[str] = []

    def start(self) -> None:
        """Root at DEBUG, in the test's call phase (pytest resets the root level between
        phases), and no logger disabled."""
        logging.getLogger().setLevel(logging.DEBUG)
        for logger in list(logging.root.manager.loggerDict.values()):
            if isinstance(logger, logging.Logger):
                logger.disabled = False
                if logger.level > logging.DEBUG:
                    logger.setLevel(logging.DEBUG)

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))
        self.texts.append(repr(record.args))


@pytest.fixture
def every_log_line() -> Iterator[_Everything]:
    handler = _Everything()
    root = logging.getLogger()
    saved = {name: (logger.level, logger.disabled)
             for name, logger in logging.root.manager.loggerDict.items()
             if isinstance(logger, logging.Logger)}
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    for name, (level, disabled) in saved.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).disabled = disabled


def _leaks(texts: list[str]) -> list[str]:
    forms = {form for secret in SECRETS
             for form in (secret, quote(secret, safe=""), quote(secret))}
    return [text for text in texts for form in forms if form in text]


async def test_passwords_never_appear_in_logs_status_errors_or_repr(
        node, stacks, consumers, every_log_line):
    every_log_line.start()
    texts: list[str] = []
    got: list = []

    async def handle(envelope) -> None:
        got.append(envelope)

    async def failing_producer(env: dict[str, str]) -> None:
        stack = stacks(env)
        texts.append(await _failed(stack))
        texts.append(json.dumps(await stack.status()))
        texts.extend([repr(stack.producer.publisher.config), str(stack.producer.publisher.config),
                      repr(stack.producer.publisher.transport.description)])

    async def failing_consumer(env: dict[str, str]) -> None:
        consumer = consumers(env, handle)
        with pytest.raises(ConsumerConnectionError) as raised:
            await consumer.start()
        texts.extend([str(raised.value), repr(raised.value),
                      "".join(traceback.format_exception(raised.value))])

    wrong_password = node.env(PRODUCER_USER, WRONG_PW)
    closed_port = {"KYTOS_MQ_URL": node.url(PRODUCER_USER, PRODUCER_PW, port=free_port(),
                                            scheme="amqp")}
    wrong_ca = node.env(PRODUCER_USER, PRODUCER_PW, ca=node.pki.other_ca_cert)
    no_cert = node.env(PRODUCER_USER, PRODUCER_PW, client_cert=False)
    plain_wrong_password = {"KYTOS_MQ_URL": node.rabbit.url.replace("guest:guest",
                                                                    f"guest:{quote(WRONG_PW)}")}
    for env in (wrong_password, closed_port, wrong_ca, no_cert, plain_wrong_password):
        await failing_producer(env)
    for env in (node.env(CONSUMER_USER, WRONG_PW),
                node.env(CONSUMER_USER, CONSUMER_PW, ca=node.pki.other_ca_cert),
                node.env(CONSUMER_USER, CONSUMER_PW, client_cert=False)):
        await failing_consumer(env)
    for env in (node.env(CONSUMER_USER, WRONG_PW), node.env(CONSUMER_USER, CONSUMER_PW,
                                                            ca=node.pki.other_ca_cert)):
        result = await asyncio.to_thread(_run_cli, env)
        assert result.returncode == 1
        texts.extend([result.stdout, result.stderr])

    # and succeeding ones: a producer and a consumer over TLS, one event
    consumer = consumers(node.env(CONSUMER_USER, CONSUMER_PW), handle)
    await consumer.start()
    stack = stacks(node.env(PRODUCER_USER, PRODUCER_PW))
    await _connected(stack)
    await stack.controller.buffers.app.aput(_link_down(3))
    await wait_until(lambda: got, 15, "the event at the consumer")
    texts.append(json.dumps(await stack.status()))
    for env in (node.env(PRODUCER_USER, PRODUCER_PW), wrong_password, closed_port):
        broker = broker_from_env(env)
        texts.extend([repr(broker), str(broker), broker.display, repr(broker.password),
                      f"{broker.password}", f"{broker!r:>10}"])
    texts.extend([repr(stack.producer.publisher.config), repr(consumer)])

    texts.extend(every_log_line.texts)
    # the search sees what it must: the client libraries' DEBUG lines, the refusals
    assert sum(text.startswith("DEBUG aiormq.connection Connecting to: amqps://") for text
               in every_log_line.texts) >= 8
    assert any(text.startswith("DEBUG aio_pika.") for text in every_log_line.texts)
    assert any("ACCESS_REFUSED" in text for text in texts)
    assert _leaks([f"amqps://{PRODUCER_USER}:{quote(PRODUCER_PW, safe='')}@h/"])  # it would see
    assert _leaks(texts) == []
