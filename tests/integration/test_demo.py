"""The README's first command, ``scripts/demo``, runs demo/flapping_links.py (after
scripts/setup): it works, and it leaves nothing of its own on the broker, which may be the one
a real deployment uses then. Run against a private RabbitMQ node, whose queues and exchanges
the test lists before and after."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest

from tests.support.rabbit_node import RabbitNode, private_node, rabbitmq_available

pytestmark = [pytest.mark.broker,
              pytest.mark.skipif(not rabbitmq_available(), reason="RabbitMQ not installed")]

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT_QUEUE = "verbose"  # VERBOSE_QUEUE's default name, as a real deployment has it
DEPLOYMENT_MESSAGE = b"a real deployment's event, not read yet"


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    yield from private_node(tmp_path_factory.mktemp("rabbit-demo"))


def _listed(rabbit: RabbitNode, kind: str, *columns: str) -> list[list[str]]:
    """rabbitmqctl's list_<kind> rows (header left out), default exchange and amq.* too."""
    out = rabbit.rabbitmqctl(f"list_{kind}", "--silent", "--no-table-headers", *columns)
    return [line.split("\t") for line in out.splitlines() if line.strip()]


async def _deployment_queue(url: str) -> None:
    """A queue of a real deployment's, with a message waiting in it, before the demo runs."""
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        await channel.declare_queue(DEPLOYMENT_QUEUE, durable=True)
        await channel.default_exchange.publish(aio_pika.Message(DEPLOYMENT_MESSAGE),
                                               routing_key=DEPLOYMENT_QUEUE)


async def _waiting(url: str, queue: str) -> list[bytes]:
    """The bodies waiting in ``queue``, taken without acknowledging (they go back)."""
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        bodies = []
        while (message := await declared.get(no_ack=False, fail=False)) is not None:
            bodies.append(message.body)
        return bodies


def test_the_demo_works_and_leaves_the_broker_as_it_found_it(rabbit: RabbitNode) -> None:
    asyncio.run(_deployment_queue(rabbit.url))
    exchanges_before = {row[0] for row in _listed(rabbit, "exchanges", "name")}

    demo = subprocess.run([sys.executable, str(ROOT / "demo" / "flapping_links.py")],
                          env={**os.environ, "KYTOS_MQ_URL": rabbit.url}, cwd=ROOT,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)

    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "demo: the link queue gave" in demo.stdout
    assert "[firehose]" in demo.stdout and "kytos/topology.link_down" in demo.stdout
    assert "demo: deleted its" in demo.stdout
    # Its queues were named demo.oxp.*, and deleted with their messages; what is left is the
    # deployment's queue, untouched, and the dead-letter queue every domain shares, empty.
    queues = {row[0]: int(row[1]) for row in _listed(rabbit, "queues", "name", "messages")}
    assert queues == {DEPLOYMENT_QUEUE: 1, "kytos_events.dead": 0}
    assert asyncio.run(_waiting(rabbit.url, DEPLOYMENT_QUEUE)) == [DEPLOYMENT_MESSAGE]
    # The exchanges it added are those every domain publishes to (mq_producer's defaults).
    added = {row[0] for row in _listed(rabbit, "exchanges", "name")} - exchanges_before
    assert added == {"admin_events", "operational_events", "other_events", "interdomain_links",
                     "kytos_events.dead"}
