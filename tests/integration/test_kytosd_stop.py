"""Stopping Kytos with both NApps loaded: nothing printed but the NApps' own lines, and the
broker sees the producer's connection closed with Connection.Close (issue 16, "Kytos never
notices the NApp").

Each case runs tests/support/kytosd_stop.py in a process of its own, against a private
RabbitMQ node whose log the test reads: the process starts an event loop as kytosd does,
loads both NApps through the test double, and stops as core 2025.2.1 does - every NApp's
shutdown(), then loop.stop() in the same turn of the loop, then loop.close() - so that
whatever the NApps leave behind shows in its output, as it did in kytosd's ("Task was
destroyed but it is pending!", "Exception ignored in ... RuntimeError: Event loop is closed").
"""

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from mq_producer.transports.amqp.broker import broker_from_env
from mq_producer.transports.amqp.connection import StopSafeWriter, single_connection
from mq_producer.transports.amqp.transport import _stream_writer
from tests.support.kytosd_stop import EVENTS, LATE_ENVELOPES
from tests.support.nats_node import NatsNode, nats_available
from tests.support.rabbit_node import RabbitNode, rabbitmq_available

pytestmark = [pytest.mark.broker,
              pytest.mark.skipif(not rabbitmq_available(), reason="RabbitMQ not installed")]

ROOT = Path(__file__).resolve().parents[2]
CONNECTION = "kytos/mq_producer"  # the producer's connection name (client_properties)
NOISE = ("Task was destroyed", "Event loop is closed", "Exception ignored", "Traceback",
         "was never awaited", "Future exception was never retrieved")
LISTEN_STOPPED = "listen_events: stopped; "
PRODUCER_STOPPED = "mq_producer: stopped; "


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory: pytest.TempPathFactory):
    node = RabbitNode(tmp_path_factory.mktemp("rabbit-stop"))
    node.start()
    yield node
    node.stop()


def _connections(rabbit: RabbitNode) -> list[str]:
    """The broker's connections named CONNECTION, with their state."""
    lines = rabbit.rabbitmqctl("list_connections", "--silent", "name", "client_properties",
                               "state").splitlines()
    return [line for line in lines if CONNECTION in line]


def _stop_kytos(rabbit: RabbitNode, mode: str,
                *options: str) -> subprocess.CompletedProcess[str]:
    """Run the process to its end; the broker's log must then say how the connection went."""
    log_before = rabbit.node_log.read_text(errors="replace") if rabbit.node_log.exists() else ""
    assert _connections(rabbit) == []
    env = {**os.environ, "KYTOS_MQ_URL": rabbit.url}
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.kytosd_stop", mode,
         f"test-{uuid.uuid4().hex[:8]}", *options],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "LOOP CLOSED" in result.stdout and "EXIT" in result.stdout, output
    for noise in NOISE:
        assert noise not in output, output
    # The broker forgets the connection, and its log says the client closed it.
    deadline = time.monotonic() + 15
    while _connections(rabbit) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _connections(rabbit) == []
    new_log = rabbit.node_log.read_text(errors="replace")[len(log_before):]
    lines = [line for line in new_log.splitlines() if CONNECTION in line]
    assert any("closing AMQP connection" in line for line in lines), new_log
    assert not any("unexpectedly closed" in line for line in new_log.splitlines()), new_log
    return result


def _once(output: str, text: str) -> str:
    lines = [line for line in output.splitlines() if text in line]
    assert len(lines) == 1, output
    assert lines[0].startswith("INFO "), lines[0]
    return lines[0]


@pytest.mark.parametrize("mode", ["idle", "events"])
def test_kytosd_stop_leaves_nothing_behind_and_closes_the_connection(rabbit, mode):
    result = _stop_kytos(rabbit, mode)
    handed_on = re.fullmatch(
        r".*0 events still waiting and 0 envelopes not handed on yet were discarded; the last "
        r"envelope handed on was (\S+) \(a restart starts from the real-time point\)",
        _once(result.stderr, LISTEN_STOPPED))
    received = re.fullmatch(
        r".*discarded 0 envelopes handed on but not taken in yet and 0 unconfirmed messages "
        r"from the buffer \(those in flight may have reached the broker\); the last envelope "
        r"received was (\S+) \(a restart resumes from the real-time point\)",
        _once(result.stderr, PRODUCER_STOPPED))
    assert handed_on and received, result.stderr
    # Everything handed on reached mq_producer: the two lines name the same envelope.
    assert handed_on[1] == received[1] == ("none" if mode == "idle" else handed_on[1])
    assert mode == "idle" or handed_on[1].endswith(f"-{EVENTS}"), result.stderr
    assert "after shutdown" not in result.stderr


