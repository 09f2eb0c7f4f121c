"""Per-NApp queues and the verbose queue (NAPP_QUEUES, VERBOSE_QUEUE; issue #16): Kytos events
of several NApps in through listen_events, out of their NApp's queue and the verbose queue,
each exactly once; ``mq-consumer --napp`` / ``--verbose`` read them."""

import asyncio
import json
import logging

import aio_pika
import pytest
from kytos.core import KytosEvent

from listen_events import settings as listen_settings
from listen_events.config import load_config as listen_config
from listen_events.main import Main as ListenEvents
from mq_consumer.cli import consume, parse_args
from mq_producer import settings as producer_module
from mq_producer.main import Main as MqProducer
from tests.support.topology import interface_event, link_event, make_link, make_nni
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker

# Read before any fixture changes them (conftest's producer_settings disables both).
DEFAULT_NAPP_QUEUES = dict(producer_module.NAPP_QUEUES)
DEFAULT_VERBOSE_QUEUE = dict(producer_module.VERBOSE_QUEUE)

# Listed NApps whose events the test sends, and one that is not listed (no queue of its own).
SENT_NAPPS = ("kytos/topology", "kytos/of_core", "kytos/mef_eline", "kytos/flow_manager",
              "kytos/of_lldp", "kytos/maintenance")
UNLISTED = "kytos/of_multi_table"
# Never published, whatever the profile: of_core's OpenFlow messages, listen_events' hand-off.
BLOCKED = ("kytos/of_core.v0x04.messages.in.ofpt_echo_request", "kytos/listen_events.broadcast")


@pytest.fixture
def napp_queues(producer_settings, monkeypatch: pytest.MonkeyPatch, exchange_prefix: str,
                cleanup_exchanges: set[str]):
    """The default NAPP_QUEUES and VERBOSE_QUEUE under the test's prefix (deleted after it),
    and listen_events publishing the events of every NApp. Returns (napp -> queue, verbose)."""
    assert set(SENT_NAPPS) <= set(DEFAULT_NAPP_QUEUES["napps"])
    assert UNLISTED not in DEFAULT_NAPP_QUEUES["napps"]
    monkeypatch.setattr(producer_settings, "NAPP_QUEUES", {
        **DEFAULT_NAPP_QUEUES, "prefix": f"{exchange_prefix}.{DEFAULT_NAPP_QUEUES['prefix']}"})
    verbose = f"{exchange_prefix}.{DEFAULT_VERBOSE_QUEUE['queue']}"
    monkeypatch.setattr(producer_settings, "VERBOSE_QUEUE",
                        {**DEFAULT_VERBOSE_QUEUE, "queue": verbose})
    if hasattr(listen_settings, "PROFILE"):  # every event but the blocked ones
        monkeypatch.setattr(listen_settings, "PROFILE", "all")
    else:  # before listen_events has profiles: these events subscribed and classified
        others = [rf"{napp}\..*" for napp in (*SENT_NAPPS[2:], UNLISTED)]
        monkeypatch.setattr(listen_settings, "SUBSCRIBED_EVENTS",
                            [*listen_settings.SUBSCRIBED_EVENTS, *others])
        monkeypatch.setattr(listen_settings, "CLASSES",
                            {**listen_settings.CLASSES, "other_events": others})
    # The subscription is read when listen_events is imported (@alisten_to), as in Kytos:
    # listen to what these settings subscribe to, as after a restart with them.
    monkeypatch.setattr(ListenEvents.on_event, "events",
                        [listen_config(listen_settings).subscription])
    queues = {napp: f"{exchange_prefix}.napp.{napp}" for napp in DEFAULT_NAPP_QUEUES["napps"]}
    cleanup_exchanges.update({*queues.values(), verbose})  # even if the producer never ran
    return queues, verbose


