import asyncio
import datetime as dt
import gc
import json
import time
import types
import uuid

import orjson

from listen_events import settings
from listen_events.config import load_config
from listen_events.envelope import Envelope, LargeEnvelope, hand_off_form
from listen_events.pacing import Pacer
from listen_events.pipeline import EventPipeline
from listen_events.serialize import LEFT_OUT_KEY, serialize_content
from tests.support.handoff import decoded
from tests.support.topology import make_link, make_topology


def _pipeline(pacer: Pacer | None = None) -> EventPipeline:
    return EventPipeline(load_config(settings, {}), pacer)


async def test_topology_loaded_gives_its_event_then_one_snapshot_per_link():
    topology = make_topology(20, 30)
    content = {"topology": topology, "failed_switches": {}, "failed_links": {}}
    processed = await _pipeline().process("kytos/topology.topology_loaded", uuid.uuid4(),
                                          dt.datetime.now(dt.UTC), content)
    # The snapshots come in their hand-off form (JSON bytes), the event as a dict in which
    # each switch and link is a JSON fragment: nothing the garbage collector walks.
    assert type(processed[0]) is dict and all(type(item) is bytes for item in processed[1:])
    assert not gc.is_tracked(processed[0]["content"]["topology"]["links"])
    envelopes = [decoded(item) for item in processed]
    assert [e["msg_type"] for e in envelopes] == ["event"] + ["snapshot"] * 30
    for envelope in envelopes:
        Envelope.model_validate_json(json.dumps(envelope))
    # Chunked serialization gives exactly what the one-go serializer gives.
    expected, warnings = serialize_content(content)
    assert warnings == [] and envelopes[0]["content"] == expected
    assert {e["link"]["id"] for e in envelopes[1:]} == {str(i) for i in topology.links}



async def test_snapshots_of_topology_loaded_reuse_the_topology_serialization(monkeypatch):
    """Each link is serialized once (as_dict once), and its snapshot carries exactly what the
    topology_loaded envelope says of it."""
    topology = make_topology(5, 12)
    link_class = type(next(iter(topology.links.values())))
    calls: list[str] = []
    as_dict = link_class.as_dict

    def counted(link):
        calls.append(link.id)
        return as_dict(link)

    monkeypatch.setattr(link_class, "as_dict", counted)
    envelopes = [decoded(item) for item in await _pipeline().process(
        "kytos/topology.topology_loaded", uuid.uuid4(), dt.datetime.now(dt.UTC),
        {"topology": topology})]
    assert sorted(calls) == sorted(link.id for link in topology.links.values())
    serialized = envelopes[0]["content"]["topology"]["links"]
    snapshots = {e["content"]["link"]["id"]: e["content"]["link"] for e in envelopes[1:]}
    assert snapshots == {link["id"]: link for link in serialized.values()}