def test_kytosd_stop_with_publishes_in_flight_leaves_nothing_behind(rabbit):
    result = _stop_kytos(rabbit, "in-flight")
    assert int(result.stdout.split("IN FLIGHT ")[1].split()[0]) > 0, result.stdout
    _once(result.stderr, PRODUCER_STOPPED)


@pytest.mark.parametrize("hand_off", ["event", "direct"])
def test_envelopes_left_in_the_app_buffer_by_a_stop_are_told_by_the_two_stop_lines(
        rabbit, hand_off):
    """Core drops what its app buffer holds when it stops, hand-off events included: they
    never reach mq_producer, whose counters cannot know of them. listen_events' stop line
    names the last envelope it handed on, mq_producer's the last it received: the sequence
    numbers between them are the envelopes lost that way. Handed over directly (the
    default), none waits in core's buffer: the two lines name the same envelope."""
    result = _stop_kytos(rabbit, "buffered", *(["event"] if hand_off == "event" else []))
    handed_on = re.search(r"the last envelope handed on was (\S+)-(\d+) \(",
                          _once(result.stderr, LISTEN_STOPPED))
    received = re.search(r"the last envelope received was (\S+)-(\d+) \(",
                         _once(result.stderr, PRODUCER_STOPPED))
    assert handed_on and received, result.stderr
    assert handed_on[1] == received[1]  # the same listen_events instance
    assert (int(received[2]), int(handed_on[2])) == (
        EVENTS + (hand_off == "direct"), EVENTS + 1), result.stderr


def test_events_arriving_after_kytos_core_shutdown_are_counted_and_logged_once(rabbit):
    result = _stop_kytos(rabbit, "late")
    _once(result.stderr, LISTEN_STOPPED)
    _once(result.stderr, PRODUCER_STOPPED)
    _once(result.stderr, "listen_events: events still arrive after shutdown")
    _once(result.stderr, "mq_producer: hand-off events still arrive after shutdown")
    status = {line.split(" ", 2)[1]: json.loads(line.split(" ", 2)[2])
              for line in result.stdout.splitlines() if line.startswith("STATUS ")}
    assert status["kytos/listen_events"]["after_shutdown"] == 1
    assert status["kytos/listen_events"]["counters"]["received"] == EVENTS
    producer = status["kytos/mq_producer"]
    assert producer["after_shutdown"] == LATE_ENVELOPES
    assert producer["counters"]["received"] == EVENTS  # one envelope per event
    assert producer["counters"]["discarded"] == 0


def test_a_channel_rpc_sent_in_the_turn_kytos_stops_leaves_nothing_behind(rabbit):
    """aiormq creates a task for each channel RPC; one created in the turn Kytos stops never
    starts. Its coroutine was reported "never awaited" at the interpreter's exit (a CI run of
    the late case, where the link queue task was removing old bindings, one RPC each)."""
    result = _stop_kytos(rabbit, "rpc")
    waiting = [int(line.split()[-1]) for line in result.stdout.splitlines()
               if line.startswith("RPC NOT STARTED ")]
    assert waiting and waiting[0] >= 1, result.stdout  # the case really happened
    _once(result.stderr, PRODUCER_STOPPED)


def test_a_channel_rpc_waiting_when_kytos_stops_leaves_nothing_behind(rabbit):
    """aiormq awaits a channel RPC's lock and reply through asyncio.wait_for, which in Python
    3.11 runs each in a task of its own that only wait_for cancels, at a step that never
    comes. A real kytosd stopped while link status queues were declared and purged printed
    "Task was destroyed but it is pending!" for those tasks (4 of 6 stops, before
    mq_producer.tasks ended them too)."""
    result = _stop_kytos(rabbit, "rpc-waiting")
    waiting = [int(line.split()[-1]) for line in result.stdout.splitlines()
               if line.startswith("RPC WAITING ")]
    assert waiting and waiting[0] >= 1, result.stdout  # the case really happened
    _once(result.stderr, PRODUCER_STOPPED)


