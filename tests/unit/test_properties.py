"""Property-based tests: thousands of generated (and hostile) inputs through every pure step
and through both NApps' event handlers. Nothing crashes; every event that is not published is
counted once, as not_action, filtered_out, failed (listen_events) or rejected (mq_producer).

No broker: mq_producer is pointed at a closed port, so its publisher only buffers.
"""

import asyncio
import collections.abc
import datetime as dt
import json
import logging
import re
import types
import uuid
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from kytos.core import KytosEvent
from pydantic import ValidationError

from listen_events import settings as listen_settings
from listen_events.classify import Classifier
from listen_events.config import load_config as load_listen_config
from listen_events.envelope import Envelope
from listen_events.filters import EventFilter
from listen_events.main import Main as ListenEvents
from listen_events.pipeline import EventPipeline
from listen_events.serialize import MAX_DEPTH, serialize_content
from mq_producer import settings as producer_settings
from mq_producer.config import load_config
from mq_producer.envelopes import InvalidEnvelope, envelopes_of, to_messages
from mq_producer.main import Main as MqProducer
from mq_producer.outbox import OutboundMessage
from tests.support.handoff import decoded, handed_envelopes
from tests.support.hostile import (
    KEYS,
    AsDictRaises,
    AsDictSelf,
    BadRepr,
    BrokenMapping,
    Color,
    Opaque,
    cycle,
    nest,
    surrogates,
)
from tests.support.kytos_controller import FakeController
from tests.support.rabbit_node import free_port
from tests.support.topology import make_link, make_topology

SCHEMA = Draft202012Validator(json.loads(
    (Path(listen_settings.__file__).parent / "envelope.schema.json").read_text()))
PROPERTY = settings(max_examples=1000, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- hostile values ------------------------------------------------------------------------


class HugeRepr:
    def __repr__(self) -> str:
        return "x" * 100_000


class AsDictOpaque:
    def as_dict(self):
        return {"inner": Opaque(), "nan": float("nan")}


class Text(str):
    """A str subclass, like kytos' LinkID and InterfaceID."""


SURROGATES = surrogates(3)
ZONES = st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=-3, minutes=-30))])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), SURROGATES,
    st.binary(max_size=20), st.builds(Text, st.text(max_size=10)), st.uuids(),
    st.datetimes(timezones=ZONES), st.dates(), st.times(), st.decimals(allow_nan=True),
    st.complex_numbers(), st.sampled_from(Color), st.builds(Opaque), st.builds(BadRepr),
    st.builds(HugeRepr), st.builds(AsDictRaises), st.builds(AsDictSelf), st.builds(AsDictOpaque),
    st.builds(RuntimeError, st.text(max_size=10)), st.integers(1, 50).map(make_link),
    st.integers(1, 50).map(lambda index: make_link(index, interdomain=True)),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.lists(children, max_size=3).map(tuple),
        st.dictionaries(KEYS, children, max_size=4),
        st.sets(st.integers() | st.text(max_size=5), max_size=3),
        st.lists(children, max_size=2).map(cycle),
        st.builds(nest, st.integers(MAX_DEPTH - 2, 3 * MAX_DEPTH), children)),
    max_leaves=12)
LINK_CONTENT = st.fixed_dictionaries(
    {"link": st.one_of(st.integers(1, 50).map(lambda i: make_link(i, interdomain=i % 2 == 0)),
                       VALUES)},
    optional={"reason": VALUES, "extra": VALUES})
TOPOLOGY_CONTENT = st.fixed_dictionaries(
    {"topology": st.one_of(
        VALUES, st.integers(0, 6).map(lambda n: make_topology(max(n, 1), n)),
        st.builds(types.SimpleNamespace, switches=VALUES, links=VALUES),
        st.builds(types.SimpleNamespace, switches=st.dictionaries(st.text(max_size=4), VALUES),
                  links=st.dictionaries(st.text(max_size=4), VALUES)))},
    optional={"failed_links": VALUES})
CONTENT = st.one_of(st.dictionaries(st.text(max_size=10) | KEYS, VALUES, max_size=5),
                    LINK_CONTENT, TOPOLOGY_CONTENT, VALUES)

