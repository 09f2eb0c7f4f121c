"""The versioned message every producer publishes, and the one place that builds it.

The pydantic model ``Envelope`` is the schema: ``envelope.schema.json`` beside this file is
generated from it (``python -m listen_events.envelope > listen_events/envelope.schema.json``)
and consumers validate against it. Building goes through plain dicts on the hot path; the unit
tests check that everything built validates against the model.
"""

import datetime as dt
import itertools
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
NNI_ID_PREFIX = "urn:sdx:port:"

# Events that say whether the link or port is enabled, whatever the object says by the time
# the event is serialized (an event standing for the status 'DISABLED' says so too).
ENABLED_BY_EVENT = {
    "kytos/topology.interface.enabled": True,
    "kytos/topology.interface.disabled": False,
    "kytos/topology.link.enabled": True,
    "kytos/topology.link.disabled": False,
}


class Endpoint(BaseModel):
    """One end of a link: enough to act on without asking Kytos. The endpoint_b of an NNI is
    the remote OXP's port, known by its id only (dpid, port and name null)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(description="Interface id, '<dpid>:<port>'; for the endpoint_b of an NNI, "
                                "the remote port's NNI id 'urn:sdx:port:<oxp>:<node>:<port>'")
    dpid: str | None = Field(description="Switch datapath id (null for a remote port)")
    port: int | None = Field(description="Port number on the switch (null for a remote port)")
    name: str | None = Field(description="Interface name (null for a remote port)")


class LinkState(BaseModel):
    """A link's state as the event sees it: a Kytos link (kind 'link') or an interdomain
    link that is a port (kind 'nni': an interface whose metadata has the NNI key, e.g.
    'sdx_nni'). It is the event's view: when the event stands for a status, status is that
    one (status_source 'event') even if the object has changed since, and active always
    agrees with status; the envelope's content keeps the object as it was serialized,
    possibly newer."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(description="kind 'link': the Kytos link id (sha256 of the sorted "
                                "interface ids); kind 'nni': the NNI id 'urn:sdx:port:' + the "
                                "remote port id of the interface's NNI metadata (what "
                                "kytos-sdx publishes as the port's 'nni')")
    kind: Literal["link", "nni"] = Field(
        "link", description="'link': a link between two switches of this controller (Kytos' "
                            "link events); 'nni': an interdomain link that is a port of ours "
                            "(interface events; endpoint_a the port, endpoint_b the remote "
                            "OXP's port)")
    status: str | None = Field(description="'UP', 'DOWN' or 'DISABLED'. When the event "
                                           "stands for a status (link_up / link_down, "
                                           "interface link_up / link_down / up / down / "
                                           "disabled), that one; otherwise the object's")
    status_source: Literal["event", "object"] = Field(
        "object", description="'event': status is what the event stands for, whatever the "
                              "object said when serialized; 'object': status is the "
                              "object's (events that stand for no status, snapshots)")
    status_reason: list[str] = Field(description="Kytos' reasons for a non-UP status")
    reason: str | None = Field(description="Why the event was emitted, e.g. 'link down'")
    active: bool | None = Field(description="Agrees with status: true when 'UP', false when "
                                            "'DOWN'; when 'DISABLED', the object's")
    enabled: bool | None = Field(description="The object's, except after an event that sets "
                                             "it (interface or link enabled: true; disabled, "
                                             "or any status 'DISABLED': false)")
    endpoint_a: Endpoint
    endpoint_b: Endpoint
    metadata: dict[str, Any] = Field(description="Link metadata, e.g. interdomain markers; "
                                                 "for an NNI, the interface's metadata")


class Producer(BaseModel):
    """Who published the message; ``instance`` changes each time the NApp starts."""

    model_config = ConfigDict(extra="forbid", strict=True)
    controller: str
    domain: str
    instance: str = Field(description="Random id of this NApp run: a new value means a restart")
    sequence: int = Field(ge=1, description="1, 2, 3... within one instance, in event order")


