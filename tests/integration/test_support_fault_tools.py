"""The fault-injection tools themselves, against real RabbitMQ and aio-pika.

* RabbitNode: a private node that can be killed (-9), restarted and have its
  app stopped/started, without touching the shared broker.
* StallProxy: a TCP proxy that silently stops forwarding (stalled network).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from pamqp.commands import Basic

from tests.support.rabbit_node import RabbitNode, port_open, rabbitmq_available
from tests.support.stall_proxy import StallProxy

SHARED_HOST = os.environ.get("AMQP_HOST", "127.0.0.1")
SHARED_PORT = int(os.environ.get("AMQP_PORT", "5672"))

requires_server = pytest.mark.skipif(
    not rabbitmq_available(),
    reason="RabbitMQ server binaries not installed (/usr/lib/rabbitmq/bin/rabbitmq-server); "
    "run `scripts/ensure-rabbitmq --with-server`",
)


@pytest.fixture(scope="module")
def rabbit_node(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> RabbitNode:
    if not rabbitmq_available():
        pytest.skip("RabbitMQ server binaries not installed")
    node = RabbitNode(tmp_path_factory.mktemp("rabbit-node"))
    request.addfinalizer(node.stop)  # registered before start: a failed start is cleaned too
    node.start()
    return node


@pytest.fixture
async def shared_proxy() -> AsyncIterator[StallProxy]:
    if not port_open(SHARED_PORT, SHARED_HOST):
        pytest.skip(f"no RabbitMQ broker on {SHARED_HOST}:{SHARED_PORT} (scripts/ensure-rabbitmq)")
    proxy = StallProxy(SHARED_HOST, SHARED_PORT)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


def _persistent(body: bytes) -> aio_pika.Message:
    return aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)


# -- private node ------------------------------------------------------------------------


@pytest.mark.private_broker
@requires_server
async def test_persistent_message_survives_kill_and_restart(rabbit_node: RabbitNode) -> None:
    node = rabbit_node
    queue_name = f"fault-kill-{uuid.uuid4().hex[:8]}"
    robust = await aio_pika.connect_robust(node.url + "?reconnect_interval=0.5")
    reconnected = asyncio.Event()
    robust.reconnect_callbacks.add(lambda *_: reconnected.set())
    try:
        channel = await robust.channel(publisher_confirms=True)
        await channel.declare_queue(queue_name, durable=True)
        confirmation = await channel.default_exchange.publish(
            _persistent(b"survivor"), routing_key=queue_name, timeout=10
        )
        assert isinstance(confirmation, Basic.Ack)
        # The queue was declared milliseconds ago: without this, mnesia's delayed
        # write can lose the declaration (and so the message) with the kill -9.
        await asyncio.to_thread(node.flush_metadata)

        await asyncio.to_thread(node.kill)
        assert not port_open(node.port), "AMQP port still open after kill -9"
        assert not node.running

        await asyncio.to_thread(node.start)
        await asyncio.wait_for(reconnected.wait(), 30)
    finally:
        await robust.close()

    async with await aio_pika.connect(node.url) as fresh:
        channel = await fresh.channel()
        queue = await channel.declare_queue(queue_name, passive=True)
        message = await queue.get(no_ack=True, fail=False, timeout=10)
        assert message is not None, "persistent message lost across kill -9"
        assert message.body == b"survivor"
        await queue.delete()


@pytest.mark.private_broker
@requires_server
async def test_stop_app_start_app_robust_connection_reconnects(rabbit_node: RabbitNode) -> None:
    node = rabbit_node
    queue_name = f"fault-app-{uuid.uuid4().hex[:8]}"
    robust = await aio_pika.connect_robust(node.url + "?reconnect_interval=0.5")
    lost = asyncio.Event()
    reconnected = asyncio.Event()
    robust.close_callbacks.add(lambda *_: lost.set())
    robust.reconnect_callbacks.add(lambda *_: reconnected.set())
    try:
        channel = await robust.channel(publisher_confirms=True)
        queue = await channel.declare_queue(queue_name, durable=True)

        await asyncio.to_thread(node.stop_app)
        await asyncio.wait_for(lost.wait(), 10)
        assert not port_open(node.port)
        assert node.running  # the Erlang VM stays up; only the app stopped

        await asyncio.to_thread(node.start_app)
        await asyncio.wait_for(reconnected.wait(), 30)

        confirmation = await channel.default_exchange.publish(
            _persistent(b"after outage"), routing_key=queue_name, timeout=10
        )
        assert isinstance(confirmation, Basic.Ack)
        message = await queue.get(no_ack=True, fail=False, timeout=10)
        assert message is not None
        assert message.body == b"after outage"
        await queue.delete()
    finally:
        await robust.close()


# -- stall proxy in front of the shared broker ----------------------------------------------


@pytest.mark.broker
async def test_stall_is_detected_by_heartbeat(shared_proxy: StallProxy) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{shared_proxy.port}/?heartbeat=2"
    connection = await aio_pika.connect(url)
    loop = asyncio.get_running_loop()
    closed: asyncio.Future[float] = loop.create_future()
    connection.close_callbacks.add(lambda *_: closed.done() or closed.set_result(loop.time()))
    try:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await channel.default_exchange.publish(
            aio_pika.Message(b"before"), routing_key=queue.name, timeout=5
        )
        assert shared_proxy.connections == 1

        stalled_at = loop.time()
        shared_proxy.stall()
        # Nothing gets through, so a confirm cannot arrive.
        with pytest.raises((asyncio.TimeoutError, aio_pika.exceptions.AMQPError)):
            await channel.default_exchange.publish(
                aio_pika.Message(b"during"), routing_key=queue.name, timeout=1
            )
        # The sockets stay open: only the heartbeat check (grace 3 * (2 + 1) s) notices.
        assert shared_proxy.connections == 1
        noticed_at = await asyncio.wait_for(asyncio.shield(closed), 12)
        assert noticed_at - stalled_at < 12
    finally:
        shared_proxy.resume()
        await connection.close()

    # After resume the proxy forwards again for new connections.
    async with await aio_pika.connect(url) as again:
        channel = await again.channel(publisher_confirms=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await channel.default_exchange.publish(
            aio_pika.Message(b"after"), routing_key=queue.name, timeout=5
        )


@pytest.mark.broker
async def test_short_stall_holds_bytes_until_resume(shared_proxy: StallProxy) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{shared_proxy.port}/?heartbeat=2"
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        shared_proxy.stall()
        publish = asyncio.ensure_future(
            channel.default_exchange.publish(
                aio_pika.Message(b"held"), routing_key=queue.name, timeout=10
            )
        )
        await asyncio.sleep(1.0)
        assert not publish.done(), "bytes went through a stalled proxy"
        shared_proxy.resume()
        assert isinstance(await asyncio.wait_for(publish, 5), Basic.Ack)
        message = await queue.get(no_ack=True, timeout=5)
        assert message.body == b"held"
        assert not connection.is_closed


# -- stall proxy mechanics, with a local echo server -----------------------------------------


async def test_stall_proxy_many_connections() -> None:
    upstream_writers: list[asyncio.StreamWriter] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_writers.append(writer)
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=1024)
    echo_port = server.sockets[0].getsockname()[1]
    proxy = StallProxy("127.0.0.1", echo_port)
    count = 200
    try:
        port = await proxy.start()
        clients = await asyncio.gather(
            *(asyncio.open_connection("127.0.0.1", port) for _ in range(count))
        )

        async def roundtrip(i: int, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bytes:
            w.write(f"ping {i}\n".encode())
            await w.drain()
            return await r.readline()

        replies = await asyncio.gather(*(roundtrip(i, r, w) for i, (r, w) in enumerate(clients)))
        assert replies == [f"ping {i}\n".encode() for i in range(count)]
        assert proxy.connections == count

        proxy.stall()
        pending = [asyncio.ensure_future(roundtrip(i, r, w)) for i, (r, w) in enumerate(clients)]
        upstream_writers[0].close()  # a FIN from upstream must not get through either
        await asyncio.sleep(0.5)
        assert not any(task.done() for task in pending)
        assert proxy.connections == count

        proxy.resume()
        replies = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 10)
        assert sum(reply == f"ping {i}\n".encode() for i, reply in enumerate(replies)) >= count - 1

        started = time.monotonic()
        await proxy.close()
        assert time.monotonic() - started < 5
        for reader, writer in clients:
            with contextlib.suppress(ConnectionError):
                await asyncio.wait_for(reader.read(), 5)  # ends with EOF or RST, never hangs
            writer.close()
        assert proxy.connections == 0
    finally:
        await proxy.close()
        server.close()
        await server.wait_closed()