KNOWN_NAMES = ["kytos/topology.link_up", "kytos/topology.link_down",
               "kytos/topology.switch.enabled", "kytos/topology.switch.disabled",
               "version/control.initialize", "kytos/topology.switches.metadata.added",
               "kytos/topology.links.metadata.removed", "kytos/topology.topology_loaded"]
_WORDS = st.sampled_from(["kytos", "topology", "link_up", "link_down", "switch", "enabled",
                          "metadata", "added", "x", "version", "control"])
NAMES = st.one_of(st.sampled_from(KNOWN_NAMES), st.text(max_size=40),
                  st.builds(lambda a, b, rest: f"{a}/{b}" + "".join(f".{w}" for w in rest),
                            _WORDS, _WORDS, st.lists(_WORDS, max_size=3)),
                  st.sampled_from(KNOWN_NAMES).map(lambda name: name + "\n"))


def _has_surrogate_or_big_int(value: object) -> bool:
    """What orjson (so mq_producer) refuses in serialized content: lone surrogates and
    integers beyond 64 bits."""
    if isinstance(value, str):
        return any(0xD800 <= ord(char) <= 0xDFFF for char in value)
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not -(2**63) <= value < 2**64
    if isinstance(value, dict):
        return any(_has_surrogate_or_big_int(k) or _has_surrogate_or_big_int(v)
                   for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate_or_big_int(item) for item in value)
    return False


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    return 0


def _json_safe(value: object) -> bool:
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_safe(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_safe(item) for item in value)
    return False


# -- serialization ---------------------------------------------------------------------------

@PROPERTY
@given(content=CONTENT)
def test_serialization_never_raises_and_always_yields_plain_json(content):
    serialized, warnings = serialize_content(content)
    assert isinstance(serialized, dict)
    assert _json_safe(serialized)  # only dict/list/str/int/finite float/bool/None, str keys
    json.dumps(serialized, allow_nan=False)
    assert _depth(serialized) <= MAX_DEPTH + 2
    assert all(isinstance(warning, str) for warning in warnings)
    if not isinstance(content, collections.abc.Mapping):
        assert warnings  # non-dict content is always reported


@PROPERTY
@given(content=st.dictionaries(st.text(max_size=5), SCALARS, min_size=1, max_size=4),
       hostile=st.sampled_from([Opaque(), BadRepr(), AsDictRaises(), float("nan"),
                                float("-inf"), cycle([1]), nest(3 * MAX_DEPTH, 1)]))
def test_every_degraded_value_is_reported(content, hostile):
    serialized, warnings = serialize_content({**content, "hostile": hostile})
    assert warnings
    json.dumps(serialized, allow_nan=False)


# -- classification and filtering ------------------------------------------------------------

def _reference_class(classes: dict, timestamp_classes: list, name: str,
                     has_timestamp: bool) -> str | None:
    for event_class, patterns in classes.items():
        if any(re.fullmatch(pattern, name) for pattern in patterns):
            return None if event_class in timestamp_classes and not has_timestamp \
                else event_class
    return None


CLASS_NAMES = st.sampled_from(["administrative", "operational", "other", "a_b", "x-y"])
PATTERN_POOL = [*(re.escape(name) for name in KNOWN_NAMES), r"kytos/topology\.link_.*",
                r"kytos/topology\.switch\.(enabled|disabled)", r"[a-z]+/[a-z_]+", r".*\.added",
                "version/.*"]


@PROPERTY
@given(classes=st.dictionaries(CLASS_NAMES, st.lists(st.sampled_from(PATTERN_POOL), min_size=1,
                                                     max_size=3), min_size=1, max_size=4),
       data=st.data())
def test_classification_is_the_first_matching_class(classes, data):
    timestamp_classes = data.draw(st.lists(st.sampled_from(sorted(classes)), unique=True))
    classifier = Classifier(classes, timestamp_classes)
    for _ in range(5):
        name = data.draw(NAMES)
        has_timestamp = data.draw(st.booleans())
        expected = _reference_class(classes, timestamp_classes, name, has_timestamp)
        assert classifier.classify(name, has_timestamp) == expected
        assert classifier.classify(name, has_timestamp) == expected  # cached: same answer