class Envelope(BaseModel):
    """A Kytos event as published to the broker (schema version 1)."""

    # strict: no coercion ("4" is not a sequence number), as envelope.schema.json says. Validate
    # the JSON text (model_validate_json), where timestamps are ISO 8601 strings.
    model_config = ConfigDict(extra="forbid", strict=True, title="KytosEventEnvelope")
    schema_version: Literal[1]
    message_id: str = Field(description="Unique per message; AMQP message_id; de-duplicate on it")
    msg_type: Literal["event", "snapshot"] = Field(
        description="'event' for a change, 'snapshot' for a present state sent on request")
    sent_time: int = Field(description="Unix epoch seconds (SDX-LC convention; compare with "
                                       "MQ_MESSAGE_EXPIRATION): when the envelope was built; "
                                       "for a link status message (its link's queue, its "
                                       "copy), when it was published - and renewed while it "
                                       "waits unread. event_timestamp keeps the event's time")
    event_name: str = Field(description="Kytos event name, e.g. 'kytos/topology.link_down'")
    napp: str | None = Field(
        None, description="The NApp that emitted the event: its name up to the first '.' "
                          "('kytos/topology', 'kytos/mef_eline', 'version/control'; the "
                          "whole name when it has no '.'). The default routing keys "
                          "'<event_class>.<event_name>' have it as their second topic word. "
                          "Absent (null) in envelopes built before it")
    event_class: str = Field(description="Classification: 'administrative', 'operational', ...")
    event_id: str | None = Field(description="The KytosEvent's id (UUID)")
    event_timestamp: AwareDatetime = Field(description="When Kytos created the event, UTC, "
                                                       "microsecond precision")
    producer: Producer
    key: str | None = Field(description="What the message is about, for per-key order: "
                                        "'link:<id>', 'switch:<dpid>', 'interface:<id>' "
                                        "(also for an NNI port's events: one order per "
                                        "port), 'topology'; null when nothing")
    link: LinkState | None = Field(
        description="The link as the event sees it: set for events that carry a Kytos link, "
                    "and for events of an interface that is an NNI port (null once its NNI "
                    "metadata is removed). Its status is the event's when the event stands "
                    "for one, while content keeps the object as serialized (possibly newer)")
    content: dict[str, Any] = Field(description="The event content, serialized: the objects "
                                                "as they were when serialized")


class EnvelopeBuilder:
    """Builds envelope dicts for one producer instance, numbering them in order."""

    def __init__(self, controller: str, domain: str, *,
                 nni_metadata_key: str | None = None) -> None:
        """``nni_metadata_key``: the interface metadata key that makes a port an NNI
        (settings.NNI_METADATA_KEY); None: no NNI link view."""
        self._producer = {"controller": controller, "domain": domain,
                          "instance": uuid.uuid4().hex}
        self._sequence = itertools.count(1)
        self.nni_metadata_key = nni_metadata_key

    @property
    def instance(self) -> str:
        return self._producer["instance"]

    def build(self, *, event_name: str, event_class: str, event_id: Any,
              event_timestamp: dt.datetime, content: dict[str, Any],
              msg_type: str = "event", link_status: str | None = None,
              large: bool = False) -> dict[str, Any]:
        """``link_status``: the status the event stands for (LINK_STATUS_BY_EVENT), which
        wins over the one the Link (or NNI interface) had when it was serialized. ``large``:
        the content is (serialize.Serializer.large): a LargeEnvelope."""
        link = link_state(content, event_status=link_status,
                          event_enabled=ENABLED_BY_EVENT.get(event_name),
                          nni_metadata_key=self.nni_metadata_key)
        event_timestamp = in_utc(event_timestamp)
        sequence = next(self._sequence)
        return (LargeEnvelope if large else dict)({
            "schema_version": SCHEMA_VERSION,
            # Unique without a random draw per message: the instance id is random per start.
            "message_id": f"{self._producer['instance']}-{sequence}",
            "msg_type": msg_type,
            "sent_time": int(time.time()),
            "event_name": event_name,
            "napp": napp_of(event_name),
            "event_class": event_class,
            "event_id": None if event_id is None else str(event_id),
            "event_timestamp": event_timestamp.isoformat(timespec="microseconds"),
            "producer": {**self._producer, "sequence": sequence},
            "key": subject_key(content, link),
            "link": link,
            "content": content,
        })


