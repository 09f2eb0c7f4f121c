"""A message body costs about its size in memory. orjson 3.12+ hands its output back in the
buffer it grew while writing (several times the output); a body is kept from the hand-off
until the broker confirms it, so both NApps keep a copy of the exact size. The control pins
the library's behaviour that makes the copy worth it: should orjson shrink its output one
day, the control fails and the copy can go."""

import datetime as dt
import tracemalloc
from collections.abc import Callable

import orjson
import pytest

from listen_events.envelope import EnvelopeBuilder, hand_off_form
from mq_producer.envelopes import stamped

KEPT = 1000


def _envelope() -> dict:
    """A link event's envelope of about 2 KB, as listen_events builds them."""
    ends = [{"id": f"00:00:00:00:00:00:00:0{n}:{n}", "name": f"eth{n}", "port_number": n,
             "mac": f"be:ef:00:00:00:0{n}", "switch": f"00:00:00:00:00:00:00:0{n}",
             "enabled": True, "active": True, "speed": 1.25e9, "metadata": {"x": "y" * 300}}
            for n in (1, 2)]
    return EnvelopeBuilder("ctl", "oxp").build(
        event_name="kytos/topology.link_down", event_class="operational", event_id="e1",
        event_timestamp=dt.datetime.now(dt.UTC),
        content={"link": {"id": "a1" * 32, "endpoint_a": ends[0], "endpoint_b": ends[1],
                          "enabled": True, "active": False, "metadata": {}},
                 "reason": "link down"})


def _memory_per_body(encode: Callable[[], bytes]) -> tuple[float, int]:
    """Bytes of memory each of KEPT bodies holds, and a body's size."""
    encode()  # anything made once (interned names, caches) is not counted
    tracemalloc.start()
    try:
        bodies = [encode() for _ in range(KEPT)]
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return held / KEPT, len(bodies[0])


@pytest.mark.parametrize("napp", ["listen_events", "mq_producer"])
def test_a_kept_body_costs_about_its_size(napp):
    envelope = _envelope()
    encode = (lambda: hand_off_form(envelope)) if napp == "listen_events" \
        else (lambda: stamped(envelope, 1_764_000_000))
    held, size = _memory_per_body(encode)
    assert size > 1000 and held < 1.25 * size, (held, size)


def test_control_orjson_output_holds_several_times_its_size():
    envelope = _envelope()
    held, size = _memory_per_body(lambda: orjson.dumps(envelope))
    assert held > 2 * size, (held, size)
