"""Interdomain links that are ports (issue 15): an Interface whose metadata has NNI_METADATA_KEY
("sdx_nni", the remote OXP's port id) is an NNI. Its events - of_core's interface link_up /
link_down, topology's interface up / down / enabled / disabled, interfaces.metadata added /
removed - carry the NNI as the envelope's ``link`` ("kind": "nni"), keyed by the interface;
snapshots (the v1/snapshot route and topology_loaded) include one message per NNI port."""

import datetime as dt
import json
import logging
import types
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from kytos.core.interface import Interface
from kytos.core.switch import Switch
from openapi_schema_validator import OAS30Validator

import listen_events
from listen_events import settings as listen_settings
from listen_events.config import load_config
from listen_events.envelope import Envelope, EnvelopeBuilder, link_state, nni_id
from listen_events.main import Main as ListenEvents
from listen_events.pacing import Pacer
from listen_events.pipeline import TOPOLOGY_LOADED, EventPipeline
from listen_events.worker import HandOffWorker, Snapshotted
from tests.support.handoff import decoded, handed_envelopes
from tests.support.topology import add_interface, make_link, make_topology

HERE = Path(listen_events.__file__).parent
SCHEMA = Draft202012Validator(json.loads((HERE / "envelope.schema.json").read_text()))
REMOTE = "zaoxi.ac.za:s1:50"
NNI = f"urn:sdx:port:{REMOTE}"
NOW = dt.datetime.now(dt.UTC)


def _port(index: int = 1, sdx_nni: Any = REMOTE, switch: Switch | None = None) -> Interface:
    """An interface of one of our switches; with ``sdx_nni`` it is an NNI port."""
    switch = switch or Switch(f"00:00:00:00:00:00:02:{index:02x}")
    interface = add_interface(switch, f"nni{index}", 50 + index)
    if sdx_nni is not None:
        interface.metadata["sdx_nni"] = sdx_nni
    return interface


def _pipeline(**overrides: Any) -> EventPipeline:
    values = {name: getattr(listen_settings, name) for name in dir(listen_settings)
              if name.isupper()}
    values.update(overrides)
    return EventPipeline(load_config(types.SimpleNamespace(**values), {}))


def _valid(envelope: dict[str, Any]) -> dict[str, Any]:
    """The envelope, checked against the model and the committed JSON schema."""
    Envelope.model_validate_json(json.dumps(envelope))
    SCHEMA.validate(json.loads(json.dumps(envelope)))
    return envelope


async def _one(pipeline: EventPipeline, name: str, content: dict[str, Any]) -> dict[str, Any]:
    [envelope] = await pipeline.process(name, uuid.uuid4(), NOW, content)
    return _valid(envelope)


def _endpoint_a(interface: Interface) -> dict[str, Any]:
    return {"id": str(interface.id), "dpid": interface.switch.dpid,
            "port": interface.port_number, "name": interface.name}


REMOTE_END = {"id": NNI, "dpid": None, "port": None, "name": None}

# name -> (what Kytos set on the interface before emitting it: active, enabled; content has a
# reason; status, status_source, active, enabled of the NNI link in the envelope)
INTERFACE_EVENTS = {
    "kytos/of_core.switch.interface.link_up": ((True, None), False, "UP", "event", True, True),
    "kytos/of_core.switch.interface.link_down": ((False, None), False, "DOWN", "event", False,
                                                 True),
    "kytos/topology.interface.up": ((True, None), True, "UP", "event", True, True),
    "kytos/topology.interface.down": ((False, None), True, "DOWN", "event", False, True),
    "kytos/topology.interface.enabled": ((None, True), True, "UP", "object", True, True),
    "kytos/topology.interface.disabled": ((None, False), True, "DISABLED", "event", True,
                                          False),
    "kytos/topology.interfaces.metadata.added": ((None, None), False, "UP", "object", True,
                                                 True),
}
CLASSES = {"kytos/of_core.switch.interface.link_up": "operational",
           "kytos/of_core.switch.interface.link_down": "operational",
           "kytos/topology.interface.up": "operational",
           "kytos/topology.interface.down": "operational",
           "kytos/topology.interface.enabled": "administrative",
           "kytos/topology.interface.disabled": "administrative",
           "kytos/topology.interfaces.metadata.added": "administrative"}


