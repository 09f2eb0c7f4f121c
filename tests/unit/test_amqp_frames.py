"""The AMQP transport's own frame encoder gives the bytes pamqp (aiormq's marshaller) gives."""

import datetime as dt

import pamqp.frame
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pamqp.body import ContentBody
from pamqp.commands import Basic
from pamqp.header import ContentHeader

from mq_producer.transports.amqp.frames import FRAME_OVERHEAD, frame_chunks, publish_head, shortstr

FRAME_MAX = 131072  # RabbitMQ's default


def pamqp_frames(channel: int, max_body: int, *, exchange: str, routing_key: str, body: bytes,
                 message_id: str, timestamp: int, message_type: str) -> bytes:
    """What aiormq's basic_publish writes for the same message (mandatory, persistent)."""
    properties = Basic.Properties(
        content_type="application/json", delivery_mode=2, message_id=message_id,
        timestamp=dt.datetime.fromtimestamp(timestamp, dt.UTC), message_type=message_type,
        app_id="kytos/mq_producer")
    frames = [Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=True),
              ContentHeader(0, len(body), properties)]
    frames += [ContentBody(body[start:start + max_body])
               for start in range(0, len(body), max_body)]
    return b"".join(pamqp.frame.marshal(frame, channel) for frame in frames)


def ours(channel: int, max_body: int, *, body: bytes, **properties: object) -> bytes:
    head = publish_head(channel, body_size=len(body), **properties)  # type: ignore[arg-type]
    return b"".join(frame_chunks(channel, max_body, 256 * 1024, [(head, body)]))


def both(**message: object) -> tuple[bytes, bytes]:
    return ours(**message), pamqp_frames(**message)  # type: ignore[arg-type]


def test_a_typical_envelope_is_byte_for_byte_what_pamqp_writes():
    ours, theirs = both(channel=1, max_body=FRAME_MAX - FRAME_OVERHEAD,
                        exchange="operational_events",
                        routing_key="operational.kytos/topology.link_down",
                        body=b'{"message_id":"kytos-1"}' * 70, message_id="kytos-1",
                        timestamp=1_764_000_000, message_type="kytos/topology.link_down")
    assert ours == theirs


def test_a_body_larger_than_a_frame_is_cut_like_pamqp_cuts_it():
    body = bytes(range(256)) * 1000  # 256,000 bytes: two full body frames and a rest
    ours, theirs = both(channel=7, max_body=FRAME_MAX - FRAME_OVERHEAD, exchange="e",
                        routing_key="k", body=body, message_id="m", timestamp=0,
                        message_type="t")
    assert ours == theirs
    assert ours.count(b"\xce") >= 5  # method, header, three body frames


# Exchange names as the settings allow them; message id and type are never empty (envelopes.py).
@given(exchange=st.from_regex(r"[A-Za-z0-9_.:-]{0,60}", fullmatch=True),
       routing_key=st.text(max_size=60), message_id=st.text(min_size=1, max_size=60),
       message_type=st.text(min_size=1, max_size=60),
       body=st.binary(min_size=1, max_size=3000), max_body=st.integers(1, 4096),
       channel=st.integers(1, 2047), timestamp=st.integers(0, 253_402_300_799))
def test_any_message_is_encoded_as_pamqp_encodes_it(**message: object):
    ours, theirs = both(**message)
    assert ours == theirs


def test_a_short_string_over_255_bytes_is_refused_with_its_start():
    assert shortstr("é" * 127) == bytes([254]) + ("é" * 127).encode()
    with pytest.raises(ValueError, match="longer than 255 bytes"):
        shortstr("é" * 128)


def test_a_large_body_comes_in_chunks_that_end_on_frame_boundaries():
    """A multi-megabyte message is handed to the writer a chunk at a time (a turn of the
    loop between two); together the chunks are the frames pamqp writes."""
    max_body, chunk_size = FRAME_MAX - FRAME_OVERHEAD, 256 * 1024
    small = {"exchange": "e", "routing_key": "k", "message_id": "small", "timestamp": 0,
             "message_type": "t", "body": b"{}"}
    large = {**small, "message_id": "large", "body": bytes(range(256)) * 8192}  # 2 MiB
    messages = [small, large, small]
    chunks = list(frame_chunks(3, max_body, chunk_size, [
        (publish_head(3, body_size=len(m["body"]), **{k: v for k, v in m.items()
                                                     if k != "body"}), m["body"])
        for m in messages]))
    assert b"".join(chunks) == b"".join(pamqp_frames(3, max_body, **m) for m in messages)
    # 2 MiB is 17 body frames of at most 131,064 bytes: two to a chunk, and a ninth chunk
    # with the last frame and the small message after it.
    assert len(chunks) == 9
    for chunk in chunks:
        assert len(chunk) < chunk_size + max_body + FRAME_OVERHEAD + 200
        frame_type, channel, size = chunk[0], int.from_bytes(chunk[1:3]), \
            int.from_bytes(chunk[3:7])
        assert frame_type in (1, 3) and channel == 3  # each starts with a whole frame
        assert size <= max_body


def test_a_batch_of_small_messages_is_one_chunk():
    head = publish_head(1, exchange="e", routing_key="k", body_size=1800, message_id="m",
                        timestamp=0, message_type="t")
    chunks = list(frame_chunks(1, FRAME_MAX - FRAME_OVERHEAD, 256 * 1024,
                               [(head, b"x" * 1800)] * 64))
    assert len(chunks) == 1 and chunks[0].count(b"\xce") >= 3 * 64
