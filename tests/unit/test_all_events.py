"""The "all events" profile (issue 16) under generated events: any name - empty parts,
unicode, lone surrogates, thousands of characters, regex metacharacters, the real noisy and
useful ones - and any content - nested containers, objects, exceptions, bytes, cycles, hostile
objects, a few huge ones - through the real EventPipeline and HandOffWorker (no Kytos).

Nothing crashes; the worker's backlog returns to 0; every envelope is valid and bounded in
size; every event is handed on or counted exactly once:
``received == events handed on + blocked + not_action + filtered_out + failed``.
"""

import asyncio
import datetime as dt
import json
import logging
import types
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from listen_events import settings as listen_settings
from listen_events.classify import MAX_CACHED_NAMES
from listen_events.config import load_config
from listen_events.envelope import Envelope
from listen_events.pacing import Pacer
from listen_events.pipeline import MAX_NAME_BYTES, EventPipeline
from listen_events.serialize import MAX_TEXT, MAX_VALUES
from listen_events.worker import HandOffWorker
from tests.support.handoff import decoded
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
from tests.support.topology import make_link, make_nni, make_topology

# The profile under test, with a name filter and a content rule so that every outcome occurs.
DENIED = r"kytos/of_lldp\.loop\..*"
RULED = r"acme/ruled\..*"
SETTINGS = {**{name: getattr(listen_settings, name) for name in dir(listen_settings)
               if name.isupper()},
            "PROFILE": "all", "DENY_EVENTS": [DENIED],
            "CONTENT_RULES": [{"events": RULED, "path": "keep", "equals": True}]}
CONFIG = load_config(types.SimpleNamespace(**SETTINGS), {})

# The JSON of one envelope, at most: its content's (serialize.py: 6 bytes a character of text
# at worst, and the numbers, punctuation and markers of each value) twice - a link's metadata
# is in the envelope's "link" too - and the envelope's own fields (an event name of up to
# a few thousand characters here).
MAX_ENVELOPE_BYTES = 2 * (6 * MAX_TEXT + 64 * MAX_VALUES) + 256 * 1024

PROPERTY = settings(max_examples=250, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])

# -- names -------------------------------------------------------------------------------

NOISY = ["kytos/of_core.v0x04.messages.in.ofpt_echo_request",
         "kytos/of_core.v0x04.messages.out.ofpt_packet_out",
         "kytos/of_core.v0x01.messages.in.ofpt_hello", "kytos/core.openflow.raw.in",
         "kytos/core.shutdown", "kytos/core.shutdown.kytos/of_core", "kytos/topology.updated",
         "kytos/topology.notify_link_up_if_status", "kytos/flow_manager.messages.out.x",
         "kytos/listen_events.broadcast", "kytos/mq_producer.loaded", "kytos/core.shutdown\n"]
USEFUL = ["kytos/mef_eline.created", "kytos/flow_manager.flow.added", "kytos/of_lldp.liveness.up",
          "topology.interruption.start", "kytos/of_core.switch.interface.link_up",
          "kytos/topology.link_down", "kytos/topology.topology_loaded",
          "kytos/topology.switch.enabled", "version/control.initialize",
          "kytos/of_lldp.loop.detected", "acme/ruled.event"]
METAS = "\\.*+?()[]{}|^$/-_:"
SURROGATES = surrogates(2)
WORDS = st.one_of(st.sampled_from(["kytos", "topology", "mef_eline", "", "x", "of_core",
                                   "v0x04", "messages", "in", "core", "tópico", "事件"]),
                  st.text(max_size=6), st.text(alphabet=METAS, max_size=6))
NAMES = st.one_of(
    st.sampled_from(NOISY + USEFUL),
    st.text(max_size=40),
    st.text(alphabet=METAS + "abc", max_size=30),
    st.builds(lambda napp, parts: napp + "".join(f".{part}" for part in parts),
              st.builds(lambda a, b: f"{a}/{b}", WORDS, WORDS), st.lists(WORDS, max_size=4)),
    st.builds(lambda name, n: name * n, st.sampled_from(["kytos/x.", "a", "é."]),
              st.integers(500, 3000)),
    st.builds(lambda name, bad: name + bad, st.sampled_from(USEFUL), SURROGATES),
    st.sampled_from(USEFUL).map(lambda name: name + "\n"),
)