def _event(interface: Interface, name: str) -> dict[str, Any]:
    """The content of ``name`` as Kytos emits it, after setting the interface's state."""
    (active, enabled), has_reason, *_ = INTERFACE_EVENTS[name]
    if active is not None:
        interface.active = active
    if enabled is not None:
        interface.enabled = enabled
    content: dict[str, Any] = {"interface": interface}
    if name.endswith("metadata.added"):
        content["metadata"] = dict(interface.metadata)
    elif has_reason:
        content["reason"] = name.rsplit(".", 1)[1]
    return content


# -- the NNI link view ------------------------------------------------------------------------

@pytest.mark.parametrize("name", INTERFACE_EVENTS)
async def test_each_interface_event_of_an_nni_port_carries_the_nni_link(name):
    interface = _port()
    content = _event(interface, name)
    _, has_reason, status, source, active, enabled = INTERFACE_EVENTS[name]
    envelope = await _one(_pipeline(), name, content)
    assert envelope["event_class"] == CLASSES[name]
    assert envelope["key"] == f"interface:{interface.id}"
    assert envelope["link"] == {
        "id": NNI, "kind": "nni", "status": status, "status_source": source,
        "status_reason": [], "reason": name.rsplit(".", 1)[1] if has_reason else None,
        "active": active, "enabled": enabled, "endpoint_a": _endpoint_a(interface),
        "endpoint_b": REMOTE_END, "metadata": {"sdx_nni": REMOTE}}
    assert envelope["content"]["interface"]["id"] == str(interface.id)  # the object


@pytest.mark.parametrize(("name", "changed_since", "expected"), [
    # of_core says link_down, but the port is up again when the event is serialized
    ("kytos/of_core.switch.interface.link_down", {"active": True},
     {"status": "DOWN", "status_source": "event", "active": False, "enabled": True}),
    ("kytos/topology.interface.up", {"active": False},
     {"status": "UP", "status_source": "event", "active": True, "enabled": True}),
    # disabled, but enabled again since: still the event's DISABLED, enabled false
    ("kytos/topology.interface.disabled", {"enabled": True},
     {"status": "DISABLED", "status_source": "event", "active": True, "enabled": False}),
    # enabled, but disabled again since: enabled true, status by the port's active
    ("kytos/topology.interface.enabled", {"enabled": False, "active": False},
     {"status": "DOWN", "status_source": "object", "active": False, "enabled": True}),
])
async def test_the_nni_link_is_the_events_view_when_the_port_changed_since(
        name, changed_since, expected):
    interface = _port()
    content = _event(interface, name)
    for field, value in changed_since.items():
        setattr(interface, field, value)
    envelope = await _one(_pipeline(), name, content)
    assert {field: envelope["link"][field] for field in expected} == expected
    serialized = envelope["content"]["interface"]  # the object as serialized, newer
    assert {field: serialized[field] for field in changed_since} == changed_since


async def test_status_reasons_and_metadata_of_the_interface_are_carried():
    interface = _port(sdx_nni=NNI)  # already an NNI id: kept as it is
    interface.metadata["link_name"] = "AMPATH-ZAOXI"
    interface.status_reason = {"deactivated"}
    interface.active = False
    envelope = await _one(_pipeline(), "kytos/topology.interface.down",
                          {"interface": interface, "reason": "down"})
    assert envelope["link"]["id"] == NNI and envelope["link"]["endpoint_b"] == REMOTE_END
    assert envelope["link"]["status_reason"] == ["deactivated"]
    assert envelope["link"]["metadata"] == {"sdx_nni": NNI, "link_name": "AMPATH-ZAOXI"}


def test_nni_id_is_the_port_urn_of_the_remote_port():
    assert nni_id("zaoxi.ac.za:s1:50") == "urn:sdx:port:zaoxi.ac.za:s1:50"
    assert nni_id("urn:sdx:port:zaoxi.ac.za:s1:50") == "urn:sdx:port:zaoxi.ac.za:s1:50"
    assert nni_id("ampath.net:Ampath3:40") == "urn:sdx:port:ampath.net:Ampath3:40"