def _events() -> list[KytosEvent]:
    """One event of each NApp of SENT_NAPPS, then UNLISTED's, shaped as those NApps emit them,
    and the blocked ones."""
    link = make_link(5)  # not interdomain: no status message of its own
    port = make_nni(6, sdx_nni=None)  # an ordinary port
    switch = link.endpoint_a.switch
    uni_a = {"interface_id": link.endpoint_a.id, "tag": {"tag_type": "vlan", "value": 100}}
    uni_z = {"interface_id": link.endpoint_b.id, "tag": {"tag_type": "vlan", "value": 100}}
    evc_id = "a2e6b8f4c3d14e"
    flow = {"switch": switch.dpid, "table_id": 0, "priority": 20000, "cookie": 0xAA00A2E6B8F4C3D1,
            "cookie_mask": 0, "idle_timeout": 0, "hard_timeout": 0, "owner": "mef_eline",
            "match": {"in_port": 5, "dl_vlan": 100},
            "instructions": [{"instruction_type": "apply_actions",
                              "actions": [{"action_type": "output", "port": 15}]}],
            "id": "8b6e2c0f3a8d4c0f9e1d2b3a4c5d6e7f"}
    return [
        KytosEvent(*link_event(link, up=True)),
        KytosEvent(*interface_event(port, "kytos/of_core.switch.interface.link_down")),
        KytosEvent("kytos/mef_eline.created", {
            "evc_id": evc_id, "id": evc_id, "name": "epl-ampath-sax", "metadata": {},
            "active": False, "enabled": True, "uni_a": uni_a, "uni_z": uni_z}),
        KytosEvent("kytos/flow_manager.flow.added", {"datapath": switch, "flow": flow}),
        KytosEvent("kytos/of_lldp.loop.detected", {
            "interface_id": link.endpoint_a.id, "dpid": switch.dpid, "port_numbers": [5, 6]}),
        KytosEvent("kytos/maintenance.start_switch", {"switches": [switch.dpid]}),
        KytosEvent(f"{UNLISTED}.enable_table",
                   {"mef_eline": {"epl": 2, "evpl": 2}, "of_lldp": {"base": 0}}),
        KytosEvent(BLOCKED[0], {"message": {"header": {"xid": 7}}, "source": "127.0.0.1:6653"}),
    ]


async def _publish_events(controller) -> tuple[MqProducer, list[KytosEvent]]:
    controller.load_napp(ListenEvents)
    producer = controller.load_napp(MqProducer)
    await wait_until(lambda: producer.publisher.transport.connected, what="producer connected")
    events = _events()
    for event in events:
        await controller.buffers.app.aput(event)
    await controller.settle()
    published = len(SENT_NAPPS) + 1
    await wait_until(lambda: producer.publisher.counters.confirmed >= published, timeout=20,
                     what=f"{published} confirms")
    return producer, events


async def _drain(channel: aio_pika.abc.AbstractChannel, name: str
                 ) -> list[aio_pika.abc.AbstractIncomingMessage]:
    queue = await channel.declare_queue(name, passive=True)
    messages = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        messages.append(message)
    return messages


@pytest.mark.usefixtures("cleanup_exchanges")
async def test_each_napps_events_reach_its_queue_and_the_verbose_queue_once(
        controller, amqp, napp_queues, exchange_prefix):
    queues, verbose = napp_queues
    producer, events = await _publish_events(controller)
    status = json.loads((await producer.status(None)).body)
    assert {name: status["queues"][name] for name in (*queues.values(), verbose)} == \
        dict.fromkeys((*queues.values(), verbose), "ok")

    received = {name: await _drain(amqp, name) for name in (*queues.values(), verbose)}
    seen = {name: [(m.message_id, json.loads(m.body)["event_name"]) for m in messages]
            for name, messages in received.items()}
    for name, pairs in seen.items():  # exactly once: no message id twice in any queue
        assert len({message_id for message_id, _ in pairs}) == len(pairs), (name, pairs)
    sent = {event.name: event for event in events}
    expected = [name for name in sent if name not in BLOCKED]
    # the verbose queue: every published event once, whichever NApp emitted it
    assert sorted(event_name for _, event_name in seen[verbose]) == sorted(expected)
    verbose_ids = {event_name: message_id for message_id, event_name in seen[verbose]}
    for napp, name in queues.items():  # each listed NApp's queue: its events only, once each
        mine = [event_name for event_name in expected if event_name.startswith(f"{napp}.")]
        assert [event_name for _, event_name in seen[name]] == mine, napp
        for message_id, event_name in seen[name]:  # the same message as the verbose queue's
            assert verbose_ids[event_name] == message_id
        for message in received[name]:  # the default routing key's second word is the NApp
            assert message.routing_key.split(".")[1] == napp
            envelope = json.loads(message.body)
            assert envelope["event_id"] == str(sent[envelope["event_name"]].id)
    # the unlisted NApp's event is in the verbose queue only
    assert all(not event_name.startswith(f"{UNLISTED}.")
               for name in queues.values() for _, event_name in seen[name])
    for blocked in BLOCKED:  # published nowhere
        assert all(event_name != blocked for pairs in seen.values() for _, event_name in pairs)
    counters = producer.publisher.counters
    assert (counters.confirmed, counters.returned, counters.failed) == (len(expected), 0, 0)

    # Content as the NApps emitted it, serialized: a look at two of them.
    by_event = {json.loads(m.body)["event_name"]: json.loads(m.body) for m in received[verbose]}
    assert by_event["kytos/mef_eline.created"]["content"]["uni_a"]["tag"]["value"] == 100
    flow_added = by_event["kytos/flow_manager.flow.added"]["content"]
    assert flow_added["datapath"]["dpid"] == "00:00:00:00:00:00:00:05"
    assert flow_added["flow"]["match"] == {"in_port": 5, "dl_vlan": 100}


