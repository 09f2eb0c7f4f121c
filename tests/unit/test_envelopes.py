"""mq_producer's intake of hand-off events: the {"envelopes": [...]} container, one envelope
at a time, and the handler's counting and log lines. No broker: the publisher only buffers."""

import datetime as dt
import logging

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kytos.core import KytosEvent

from listen_events.envelope import EnvelopeBuilder
from mq_producer import settings as producer_settings
from mq_producer.config import load_config
from mq_producer.envelopes import (
    InvalidEnvelope,
    body_pieces,
    decode,
    envelopes_of,
    to_messages,
)
from mq_producer.main import Main as MqProducer
from tests.support.kytos_controller import FakeController
from tests.support.rabbit_node import free_port

CONFIG = load_config(producer_settings, {"KYTOS_MQ_URL": "amqp://u:p@127.0.0.1/"})
BUILDER = EnvelopeBuilder("kytos", "test")
HANDOFF = "kytos/listen_events.broadcast"


class StrSubclass(str):
    pass


def _envelope(number: int) -> dict:
    return BUILDER.build(event_name="kytos/topology.switch.enabled",
                         event_class="administrative", event_id=None,
                         event_timestamp=dt.datetime.now(dt.UTC),
                         content={"dpid": f"00:00:00:00:00:00:00:{number:02x}"})


@pytest.mark.parametrize(("content", "message"), [
    (None, "content has no 'envelopes' list (content is a NoneType, not an object)"),
    ([{"message_id": "m"}], "content has no 'envelopes' list (content is a list, not an "
                            "object)"),
    ({}, "content has no 'envelopes' list (got NoneType)"),
    ({"envelope": {"message_id": "m"}}, "content has no 'envelopes' list (got NoneType)"),
    ({"envelopes": {"message_id": "m"}}, "content has no 'envelopes' list (got dict)"),
    ({"envelopes": ({"message_id": "m"},)}, "content has no 'envelopes' list (got tuple)"),
    ({"envelopes": "[]"}, "content has no 'envelopes' list (got str)"),
], ids=["none", "list", "empty", "old-format", "dict", "tuple", "text"])
def test_a_container_without_an_envelopes_list_is_invalid(content, message):
    with pytest.raises(InvalidEnvelope) as raised:
        envelopes_of(content)
    assert str(raised.value) == message


def test_the_envelopes_list_is_returned_as_it_is_items_unchecked():
    items = [_envelope(1), 42, None]
    assert envelopes_of({"envelopes": items}) is items
    assert envelopes_of({"envelopes": []}) == []


@pytest.mark.parametrize("item", [42, None, "envelope", ["message_id", "m"],
                                  bytearray(b'{"message_id": "m"}')])
def test_an_item_that_is_not_an_object_is_an_invalid_envelope(item):
    with pytest.raises(InvalidEnvelope, match=r"envelope is not an object \(got \w+\)"):
        to_messages(item, CONFIG.router, CONFIG.link_status, 0.0, CONFIG.max_message_bytes)


def test_one_envelope_gives_its_message_on_its_route():
    envelope = _envelope(1)
    [message] = to_messages(envelope, CONFIG.router, CONFIG.link_status, 12.5,
                            CONFIG.max_message_bytes)
    assert (message.message_id, message.exchange, message.routing_key, message.timestamp) == (
        envelope["message_id"], "admin_events",
        "administrative.kytos/topology.switch.enabled", 12.5)


def _from_bytes(body: bytes, max_bytes: int = CONFIG.max_message_bytes) -> list:
    """As the intake takes an envelope handed on as JSON bytes."""
    return to_messages(decode(body), CONFIG.router, CONFIG.link_status, 12.5, max_bytes, body)


def test_an_envelope_given_as_json_bytes_is_published_as_those_bytes_on_its_route():
    """listen_events hands envelopes on encoded (hand_off_form): the body is those very
    bytes, routed as the dict they encode."""
    envelope = _envelope(1)
    body = orjson.dumps(envelope)
    [message] = _from_bytes(body)
    [from_dict] = to_messages(envelope, CONFIG.router, CONFIG.link_status, 12.5,
                              CONFIG.max_message_bytes)
    assert message.body is body
    assert message == from_dict


