"""AMQP 0-9-1 frames for one publish (Basic.Publish, content header, body), encoded with struct.

Pure: no I/O, no client library. The AMQP transport writes the frames of a whole batch of
small messages in one go; building them here costs a few microseconds per message, where the
client library's general-purpose marshalling (pamqp) costs ten times that. The unit tests
check the bytes against what aiormq's own basic_publish writes for the same messages and the
same negotiated frame_max (0, "no limit", included).
"""

import struct
from collections.abc import Iterable, Iterator

FRAME_METHOD, FRAME_HEADER, FRAME_BODY = 1, 2, 3
FRAME_END = b"\xce"
FRAME_OVERHEAD = 8  # type (1) + channel (2) + size (4) + frame end (1)
BASIC_CLASS, BASIC_PUBLISH = 60, 40
PERSISTENT = 2
APP_ID = "kytos/mq_producer"
CONTENT_TYPE = "application/json"

# Property flags of the properties set below, in the spec's order (bit 15 first).
_FLAGS = (1 << 15) | (1 << 12) | (1 << 7) | (1 << 6) | (1 << 5) | (1 << 3)
# content-type, delivery-mode, message-id, timestamp, type, app-id

_frame_head = struct.Struct(">BHI").pack
_publish_head = struct.Struct(">HHH").pack  # class, method, reserved-1 (ticket)
_header_head = struct.Struct(">HHQH").pack  # class, weight, body size, property flags
_octet = struct.Struct(">B").pack
_timestamp = struct.Struct(">Q").pack


def shortstr(text: str) -> bytes:
    """An AMQP short string; ValueError when longer than 255 bytes as UTF-8."""
    data = text.encode()
    if len(data) > 255:
        raise ValueError(f"{text[:40]!r}...: longer than 255 bytes, the AMQP short string limit")
    return _octet(len(data)) + data


_CONTENT_TYPE_PERSISTENT = shortstr(CONTENT_TYPE) + _octet(PERSISTENT)
_APP_ID = shortstr(APP_ID)


def _frame(kind: int, channel: int, payload: bytes) -> bytes:
    return _frame_head(kind, channel, len(payload)) + payload + FRAME_END


def publish_head(channel: int, *, exchange: str, routing_key: str, body_size: int,
                 message_id: str, timestamp: int, message_type: str) -> bytes:
    """Basic.Publish (mandatory) and the content header with mq_producer's properties
    (application/json, persistent, message id, timestamp in seconds, type = event name, app id);
    ValueError when a short string is too long. The body frames follow (``frame_chunks``)."""
    method = _publish_head(BASIC_CLASS, BASIC_PUBLISH, 0) + shortstr(exchange) \
        + shortstr(routing_key) + b"\x01"  # bits: mandatory=1, immediate=0
    properties = (_CONTENT_TYPE_PERSISTENT + shortstr(message_id) + _timestamp(timestamp)
                  + shortstr(message_type) + _APP_ID)
    return _frame(FRAME_METHOD, channel, method) + _frame(
        FRAME_HEADER, channel, _header_head(BASIC_CLASS, 0, body_size, _FLAGS) + properties)


FRAME_PAYLOAD_LIMIT = 2**32 - 1  # what a frame's 32-bit size field can say


def body_frame_limit(frame_max: int) -> int:
    """The most body bytes one frame may carry under the negotiated ``frame_max``: frame_max
    less FRAME_OVERHEAD; for 0 (the spec's "no limit", RabbitMQ's ``frame_max = 0``) what the
    size field can say, so that a body goes in one frame, as aiormq's basic_publish sends it.
    ValueError for a frame_max that leaves no room for a body byte (no broker negotiates one:
    the spec's minimum is 4096)."""
    if frame_max == 0:
        return FRAME_PAYLOAD_LIMIT
    if frame_max <= FRAME_OVERHEAD:
        raise ValueError(f"frame_max {frame_max}: no room for a body frame's payload")
    return min(frame_max - FRAME_OVERHEAD, FRAME_PAYLOAD_LIMIT)


def frame_chunks(channel: int, max_body: int, chunk_size: int,
                 messages: Iterable[tuple[bytes, bytes | bytearray]]) -> Iterator[bytearray]:
    """The frames of each ``(head, body)`` in order - the head from ``publish_head``, the body
    cut into frames of at most ``max_body`` bytes of payload (``body_frame_limit`` of the
    negotiated frame_max) - in buffers that end, on a frame boundary, once they reach
    ``chunk_size`` bytes: a batch of small messages is one buffer, a multi-megabyte body
    several. Each body is copied once; a buffer is never touched again once yielded.

    ValueError at once for ``max_body`` < 1: a body would otherwise go out with no frame at
    all (aiormq's max_content_size is -8 for frame_max 0), and the broker closes the
    connection (505 UNEXPECTED_FRAME)."""
    if max_body < 1:
        raise ValueError(f"max_body {max_body}: a body frame carries at least one byte; "
                         "see body_frame_limit")
    return _chunks(channel, max_body, chunk_size, messages)


def _chunks(channel: int, max_body: int, chunk_size: int,
            messages: Iterable[tuple[bytes, bytes | bytearray]]) -> Iterator[bytearray]:
    out = bytearray()
    for head, body in messages:
        out += head
        view = memoryview(body)  # slices without copies
        for start in range(0, len(view), max_body):
            chunk = view[start:start + max_body]
            out += _frame_head(FRAME_BODY, channel, len(chunk))
            out += chunk
            out += FRAME_END
            if len(out) >= chunk_size:
                yield out
                out = bytearray()
    if out:
        yield out
