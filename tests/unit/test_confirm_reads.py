"""confirm_reads.py's frame checks against frames pamqp (aiormq's marshalling) makes, its
protocol's names, and CONFIRM_READ_LINGER_MS. tests/integration/test_confirm_reads.py runs it
against a real broker."""

import ast
import asyncio
import inspect
import textwrap
import types

import pamqp.frame
import pamqp.heartbeat
import pytest
from pamqp import commands as spec
from pamqp.commands import Basic

from mq_producer import settings
from mq_producer.checks import SettingsError
from mq_producer.config import load_config
from mq_producer.transports.amqp.confirm_reads import (
    LingeringReader,
    asks_a_reply,
    confirms_only,
)
from mq_producer.transports.amqp.connection import StopSafeWriter
from mq_producer.transports.amqp.frames import publish_head
from tests.support.settings import settings_with

ENV = {"KYTOS_MQ_URL": "amqp://guest:guest@127.0.0.1:5672/"}


def frame(command: object, channel: int = 1) -> bytes:
    return pamqp.frame.marshal(command, channel)


ACK = frame(Basic.Ack(delivery_tag=7))
MULTIPLE_ACK = frame(Basic.Ack(delivery_tag=2**40, multiple=True), channel=300)
NACK = frame(Basic.Nack(delivery_tag=9, multiple=True, requeue=False))
HEARTBEAT = frame(pamqp.heartbeat.Heartbeat(), 0)
RETURN = frame(Basic.Return(reply_code=312, reply_text="NO_ROUTE", exchange="e",
                            routing_key="k"))


@pytest.mark.parametrize("data", [ACK, MULTIPLE_ACK, NACK, ACK + NACK + MULTIPLE_ACK,
                                  ACK * 50])
def test_reads_of_acks_and_nacks_alone_are_confirms_only(data: bytes):
    assert confirms_only(data)


@pytest.mark.parametrize("data", [
    b"", HEARTBEAT, RETURN, ACK + HEARTBEAT, HEARTBEAT + ACK, ACK[:-1], ACK + ACK[:10],
    frame(spec.Channel.CloseOk()), frame(spec.Queue.DeclareOk("q", 0, 0)),
    frame(spec.Connection.Blocked("low on memory"), 0),
    frame(spec.Channel.Close(404, "NOT_FOUND", 50, 30)),
    # 21 bytes that are not a confirm: another method of class Basic, a broken frame end
    ACK[:10] + b"\x51" + ACK[11:], ACK[:20] + b"\x00",
    frame(spec.Queue.PurgeOk(4294967295)),
])
def test_anything_else_in_a_read_is_not(data: bytes):
    assert not confirms_only(data)


HEAD = publish_head(1, exchange="operational_events", routing_key="operational.x",
                    body_size=10, message_id="m", timestamp=1, message_type="t")


@pytest.mark.parametrize("data", [HEAD, bytearray(HEAD), memoryview(HEAD),
                                  frame(Basic.Publish(exchange="e", routing_key="k")),
                                  HEARTBEAT, b"\x03\x00\x01\x00\x00\x00\x02{}\xce"])
def test_publishes_heartbeats_and_body_frames_ask_no_reply(data):
    assert not asks_a_reply(data)


@pytest.mark.parametrize("command", [
    spec.Channel.Open(), spec.Confirm.Select(), spec.Queue.Declare(queue="q", durable=True),
    spec.Exchange.Declare(exchange="e", exchange_type="topic", passive=True),
    spec.Queue.Bind(queue="q", exchange="e", routing_key="#"), spec.Queue.Purge(queue="q"),
    spec.Channel.Close(200, "ok", 0, 0), spec.Connection.Close(200, "ok", 0, 0),
])
def test_requests_ask_a_reply(command: object):
    assert asks_a_reply(frame(command))
    assert asks_a_reply(memoryview(frame(command)))


def names_set_by(cls: type) -> set[str]:
    """What the class's own code defines or sets on ``self``, read from its source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    names = set(vars(cls)) - {"__module__", "__qualname__", "__doc__", "__dict__",
                              "__weakref__"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                and isinstance(node.value, ast.Name) and node.value.id == "self":
            names.add(node.attr)
    return names


@pytest.mark.parametrize(("ours", "base", "meant"), [
    (LingeringReader, asyncio.StreamReaderProtocol,
     {"__init__", "connection_made", "data_received", "connection_lost"}),
    (StopSafeWriter, asyncio.StreamWriter, {"__init__", "close", "wait_closed", "write"}),
])
def test_the_reader_and_the_writer_replace_nothing_of_their_base(ours: type, base: type,
                                                                 meant: set[str]):
    """Names a subclass sets must not be its base's (a clash replaced Thread._stop once, and
    a ``_paused`` here would replace the base's flow control flag): only the methods meant
    to override do."""
    loop = asyncio.new_event_loop()
    try:
        if base is asyncio.StreamReaderProtocol:
            instance = base(asyncio.StreamReader(loop=loop), loop=loop)
        else:
            transport = types.SimpleNamespace(get_extra_info=lambda *args: None,
                                              is_closing=lambda: True)
            instance = base(transport, None, None, loop)
        base_names = set(dir(base)) | set(vars(instance))
        assert names_set_by(ours) & base_names == meant
    finally:
        loop.close()


@pytest.mark.parametrize(("value", "seconds"), [(0, 0.0), (5, 0.005), (0.5, 0.0005),
                                                (100, 0.1)])
def test_confirm_read_linger_ms_is_read_in_seconds(value: float, seconds: float):
    config = load_config(settings_with(settings, CONFIRM_READ_LINGER_MS=value), ENV)
    assert config.confirm_read_linger == seconds


def test_the_default_is_five_milliseconds():
    assert settings.CONFIRM_READ_LINGER_MS == 5
    assert load_config(settings, ENV).confirm_read_linger == 0.005


@pytest.mark.parametrize("value", [-1, 101, "5", True, None, float("nan")])
def test_a_bad_confirm_read_linger_names_the_setting(value: object):
    with pytest.raises(SettingsError, match=r"CONFIRM_READ_LINGER_MS: expected milliseconds "
                                            r"from 0 to 100, got"):
        load_config(settings_with(settings, CONFIRM_READ_LINGER_MS=value), ENV)