def in_utc(timestamp: dt.datetime) -> dt.datetime:
    """``timestamp`` in UTC, a naive one taken as UTC (core's are datetime.now(timezone.utc)).
    Raises what ``astimezone`` raises: OverflowError for a time UTC cannot hold, or a
    tzinfo's own error."""
    if timestamp.tzinfo is dt.UTC:
        return timestamp
    return timestamp.astimezone(dt.UTC) if timestamp.tzinfo \
        else timestamp.replace(tzinfo=dt.UTC)


def napp_of(event_name: str) -> str:
    """The NApp that emitted an event: its name up to the first "." ("kytos/topology.link_up"
    -> "kytos/topology"), the whole name when it has none."""
    return event_name.partition(".")[0]


class LargeEnvelope(dict):
    """An envelope whose content is large (more than LARGE_VALUES values or LARGE_TEXT
    characters of text, serialize.py): ``hand_off_form`` hands it on as a dict."""


def hand_off_form(envelope: dict[str, Any]) -> dict[str, Any] | bytes:
    """The envelope as it is handed on: its JSON (orjson, UTF-8) bytes - except a topology's,
    or any whose content is large (``LargeEnvelope``), kept a (plain) dict so that the
    producer encodes its megabytes in pieces, giving the loop turns.

    Why bytes: in a burst a hand-off event waits in core's app buffer behind up to 1,024
    events. Meanwhile an envelope dict is about ten objects and fifty values that every young
    garbage collection walks (4-8 ms pauses in a 10,000-event burst); bytes are one object the
    collector skips."""
    if type(envelope) is LargeEnvelope:
        return dict(envelope)
    if "topology" in envelope["content"]:
        return envelope
    return exact_bytes(orjson.dumps(envelope))


def exact_bytes(data: bytes) -> bytes:
    """``data`` in a bytes object of its own size. orjson (3.12 and later) returns its output
    in the buffer it grew while writing: 8-16 KB of memory for an envelope of 1.7 KB, kept
    while the envelope waits in core's app buffer and then as mq_producer's message body (a
    full BUFFER_SIZE of them: 80-160 MB instead of 18). A copy costs well under a
    microsecond."""
    return bytes(memoryview(data))


def _endpoint(interface: Any) -> dict[str, Any]:
    if type(interface) is not dict and not isinstance(interface, Mapping):
        interface = {"id": "" if interface is None else str(interface)}
    interface_id = str(interface.get("id", ""))
    dpid = interface.get("switch")
    port = interface.get("port_number")
    if dpid is None and ":" in interface_id:  # "<dpid>:<port>", the dpid has colons itself
        dpid, _, port_text = interface_id.rpartition(":")
        port = int(port_text) if port is None and port_text.isdigit() else port
    return {"id": interface_id, "dpid": None if dpid is None else str(dpid),
            "port": port if isinstance(port, int) and not isinstance(port, bool) else None,
            "name": interface.get("name") if isinstance(interface.get("name"), str) else None}


def nni_id(value: str) -> str:
    """The NNI id of a port whose NNI metadata is ``value`` (the remote OXP's port id):
    'urn:sdx:port:' + value, unless it has that prefix already. What kytos-sdx publishes as
    the port's 'nni', and what the SDX controller and the other OXP know the link by."""
    return value if value.startswith(NNI_ID_PREFIX) else NNI_ID_PREFIX + value


def nni_value(metadata: Any, key: str | None) -> str | None:
    """The remote port id under the NNI key of interface ``metadata``, or None when the
    interface is no NNI (no key, NNI handling off, or not a non-empty string)."""
    if key is None or (type(metadata) is not dict and not isinstance(metadata, Mapping)):
        return None
    value = metadata.get(key)
    return value if isinstance(value, str) and value else None


def nni_interface(content: Mapping[str, Any], key: str | None) -> Mapping[str, Any] | None:
    """The serialized ``interface`` of ``content`` when it is an NNI port, else None."""
    interface = content.get("interface")
    if (type(interface) is dict or isinstance(interface, Mapping)) and interface.get("id") \
            and nni_value(interface.get("metadata"), key) is not None:
        return interface
    return None