@PROPERTY
@given(name=NAMES, has_timestamp=st.booleans())
def test_default_classification(name, has_timestamp):
    config = load_listen_config(listen_settings, {})
    expected = _reference_class(listen_settings.CLASSES, listen_settings.OPERATIONAL_CLASSES,
                                name, has_timestamp)
    assert config.classifier.classify(name, has_timestamp) == expected


@PROPERTY
@given(allow=st.lists(st.sampled_from(KNOWN_NAMES), max_size=3),
       deny=st.lists(st.sampled_from(KNOWN_NAMES), max_size=3), names=st.lists(NAMES, max_size=10))
def test_allow_and_deny_lists(allow, deny, names):
    event_filter = EventFilter([re.escape(n) for n in allow], [re.escape(n) for n in deny], [])
    for name in [*names, *allow, *deny]:
        assert event_filter.allows_name(name) == ((not allow or name in allow)
                                                  and name not in deny)


_MISSING = object()
PATH_PARTS = ["link", "metadata", "interdomain", "status", "a"]
JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(
    ["UP", "DOWN", "x"]) | st.floats(allow_nan=True),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(PATH_PARTS), children, max_size=3), max_leaves=10)
RULES = st.lists(st.fixed_dictionaries(
    {"path": st.lists(st.sampled_from(PATH_PARTS), min_size=1, max_size=3).map(".".join)},
    optional={"events": st.sampled_from([r"kytos/topology\.link_.*", ".*", "nothing"])},
).flatmap(lambda rule: st.one_of(
    st.just({**rule, "equals": None}), JSONISH.map(lambda v: {**rule, "equals": v}),
    st.lists(JSONISH, max_size=3).map(lambda v: {**rule, "in": v}),
    st.booleans().map(lambda v: {**rule, "exists": v}))), max_size=4)


def _lookup(content: object, path: str) -> object:
    value = content
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


@PROPERTY
@given(rules=RULES, name=st.sampled_from(KNOWN_NAMES), content=JSONISH)
def test_content_rules(rules, name, content):
    content = content if isinstance(content, dict) else {"link": content}
    event_filter = EventFilter([], [], rules)
    expected = None
    for index, rule in enumerate(rules):
        if not re.fullmatch(rule.get("events", ".*"), name):
            continue
        value = _lookup(content, rule["path"])
        if "exists" in rule:
            passes = (value is not _MISSING) == rule["exists"]
        elif "in" in rule:
            passes = value in rule["in"]
        else:
            passes = value == rule["equals"]
        if not passes:
            expected = f"CONTENT_RULES[{index}]"
            break
    failed = event_filter.failed_content_rule(name, content)
    assert (failed and failed.setting) == expected


# -- envelopes ------------------------------------------------------------------------------

@PROPERTY
@given(name=NAMES, content=CONTENT, has_timestamp=st.booleans())
def test_every_envelope_built_validates_against_the_model_and_the_json_schema(
        name, content, has_timestamp):
    pipeline = EventPipeline(load_listen_config(listen_settings, {}))
    timestamp = dt.datetime.now(dt.UTC) if has_timestamp else None
    envelopes = asyncio.run(pipeline.process(name, uuid.uuid4(), timestamp, content))
    counters = pipeline.counters
    assert counters.received == 1
    assert counters.not_action + counters.classified == 1
    for item in envelopes:
        # plain JSON values (a topology's switches and links are JSON fragments), but what
        # only the standard library's json can write
        envelope = item if _has_surrogate_or_big_int(item) else decoded(item)
        Envelope.model_validate_json(json.dumps(envelope))
        SCHEMA.validate(json.loads(json.dumps(envelope)))
        if not _has_surrogate_or_big_int(envelope):
            assert Envelope.model_validate_json(orjson.dumps(envelope)).message_id \
                == envelope["message_id"]


VALID = asyncio.run(EventPipeline(load_listen_config(listen_settings, {})).process(
    "kytos/topology.link_down", uuid.uuid4(), dt.datetime.now(dt.UTC),
    {"link": make_link(1, interdomain=True), "reason": "link down"}))[0]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3), max_leaves=8)


