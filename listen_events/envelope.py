"""The versioned message every producer publishes, and the one place that builds it.

The pydantic model ``Envelope`` is the schema: ``envelope.schema.json`` beside this file is
generated from it (``python -m listen_events.envelope > listen_events/envelope.schema.json``)
and consumers validate against it. Building goes through plain dicts on the hot path; the unit
tests check that everything built validates against the model.
"""

import datetime as dt
import itertools
import json
import uuid
from collections.abc import Mapping
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class Endpoint(BaseModel):
    """One end of a link: enough to act on without asking Kytos."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(description="Interface id, '<dpid>:<port>'")
    dpid: str | None = Field(description="Switch datapath id")
    port: int | None = Field(description="Port number on the switch")
    name: str | None = Field(description="Interface name")


class LinkState(BaseModel):
    """A link's state as carried by link events (and, later, snapshots)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(description="Kytos link id (sha256 of the sorted interface ids)")
    status: str | None = Field(description="'UP', 'DOWN' or 'DISABLED'; for link_up / "
                                           "link_down, the status the event stands for")
    status_reason: list[str] = Field(description="Kytos' reasons for a non-UP status")
    reason: str | None = Field(description="Why the event was emitted, e.g. 'link down'")
    active: bool | None
    enabled: bool | None
    endpoint_a: Endpoint
    endpoint_b: Endpoint
    metadata: dict[str, Any] = Field(description="Link metadata, e.g. interdomain markers")


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
    sent_time: int = Field(description="Unix epoch seconds when the envelope was built "
                                       "(SDX-LC convention; compare with MQ_MESSAGE_EXPIRATION)")
    event_name: str = Field(description="Kytos event name, e.g. 'kytos/topology.link_down'")
    event_class: str = Field(description="Classification: 'administrative', 'operational', ...")
    event_id: str | None = Field(description="The KytosEvent's id (UUID)")
    event_timestamp: AwareDatetime = Field(description="When Kytos created the event, UTC, "
                                                       "microsecond precision")
    producer: Producer
    key: str | None = Field(description="What the message is about, for per-key order: "
                                        "'link:<id>', 'switch:<dpid>', 'interface:<id>', "
                                        "'topology'; null when nothing")
    link: LinkState | None = Field(description="Set for events that carry a link")
    content: dict[str, Any] = Field(description="The event content, serialized")


class EnvelopeBuilder:
    """Builds envelope dicts for one producer instance, numbering them in order."""

    def __init__(self, controller: str, domain: str) -> None:
        self._producer = {"controller": controller, "domain": domain,
                          "instance": uuid.uuid4().hex}
        self._sequence = itertools.count(1)

    @property
    def instance(self) -> str:
        return self._producer["instance"]

    def build(self, *, event_name: str, event_class: str, event_id: Any,
              event_timestamp: dt.datetime, content: dict[str, Any],
              msg_type: str = "event", link_status: str | None = None) -> dict[str, Any]:
        """``link_status``: the status the event stands for (LINK_STATUS_BY_EVENT), which
        wins over the one the Link had when it was serialized."""
        link = link_state(content)
        if link is not None and link_status is not None:
            link["status"] = link_status
        timestamp = event_timestamp.astimezone(dt.UTC) if event_timestamp.tzinfo \
            else event_timestamp.replace(tzinfo=dt.UTC)
        sequence = next(self._sequence)
        return {
            "schema_version": SCHEMA_VERSION,
            # Unique without a random draw per message: the instance id is random per start.
            "message_id": f"{self._producer['instance']}-{sequence}",
            "msg_type": msg_type,
            "sent_time": int(dt.datetime.now(dt.UTC).timestamp()),
            "event_name": event_name,
            "event_class": event_class,
            "event_id": None if event_id is None else str(event_id),
            "event_timestamp": timestamp.isoformat(timespec="microseconds"),
            "producer": {**self._producer, "sequence": sequence},
            "key": subject_key(content, link),
            "link": link,
            "content": content,
        }


def hand_off_form(envelope: dict[str, Any]) -> dict[str, Any] | bytes:
    """The envelope as it is handed on: its JSON (orjson, UTF-8) bytes - except a topology's,
    kept a dict so that the producer encodes its megabytes in pieces, giving the loop turns.

    Why bytes: in a burst a hand-off event waits in core's app buffer behind up to 1,024
    events. Meanwhile an envelope dict is about ten objects and fifty values that every young
    garbage collection walks (4-8 ms pauses in a 10,000-event burst); bytes are one object the
    collector skips."""
    if "topology" in envelope["content"]:
        return envelope
    return orjson.dumps(envelope)


def _endpoint(interface: Any) -> dict[str, Any]:
    if not isinstance(interface, Mapping):
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


def link_state(content: Mapping[str, Any]) -> dict[str, Any] | None:
    """The LinkState of serialized content carrying a ``link``, else None."""
    link = content.get("link")
    if not isinstance(link, Mapping) or not link.get("id"):
        return None
    status_reason = link.get("status_reason")
    reason = content.get("reason")
    metadata = link.get("metadata")
    return {
        "id": str(link["id"]),
        "status": link.get("status") if isinstance(link.get("status"), str) else None,
        "status_reason": [str(item) for item in status_reason]
        if isinstance(status_reason, list) else [],
        "reason": reason if isinstance(reason, str) else None,
        "active": link.get("active") if isinstance(link.get("active"), bool) else None,
        "enabled": link.get("enabled") if isinstance(link.get("enabled"), bool) else None,
        "endpoint_a": _endpoint(link.get("endpoint_a")),
        "endpoint_b": _endpoint(link.get("endpoint_b")),
        "metadata": metadata if isinstance(metadata, dict) else {},
    }


def subject_key(content: Mapping[str, Any], link: Mapping[str, Any] | None) -> str | None:
    """What the event is about; messages with one key stay in order through outages."""
    if link is not None:
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