# -- contents ------------------------------------------------------------------------------


class DictRaises:
    @property
    def __dict__(self):
        raise RuntimeError("no attributes")


class StrRaises(Exception):
    def __str__(self) -> str:
        raise ValueError("no message")


class Attributes:
    """An object known by its public attributes (python-openflow structs, core's Connection)."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.itself = self
        self._hidden = "not published"


def _shared(depth: int) -> Any:
    """A DAG whose every node is reached twice: 2**depth paths, depth + 1 objects."""
    value: Any = 1
    for _ in range(depth):
        value = [value, {"x": value}]
    return value


# Huge values, built once: each example that draws one pays for serializing it, not building.
HUGE = [list(range(3 * MAX_VALUES)), "x" * (3 * MAX_TEXT), "é" * MAX_TEXT,
        b"\xff" * 200_000, {str(n): n for n in range(2 * MAX_VALUES)}, _shared(40),
        set(range(2 * MAX_VALUES)), [["\x01" * 60] * 100] * 100,
        [make_link(n % 40 + 1) for n in range(1000)], nest(5000, "deep")]

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from([2**70, -(2**90)]),
    st.builds(pow, st.just(10), st.integers(4000, 6000)),  # str() refuses past 4,300 digits
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), SURROGATES,
    st.binary(max_size=20), st.uuids(), st.datetimes(timezones=st.sampled_from(
        [None, dt.UTC, dt.timezone(dt.timedelta(hours=-3))])), st.dates(),
    st.decimals(allow_nan=True), st.complex_numbers(), st.sampled_from(Color),
    st.builds(RuntimeError, st.text(max_size=10)), st.builds(StrRaises),
    st.builds(Opaque), st.builds(BadRepr), st.builds(AsDictRaises), st.builds(AsDictSelf),
    st.builds(DictRaises), st.just(print), st.just(dict), st.just(json),
    st.integers(1, 40).map(make_link), st.integers(1, 40).map(make_nni),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.lists(children, max_size=3).map(tuple),
        st.dictionaries(KEYS, children, max_size=4),
        st.sets(st.integers() | st.text(max_size=5), max_size=3),
        st.lists(children, max_size=2).map(cycle), st.builds(Attributes, children),
        st.builds(nest, st.integers(60, 70), children)),
    max_leaves=12)
CONTENTS = st.one_of(
    st.dictionaries(st.text(max_size=10) | KEYS, VALUES, max_size=5),
    st.fixed_dictionaries({"huge": st.sampled_from(HUGE)}, optional={"other": VALUES}),
    st.fixed_dictionaries({"link": st.integers(1, 40).map(make_link), "reason": VALUES}),
    st.fixed_dictionaries({"keep": st.booleans(), "other": VALUES}),
    st.builds(lambda n: {"topology": make_topology(max(n, 1), n)}, st.integers(0, 4)),
    st.just({"bad": BrokenMapping()}),  # cannot be iterated: the event fails, counted
    VALUES,  # content that is not a dict
)
EVENTS = st.lists(st.tuples(NAMES, CONTENTS, st.booleans()), min_size=1, max_size=5)


# -- the property --------------------------------------------------------------------------

class Recorder:
    def __init__(self) -> None:
        self.handed: list[Any] = []

    async def __call__(self, batch: list[Any]) -> None:
        self.handed.extend(batch)


async def _run(events: list[tuple[str, Any, bool]]) -> tuple[HandOffWorker, Recorder]:
    recorder = Recorder()
    worker = HandOffWorker(EventPipeline(CONFIG, Pacer()), recorder)
    now = dt.datetime.now(dt.UTC)
    for name, content, has_timestamp in events:
        worker.push(name, uuid.uuid4(), now if has_timestamp else None, content)
        await asyncio.sleep(0)  # events arrive one per turn of the loop, as from core
    await asyncio.wait_for(worker.drained(), timeout=60)
    task = worker._task
    assert task is not None and not task.done()  # the worker lives on
    worker.stop()
    return worker, recorder


@pytest.fixture(autouse=True)
def _quiet_logs(caplog):
    """The degraded and failed events log, as they should; not onto the test's output."""
    caplog.set_level(logging.CRITICAL, logger="kytos.napps.kytos/listen_events")


