"""The AMQP fast path leans on aiormq internals (tests/unit/test_aiormq_contract.py pins them
against the installed aiormq). Where one is missing, the transport says so once and
publishes through aiormq's public basic_publish: an upgrade may cost speed, never messages."""


import pytest

from mq_producer.outbox import OutboundMessage
from mq_producer.transports.amqp import transport as amqp_transport
from tests.integration.conftest import bound_queue, receive
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker


async def test_a_missing_internal_falls_back_to_basic_publish_with_one_warning(
        start_publisher, amqp, exchange_prefix: str, monkeypatch: pytest.MonkeyPatch,
        caplog):
    """As with an aiormq that no longer has ChannelFrame where the fast path imports it (the
    other internals are checked on each channel: test_aiormq_contract.py)."""
    monkeypatch.setattr(amqp_transport, "ChannelFrame", None)
    publisher = await start_publisher()
    assert publisher.transport.publish_path == "basic_publish"
    exchange = f"{exchange_prefix}.operational_events"
    queue = await bound_queue(amqp, exchange, "#")
    for number in range(50):
        publisher.submit(OutboundMessage(f"fallback-{number}", "kytos/topology.link_down",
                                         exchange, "operational.x", b'{"n":%d}' % number,
                                         f"link:{number % 5}", 1.0))
    await wait_until(lambda: publisher.counters.confirmed == 50, what="50 confirmed")
    received = await receive(queue, 50)
    for key in range(5):  # in order per key (the keys' lanes are independent)
        assert [m.message_id for m in received if int(m.message_id[9:]) % 5 == key] == [
            f"fallback-{n}" for n in range(key, 50, 5)]
    assert received[0].app_id == "kytos/mq_producer" and received[0].delivery_mode == 2
    assert received[0].content_type == "application/json"
    assert received[0].type == "kytos/topology.link_down"
    warnings = [r.getMessage() for r in caplog.records if "publish fast path" in r.getMessage()]
    assert len(warnings) == 1 and "basic_publish" in warnings[0]
    assert "aiormq.abc.ChannelFrame" in warnings[0]