async def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict]:
    """mq-consumer with ``argv`` (and --json) until --count events; their envelopes."""
    code = await asyncio.wait_for(consume(parse_args([*argv, "--json"])), timeout=30)
    out = capsys.readouterr().out
    assert code == 0, out
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.usefixtures("cleanup_exchanges")
async def test_mq_consumer_reads_a_napp_queue_and_the_verbose_queue(
        controller, amqp, napp_queues, broker_url, monkeypatch, capsys, caplog):
    queues, verbose = napp_queues
    monkeypatch.setenv("KYTOS_MQ_URL", broker_url)
    caplog.set_level(logging.INFO, logger="mq_consumer")
    # Started before the producer: it declares the NApp's queue first, as the producer then
    # does (the same arguments, or the broker would refuse the second), and binds nothing.
    reader = asyncio.create_task(_cli(["--napp", "kytos/mef_eline", "--count", "1"], capsys))
    await wait_until(lambda: reader.done() or any(
        "consuming queue" in r.getMessage() for r in caplog.records), timeout=15,
        what="mq-consumer consuming")
    if reader.done():
        await reader  # its failure
        raise AssertionError("mq-consumer --napp exited before any event")
    line = next(r.getMessage() for r in caplog.records if "consuming queue" in r.getMessage())
    assert repr(queues["kytos/mef_eline"]) in line and "(no binding)" in line
    producer, _ = await _publish_events(controller)
    assert producer.publisher.transport.queues[queues["kytos/mef_eline"]] == "ok"
    [created] = await reader
    assert created["event_name"] == "kytos/mef_eline.created"
    assert created["content"]["name"] == "epl-ampath-sax"

    # After the producer declared it: every published event, each once.
    expected = len(SENT_NAPPS) + 1
    read = await _cli(["--verbose", "--count", str(expected)], capsys)
    assert len({envelope["message_id"] for envelope in read}) == expected
    assert {envelope["event_name"].partition(".")[0] for envelope in read} == \
        {*SENT_NAPPS, UNLISTED}
    assert created["message_id"] in {envelope["message_id"] for envelope in read}
    # Both read and acknowledged; nothing else came to that NApp's queue.
    for name in (verbose, queues["kytos/mef_eline"]):
        queue = await amqp.declare_queue(name, passive=True)
        assert queue.declaration_result.message_count == 0


@pytest.mark.usefixtures("cleanup_exchanges")
async def test_mq_consumer_link_shows_only_that_links_events(
        controller, napp_queues, broker_url, monkeypatch, capsys):
    """--link: only the envelopes about that link are shown and counted toward --count."""
    monkeypatch.setenv("KYTOS_MQ_URL", broker_url)
    controller.load_napp(ListenEvents)
    producer = controller.load_napp(MqProducer)
    await wait_until(lambda: producer.publisher.transport.connected, what="producer connected")
    chosen, other = make_link(7), make_link(8)
    for link in (other, chosen, other, other, chosen):
        await controller.buffers.app.aput(KytosEvent("kytos/topology.link_down",
                                                     {"link": link, "reason": "test"}))
    await controller.settle()
    await wait_until(lambda: producer.publisher.counters.confirmed >= 5, what="5 confirms")
    read = await _cli(["--verbose", "--link", str(chosen.id), "--count", "2"], capsys)
    assert [envelope["link"]["id"] for envelope in read] == [str(chosen.id)] * 2
