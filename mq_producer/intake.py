"""Hand-off event content -> OutboundMessage: check the envelope, route it, encode it once."""

from collections.abc import Mapping
from typing import Any

import orjson

from .config import LinkStatusConfig
from .outbox import OutboundMessage
from .routing import Router, RoutingError

_REQUIRED = ("message_id", "event_name", "event_class")


class InvalidEnvelope(ValueError):
    """The hand-off event does not carry an envelope this producer can publish."""


def to_messages(content: Any, router: Router, link_status: LinkStatusConfig,
                now: float) -> list[OutboundMessage]:
    """The messages for a hand-off event's content ``{"envelope": {...}}``: the event on its
    route, plus a status message for an interdomain link (see continuity.py)."""
    envelope = content.get("envelope") if isinstance(content, Mapping) else None
    if not isinstance(envelope, Mapping):
        raise InvalidEnvelope(f"content has no 'envelope' dict (got {type(envelope).__name__})")
    for field in _REQUIRED:
        if not isinstance(envelope.get(field), str) or not envelope[field]:
            raise InvalidEnvelope(f"envelope field {field!r} must be a non-empty string")
    key = envelope.get("key")
    if key is not None and not isinstance(key, str):
        raise InvalidEnvelope("envelope field 'key' must be a string or null")
    try:
        exchange, routing_key = router.route(envelope)
        body = orjson.dumps(envelope)
    except RoutingError as exc:
        raise InvalidEnvelope(str(exc)) from None
    except TypeError as exc:  # orjson: not JSON-safe (listen_events serializes, others may not)
        raise InvalidEnvelope(f"envelope is not JSON-serializable: {exc}") from None
    messages = [OutboundMessage(message_id=envelope["message_id"],
                                event_name=envelope["event_name"], exchange=exchange,
                                routing_key=routing_key, body=body, key=key, timestamp=now)]
    link = envelope.get("link")
    if isinstance(link, Mapping) and isinstance(link.get("id"), str) and link["id"] \
            and isinstance(link.get("status"), str) and link_status.is_interdomain(link):
        # Its own message id: aiormq matches returns by id, and both may be in flight.
        messages.append(OutboundMessage(
            message_id=f"{envelope['message_id']}:status", event_name=envelope["event_name"],
            exchange=link_status.exchange, routing_key=link["id"], body=body,
            key=f"status:{link['id']}", timestamp=now, link_id=link["id"],
            status=link["status"]))
    return messages
