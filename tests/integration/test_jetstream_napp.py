"""Kytos events through both NApps with TRANSPORT jetstream, into a private nats-server, read
back with nats-py: main.py's choice of transport, the subjects and headers, the status
route."""

import json
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from kytos.core import KytosEvent

from listen_events.envelope import Envelope
from listen_events.main import Main as ListenEvents
from mq_producer.main import Main as MqProducer
from mq_producer.transports.jetstream.subjects import destination
from mq_producer.transports.jetstream.transport import JetStreamTransport
from tests.support.kytos_controller import FakeController
from tests.support.nats_node import NatsNode, nats_available
from tests.support.topology import make_link
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.private_broker,
    pytest.mark.skipif(not nats_available(), reason="nats-server not installed "
                       "(scripts/ensure-nats installs it)"),
]

PASSWORD = "n4ts-pw"


@pytest.fixture(scope="module")
def nats_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsNode]:
    node = NatsNode(Path(tmp_path_factory.mktemp("napp-nats")), user="kytos",
                    password=PASSWORD)
    node.start()
    yield node
    node.stop()


async def read_stream(url: str, exchange: str, count: int) -> list[nats.aio.msg.Msg]:
    dest = destination(exchange)
    nc = await nats.connect(url)
    try:
        pull = await nc.jetstream().pull_subscribe(dest.filter, stream=dest.stream)
        messages = await pull.fetch(count, timeout=5)
        for message in messages:
            await message.ack()
        return messages
    finally:
        await nc.close()


@pytest.mark.usefixtures("producer_settings")
async def test_both_napps_publish_to_jetstream(nats_node: NatsNode, exchange_prefix: str,
                                               monkeypatch: pytest.MonkeyPatch, caplog):
    monkeypatch.setenv("KYTOS_MQ_TRANSPORT", "jetstream")
    monkeypatch.setenv("KYTOS_NATS_URL", nats_node.url)
    controller = FakeController()
    producer = None
    try:
        controller.load_napp(ListenEvents)
        producer = controller.load_napp(MqProducer)
        assert isinstance(producer.publisher.transport, JetStreamTransport)
        await wait_until(lambda: producer.publisher.transport.connected, what="connected")
        link = make_link(4, interdomain=True)
        await controller.buffers.app.aput(
            KytosEvent("kytos/topology.link_down", {"link": link, "reason": "link down"}))
        await controller.buffers.app.aput(
            KytosEvent("kytos/topology.switch.enabled", {"dpid": "00:00:00:00:00:00:00:04"}))
        await controller.settle()
        await wait_until(lambda: producer.publisher.counters.confirmed == 3, what="3 confirms")

        [down] = await read_stream(nats_node.url, f"{exchange_prefix}.operational_events", 1)
        [enabled] = await read_stream(nats_node.url, f"{exchange_prefix}.admin_events", 1)
        [status] = await read_stream(nats_node.url, f"{exchange_prefix}.links", 1)
        assert down.subject == \
            f"{exchange_prefix}.operational_events.operational.kytos/topology.link_down"
        assert enabled.subject == (f"{exchange_prefix}.admin_events.administrative."
                                   "kytos/topology.switch.enabled")
        assert status.subject == f"{exchange_prefix}.links.{link.id}"
        for message in (down, enabled, status):
            envelope = Envelope.model_validate_json(message.data)
            assert message.headers["Content-Type"] == "application/json"
            assert message.headers["Kytos-Event"] == envelope.event_name
        assert down.headers["Nats-Msg-Id"] == json.loads(down.data)["message_id"]
        assert status.headers["Nats-Msg-Id"] == f"{json.loads(down.data)['message_id']}:status"

        response = await producer.status(None)
        answer = json.loads(response.body)
        assert answer["broker"] == f"nats://kytos:***@127.0.0.1:{nats_node.port}"
        assert answer["connected"] is True and answer["queues"] == {}
        assert set(answer["exchanges"]) == {f"{exchange_prefix}.{kind}" for kind in
                                            ("admin_events", "operational_events",
                                             "other_events", "links")}
        assert set(answer["exchanges"].values()) == {"ok"}
        assert answer["counters"]["returned"] == 0
        assert PASSWORD not in response.body.decode() and PASSWORD not in caplog.text
    finally:
        await controller.stop()
        if producer is not None and producer.publisher is not None:
            await producer.publisher.transport.close()