@pytest.mark.parametrize(("body", "error"), [
    (b"", "envelope bytes are not JSON: "),
    (b"{'message_id': 'm'}", "envelope bytes are not JSON: "),
    (b"\xff\xfe", "envelope bytes are not JSON: "),
    (b'{"a":' * 2000 + b"1" + b"}" * 2000, "envelope bytes are not JSON: "),
    (b"[1, 2]", "envelope is not an object (got list)"),
    (b'"envelope"', "envelope is not an object (got str)"),
    (orjson.dumps({**_envelope(1), "message_id": 7}),
     "envelope field 'message_id' must be a non-empty string"),
    (orjson.dumps({**_envelope(1), "link": [1]}), "envelope field 'link' must be an object"),
], ids=["empty", "single-quotes", "binary", "too-deep", "array", "string", "id-type",
        "link-type"])
def test_json_bytes_that_are_not_a_publishable_envelope_are_invalid(body, error):
    with pytest.raises(InvalidEnvelope) as raised:
        _from_bytes(body)
    assert str(raised.value).startswith(error)


def test_json_bytes_over_max_message_bytes_are_refused_with_their_message_id():
    envelope = {**_envelope(1), "pad": "x" * 9000}
    body = orjson.dumps(envelope)
    with pytest.raises(InvalidEnvelope) as raised:
        _from_bytes(body, 8192)
    assert str(raised.value) == (
        f"message {envelope['message_id']} (kytos/topology.switch.enabled) of {len(body)} "
        "bytes is larger than MAX_MESSAGE_BYTES (8192); not published")


@pytest.mark.parametrize("field", ["message_id", "event_name"])
def test_a_message_property_over_255_bytes_is_an_invalid_envelope(field):
    """They become AMQP short strings (message id, type): 255 bytes at most."""
    envelope = _envelope(1)
    envelope["message_id"] = "é" * 127  # 254 bytes: fine
    assert len(to_messages(envelope, CONFIG.router, CONFIG.link_status, 0.0,
                           CONFIG.max_message_bytes)) == 1
    envelope[field] = "é" * 128
    with pytest.raises(InvalidEnvelope, match=f"'{field}' is longer than 255 bytes"):
        to_messages(envelope, CONFIG.router, CONFIG.link_status, 0.0, CONFIG.max_message_bytes)


@pytest.fixture
async def producer(monkeypatch):
    monkeypatch.setenv("KYTOS_MQ_URL", f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    monkeypatch.setattr(producer_settings, "RETRY_INTERVAL", 3600.0)
    controller = FakeController()
    napp = controller.load_napp(MqProducer)
    yield controller, napp
    await controller.stop()
    await napp.publisher.transport.close()


async def test_the_handler_submits_every_good_envelope_and_logs_each_bad_one(producer, caplog,
                                                                             monkeypatch):
    controller, napp = producer
    submitted: list = []
    monkeypatch.setattr(napp.publisher, "submit",  # the publisher's API
                        lambda message, **_: submitted.append(message))
    good = [_envelope(n) for n in (1, 2, 3)]
    event = KytosEvent(HANDOFF, {"envelopes": [
        good[0], "junk", good[1], {**good[2], "message_id": "m-x", "event_class": 7}, good[2]]})
    await controller.buffers.app.aput(event)
    await controller.settle()
    publisher = napp.publisher
    assert (publisher.counters.received, publisher.counters.rejected) == (5, 2)
    assert [message.message_id for message in submitted] == [e["message_id"] for e in good]
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR
             and "cannot publish event" in r.getMessage()]
    assert lines == [
        f"mq_producer: cannot publish event {HANDOFF} (id {event.id}), envelope 2 of 5: "
        "envelope is not an object (got str)",
        f"mq_producer: cannot publish event {HANDOFF} (id {event.id}), envelope 4 of 5 "
        "(message m-x): envelope field 'event_class' must be a non-empty string"]


