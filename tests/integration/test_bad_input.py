"""Hostile content end to end, on the broker of KYTOS_MQ_URL: events with unserializable
objects, cycles, NaN, non-UTF-8 bytes and deep nesting are published as valid envelopes; an
event larger than MAX_MESSAGE_BYTES is rejected, counted and logged while the next one flows;
a consumer dead-letters every body that is not an envelope and keeps consuming.
"""

import datetime as dt
import json
import logging
from pathlib import Path

import aio_pika
import orjson
import pytest
from jsonschema import Draft202012Validator
from kytos.core import KytosEvent

from listen_events import settings as listen_settings
from listen_events.envelope import Envelope, EnvelopeBuilder
from listen_events.main import Main as ListenEvents
from listen_events.serialize import MAX_DEPTH
from mq_consumer.consumer import Binding, ConsumerOptions, EventConsumer
from mq_producer.main import Main as MqProducer
from mq_producer.transports.amqp.broker import broker_from_env
from tests.integration.conftest import body, bound_queue, receive
from tests.support.handoff import handed_envelopes
from tests.support.topology import make_link
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker

SCHEMA = Draft202012Validator(json.loads(
    (Path(listen_settings.__file__).parent / "envelope.schema.json").read_text()))


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _deep(levels: int) -> object:
    value: object = "bottom"
    for _ in range(levels):
        value = {"d": [value]}
    return value


async def _start(controller, amqp, prefix):
    listen = controller.load_napp(ListenEvents)
    producer = controller.load_napp(MqProducer)
    await wait_until(lambda: producer.publisher.transport.connected, what="producer connected")
    return listen, producer, await bound_queue(amqp, f"{prefix}.operational_events", "#")