# -- becoming and ceasing to be an NNI; ports that are none ---------------------------------

async def test_metadata_added_makes_the_nni_and_removed_ends_it_under_one_key():
    pipeline = _pipeline()
    interface = _port(sdx_nni=None)
    before = await _one(pipeline, "kytos/of_core.switch.interface.link_down",
                        {"interface": interface})
    interface.metadata["sdx_nni"] = REMOTE
    added = await _one(pipeline, "kytos/topology.interfaces.metadata.added",
                       {"interface": interface, "metadata": {"sdx_nni": REMOTE}})
    interface.metadata["other"] = 1
    other_added = await _one(pipeline, "kytos/topology.interfaces.metadata.added",
                             {"interface": interface, "metadata": {"other": 1}})
    del interface.metadata["sdx_nni"]
    removed = await _one(pipeline, "kytos/topology.interfaces.metadata.removed",
                         {"interface": interface, "metadata": {"sdx_nni": REMOTE}})
    assert before["link"] is None
    assert (added["link"]["id"], added["link"]["status"], added["link"]["status_source"]) == (
        NNI, "UP", "object")
    assert other_added["link"]["id"] == NNI  # still an NNI
    assert removed["link"] is None  # no NNI any more: the producer's lane for it ends
    assert removed["event_class"] == "administrative"
    keys = {envelope["key"] for envelope in (before, added, other_added, removed)}
    assert keys == {f"interface:{interface.id}"}  # one order for all events of the port


@pytest.mark.parametrize("value", [None, "", True, 50, {"port": REMOTE}, [REMOTE]])
@pytest.mark.parametrize("name", INTERFACE_EVENTS)
async def test_interfaces_that_are_no_nni_carry_no_link(name, value, caplog):
    interface = _port(sdx_nni=value)
    if value is None:
        interface.metadata["interdomain"] = True  # other metadata: still no NNI
    pipeline = _pipeline()
    for _ in range(3):
        envelope = await _one(pipeline, name, _event(interface, name))
        assert envelope["link"] is None
        assert envelope["key"] == f"interface:{interface.id}"
    # The NNI key with a value that is no remote port's id: said, once per interface.
    said = [r.getMessage() for r in caplog.records if "not taken as an NNI port" in
            r.getMessage()]
    if value is None:
        assert said == []
    else:
        assert said == [f"listen_events: interface {interface.id} has sdx_nni = {value!r} in "
                        "its metadata, which is not a non-empty string (the remote port's "
                        "id): it is not taken as an NNI port, and no status message is sent "
                        "for it (said once per interface)"]


async def test_a_snapshot_and_topology_loaded_say_which_nni_key_is_wrong(caplog):
    switches, _ = _switches_with_ports()
    wrong = _port(5, sdx_nni=7, switch=switches[1])
    assert len(await _pipeline().snapshot([], switches)) == 2  # the two good NNI ports
    topology = make_topology(2, 1)
    topology.switches.update({switch.id: switch for switch in switches})
    envelopes = await _pipeline().process(TOPOLOGY_LOADED, uuid.uuid4(), NOW,
                                          {"topology": topology})
    assert len(envelopes) == 1 + 1 + 2  # the event, its link, the two good NNI ports
    said = [r.getMessage() for r in caplog.records if "not taken as an NNI port" in
            r.getMessage()]
    assert len(said) == 2 and all(f"interface {wrong.id} has sdx_nni = 7" in line
                                  for line in said)


@pytest.mark.parametrize("key", ["", None])
async def test_an_empty_nni_metadata_key_disables_nni_handling(key):
    pipeline = _pipeline(NNI_METADATA_KEY=key)
    interface = _port()
    envelope = await _one(pipeline, "kytos/topology.interface.down",
                          _event(interface, "kytos/topology.interface.down"))
    assert envelope["link"] is None and envelope["key"] == f"interface:{interface.id}"
    switch = interface.switch
    assert await pipeline.snapshot([], [switch]) == []


