"""The AMQP transport's own frame encoder writes the bytes aiormq's basic_publish writes, for
any negotiated frame_max: 0 (the spec's "no limit") and small ones included.

The reference is aiormq's own public path - ``Channel.basic_publish`` on a channel of a
connection that negotiated ``frame_max`` - not a copy of its splitting: a copy of the
splitting is how frame_max 0 slipped through (our frames carried no body at all, where
aiormq sends the body as one frame). The connection under that channel is a stand-in holding
what ``aiormq.Channel`` reads (the negotiated Connection.Tune and the writer's queue): the
encoding involves no broker, and what basic_publish queues is what aiormq's writer sends.
tests/integration/test_broker_settings.py publishes to brokers with these frame_max values.
"""

import asyncio
import datetime as dt
import types

import aiormq
import pytest
from aiormq.base import FutureStore
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp import commands as spec
from pamqp.commands import Basic

from mq_producer.transports.amqp.frames import (
    FRAME_OVERHEAD,
    FRAME_PAYLOAD_LIMIT,
    body_frame_limit,
    frame_chunks,
    publish_head,
    shortstr,
)

FRAME_MAX = 131072  # RabbitMQ's default
MIB = 1 << 20


async def aiormq_frames(frame_max: int, channel: int, *, exchange: str, routing_key: str,
                        body: bytes, message_id: str, timestamp: int,
                        message_type: str) -> bytes:
    """What aiormq's basic_publish queues for its writer for the same message (mandatory,
    persistent), on channel ``channel`` of a connection that negotiated ``frame_max``."""
    loop = asyncio.get_running_loop()
    futures = FutureStore(loop)
    connection = types.SimpleNamespace(
        loop=loop, publisher_confirms=False, is_opened=False, write_queue=asyncio.Queue(),
        connection_tune=spec.Connection.Tune(frame_max=frame_max),
        _future_store_child=futures.get_child)
    aiormq_channel = aiormq.Channel(connection, channel, publisher_confirms=False)
    properties = Basic.Properties(
        content_type="application/json", delivery_mode=2, message_id=message_id,
        timestamp=dt.datetime.fromtimestamp(timestamp, dt.UTC), message_type=message_type,
        app_id="kytos/mq_producer")
    try:
        await aiormq_channel.basic_publish(body, exchange=exchange, routing_key=routing_key,
                                           properties=properties, mandatory=True, wait=False)
        written = []
        while not connection.write_queue.empty():
            written.append(connection.write_queue.get_nowait().payload)
        return b"".join(written)
    finally:
        await aiormq_channel.close()
        await futures.reject_all(None)


def theirs(frame_max: int, channel: int, **message: object) -> bytes:
    return asyncio.run(aiormq_frames(frame_max, channel, **message))  # type: ignore[arg-type]


def ours(frame_max: int, channel: int, *, body: bytes, **properties: object) -> bytes:
    head = publish_head(channel, body_size=len(body), **properties)  # type: ignore[arg-type]
    return b"".join(frame_chunks(channel, body_frame_limit(frame_max), 256 * 1024,
                                 [(head, body)]))


def both(frame_max: int, channel: int, **message: object) -> tuple[bytes, bytes]:
    return ours(frame_max, channel, **message), theirs(frame_max, channel, **message)  # type: ignore[arg-type]


def body_frame_sizes(data: bytes | bytearray) -> list[int]:
    """The payload size of each body frame in ``data`` (whole frames, any channel)."""
    sizes, position = [], 0
    while position < len(data):
        kind, size = data[position], int.from_bytes(data[position + 3:position + 7])
        assert data[position + 7 + size] == 0xCE, "a frame end where the size says"
        if kind == 3:
            sizes.append(size)
        position += 7 + size + 1
    return sizes


def message(body: bytes, **overrides: object) -> dict[str, object]:
    return {"exchange": "operational_events", "routing_key": "operational.x.link_down",
            "body": body, "message_id": "kytos-1", "timestamp": 1_764_000_000,
            "message_type": "kytos/topology.link_down", **overrides}


def test_a_typical_envelope_is_byte_for_byte_what_aiormq_writes():
    mine, reference = both(FRAME_MAX, 1, **message(b'{"message_id":"kytos-1"}' * 70))
    assert mine == reference


def test_a_body_larger_than_a_frame_is_cut_like_aiormq_cuts_it():
    body = bytes(range(256)) * 1000  # 256,000 bytes: a full body frame and a rest
    mine, reference = both(FRAME_MAX, 7, **message(body))
    assert mine == reference
    assert body_frame_sizes(mine) == [131064, 256000 - 131064]