@PROPERTY
@given(events=EVENTS)
def test_every_event_is_handed_on_or_counted_and_nothing_grows(events):
    worker, recorder = asyncio.run(_run(events))
    counters = worker.pipeline.counters
    assert worker.backlog == 0 and worker.idle
    assert counters.hand_on_failed == 0
    envelopes = []
    for item in recorder.handed:
        encoded = item if isinstance(item, bytes) else orjson.dumps(item)
        assert len(encoded) <= MAX_ENVELOPE_BYTES
        envelope = decoded(item)
        Envelope.model_validate_json(encoded)  # valid, whatever the content was
        envelopes.append(envelope)
    handed_events = [e for e in envelopes if e["msg_type"] == "event"]
    # every event handed on or counted, exactly once
    assert counters.received == len(events)
    assert counters.received == (len(handed_events) + counters.blocked + counters.not_action
                                 + counters.filtered_out + counters.failed)
    assert counters.classified == len(handed_events) + counters.filtered_out + \
        counters.failed
    # what was handed on: in order, of a subscribed name, neither blocked nor denied
    names = [name for name, _, _ in events]
    position = 0
    for envelope in handed_events:
        name = envelope["event_name"]
        position = names.index(name, position) + 1
        assert not CONFIG.is_blocked(name) and CONFIG.event_filter.allows_name(name)
        assert envelope["napp"] == name.partition(".")[0]
        assert envelope["event_class"] in (*listen_settings.CLASSES, "other_events")
    for name, _, _ in events:
        if CONFIG.is_blocked(name):
            assert name not in [e["event_name"] for e in handed_events]
    # and only what cannot be published fails: content that cannot be iterated, a name that
    # cannot be UTF-8 or is too long for a message property
    assert counters.failed == sum(
        1 for name, content, has_timestamp in events
        if CONFIG.classifier.classify(name, has_timestamp) is not None
        and not CONFIG.is_blocked(name) and CONFIG.event_filter.allows_name(name)
        and (_utf8(name) is False or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES
             or (isinstance(content, dict)
                                      and isinstance(content.get("bad"), BrokenMapping))))
    for outcome in ("blocked", "not_action", "filtered_out", "failed"):
        if getattr(counters, outcome):
            event(outcome)  # --hypothesis-show-statistics: how often each outcome occurs
    if any("huge" in content for _, content, _ in events if isinstance(content, dict)):
        event("a huge content")
    if any(type(item) is dict for item in recorder.handed):
        event("handed on as a dict (large, or a topology)")
    sequences = [e["producer"]["sequence"] for e in envelopes]
    assert sequences == list(range(1, len(sequences) + 1))
    # the caches of names stay bounded, whatever names come
    assert len(CONFIG.classifier._cache) <= MAX_CACHED_NAMES
    assert len(worker.pipeline._blocked) <= MAX_CACHED_NAMES


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def test_the_generated_events_reach_every_outcome():
    """The property above is not vacuous: these events end in each of the outcomes."""
    events = [("kytos/mef_eline.created", {"evc_id": "e"}, True),  # handed on
              ("kytos/of_core.v0x04.messages.in.ofpt_echo_request", {}, True),  # blocked
              ("kytos/topology.link_up", {"link": make_link(1)}, False),  # not_action
              ("kytos/of_lldp.loop.detected", {}, True),  # filtered_out: denied
              ("acme/ruled.event", {"keep": False}, True),  # filtered_out: content rule
              ("acme/bad.event", {"bad": BrokenMapping()}, True),  # failed
              ("acme/bad.\ud800", {}, True),  # failed: the name cannot be JSON
              ("acme/huge.event", {"huge": HUGE[0]}, True)]  # handed on, bounded
    worker, recorder = asyncio.run(_run(events))
    counters = worker.pipeline.counters.as_dict()
    assert {key: counters[key] for key in ("received", "blocked", "not_action",
                                           "filtered_out", "failed")} == {
        "received": 8, "blocked": 1, "not_action": 1, "filtered_out": 2, "failed": 2}
    assert [decoded(item)["event_name"] for item in recorder.handed] == [
        "kytos/mef_eline.created", "acme/huge.event"]
    assert type(recorder.handed[1]) is dict  # large: for the producer to encode in pieces