async def test_another_nni_metadata_key_can_be_configured():
    pipeline = _pipeline(NNI_METADATA_KEY="oxp_nni")
    sdx = _port(1)
    own = _port(2, sdx_nni=None)
    own.metadata["oxp_nni"] = "ampath.net:s3:7"
    assert (await _one(pipeline, "kytos/topology.interface.up", {"interface": sdx}))[
        "link"] is None
    link = (await _one(pipeline, "kytos/topology.interface.up", {"interface": own}))["link"]
    assert link["id"] == "urn:sdx:port:ampath.net:s3:7"


async def test_a_kytos_link_event_keeps_its_link_and_key():
    link = make_link(4, interdomain=True)
    envelope = await _one(_pipeline(), "kytos/topology.link_down",
                          {"link": link, "reason": "link down"})
    assert envelope["key"] == f"link:{link.id}"
    assert (envelope["link"]["kind"], envelope["link"]["id"]) == ("link", str(link.id))


def test_the_status_of_an_nni_from_an_interface_without_a_usable_status():
    """No (or no known) status: Kytos' rule on enabled and active."""
    def view(**interface: Any) -> dict[str, Any] | None:
        content = {"interface": {"id": "00:00:00:00:00:00:00:01:7",
                                 "metadata": {"sdx_nni": REMOTE}, **interface}}
        return link_state(content, nni_metadata_key="sdx_nni")

    assert view(active=True, enabled=True)["status"] == "UP"
    assert view(active=True, enabled=True)["status_source"] == "object"
    assert view(active=False, enabled=True, status="SOMETHING")["status"] == "DOWN"
    assert view(active=True, enabled=False)["status"] == "DISABLED"
    assert view(active=True, enabled=False, status="UP")["status"] == "DISABLED"
    assert view()["status"] is None
    assert view(status="DISABLED")["status"] == "DISABLED"
    assert view(status="UP", active=False)["active"] is True  # active agrees with status
    assert view(id="") is None  # an interface without an id is no NNI
    assert link_state({"interface": {"id": "x:1", "metadata": {"sdx_nni": REMOTE}}}) is None


