import datetime as dt
import json
from pathlib import Path

import orjson

import listen_events
from listen_events.envelope import (
    Envelope,
    EnvelopeBuilder,
    LargeEnvelope,
    hand_off_form,
    napp_of,
)
from listen_events.serialize import serialize_content
from tests.support.topology import make_link


def _build(builder, name="kytos/topology.link_down", content=None):
    link = make_link(2, interdomain=True)
    serialized, _ = serialize_content(content if content is not None
                                      else {"link": link, "reason": "link down"})
    return builder.build(event_name=name, event_class="operational",
                         event_id="6c3d8a3e-0000-4000-8000-000000000000",
                         event_timestamp=dt.datetime(2026, 5, 1, 12, 0, 0, 123456, dt.UTC),
                         content=serialized), link


def test_link_envelope_carries_what_a_consumer_needs():
    envelope, link = _build(EnvelopeBuilder("amlight-kytos", "ampath.net"))
    Envelope.model_validate_json(json.dumps(envelope))  # the committed schema accepts what we build
    assert envelope["schema_version"] == 1
    assert envelope["event_timestamp"] == "2026-05-01T12:00:00.123456+00:00"
    assert envelope["key"] == f"link:{link.id}"
    assert envelope["producer"]["controller"] == "amlight-kytos"
    assert envelope["producer"]["domain"] == "ampath.net"
    assert envelope["link"]["id"] == str(link.id)
    assert envelope["link"]["kind"] == "link"
    assert envelope["link"]["status"] == "UP"  # no link_status given: the object's
    assert envelope["link"]["status_source"] == "object"
    assert envelope["link"]["active"] is True
    assert envelope["link"]["reason"] == "link down"
    assert envelope["link"]["endpoint_a"] == {"id": "00:00:00:00:00:00:00:02:2",
                                              "dpid": "00:00:00:00:00:00:00:02", "port": 2,
                                              "name": "eth2"}
    assert envelope["link"]["metadata"] == {"interdomain": True}
    assert isinstance(envelope["sent_time"], int)
    json.dumps(envelope, allow_nan=False)


def test_sequence_increases_and_instance_changes_on_restart():
    builder = EnvelopeBuilder("c", "")
    first, _ = _build(builder)
    second, _ = _build(builder)
    restarted, _ = _build(EnvelopeBuilder("c", ""))
    assert (first["producer"]["sequence"], second["producer"]["sequence"]) == (1, 2)
    assert first["message_id"] != second["message_id"]
    assert first["producer"]["instance"] == second["producer"]["instance"]
    assert restarted["producer"]["instance"] != first["producer"]["instance"]
    assert restarted["producer"]["sequence"] == 1


def test_switch_event_is_keyed_by_dpid_and_has_no_link():
    envelope, _ = _build(EnvelopeBuilder("c", ""), "kytos/topology.switch.enabled",
                         {"dpid": "00:00:00:00:00:00:00:09"})
    Envelope.model_validate_json(json.dumps(envelope))
    assert envelope["key"] == "switch:00:00:00:00:00:00:00:09"
    assert envelope["link"] is None


def test_link_with_broken_endpoints_still_builds_a_valid_envelope():
    envelope, _ = _build(EnvelopeBuilder("c", ""), content={
        "link": {"id": "abc", "endpoint_a": "00:00:00:00:00:00:00:01:7", "endpoint_b": None,
                 "status": 3}})
    Envelope.model_validate_json(json.dumps(envelope))
    assert envelope["link"]["endpoint_a"] == {"id": "00:00:00:00:00:00:00:01:7",
                                              "dpid": "00:00:00:00:00:00:00:01", "port": 7,
                                              "name": None}
    assert envelope["link"]["status"] is None
    assert envelope["link"]["status_source"] == "object"


def test_an_envelope_without_the_new_link_fields_still_validates():
    """kind and status_source have defaults: envelopes built before them stay valid."""
    envelope, _ = _build(EnvelopeBuilder("c", ""))
    for field in ("kind", "status_source"):
        del envelope["link"][field]
    link = Envelope.model_validate_json(json.dumps(envelope)).link
    assert (link.kind, link.status_source) == ("link", "object")


def test_committed_schema_matches_the_model():
    path = Path(listen_events.__file__).parent / "envelope.schema.json"
    assert json.loads(path.read_text()) == Envelope.model_json_schema(), \
        "regenerate: python -m listen_events.envelope > listen_events/envelope.schema.json"


def test_the_hand_off_form_is_the_json_bytes_except_for_a_topology():
    envelope, _ = _build(EnvelopeBuilder("kytos", "test"))
    handed = hand_off_form(envelope)
    assert type(handed) is bytes and handed == orjson.dumps(envelope)
    Envelope.model_validate_json(handed)
    topology, _ = _build(EnvelopeBuilder("kytos", "test"), "kytos/topology.topology_loaded",
                         {"topology": {"switches": {}, "links": {}}})
    assert hand_off_form(topology) is topology


# -- the emitting NApp (issue 16) --------------------------------------------------------------

def test_every_envelope_names_the_napp_that_emitted_the_event():
    builder = EnvelopeBuilder("c", "")
    for name, napp in [("kytos/topology.link_down", "kytos/topology"),
                       ("kytos/mef_eline.created", "kytos/mef_eline"),
                       ("version/control.initialize", "version/control"),
                       ("topology.interruption.start", "topology"),  # kytos/maintenance's
                       ("kytos/of_core.v0x04.messages.in.ofpt_hello", "kytos/of_core"),
                       ("no_dot_at_all", "no_dot_at_all"), ("", ""), (".leading", "")]:
        envelope, _ = _build(builder, name)
        assert envelope["napp"] == napp_of(name) == napp, name
        assert Envelope.model_validate_json(json.dumps(envelope)).napp == napp
    # in the routing key's place: "<event_class>.<event_name>" has it as its second word
    envelope, _ = _build(builder, "kytos/mef_eline.created")
    assert f"{envelope['event_class']}.{envelope['event_name']}".split(".")[1] == \
        envelope["napp"]


def test_the_schema_documents_napp_and_envelopes_without_it_still_validate():
    schema = Envelope.model_json_schema()
    assert "NApp that emitted the event" in schema["properties"]["napp"]["description"]
    assert "napp" not in schema["required"]  # envelopes built before it stay valid
    committed = json.loads((Path(listen_events.__file__).parent / "envelope.schema.json")
                           .read_text())
    assert committed["properties"]["napp"] == schema["properties"]["napp"]
    envelope, _ = _build(EnvelopeBuilder("c", ""))
    del envelope["napp"]
    assert Envelope.model_validate_json(json.dumps(envelope)).napp is None


def test_a_large_envelope_is_handed_on_as_a_plain_dict():
    envelope = EnvelopeBuilder("c", "").build(
        event_name="kytos/mef_eline.evcs_loaded", event_class="other_events", event_id=None,
        event_timestamp=dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
        content={"evcs": {str(i): {"id": str(i)} for i in range(300)}}, large=True)
    assert isinstance(envelope, LargeEnvelope)
    handed = hand_off_form(envelope)
    assert type(handed) is dict and handed == envelope
    Envelope.model_validate_json(orjson.dumps(handed))