@pytest.mark.usefixtures("producer_settings", "cleanup_exchanges")
async def test_hostile_content_is_published_as_a_valid_envelope(controller, amqp,
                                                                exchange_prefix, caplog):
    listen, producer, queue = await _start(controller, amqp, exchange_prefix)
    cycle: dict = {"name": "loop"}
    cycle["self"] = cycle
    link = make_link(4, interdomain=False)
    content = {"link": link, "reason": "link down", "nan": float("nan"),
               "inf": float("-inf"), "raw": b"\xff\xfeok", "cycle": cycle, "deep": _deep(200),
               "opaque": Opaque(), "bad_repr": BadRepr(), "big_repr": "x" * 1000,
               ("tuple", "key"): {1, 2}}
    event = KytosEvent("kytos/topology.link_down", content)
    await controller.buffers.app.aput(event)
    await controller.settle()
    [message] = await receive(queue, 1)
    SCHEMA.validate(body(message))
    envelope = Envelope.model_validate_json(message.body)
    sent = envelope.content
    assert envelope.link is not None and envelope.link.id == str(link.id)
    assert (sent["nan"], sent["inf"], sent["raw"]) == ("nan", "-inf", "\\xff\\xfeok")
    assert sent["cycle"]["self"] == "<unserializable dict: {'name': 'loop', 'self': {...}}>"
    assert sent["opaque"] == "<unserializable Opaque: Opaque()>"
    assert sent["bad_repr"] == "<unserializable BadRepr: ?>"
    assert sorted(sent["['tuple', 'key']"]) == [1, 2]
    depth, node = 0, sent["deep"]
    while isinstance(node, dict | list):
        node = node["d"] if isinstance(node, dict) else node[0]
        depth += 1
    assert depth < MAX_DEPTH and node.startswith("<unserializable")
    assert listen.pipeline.counters.serialization_warnings == 1
    # One WARNING for the event, naming it, and what was degraded.
    [warning] = [r for r in caplog.records if "content degraded" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert warning.getMessage().startswith(
        f"Event kytos/topology.link_down (id {event.id}): content degraded while serializing: ")
    assert "more)" in warning.getMessage()  # the first five degraded values, then a count
    assert producer.publisher.counters.rejected == 0


@pytest.mark.usefixtures("cleanup_exchanges")
async def test_oversized_event_is_rejected_counted_and_logged_and_the_next_flows(
        controller, amqp, exchange_prefix, producer_settings, monkeypatch, caplog):
    monkeypatch.setattr(producer_settings, "MAX_MESSAGE_BYTES", 65_536)
    _, producer, queue = await _start(controller, amqp, exchange_prefix)
    big = KytosEvent("kytos/topology.link_down",
                     {"link": make_link(5), "reason": "big", "blob": "y" * 100_000})
    small = KytosEvent("kytos/topology.link_up",
                       {"link": make_link(5), "reason": "small", "blob": "z" * 50_000})
    for event in (big, small):
        await controller.buffers.app.aput(event)
    await controller.settle()
    [message] = await receive(queue, 1)
    assert body(message)["content"]["reason"] == "small"
    assert 50_000 < len(message.body) <= 65_536
    counters = producer.publisher.counters
    assert (counters.received, counters.rejected, counters.confirmed) == (2, 1, 1)
    [line] = [r.getMessage() for r in caplog.records if "cannot publish" in r.getMessage()]
    # The oversized envelope costs only itself, whether the two went in one hand-off event
    # (queued for the worker) or in one each (the first, alone, handed on by the handler).
    handoffs = [e for e in controller.seen if e.name == "kytos/listen_events.broadcast"]
    handed = [(handoff, handed_envelopes(handoff.content)) for handoff in handoffs]
    assert [e["content"]["reason"] for _, envelopes in handed for e in envelopes] == [
        "big", "small"]
    handoff, envelopes = handed[0]
    message_id = envelopes[0]["message_id"]
    size = len(orjson.dumps(envelopes[0]))
    assert size > 65_536  # the blob cut at 64 Ki characters by listen_events: still too large
    assert handoff.direct  # mq_producer offers take_hand_off: no hand-off event, no id
    assert line == (f"mq_producer: cannot publish event kytos/listen_events.broadcast (handed "
                    f"over directly), envelope 1 of {len(envelopes)} (message {message_id}): "
                    "message "
                    f"{message_id} (kytos/topology.link_down) of {size} bytes is larger than "
                    "MAX_MESSAGE_BYTES (65536); not published")
    assert await queue.get(fail=False) is None


@pytest.mark.usefixtures("producer_settings", "cleanup_exchanges")
async def test_bad_envelopes_in_a_hand_off_batch_cost_only_themselves(controller, amqp,
                                                                      exchange_prefix, caplog):
    """A hand-off event from some other NApp: of its five envelopes two are good; they are
    published, in order, and each bad one gets its own counted ERROR line."""
    producer = controller.load_napp(MqProducer)
    await wait_until(lambda: producer.publisher.transport.connected, what="producer connected")
    queue = await bound_queue(amqp, f"{exchange_prefix}.operational_events", "#")
    builder = EnvelopeBuilder("kytos", "test")
    good = [builder.build(event_name="kytos/topology.link_up", event_class="operational",
                          event_id=None, event_timestamp=dt.datetime.now(dt.UTC),
                          content={"n": n}) for n in (1, 2)]
    nameless = {**good[0], "message_id": "nameless", "event_name": ""}
    handoff = KytosEvent("kytos/listen_events.broadcast", {"envelopes": [
        good[0], 42, nameless, good[1], {"message_id": "unsafe", "event_name": "e",
                                         "event_class": "operational", "content": {1j}}]})
    await controller.buffers.app.aput(handoff)
    await controller.settle()
    messages = await receive(queue, 2)
    assert [body(m)["message_id"] for m in messages] == [e["message_id"] for e in good]
    counters = producer.publisher.counters
    assert (counters.received, counters.rejected) == (5, 3)
    lines = [r.getMessage() for r in caplog.records
             if r.levelno == logging.ERROR and "cannot publish event" in r.getMessage()]
    prefix = f"mq_producer: cannot publish event kytos/listen_events.broadcast (id {handoff.id})"
    assert lines == [
        f"{prefix}, envelope 2 of 5: envelope is not an object (got int)",
        f"{prefix}, envelope 3 of 5 (message nameless): envelope field 'event_name' must be "
        "a non-empty string",
        f"{prefix}, envelope 5 of 5 (message unsafe): envelope is not JSON-serializable: "
        "Type is not JSON serializable: set"]
    assert await queue.get(fail=False) is None


@pytest.mark.usefixtures("producer_settings", "cleanup_exchanges")
async def test_text_that_is_not_valid_unicode_is_published_or_counted(controller, amqp,
                                                                     exchange_prefix):
    """A lone surrogate (what undecodable bytes become with errors='surrogateescape') and an
    integer beyond 64 bits cannot be encoded by orjson: never a crash, never silently lost."""
    _, producer, queue = await _start(controller, amqp, exchange_prefix)
    await controller.buffers.app.aput(KytosEvent(
        "kytos/topology.link_down", {"link": make_link(6), "name": b"eth\xff".decode(
            "utf-8", "surrogateescape"), "counter": 2**70}))
    await controller.settle()
    counters = producer.publisher.counters
    await wait_until(lambda: counters.rejected + counters.confirmed == 1, 10,
                     "published or rejected")
    if counters.confirmed:
        [message] = await receive(queue, 1)
        Envelope.model_validate_json(message.body)


async def test_consumer_dead_letters_every_body_that_is_not_an_envelope(
        amqp, broker_url, exchange_prefix, cleanup_exchanges, controller, caplog):
    exchange = await amqp.declare_exchange(f"{exchange_prefix}.other_events",
                                           aio_pika.ExchangeType.TOPIC, durable=True)
    queue_name = f"{exchange_prefix}.hostile"
    cleanup_exchanges.update({queue_name, f"{exchange_prefix}.dead"})
    handled: list[str] = []

    async def handle(envelope: Envelope) -> None:
        handled.append(envelope.message_id)

    consumer = EventConsumer(broker_from_env({"KYTOS_MQ_URL": broker_url}), ConsumerOptions(
        bindings=[Binding(exchange.name, "#")], queue=queue_name,
        dead_letter=f"{exchange_prefix}.dead"), handle)
    await consumer.start()
    controller.load_napp(ListenEvents)
    await controller.buffers.app.aput(KytosEvent("kytos/topology.switch.enabled",
                                                 {"dpid": "00:00:00:00:00:00:00:01"}))
    await controller.settle()
    [valid] = handed_envelopes(controller.seen[-1].content)
    hostile = {
        "empty": b"", "binary": b"\xff\xfe\x00\x80", "not-json": b"{'a': 1}",
        "nan": b'{"schema_version": NaN}', "array": b"[1, 2, 3]",
        "deep": b'{"a":' * 5000 + b"1" + b"}" * 5000,
        "huge-number": b'{"schema_version": 1' + b"0" * 5000 + b"}",
        "surrogate": orjson.dumps({**valid, "message_id": "s"}).replace(b'"s"', b'"\\ud800"'),
        "wrong-type": orjson.dumps({**valid, "producer": "kytos"}),
        "extra-field": orjson.dumps({**valid, "admin": True}),
    }
    try:
        for message_id, payload in hostile.items():
            await exchange.publish(aio_pika.Message(payload, message_id=message_id), "k")
        await exchange.publish(aio_pika.Message(orjson.dumps(valid),
                                                message_id=valid["message_id"]), "k")
        await wait_until(lambda: handled and consumer.counters["invalid"] == len(hostile), 15,
                         "every hostile body dead-lettered and the valid one handled")
    finally:
        await consumer.close()
    assert handled == [valid["message_id"]]
    assert consumer.counters["handler_errors"] == 0
    dead = await amqp.declare_queue(f"{exchange_prefix}.dead", passive=True)
    dead_ids = set()
    while (message := await dead.get(no_ack=True, fail=False)) is not None:
        dead_ids.add(message.message_id)
    assert dead_ids == set(hostile)
    lines = [r.getMessage() for r in caplog.records if "dead-lettering" in r.getMessage()]
    assert len(lines) == len(hostile) and all(len(line) < 2000 for line in lines)