class LoopGaps:
    """Runs a task that notes how long the loop was held between two of its turns."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._running = True
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.perf_counter()
        while self._running:
            await asyncio.sleep(0)
            now = time.perf_counter()
            self.gaps.append(now - last)
            last = now

    async def __aenter__(self) -> "LoopGaps":
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._running = False
        assert self._task is not None
        await self._task


async def test_a_big_topology_gives_the_loop_a_turn_whenever_the_pacer_says():
    """With a budget of 0 the pipeline yields after every switch, link and snapshot."""
    topology = make_topology(30, 120)
    pacer = Pacer(0.0)
    async with LoopGaps() as loop_turns:
        envelopes = await _pipeline(pacer).process(
            "kytos/topology.topology_loaded", uuid.uuid4(), dt.datetime.now(dt.UTC),
            {"topology": topology})
    assert len(envelopes) == 1 + 120
    assert pacer.pauses >= 30 + 120 + 120
    assert len(loop_turns.gaps) >= pacer.pauses


async def test_counters_follow_the_pipeline():
    pipeline = _pipeline()
    now = dt.datetime.now(dt.UTC)
    link = make_link(1)
    assert await pipeline.process("kytos/topology.link_up", None, now, {"link": link})
    assert await pipeline.process("kytos/topology.updated", None, now, {}) == []
    assert await pipeline.process("kytos/topology.link_down", None, None, {"link": link}) == []
    assert pipeline.counters.as_dict() == {
        "received": 3, "classified": 1, "not_action": 2, "filtered_out": 0, "handed_on": 0,
        "serialization_warnings": 0, "failed": 0, "hand_on_failed": 0}


async def test_link_status_follows_the_event_when_the_link_has_changed_since():
    """The event carries the Link itself; by the time it is serialized the link may be up
    again (a flap, events waiting their turn). envelope.link is the event's view, consistent
    in itself: status is what the event stands for, active agrees with it; content.link is
    the object as serialized."""
    link = make_link(1)
    link.active = True  # already back up when the link_down is processed
    pipeline = _pipeline()
    [down] = await pipeline.process("kytos/topology.link_down", uuid.uuid4(),
                                    dt.datetime.now(dt.UTC), {"link": link, "reason": "down"})
    Envelope.model_validate_json(json.dumps(down))
    assert (down["content"]["link"]["status"], down["content"]["link"]["active"]) == (
        "UP", True)  # the object, as serialized
    assert {field: down["link"][field] for field in (
        "kind", "status", "status_source", "active", "enabled", "reason")} == {
        "kind": "link", "status": "DOWN", "status_source": "event", "active": False,
        "enabled": True, "reason": "down"}  # the event
    assert down["key"] == f"link:{link.id}"
    [snapshot] = await pipeline.snapshot([link])
    # snapshots: the object's present status
    assert {field: snapshot["link"][field] for field in (
        "kind", "status", "status_source", "active")} == {
        "kind": "link", "status": "UP", "status_source": "object", "active": True}


async def test_link_up_of_a_link_that_went_down_since_is_up_and_active_in_the_envelope():
    link = make_link(2)
    link.active = False
    [up] = await _pipeline().process("kytos/topology.link_up", uuid.uuid4(),
                                     dt.datetime.now(dt.UTC), {"link": link, "reason": "up"})
    assert (up["link"]["status"], up["link"]["active"], up["link"]["status_source"]) == (
        "UP", True, "event")
    assert (up["content"]["link"]["status"], up["content"]["link"]["active"]) == ("DOWN", False)


async def test_link_event_with_no_status_of_its_own_takes_the_objects():
    """Not in LINK_STATUS_BY_EVENT: status and active are the Link's (status_source
    "object"); a link.disabled event still says enabled false, whatever the Link says now."""
    link = make_link(3)
    pipeline = _pipeline()
    [event] = [pipeline.builder.build(
        event_name="kytos/topology.link.disabled", event_class="administrative",
        event_id=None, event_timestamp=dt.datetime.now(dt.UTC),
        content=serialize_content({"link": link})[0])]
    Envelope.model_validate_json(json.dumps(event))
    assert {field: event["link"][field] for field in (
        "status", "status_source", "active", "enabled")} == {
        "status": "DISABLED", "status_source": "object", "active": True, "enabled": False}


# -- the "all events" profile (issue 16) -----------------------------------------------------

def _all_pipeline(pacer: Pacer | None = None, **overrides) -> EventPipeline:
    values = {name: getattr(settings, name) for name in dir(settings) if name.isupper()}
    values.update(PROFILE="all", **overrides)
    return EventPipeline(load_config(types.SimpleNamespace(**values), {}), pacer)


EVC = {"evc_id": "a2e6b8f4c3d14e", "id": "a2e6b8f4c3d14e", "name": "epl-ampath-sax",
       "metadata": {"telemetry": {"enabled": False}}, "active": False, "enabled": True,
       "uni_a": {"interface_id": "00:00:00:00:00:00:00:01:1",
                 "tag": {"tag_type": "vlan", "value": 100}},
       "uni_z": {"interface_id": "00:00:00:00:00:00:00:02:1",
                 "tag": {"tag_type": "vlan", "value": 100}}}


async def test_other_napps_events_are_published_under_the_unclassified_class():
    pipeline = _all_pipeline()
    now = dt.datetime.now(dt.UTC)
    link = make_link(4)
    [created] = await pipeline.process("kytos/mef_eline.created", uuid.uuid4(), now, EVC)
    [flow] = await pipeline.process("kytos/flow_manager.flow.added", uuid.uuid4(), None, {
        "datapath": link.endpoint_a.switch, "flow": {"id": "8b6e", "match": {"in_port": 5}}})
    [window] = await pipeline.process("topology.interruption.start", uuid.uuid4(), now, {
        "type": "maintenance", "switches": frozenset({"00:01"}), "interfaces": frozenset(),
        "links": frozenset({link.id})})
    [link_up] = await pipeline.process("kytos/topology.link_up", uuid.uuid4(), now,
                                       {"link": link, "reason": "link up"})
    for envelope in (created, flow, window, link_up):
        Envelope.model_validate_json(json.dumps(envelope))
    assert [(e["event_class"], e["napp"]) for e in (created, flow, window, link_up)] == [
        ("other_events", "kytos/mef_eline"), ("other_events", "kytos/flow_manager"),
        ("other_events", "topology"), ("operational", "kytos/topology")]
    assert created["content"] == EVC and created["key"] is None and created["link"] is None
    assert flow["content"]["datapath"]["dpid"] == link.endpoint_a.switch.dpid
    assert flow["key"] is None  # flows of one switch do not supersede each other
    assert window["content"]["links"] == [str(link.id)]
    assert link_up["link"]["status"] == "UP"  # the seed's classes and link view, as before
    # no timestamp: operational events are dropped as before, the others are not
    assert await pipeline.process("kytos/topology.link_up", None, None, {"link": link}) == []
    assert pipeline.counters.as_dict() == {
        "received": 5, "classified": 4, "not_action": 1, "filtered_out": 0, "handed_on": 0,
        "serialization_warnings": 0, "failed": 0, "hand_on_failed": 0}


async def test_blocked_events_are_refused_and_counted_even_when_they_reach_the_pipeline():
    pipeline = _all_pipeline()
    now = dt.datetime.now(dt.UTC)
    for name in ("kytos/of_core.v0x04.messages.in.ofpt_echo_request",
                 "kytos/listen_events.broadcast", "kytos/core.shutdown",
                 "kytos/topology.updated"):
        assert await pipeline.process(name, None, now, {"message": b"\x04\x02"}) == [], name
    assert pipeline.counters.as_dict()["blocked"] == 4
    assert pipeline.counters.received == 4 and pipeline.counters.classified == 0
    # the hand-off event whatever BLOCKED_EVENTS says
    emptied = _all_pipeline(BLOCKED_EVENTS=[])
    assert await emptied.process("kytos/listen_events.broadcast", None, now, {}) == []
    assert await emptied.process("kytos/core.shutdown", None, now, {}) != []
    assert emptied.counters.blocked == 1
    # a NApp that never met one answers as before: no "blocked" counter
    assert "blocked" not in _pipeline().counters.as_dict()


async def test_a_large_content_is_bounded_paced_and_handed_on_as_a_dict():
    content = {"flows": [make_link(index % 50 + 1) for index in range(2000)],
               "table": {str(n): n for n in range(100_000)}}
    pacer = Pacer(0.001)
    pipeline = _all_pipeline(pacer)
    await pipeline.process("acme/warm.up", None, None, {"flows": content["flows"][:5]})
    turns, worst, total = 0, 0.0, 0.0

    async def tick() -> None:  # CPU time of this thread between two turns of the loop
        nonlocal turns, worst, total
        last = time.thread_time()
        while True:
            await asyncio.sleep(0)
            now = time.thread_time()
            turns, worst, total = turns + 1, max(worst, now - last), total + now - last
            last = now

    gc.collect()
    gc.disable()  # the collector's pauses are the process's, not this event's
    try:
        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        [envelope] = await pipeline.process(
            "kytos/of_core.flow_stats.listed", uuid.uuid4(), dt.datetime.now(dt.UTC), content)
        handed = hand_off_form(envelope)
        ticker.cancel()
    finally:
        gc.enable()
    assert type(envelope) is LargeEnvelope and type(handed) is dict  # the producer's pieces
    Envelope.model_validate_json(orjson.dumps(handed))
    assert envelope["content"]["table"][LEFT_OUT_KEY].startswith("<")  # MAX_VALUES
    assert turns > 20
    # No turn holds much of the work (about 3 % of it on a quiet host, with a 1 ms budget):
    # a share, not a time, which a busy host stretches for every turn alike (a CI run held
    # one turn 5.4 ms of this thread's time, where the bound was 5 ms).
    assert worst < total / 10, f"the loop was held {worst * 1e3:.1f} of {total * 1e3:.0f} ms"


async def test_an_event_name_too_long_for_a_message_is_refused_before_its_content(caplog):
    pipeline = _all_pipeline()  # every event name is subscribed
    content = {"link": make_link(1)}
    for name, handed in (("kytos/topology.link_up", 1), ("kytos/any." + "x" * 245, 1),
                         ("kytos/any." + "x" * 246, 0), ("kytos/any." + "é" * 123, 0),
                         ("kytos/any." + "x" * 20_000_000, 0)):
        assert len(await pipeline.process(name, uuid.uuid4(), dt.datetime.now(dt.UTC),
                                           content)) == handed
    assert pipeline.counters.failed == 3 and pipeline.counters.serialization_warnings == 0
    refused = [r.getMessage() for r in caplog.records if "bytes long" in r.getMessage()]
    assert len(refused) == 3 and all(len(line) < 300 for line in refused)
    assert "20000010 bytes long, more than the 255 a message property holds" in refused[-1]


class _Unprintable:
    def __str__(self):
        raise RuntimeError("no text")


class _Aware(dt.tzinfo):
    def utcoffset(self, _when):
        return dt.timedelta(hours=5)


async def test_odd_event_ids_and_timestamps_cost_a_warning_not_the_event(caplog):
    """Core's ids are UUIDs and its timestamps aware UTC datetimes; anything else is made
    usable, said in the event's warning line, and the event is handed on."""
    pipeline = _pipeline()
    now = dt.datetime.now(dt.UTC)
    cases = [  # (event id, timestamp, the envelope's event_id, its timestamp, the warning)
        (uuid.UUID(int=7), now, str(uuid.UUID(int=7)), now, None),
        ("an id", now.replace(tzinfo=None), "an id", now, None),
        (12, dt.datetime(2026, 1, 1, 5, tzinfo=_Aware()), "12",
         dt.datetime(2026, 1, 1, tzinfo=dt.UTC), None),
        ("x" * 5_000_000, now, "x" * 255 + f"...<{5_000_000 - 255} characters cut>", now,
         "event id of 5000000 characters cut to 255"),
        (_Unprintable(), now, "<unprintable _Unprintable>", now, "event id: str() raised"),
        ("a\ud800b", now, "a\\ud800b", now, "not valid UTF-8 (escaped)"),
        ("id", "yesterday", "id", None, "event timestamp is a str, not a datetime"),
        ("id", dt.date(2026, 1, 1), "id", None, "event timestamp is a date, not a datetime"),
        ("id", dt.datetime(1, 1, 1, tzinfo=_Aware()), "id", None,
         "event timestamp is not a time in UTC (OverflowError"),
    ]
    for event_id, timestamp, id_text, time_sent, warning in cases:
        caplog.clear()
        before = dt.datetime.now(dt.UTC)
        [handed] = await pipeline.process("kytos/topology.link_up", event_id, timestamp,
                                          {"link": make_link(1)})
        envelope = decoded(handed)
        Envelope.model_validate_json(json.dumps(envelope))
        assert envelope["event_id"] == id_text
        sent = dt.datetime.fromisoformat(envelope["event_timestamp"])
        if time_sent is None:  # the time it was taken instead
            assert before <= sent <= dt.datetime.now(dt.UTC)
        else:
            assert sent == time_sent
        degraded = [r.getMessage() for r in caplog.records if "degraded" in r.getMessage()]
        if warning is None:
            assert degraded == []
        else:
            assert len(degraded) == 1 and warning in degraded[0]
            assert len(degraded[0]) < 1_000
    assert pipeline.counters.failed == 0
