"""Hand-off event content -> envelopes -> OutboundMessages: check each envelope, route it,
encode it once.

The hand-off content is ``{"envelopes": [<envelope>, ...]}`` (listen_events sends up to 100,
in event order); an envelope is a dict, or its JSON encoding as bytes. ``envelopes_of``
checks the container; ``to_messages`` checks one envelope. An item of the list that is not
an object is rejected by ``to_messages`` like any other bad envelope: on its own, the other
envelopes of the same hand-off event are still published.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from .config import LinkStatusConfig
from .outbox import OutboundMessage
from .routing import Router, RoutingError, scoped

_REQUIRED = ("message_id", "event_name", "event_class")
_SHORT = ("message_id", "event_name")  # message properties: at most 255 bytes (AMQP)


class InvalidEnvelope(ValueError):
    """The hand-off event, or one envelope in it, cannot be published."""


def envelopes_of(content: Any) -> list[Any]:
    """The envelopes of a hand-off event's content ``{"envelopes": [...]}``, unchecked (each
    goes through ``to_messages``). Raises InvalidEnvelope when there is no such list."""
    if not isinstance(content, Mapping):
        raise InvalidEnvelope("content has no 'envelopes' list (content is a "
                              f"{type(content).__name__}, not an object)")
    envelopes = content.get("envelopes")
    if not isinstance(envelopes, list):
        raise InvalidEnvelope("content has no 'envelopes' list (got "
                              f"{type(envelopes).__name__})")
    return envelopes


def to_messages(envelope: Any, router: Router, link_status: LinkStatusConfig,
                now: float, max_bytes: int, body: bytes | bytearray | None = None
                ) -> list[OutboundMessage]:
    """The messages for one envelope: the event on its route, plus a status message for an
    interdomain link or SDX NNI port (see status_lanes.py).

    ``max_bytes``: the largest encoded envelope accepted (MAX_MESSAGE_BYTES); a larger one
    raises InvalidEnvelope, as does anything that is not a publishable envelope. ``body``: the
    envelope already encoded (handed on as JSON bytes, see ``decode``, or from
    ``body_pieces``), published as it is; else it is encoded here.
    """
    if type(envelope) is not dict and not isinstance(envelope, Mapping):
        raise InvalidEnvelope(f"envelope is not an object (got {type(envelope).__name__})")
    for field in _REQUIRED:
        if not isinstance(envelope.get(field), str) or not envelope[field]:
            raise InvalidEnvelope(f"envelope field {field!r} must be a non-empty string")
    for field in _SHORT:
        text = envelope[field]  # 63 characters of a str are 252 bytes at the most
        if (type(text) is not str or len(text) > 63) \
                and len(text.encode(errors="surrogatepass")) > 255:
            raise InvalidEnvelope(f"envelope field {field!r} is longer than 255 bytes (it goes "
                                  "in a message property, an AMQP short string)")
    key = envelope.get("key")
    if key is not None and not isinstance(key, str):
        raise InvalidEnvelope("envelope field 'key' must be a string or null")
    for field in ("producer", "link"):  # routing reads them
        value = envelope.get(field)
        if value is not None and type(value) is not dict and not isinstance(value, Mapping):
            raise InvalidEnvelope(f"envelope field {field!r} must be an object or null")
    if body is None:  # first: routing then sees JSON values only
        body = _encode(envelope)
    try:
        exchange, routing_key = router.route(envelope)
    except RoutingError as exc:
        raise InvalidEnvelope(str(exc)) from None
    except Exception as exc:  # hostile values, e.g. a str subclass whose str() raises
        raise InvalidEnvelope(f"cannot route the envelope: {type(exc).__name__}") from None
    if len(body) > max_bytes:
        raise InvalidEnvelope(f"message {envelope['message_id']} ({envelope['event_name']}) of "
                              f"{len(body)} bytes is larger than MAX_MESSAGE_BYTES ({max_bytes}); "
                              "not published")
    messages = [OutboundMessage(message_id=envelope["message_id"],
                                event_name=envelope["event_name"], exchange=exchange,
                                routing_key=routing_key, body=body, key=key, timestamp=now)]
    link = envelope.get("link")
    if (type(link) is dict or isinstance(link, Mapping)) and isinstance(link.get("id"), str) \
            and link["id"] \
            and isinstance(link.get("status"), str) and link_status.is_interdomain(link):
        # Its own message id: aiormq matches returns by id, and both may be in flight.
        messages.append(OutboundMessage(
            message_id=f"{envelope['message_id']}:status", event_name=envelope["event_name"],
            exchange=link_status.exchange, routing_key=scoped(link_status.scope, link["id"]),
            body=body,
            key=f"status:{link['id']}", timestamp=now, link_id=link["id"],
            status=link["status"], envelope=dict(envelope),
            copy_key=link_status.copy_key(envelope)))
    return messages


def stamped(envelope: Mapping[str, Any], sent_time: int) -> bytes:
    """A link status envelope encoded with ``sent_time`` (when it is published)."""
    return exact_bytes(orjson.dumps({**envelope, "sent_time": sent_time}))


def exact_bytes(data: bytes) -> bytes:
    """``data`` in a bytes object of its own size: orjson (3.12 and later) returns its output
    in the buffer it grew while writing, several times its size, and a message body is kept
    until the broker confirms it - through an outage, a full BUFFER_SIZE of them. (listen_events
    has the same function: the NApps share no code.)"""
    return bytes(memoryview(data))


def status_copy(message: OutboundMessage, now: float) -> OutboundMessage:
    """The one copy of an accepted link status for the other consumers of the status
    exchange: an ordinary message (the firehose's buffer), in order per link."""
    assert message.envelope is not None and message.copy_key is not None
    return OutboundMessage(
        message_id=f"{message.message_id}:copy", event_name=message.event_name,
        exchange=message.exchange, routing_key=message.copy_key,
        body=stamped(message.envelope, int(now)), key=f"status-copy:{message.link_id}",
        timestamp=now)


def status_copy_problem(message: OutboundMessage, link_status: LinkStatusConfig) -> str | None:
    """Why a link status message cannot be published, else None: its id (the envelope's plus
    ``:status``), its routing key (the link id) and its queue's name are AMQP short strings,
    255 bytes at most. The event's own message is not concerned: it goes on without it."""
    assert message.link_id is not None
    for what, text in (("message id", message.message_id), ("link id", message.link_id),
                       ("status queue name", link_status.queue(message.link_id)),
                       ("copy's routing key", message.copy_key or "")):
        size = len(text.encode(errors="surrogatepass"))
        if size > 255:
            return (f"its {what} is {size} bytes, over the 255-byte limit of AMQP names; the "
                    "event itself is published without it")
    return None


SPLIT_ITEMS = 100  # a container with more items is encoded item by item (see body_pieces)


def body_pieces(envelope: Any) -> Iterator[bytes]:
    """The envelope's JSON (orjson) in pieces whose concatenation is ``orjson.dumps(envelope)``
    byte for byte, so that the caller can give the event loop a turn between them: a
    multi-megabyte topology takes tens of milliseconds in one orjson call. Raises
    InvalidEnvelope when the envelope is not JSON-serializable."""
    try:
        yield from _json_pieces(envelope, 0)
    except TypeError as exc:
        raise _not_serializable(exc) from None


def _encode(envelope: Any) -> bytes:
    try:
        return exact_bytes(orjson.dumps(envelope))
    except TypeError as exc:
        raise _not_serializable(exc) from None


def decode(body: bytes) -> Any:
    """An envelope handed on as its JSON bytes, parsed for ``to_messages`` to check and route
    (an oversized one too, as a dict is encoded before its size is checked: the log line then
    names its message). Raises InvalidEnvelope when the bytes are not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidEnvelope(f"envelope bytes are not JSON: {exc}") from None


def _not_serializable(exc: TypeError) -> InvalidEnvelope:
    """orjson refused: not JSON-safe (listen_events serializes, other NApps may not)."""
    return InvalidEnvelope(f"envelope is not JSON-serializable: {exc}")


def _json_pieces(value: Any, depth: int) -> Iterator[bytes]:
    """Dicts down to the third level, and any larger container, item by item."""
    kind = type(value)
    if kind is dict and (depth < 3 or len(value) > SPLIT_ITEMS):
        separator = b"{"
        for key, item in value.items():
            if type(key) is not str:  # as orjson: not even a str subclass
                raise TypeError("Dict key must be str")
            yield separator + orjson.dumps(key) + b":"
            yield from _json_pieces(item, depth + 1)
            separator = b","
        yield b"{}" if separator == b"{" else b"}"
    elif kind is list and len(value) > SPLIT_ITEMS:
        separator = b"["
        for item in value:
            yield separator
            yield from _json_pieces(item, depth + 1)
            separator = b","
        yield b"]"  # never empty: it has more than SPLIT_ITEMS items
    else:
        yield orjson.dumps(value)