INTERFACE_FIELDS = st.fixed_dictionaries({}, optional={
    "id": st.one_of(st.text(max_size=6), st.integers(), st.none()),
    "name": st.one_of(st.text(max_size=6), st.integers(), st.none()),
    "switch": st.one_of(st.text(max_size=6), st.integers(), st.none()),
    "port_number": st.one_of(st.integers(-3, 2**40), st.booleans(), st.text(max_size=3)),
    "status": st.one_of(st.sampled_from(["UP", "DOWN", "DISABLED", "up"]), st.integers()),
    "status_reason": st.one_of(st.lists(st.text(max_size=4) | st.integers(), max_size=3),
                               st.text(max_size=4)),
    "active": st.one_of(st.booleans(), st.none(), st.integers(0, 1)),
    "enabled": st.one_of(st.booleans(), st.none(), st.text(max_size=2)),
    "metadata": st.one_of(
        st.fixed_dictionaries({"sdx_nni": st.one_of(st.text(max_size=12), st.integers())},
                              optional={"x": st.integers() | st.text(max_size=3)}),
        st.none(), st.text(max_size=3)),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(interface=INTERFACE_FIELDS, name=st.sampled_from([*INTERFACE_EVENTS,
                                                         listen_settings.SNAPSHOT_EVENT]),
       reason=st.one_of(st.none(), st.text(max_size=5), st.integers()))
def test_every_interface_envelope_validates(interface, name, reason):
    builder = EnvelopeBuilder("kytos", "test", nni_metadata_key="sdx_nni")
    envelope = _valid(builder.build(
        event_name=name, event_class="x", event_id=None, event_timestamp=NOW,
        content={"interface": interface, "reason": reason},
        link_status=listen_settings.LINK_STATUS_BY_EVENT.get(name)))
    link = envelope["link"]
    if link is not None:
        assert link["kind"] == "nni" and link["id"].startswith("urn:sdx:port:")
        assert envelope["key"] == f"interface:{interface['id']}"
        assert link["active"] is {"UP": True, "DOWN": False}.get(link["status"],
                                                                 link["active"])


# -- snapshots --------------------------------------------------------------------------------

def _switches_with_ports() -> tuple[list[Switch], list[Interface]]:
    """Two switches: one with two NNI ports and a port that is none, one without NNI."""
    with_nni = Switch("00:00:00:00:00:00:03:01")
    nnis = [_port(1, switch=with_nni), _port(2, sdx_nni="ampath.net:s2:9", switch=with_nni)]
    _port(3, sdx_nni=None, switch=with_nni)
    nnis[1].active = False
    without = Switch("00:00:00:00:00:00:03:02")
    _port(4, sdx_nni=None, switch=without)
    return [with_nni, without], nnis


async def test_a_snapshot_has_one_message_per_link_then_one_per_nni_port():
    switches, nnis = _switches_with_ports()
    links = [make_link(1), make_link(2)]
    envelopes = [_valid(envelope) for envelope in await _pipeline().snapshot(links, switches)]
    assert [e["msg_type"] for e in envelopes] == ["snapshot"] * 4
    assert {e["event_name"] for e in envelopes} == {listen_settings.SNAPSHOT_EVENT}
    assert [e["link"]["kind"] for e in envelopes] == ["link", "link", "nni", "nni"]
    assert [e["key"] for e in envelopes] == [f"link:{links[0].id}", f"link:{links[1].id}",
                                             f"interface:{nnis[0].id}",
                                             f"interface:{nnis[1].id}"]
    first, second = envelopes[2:]
    assert first["content"]["reason"] == "snapshot"
    assert first["content"]["interface"]["id"] == str(nnis[0].id)
    assert {field: first["link"][field] for field in (
        "id", "status", "status_source", "active", "reason", "endpoint_a", "endpoint_b")} == {
        "id": NNI, "status": "UP", "status_source": "object", "active": True,
        "reason": "snapshot", "endpoint_a": _endpoint_a(nnis[0]), "endpoint_b": REMOTE_END}
    assert (second["link"]["id"], second["link"]["status"], second["link"]["active"]) == (
        "urn:sdx:port:ampath.net:s2:9", "DOWN", False)


async def test_topology_loaded_snapshots_its_nni_ports_from_its_own_serialization():
    topology = make_topology(4, 6)
    switches, nnis = _switches_with_ports()
    topology.switches.update({switch.id: switch for switch in switches})
    envelopes = [decoded(item) for item in await _pipeline().process(
        TOPOLOGY_LOADED, uuid.uuid4(), NOW, {"topology": topology})]
    for envelope in envelopes:
        _valid(envelope)
    assert [e["msg_type"] for e in envelopes] == ["event"] + ["snapshot"] * (6 + 2)
    assert [e["link"]["kind"] for e in envelopes[1:]] == ["link"] * 6 + ["nni"] * 2
    assert [e["link"]["id"] for e in envelopes[7:]] == [NNI, "urn:sdx:port:ampath.net:s2:9"]
    serialized = envelopes[0]["content"]["topology"]["switches"]
    for envelope, nni in zip(envelopes[7:], nnis, strict=True):
        # what the topology's serialization said of it: the same instant, serialized once
        assert envelope["content"]["interface"] == \
            serialized[nni.switch.id]["interfaces"][nni.id]
        assert envelope["key"] == f"interface:{nni.id}"


async def test_snapshots_of_nni_ports_read_no_speed(caplog):
    """Interfaces are serialized quietly (serialize.quiet_speed): Kytos' speed WARNING for
    ports without features must not come once per NNI port and snapshot."""
    caplog.set_level(logging.WARNING)
    switches, _ = _switches_with_ports()
    pipeline = _pipeline()
    assert len(await pipeline.snapshot([], switches)) == 2
    await _one(pipeline, "kytos/topology.interface.down",
               {"interface": switches[0].interfaces[51], "reason": "down"})
    assert [r for r in caplog.records if r.name == "kytos.core.interface"] == []


# -- the worker and the v1/snapshot route -----------------------------------------------------

class Recorder:
    def __init__(self, fail: int = 0) -> None:
        self.batches: list[list[Any]] = []
        self.fail = fail

    async def __call__(self, batch: list[Any]) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("app buffer closed")
        self.batches.append(list(batch))


async def test_the_worker_counts_links_and_nni_ports_handed_on():
    switches, _ = _switches_with_ports()
    out = Recorder()
    worker = HandOffWorker(EventPipeline(load_config(listen_settings, {}), Pacer(60.0)), out)
    links = [make_link(index) for index in range(1, 4)]
    assert await worker.snapshot(links, switches) == Snapshotted(links=3, nni_ports=2)
    kinds = [decoded(item)["link"]["kind"] for batch in out.batches for item in batch]
    assert kinds == ["link"] * 3 + ["nni"] * 2


async def test_when_a_batch_cannot_be_handed_on_the_counts_say_what_was():
    switches, _ = _switches_with_ports()
    out = Recorder(fail=1)  # the first batch is lost: two links
    worker = HandOffWorker(EventPipeline(load_config(listen_settings, {}), Pacer(60.0)), out,
                           max_batch=2)
    links = [make_link(index) for index in range(1, 4)]
    assert await worker.snapshot(links, switches) == Snapshotted(links=1, nni_ports=2)
    assert worker.pipeline.counters.hand_on_failed == 2


def _check_snapshot_answer(body: dict[str, Any]) -> None:
    spec = yaml.safe_load((HERE / "openapi.yml").read_text())
    schema = spec["paths"]["/v1/snapshot"]["post"]["responses"]["202"]["content"][
        "application/json"]["schema"]
    OAS30Validator(schema).validate(body)
    assert set(body) <= set(schema["properties"])


async def test_the_snapshot_route_covers_the_nni_ports_of_the_controllers_switches(controller):
    napp = controller.load_napp(ListenEvents)
    switches, nnis = _switches_with_ports()
    controller.switches = {switch.id: switch for switch in switches}
    links = [make_link(index) for index in range(1, 4)]
    controller.links = {link.id: link for link in links}
    response = await napp.snapshot(None)
    body = json.loads(response.body)
    assert response.status_code == 202 and body == {"links": 3, "nni_ports": 2}
    _check_snapshot_answer(body)
    await controller.settle()
    envelopes = [_valid(envelope) for event in controller.seen
                 if event.name == listen_settings.HANDOFF_EVENT
                 for envelope in handed_envelopes(event.content)]
    assert [e["link"]["id"] for e in envelopes] == [
        *(str(link.id) for link in links), NNI, "urn:sdx:port:ampath.net:s2:9"]
    assert [e["key"] for e in envelopes[3:]] == [f"interface:{nni.id}" for nni in nnis]
    assert [e["producer"]["sequence"] for e in envelopes] == list(range(1, 6))


@pytest.mark.parametrize(("rules", "handed"), [
    ({"CONTENT_RULES": [{"events": r"kytos/listen_events\.link_snapshot",
                         "path": "link.metadata.interdomain", "equals": True}]}, [2]),
    ({"DENY_EVENTS": [r"kytos/listen_events\.link_snapshot"]}, []),
    ({"ALLOW_EVENTS": [r"kytos/topology\..*"]}, []),
], ids=["content rule", "denied", "not allowed"])
async def test_snapshots_go_through_the_name_filters_and_content_rules(
        controller, monkeypatch, rules, handed):
    """openapi.yml: snapshots go through the filters and content rules like events, and the
    answer counts the messages handed on."""
    for name, value in rules.items():
        monkeypatch.setattr(listen_settings, name, value)
    napp = controller.load_napp(ListenEvents)
    links = {index: make_link(index, interdomain=index == 2) for index in (1, 2)}
    controller.links = {link.id: link for link in links.values()}
    response = await napp.snapshot(None)
    assert json.loads(response.body) == {"links": len(handed)}
    await controller.settle()
    envelopes = [envelope for event in controller.seen
                 if event.name == listen_settings.HANDOFF_EVENT
                 for envelope in handed_envelopes(event.content)]
    assert [e["link"]["id"] for e in envelopes] == [str(links[i].id) for i in handed]
    assert napp.pipeline.counters.filtered_out == 2 - len(handed)


async def test_the_snapshot_route_answers_links_only_without_nni_ports(controller):
    napp = controller.load_napp(ListenEvents)
    controller.switches = {"00:00:00:00:00:00:03:09": _port(9, sdx_nni=None).switch}
    controller.links = {make_link(1).id: make_link(1)}
    response = await napp.snapshot(None)
    assert json.loads(response.body) == {"links": 1}
    _check_snapshot_answer(json.loads(response.body))