@pytest.mark.parametrize("frame_max", [0, 4096, 4097, 8192, FRAME_MAX])
@pytest.mark.parametrize("size", [0, 1, 4087, 4088, 4089, 8176, 8177, 131064, 131065, MIB])
def test_body_frames_follow_the_negotiated_frame_max_as_aiormq_sends_them(frame_max, size):
    """0, 1, a frame's payload less one, exactly one, one more, two, ... and 1 MiB under
    "no limit", RabbitMQ's smallest frame_max, odd ones and its default."""
    body = bytes(range(256)) * (size // 256) + bytes(size % 256)
    mine, reference = both(frame_max, 5, **message(body))
    assert body_frame_sizes(mine) == body_frame_sizes(reference)
    assert mine == reference
    limit = frame_max - FRAME_OVERHEAD if frame_max else size
    expected = [limit] * (size // limit) + ([size % limit] if size % limit else []) \
        if size else []
    assert body_frame_sizes(mine) == expected


def test_frame_max_0_sends_each_body_as_one_frame():
    """The defect: aiormq's max_content_size is frame_max - 8 = -8 there, and frames cut by
    it carried no body at all (the broker closed the connection: 505 UNEXPECTED_FRAME)."""
    assert body_frame_limit(0) == FRAME_PAYLOAD_LIMIT == 2**32 - 1
    assert body_frame_sizes(ours(0, 1, **message(b"x" * MIB))) == [MIB]
    assert body_frame_sizes(ours(0, 1, **message(b"x"))) == [1]
    assert body_frame_sizes(ours(0, 1, **message(b""))) == []


def test_a_body_frame_limit_below_one_byte_is_refused_before_anything_is_framed():
    with pytest.raises(ValueError, match="no room"):
        body_frame_limit(FRAME_OVERHEAD)
    assert body_frame_limit(FRAME_OVERHEAD + 1) == 1
    for max_body in (0, -8):  # -8: aiormq's max_content_size under frame_max 0
        with pytest.raises(ValueError, match="at least one byte"):
            frame_chunks(1, max_body, 256 * 1024, [])  # at the call, not at the first chunk


# Exchange names as the settings allow them; message id and type are never empty (envelopes.py).
@settings(max_examples=200, deadline=None)
@given(exchange=st.from_regex(r"[A-Za-z0-9_.:-]{0,60}", fullmatch=True),
       routing_key=st.text(max_size=60), message_id=st.text(min_size=1, max_size=60),
       message_type=st.text(min_size=1, max_size=60), body=st.binary(max_size=3000),
       frame_max=st.one_of(st.just(0), st.integers(FRAME_OVERHEAD + 1, 4200),
                           st.sampled_from([4096, FRAME_MAX])),
       channel=st.integers(1, 2047), timestamp=st.integers(0, 253_402_300_799))
def test_any_message_is_encoded_as_aiormq_encodes_it(frame_max, channel, **fields):
    mine, reference = both(frame_max, channel, **fields)
    assert mine == reference


def test_a_short_string_over_255_bytes_is_refused_with_its_start():
    assert shortstr("é" * 127) == bytes([254]) + ("é" * 127).encode()
    with pytest.raises(ValueError, match="longer than 255 bytes"):
        shortstr("é" * 128)


def heads_and_bodies(channel: int, messages: list[dict]) -> list[tuple[bytes, bytes]]:
    return [(publish_head(channel, body_size=len(m["body"]),
                          **{k: v for k, v in m.items() if k != "body"}), m["body"])
            for m in messages]


def test_a_large_body_comes_in_chunks_that_end_on_frame_boundaries():
    """A multi-megabyte message is handed to the writer a chunk at a time (a turn of the
    loop between two); together the chunks are the frames aiormq writes."""
    max_body, chunk_size = body_frame_limit(FRAME_MAX), 256 * 1024
    small = message(b"{}", message_id="small")
    large = message(bytes(range(256)) * 8192, message_id="large")  # 2 MiB
    messages = [small, large, small]
    chunks = list(frame_chunks(3, max_body, chunk_size, heads_and_bodies(3, messages)))
    assert b"".join(chunks) == b"".join(theirs(FRAME_MAX, 3, **m) for m in messages)
    # 2 MiB is 17 body frames of at most 131,064 bytes: two to a chunk, and a ninth chunk
    # with the last frame and the small message after it.
    assert len(chunks) == 9
    for chunk in chunks:
        assert len(chunk) < chunk_size + max_body + FRAME_OVERHEAD + 200
        frame_type, channel, size = chunk[0], int.from_bytes(chunk[1:3]), \
            int.from_bytes(chunk[3:7])
        assert frame_type in (1, 3) and channel == 3  # each starts with a whole frame
        assert size <= max_body


def test_under_frame_max_0_a_large_body_is_one_frame_in_one_chunk():
    """A frame cannot be split between two writes (another channel's frame could come in
    between): under "no limit" a 2 MiB body is one frame, in one chunk of its own."""
    small = message(b"{}", message_id="small")
    large = message(bytes(range(256)) * 8192, message_id="large")
    messages = [small, large, small]
    chunks = list(frame_chunks(3, body_frame_limit(0), 256 * 1024,
                               heads_and_bodies(3, messages)))
    assert b"".join(chunks) == b"".join(theirs(0, 3, **m) for m in messages)
    assert [body_frame_sizes(chunk) for chunk in chunks] == [[2, 2 * MIB], [2]]


def test_a_batch_of_small_messages_is_one_chunk():
    head = publish_head(1, exchange="e", routing_key="k", body_size=1800, message_id="m",
                        timestamp=0, message_type="t")
    chunks = list(frame_chunks(1, body_frame_limit(FRAME_MAX), 256 * 1024,
                               [(head, b"x" * 1800)] * 64))
    assert len(chunks) == 1 and chunks[0].count(b"\xce") >= 3 * 64
