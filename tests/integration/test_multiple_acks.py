"""Issue 21: in a burst the broker confirms many publishes with one multiple ack. aiormq's
reader schedules a loop callback per publish it confirms (Channel._on_confirm_frame); the fast
path settles them all in the step that reads the frame, through aiormq's own
_confirm_delivery (transport._settle_multiple_acks_at_once). Against a real broker: every
message confirmed either way, and no callback per message with it."""

import asyncio
from collections import Counter

import aiormq
import pytest

from mq_producer.outbox import OutboundMessage
from mq_producer.transports.amqp import transport as amqp_transport
from tests.integration.conftest import bound_queue
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker

COUNT = 3_000


@pytest.mark.parametrize("at_once", [True, False], ids=["at-once", "aiormq's-way"])
async def test_a_multiple_ack_settles_its_publishes_in_the_step_that_reads_it(
        at_once: bool, start_publisher, amqp, exchange_prefix: str,
        monkeypatch: pytest.MonkeyPatch):
    if not at_once:  # the control: aiormq's own way, which this test tells apart
        monkeypatch.setattr(amqp_transport, "_settle_multiple_acks_at_once", lambda _: None)
    frames: Counter[str] = Counter()
    confirm_delivery = aiormq.Channel._confirm_delivery

    def counted(channel, delivery_tag, frame):
        frames["multiple" if getattr(frame, "multiple", False) else "single"] += 1
        return confirm_delivery(channel, delivery_tag, frame)

    monkeypatch.setattr(aiormq.Channel, "_confirm_delivery", counted)
    loop = asyncio.get_running_loop()
    call_soon = loop.call_soon
    callbacks: Counter[str] = Counter()

    def counting_call_soon(callback, *args, **kwargs):
        callbacks[getattr(callback, "__name__", "")] += 1
        return call_soon(callback, *args, **kwargs)

    publisher = await start_publisher()
    assert publisher.transport.publish_path == "fast"
    exchange = f"{exchange_prefix}.operational_events"
    queue = await bound_queue(amqp, exchange, "#")
    monkeypatch.setattr(loop, "call_soon", counting_call_soon)
    for number in range(COUNT):
        publisher.submit(OutboundMessage(f"burst-{number}", "kytos/topology.link_down",
                                         exchange, "operational.x", b'{"n":%d}' % number,
                                         f"link:{number % 7}", 1.0))
    await wait_until(lambda: publisher.counters.confirmed == COUNT, timeout=60,
                     what="every message confirmed")
    monkeypatch.setattr(loop, "call_soon", call_soon)
    declared = await amqp.declare_queue(queue.name, passive=True)
    assert declared.declaration_result.message_count == COUNT
    print(f"\n{'at once' if at_once else 'aiormq'}: confirms {dict(frames)}, loop callbacks "
          f"for them {callbacks['counted']}")
    assert frames["multiple"] > 0  # the broker did confirm many at once: the case tested
    assert publisher.counters.failed == publisher.counters.refused == 0
    if at_once:
        assert callbacks["counted"] == 0
    else:
        assert callbacks["counted"] == frames["multiple"]
