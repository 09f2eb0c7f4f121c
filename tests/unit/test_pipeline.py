import asyncio
import datetime as dt
import json
import uuid

from listen_events import settings
from listen_events.config import load_config
from listen_events.envelope import Envelope
from listen_events.pipeline import CHUNK, EventPipeline
from listen_events.serialize import serialize_content
from tests.support.topology import make_link, make_topology


def _pipeline() -> EventPipeline:
    return EventPipeline(load_config(settings, {}))


async def test_topology_loaded_gives_its_event_then_one_snapshot_per_link():
    topology = make_topology(20, 30)
    content = {"topology": topology, "failed_switches": {}, "failed_links": {}}
    envelopes = await _pipeline().process("kytos/topology.topology_loaded", uuid.uuid4(),
                                          dt.datetime.now(dt.UTC), content)
    assert [e["msg_type"] for e in envelopes] == ["event"] + ["snapshot"] * 30
    for envelope in envelopes:
        Envelope.model_validate_json(json.dumps(envelope))
    # Chunked serialization gives exactly what the one-go serializer gives.
    expected, warnings = serialize_content(content)
    assert warnings == [] and envelopes[0]["content"] == expected
    assert {e["link"]["id"] for e in envelopes[1:]} == {str(i) for i in topology.links}


async def test_a_big_topology_lets_other_tasks_run_between_chunks():
    topology = make_topology(CHUNK, 4 * CHUNK)
    ticks = 0
    running = True

    async def ticker() -> None:
        nonlocal ticks
        while running:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    await _pipeline().process("kytos/topology.topology_loaded", uuid.uuid4(),
                              dt.datetime.now(dt.UTC), {"topology": topology})
    running = False
    await task
    # 5 chunks of topology objects and 4 of snapshots: the ticker ran between them.
    assert ticks - before >= 8


async def test_counters_follow_the_pipeline():
    pipeline = _pipeline()
    now = dt.datetime.now(dt.UTC)
    link = make_link(1)
    assert await pipeline.process("kytos/topology.link_up", None, now, {"link": link})
    assert await pipeline.process("kytos/topology.links.metadata.added", None, now, {}) == []
    assert await pipeline.process("kytos/topology.link_down", None, None, {"link": link}) == []
    assert pipeline.counters.as_dict() == {
        "received": 3, "classified": 1, "not_action": 2, "filtered_out": 0, "handed_on": 0,
        "serialization_warnings": 0, "failed": 0}