def _mutated(field: str, value: object, drop: bool) -> bytes:
    envelope = dict(VALID)
    if drop:
        envelope.pop(field)
    else:
        envelope[field] = value
    return orjson.dumps(envelope)


@PROPERTY
@given(body=st.one_of(st.binary(max_size=200), JSON_VALUES.map(orjson.dumps),
                      st.builds(_mutated, st.sampled_from(sorted(VALID)), JSON_VALUES,
                                st.booleans())))
def test_consumer_validation_raises_only_validation_errors(body):
    """mq_consumer dead-letters on ValidationError; anything else would break its handler."""
    try:
        envelope = Envelope.model_validate_json(body)
    except ValidationError:
        return
    assert envelope.schema_version == 1
    assert envelope.model_dump(mode="json")  # a usable envelope


def _link_with(**fields) -> dict:
    return {**VALID["link"], **fields}


@pytest.mark.parametrize(("field", "value"), [
    ("sent_time", False), ("sent_time", "123"),
    ("event_timestamp", 1764272657),
    ("producer", {**VALID["producer"], "sequence": "4"}),
    ("link", _link_with(active="true")),
])
def test_consumer_validation_is_as_strict_as_the_json_schema(field, value):
    body = _mutated(field, value, False)
    assert not SCHEMA.is_valid(json.loads(body))  # the published schema rejects it
    with pytest.raises(ValidationError):
        Envelope.model_validate_json(body)  # so should mq_consumer


# -- mq_producer intake ---------------------------------------------------------------------

PRODUCER_CONFIG = load_config(producer_settings, {"KYTOS_MQ_URL": "amqp://u:p@127.0.0.1/"})
ENVELOPE_FIELDS = sorted(VALID)


def _mutated_envelope(field: str, value: object) -> dict:
    return {**VALID, field: value}


ENVELOPE_ITEMS = st.one_of(
    VALUES, st.builds(_mutated_envelope, st.sampled_from(ENVELOPE_FIELDS), VALUES),
    st.builds(_mutated_envelope, st.sampled_from(ENVELOPE_FIELDS), JSON_VALUES),
    st.builds(_mutated_envelope, st.just("link"), st.fixed_dictionaries(
        {"id": st.text(min_size=1, max_size=5), "status": st.text()},
        optional={"metadata": VALUES | JSON_VALUES})))


@PROPERTY
@given(content=st.one_of(VALUES, st.fixed_dictionaries({"envelopes": VALUES}),
                         st.fixed_dictionaries({"envelopes": st.lists(ENVELOPE_ITEMS,
                                                                      max_size=4)})),
       max_bytes=st.sampled_from([16 * 1024 * 1024, 4096, 1000]))
def test_intake_accepts_or_rejects_never_crashes(content, max_bytes):
    """The container is accepted or rejected as a whole; then every envelope of it on its
    own, whatever the others are."""
    try:
        envelopes = envelopes_of(content)
    except InvalidEnvelope as exc:
        assert str(exc)
        assert not (isinstance(content, dict) and isinstance(content.get("envelopes"), list))
        return
    assert envelopes is content["envelopes"]
    for envelope in envelopes:
        try:
            messages = to_messages(envelope, PRODUCER_CONFIG.router,
                                   PRODUCER_CONFIG.link_status, 0.0, max_bytes)
        except InvalidEnvelope as exc:
            assert str(exc)
            continue
        assert 1 <= len(messages) <= 2
        for message in messages:
            assert isinstance(message, OutboundMessage)
            assert message.message_id.startswith(envelope["message_id"])
            assert len(message.body) <= max_bytes
            assert len(message.routing_key.encode()) <= 255
            orjson.loads(message.body)


# -- both NApps' handlers --------------------------------------------------------------------