async def test_json_bytes_and_dicts_mix_in_one_hand_off_event_each_bad_one_logged(
        producer, caplog, monkeypatch):
    controller, napp = producer
    submitted: list = []
    monkeypatch.setattr(napp.publisher, "submit",
                        lambda message, **_: submitted.append(message))
    good = [_envelope(n) for n in (1, 2, 3)]
    event = KytosEvent(HANDOFF, {"envelopes": [
        orjson.dumps(good[0]), b"{not json", good[1], b"[]", orjson.dumps(good[2])]})
    await controller.buffers.app.aput(event)
    await controller.settle()
    counters = napp.publisher.counters
    assert (counters.received, counters.rejected) == (5, 2)
    assert [message.message_id for message in submitted] == [e["message_id"] for e in good]
    assert submitted[2].body == orjson.dumps(good[2])
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR
             and "cannot publish event" in r.getMessage()]
    prefix = f"mq_producer: cannot publish event {HANDOFF} (id {event.id}), envelope "
    assert lines == [
        f"{prefix}2 of 5: envelope bytes are not JSON: unexpected character, expected a "
        "string key: line 1 column 2 (char 1)",
        f"{prefix}4 of 5: envelope is not an object (got list)"]


async def test_a_malformed_container_counts_as_one_received_and_one_rejected(producer, caplog,
                                                                             monkeypatch):
    controller, napp = producer
    submitted: list = []
    monkeypatch.setattr(napp.publisher, "submit",
                        lambda message, **_: submitted.append(message))
    event = KytosEvent(HANDOFF, {"envelopes": None})
    await controller.buffers.app.aput(event)
    await controller.buffers.app.aput(KytosEvent(HANDOFF, {"envelopes": []}))  # nothing
    await controller.settle()
    counters = napp.publisher.counters
    assert (counters.received, counters.rejected) == (1, 1)
    assert submitted == []
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR
             and "cannot publish event" in r.getMessage()]
    assert lines == [f"mq_producer: cannot publish event {HANDOFF} (id {event.id}): content "
                     "has no 'envelopes' list (got NoneType)"]


JSON_LEAVES = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) \
    | st.floats(allow_nan=True) | st.text(max_size=5)
JSON_VALUES = st.recursive(
    JSON_LEAVES, lambda inner: st.lists(inner, max_size=130)
    | st.dictionaries(st.text(max_size=4), inner, max_size=130), max_leaves=400)


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES)
def test_the_pieces_of_a_body_join_into_what_orjson_writes_in_one_go(value):
    assert b"".join(body_pieces(value)) == orjson.dumps(value)


@pytest.mark.parametrize("bad", [{1: "int key"}, {StrSubclass("k"): 1}, {"set": {1, 2}},
                                 {"deep": {"er": {"st": {"x": object()}}}}])
def test_a_body_that_orjson_refuses_is_refused_in_pieces_too(bad):
    with pytest.raises(TypeError):
        orjson.dumps(bad)
    with pytest.raises(InvalidEnvelope, match="envelope is not JSON-serializable"):
        b"".join(body_pieces(bad))


async def test_a_topology_envelope_is_published_with_the_bytes_of_one_encoding(producer,
                                                                              monkeypatch):
    controller, napp = producer
    submitted: list = []
    monkeypatch.setattr(napp.publisher, "submit",
                        lambda message, **_: submitted.append(message))
    envelope = BUILDER.build(
        event_name="kytos/topology.topology_loaded", event_class="operational",
        event_id=None, event_timestamp=dt.datetime.now(dt.UTC),
        content={"topology": {"switches": {}, "links": {
            str(n): {"id": str(n), "metadata": {"n": n}} for n in range(3000)}}})
    await controller.buffers.app.aput(KytosEvent(HANDOFF, {"envelopes": [envelope]}))
    await controller.settle()
    [message] = submitted
    assert message.body == orjson.dumps(envelope)
