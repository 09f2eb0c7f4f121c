"""Demo: a simulated topology with flapping links, through both NApps, into RabbitMQ.

Kytos-ng core is not installable from PyPI, so the two NApps run here in the small stand-in
controller the tests use (tests/support/kytos_controller.py with tests/kytos_double); in a
real kytosd they run unchanged. The ``mq-consumer`` command runs as a separate process and
prints every event it receives.
"""

import asyncio
import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "kytos_double")]
os.environ.setdefault("KYTOS_MQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
os.environ.setdefault("KYTOS_EVENTS_DOMAIN", "demo.oxp")

from kytos.core import KytosEvent  # noqa: E402  (the stand-in core, see above)

from listen_events.main import Main as ListenEvents  # noqa: E402
from mq_producer.main import Main as MqProducer  # noqa: E402
from tests.support.kytos_controller import FakeController  # noqa: E402
from tests.support.topology import make_link, make_topology  # noqa: E402

FLAPS = 12
LINKS = 3


async def start_consumer(expected: int) -> asyncio.subprocess.Process:
    consumer = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mq_consumer.cli", "--count", str(expected),
        "--bind", "operational_events:#", "--bind", "admin_events:#",
        stderr=subprocess.PIPE, cwd=ROOT)
    assert consumer.stderr is not None
    while True:  # wait until its queue is bound, or nothing published would reach it
        line = (await asyncio.wait_for(consumer.stderr.readline(), 30)).decode()
        if not line:
            raise SystemExit("mq-consumer exited before consuming")
        sys.stderr.write(line)
        if "consuming queue" in line:
            return consumer


async def main() -> int:
    expected = 1 + 1 + FLAPS  # topology_loaded, switch.enabled, the flaps
    consumer = await start_consumer(expected)
    controller = FakeController()
    listen = controller.load_napp(ListenEvents)
    producer = controller.load_napp(MqProducer)

    links = [make_link(index, interdomain=True) for index in range(1, LINKS + 1)]
    await controller.buffers.app.aput(KytosEvent("kytos/topology.topology_loaded", {
        "topology": make_topology(4, 4), "failed_switches": {}, "failed_links": {}}))
    await controller.buffers.app.aput(KytosEvent("kytos/topology.switch.enabled",
                                                 {"dpid": "00:00:00:00:00:00:00:01"}))
    rng = random.Random(38)
    for _ in range(FLAPS):
        link = rng.choice(links)
        link.active = not link.active
        name = "kytos/topology.link_up" if link.active else "kytos/topology.link_down"
        await controller.buffers.app.aput(KytosEvent(name, {
            "link": link, "reason": "link up" if link.active else "link down"}))
        await asyncio.sleep(0.05)
    await controller.settle()

    try:
        code = await asyncio.wait_for(consumer.wait(), 30)
    except TimeoutError:
        consumer.kill()
        code = 1
        print("demo: the consumer did not receive every event in 30 s", file=sys.stderr)
    print("\nlisten_events status:", json.dumps(json.loads(
        (await listen.status(None)).body)["counters"]))
    status = json.loads((await producer.status(None)).body)
    print("mq_producer status:  ", json.dumps({"connected": status["connected"],
                                               "counters": status["counters"]}))
    await controller.stop()
    await producer.publisher.transport.close()
    return code


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