def link_state(content: Mapping[str, Any], *, event_status: str | None = None,
               event_enabled: bool | None = None,
               nni_metadata_key: str | None = None) -> dict[str, Any] | None:
    """The LinkState of serialized content carrying a ``link`` (a Kytos link) or an NNI
    ``interface``, as the event sees it; else None.

    ``event_status`` (the status the event stands for) and ``event_enabled`` win over what
    the object said when serialized; ``active`` is made to agree with the status."""
    link = content.get("link")
    if (type(link) is dict or isinstance(link, Mapping)) and link.get("id"):
        return _state(content, link, str(link["id"]), "link", _endpoint(link.get("endpoint_a")),
                      _endpoint(link.get("endpoint_b")), event_status, event_enabled)
    interface = nni_interface(content, nni_metadata_key)
    if interface is None:
        return None
    remote = nni_id(nni_value(interface.get("metadata"), nni_metadata_key) or "")
    return _state(content, interface, remote, "nni", _endpoint(interface),
                  {"id": remote, "dpid": None, "port": None, "name": None},
                  event_status, event_enabled)


def _state(content: Mapping[str, Any], obj: Mapping[str, Any], state_id: str, kind: str,
           endpoint_a: dict[str, Any], endpoint_b: dict[str, Any], event_status: str | None,
           event_enabled: bool | None) -> dict[str, Any]:
    """``obj``: the serialized Link or Interface the state is read from."""
    active = obj.get("active") if isinstance(obj.get("active"), bool) else None
    enabled = obj.get("enabled") if isinstance(obj.get("enabled"), bool) else None
    if event_status == "DISABLED":
        event_enabled = False
    if event_enabled is not None:
        enabled = event_enabled
    if event_status is not None:
        status, status_source = event_status, "event"
    else:
        status, status_source = _object_status(obj.get("status"), enabled, active), "object"
    if status == "UP":
        active = True
    elif status == "DOWN":
        active = False
    status_reason = obj.get("status_reason")
    reason = content.get("reason")
    metadata = obj.get("metadata")
    return {
        "id": state_id,
        "kind": kind,
        "status": status,
        "status_source": status_source,
        "status_reason": [str(item) for item in status_reason]
        if isinstance(status_reason, list) else [],
        "reason": reason if isinstance(reason, str) else None,
        "active": active,
        "enabled": enabled,
        "endpoint_a": endpoint_a,
        "endpoint_b": endpoint_b,
        "metadata": metadata if isinstance(metadata, dict) else {},
    }


def _object_status(status: Any, enabled: bool | None, active: bool | None) -> str | None:
    """The status of a serialized object: its own when it is 'UP', 'DOWN' or 'DISABLED' and
    agrees with ``enabled`` (which an enabled / disabled event may have set since), else
    Kytos' rule: DISABLED when not enabled, UP when active, DOWN when not; None when nothing
    says."""
    if enabled is False:
        return "DISABLED"
    if status in ("UP", "DOWN") or (status == "DISABLED" and enabled is None):
        return status
    if active is None:
        return None
    return "UP" if active else "DOWN"


def subject_key(content: Mapping[str, Any], link: Mapping[str, Any] | None) -> str | None:
    """What the event is about; messages with one key stay in order through outages. An
    NNI's events are keyed by its interface, as those of the port when it is no NNI."""
    if link is not None:
        if link.get("kind") == "nni":
            return f"interface:{link['endpoint_a']['id']}"
        return f"link:{link['id']}"
    for field, prefix in (("switch", "switch"), ("interface", "interface")):
        value = content.get(field)
        if isinstance(value, Mapping) and value.get("id"):
            return f"{prefix}:{value['id']}"
        if isinstance(value, str) and value:
            return f"{prefix}:{value}"
    if isinstance(content.get("dpid"), str) and content["dpid"]:
        return f"switch:{content['dpid']}"
    if "topology" in content:
        return "topology"
    return None


if __name__ == "__main__":
    print(json.dumps(Envelope.model_json_schema(), indent=2, sort_keys=True))