class Stack(types.SimpleNamespace):
    loop: asyncio.AbstractEventLoop
    controller: FakeController
    listen: ListenEvents
    producer: MqProducer
    records: list[logging.LogRecord]


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def stack():
    """Both NApps on a stand-in controller with its own event loop; the producer's broker is
    a closed port (it only buffers), with a buffer large enough to drop nothing."""
    loop = asyncio.new_event_loop()
    records: list[logging.LogRecord] = []
    handler = _Collect(records)
    logger = logging.getLogger("kytos.napps")
    logger.addHandler(handler)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KYTOS_MQ_URL", f"amqp://guest:guest@127.0.0.1:{free_port()}/")
        patch.setattr(producer_settings, "RETRY_INTERVAL", 3600.0)
        patch.setattr(producer_settings, "BUFFER_SIZE", 1_000_000)
        patch.setattr(producer_settings, "MAX_MESSAGE_BYTES", 20_000)

        async def make() -> Stack:
            controller = FakeController()
            return Stack(loop=loop, controller=controller,
                         listen=controller.load_napp(ListenEvents),
                         producer=controller.load_napp(MqProducer), records=records)

        built = loop.run_until_complete(make())
        yield built

        async def stop() -> None:
            await built.controller.stop()
            await built.producer.publisher.transport.close()

        loop.run_until_complete(stop())
    logger.removeHandler(handler)
    loop.close()


def _encodable(envelope: dict, limit: int) -> bool:
    try:
        return len(orjson.dumps(envelope)) <= limit
    except TypeError:
        return False


@settings(max_examples=600, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(events=st.lists(st.tuples(st.sampled_from(KNOWN_NAMES) | st.sampled_from(KNOWN_NAMES)
                                 | NAMES, CONTENT, st.booleans()), min_size=1, max_size=4),
       broken=st.sampled_from([False] * 9 + [True]))
def test_handlers_never_crash_and_count_every_event(stack, events, broken):
    listen, producer, controller = stack.listen, stack.producer, stack.controller
    listen_before = listen.pipeline.counters.as_dict()
    producer_before = producer.publisher.counters.as_dict()
    seen_before, dead_before = len(controller.seen), len(controller.dead_letter)
    records_before = len(stack.records)
    kytos_events = []
    for name, content, has_timestamp in events:
        event = KytosEvent(name, {"bad": BrokenMapping()} if broken else content)
        if not has_timestamp:
            event.timestamp = None
        kytos_events.append(event)

    async def run() -> None:
        for event in kytos_events:  # as the controller would for a subscribed name
            await listen.on_event(event)
        # The handler only queues: the worker hands the envelopes on through the app buffer
        # to mq_producer; settle() waits for all of it.
        await controller.settle()

    stack.loop.run_until_complete(run())
    assert len(controller.dead_letter) == dead_before  # no handler raised

    listen_delta = {k: v - listen_before[k] for k, v in listen.pipeline.counters.as_dict().items()}
    producer_delta = {k: v - producer_before[k]
                      for k, v in producer.publisher.counters.as_dict().items()}
    handed = [envelope for event in controller.seen[seen_before:]
              if event.name == "kytos/listen_events.broadcast"
              for envelope in handed_envelopes(event.content)]
    snapshots = sum(envelope["msg_type"] == "snapshot" for envelope in handed)
    # listen_events: every subscribed event is processed and counted exactly once, and its
    # envelopes are handed on in the order they were numbered
    assert listen.worker.backlog == 0 and listen_delta["hand_on_failed"] == 0
    sequences = [envelope["producer"]["sequence"] for envelope in handed]
    if sequences:
        assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
    assert listen_delta["received"] == len(events)
    assert listen_delta["received"] == (listen_delta["not_action"] + listen_delta["filtered_out"]
                                        + listen_delta["failed"]
                                        + listen_delta["handed_on"] - snapshots)
    if broken:
        assert listen_delta["failed"] == listen_delta["classified"]
    # mq_producer: every hand-off is received; exactly the unencodable or too large ones are
    # rejected, each with an ERROR line
    assert producer_delta["received"] == listen_delta["handed_on"] == len(handed)
    expected_rejected = sum(not _encodable(envelope, 20_000) for envelope in handed)
    assert producer_delta["rejected"] == expected_rejected
    rejections = [r for r in stack.records[records_before:]
                  if r.levelno == logging.ERROR and "cannot publish event" in r.getMessage()]
    assert len(rejections) == expected_rejected
    assert producer_delta["dropped"] == 0