@pytest.fixture
def silent_broker():
    """A TCP port that never answers AMQP, in two ways: ``unreachable``, its accept queue full
    (the kernel drops further SYNs: the connection attempt waits in connect()); ``unanswered``,
    connections accepted and never answered (the attempt waits for Connection.Start)."""
    opened: list[socket.socket] = []

    def make(kind: str) -> tuple[str, socket.socket]:
        server = socket.socket()
        opened.append(server)
        server.bind(("127.0.0.1", 0))
        server.listen(0 if kind == "unreachable" else 16)
        port = server.getsockname()[1]
        if kind == "unreachable":
            for _ in range(3):
                filler = socket.socket()
                opened.append(filler)
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
        return f"amqp://guest:guest@127.0.0.1:{port}/", server

    yield make
    for item in opened:
        item.close()


@pytest.mark.parametrize("kind", ["unreachable", "unanswered"])
def test_kytosd_stop_while_a_connection_attempt_waits_leaves_nothing_behind(silent_broker, kind):
    """The stop comes while mq_producer's connection attempt waits for a broker that does not
    answer: the attempt's tasks (aiormq's, for our connection), and its socket, are ended
    with ours. Printed at exit before: "Task was destroyed but it is pending!" (unreachable);
    "Exception ignored in: <coroutine object Connection.connect>" ... "Event loop is closed"
    (unanswered: aiormq's handshake closes its writer when its coroutine is collected)."""
    env = {**os.environ, "KYTOS_MQ_URL": silent_broker(kind)[0]}
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.kytosd_stop", "connecting",
         f"test-{uuid.uuid4().hex[:8]}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "LOOP CLOSED" in result.stdout and "EXIT" in result.stdout, output
    awaited = [int(line.split()[-1]) for line in result.stdout.splitlines()
               if line.startswith("AWAITED TASKS ")]
    assert awaited and awaited[0] >= 1, output  # the attempt was in flight
    for noise in NOISE:
        assert noise not in output, output
    assert _once(result.stderr, PRODUCER_STOPPED).endswith(
        "discarded 0 envelopes handed on but not taken in yet and 0 unconfirmed messages "
        "from the buffer (those in flight may have reached the broker); the last envelope "
        "received was none (a restart resumes from the real-time point)")


def test_the_producers_connection_writes_through_a_stop_safe_writer(rabbit):
    """single_connection's socket comes from SocketFactory (through aio-pika's kwargs, which
    an upgrade could stop passing on: the stop mid-handshake would print again)."""
    async def writer_kind() -> type:
        connection = single_connection(broker_from_env({"KYTOS_MQ_URL": rabbit.url}), "kytos/test")
        await connection.connect()
        try:
            return type(_stream_writer(connection.transport.connection))
        finally:
            await connection.close()

    assert asyncio.run(writer_kind()) is StopSafeWriter


@pytest.mark.skipif(not nats_available(), reason="nats-server not installed")
@pytest.mark.parametrize("mode", ["idle", "events", "connecting", "in-flight"])
def test_kytosd_stop_with_the_jetstream_transport_leaves_nothing_behind(
        tmp_path, silent_broker, mode):
    """The same stop with KYTOS_MQ_TRANSPORT=jetstream: nats-py's tasks for the connection
    (reader, pinger, flusher, the publish acks' subscription) are ended with ours. Printed at
    exit before: "Task was destroyed but it is pending!" and "Exception ignored in: <coroutine
    object Client._flusher>" ... "Event loop is closed", at every stop. ``connecting``: a
    server that accepts the connection and never sends its INFO (the handshake's read had a
    task of nats-py's own)."""
    server = NatsNode(tmp_path)
    server.start()
    silent = silent_broker("unanswered")
    url = server.url if mode != "connecting" else \
        silent[0].replace("amqp://guest:guest@", "nats://").rstrip("/")
    try:
        env = {**os.environ, "KYTOS_MQ_TRANSPORT": "jetstream", "KYTOS_NATS_URL": url}
        result = subprocess.run(
            [sys.executable, "-m", "tests.support.kytosd_stop", mode,
             f"test-{uuid.uuid4().hex[:8]}"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False)
    finally:
        server.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "LOOP CLOSED" in result.stdout and "EXIT" in result.stdout, output
    for noise in NOISE:
        assert noise not in output, output
    _once(result.stderr, PRODUCER_STOPPED)
    if mode == "in-flight":  # the stop came while publishes awaited their acks
        assert int(result.stdout.split("IN FLIGHT ")[1].split()[0]) > 0, result.stdout
    if mode == "connecting":  # the client did connect, and waited for the server's INFO
        silent[1].setblocking(False)
        silent[1].accept()[0].close()
