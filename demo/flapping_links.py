"""Demo: a simulated topology with flapping links, through both NApps, into RabbitMQ.

Kytos-ng core is not installable from PyPI, so the two NApps run here in the small stand-in
controller the tests use (tests/support/kytos_controller.py with tests/kytos_double); in a
real kytosd they run unchanged. The ``mq-consumer`` command runs as a separate process and
prints every event it receives: one process reads the firehose exchanges, a second one
reads one interdomain link's own status queue, as SDX-LC does.
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


async def relay(tag: str, stream: asyncio.StreamReader) -> None:
    """Print a consumer's lines, tagged with which consumer it is."""
    while line := await stream.readline():
        print(f"[{tag}] {line.decode().rstrip()}", flush=True)


async def start_consumer(tag: str, expected: int,
                         *options: str) -> tuple[asyncio.subprocess.Process, asyncio.Task]:
    consumer = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mq_consumer.cli", "--count", str(expected), *options,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert consumer.stderr is not None and consumer.stdout is not None
    while True:  # wait until its queue is bound, or nothing published would reach it
        line = (await asyncio.wait_for(consumer.stderr.readline(), 30)).decode()
        if not line:
            raise SystemExit("mq-consumer exited before consuming")
        sys.stderr.write(line)
        if "consuming queue" in line:
            return consumer, asyncio.create_task(relay(tag, consumer.stdout))


async def main() -> int:
    links = [make_link(index, interdomain=True) for index in range(1, LINKS + 1)]
    rng = random.Random(38)
    flaps = [rng.choice(links) for _ in range(FLAPS)]
    topology = make_topology(4, 4)
    # The firehose: topology_loaded, its 4 link snapshots, switch.enabled, the flaps.
    everything = await start_consumer("firehose", 1 + 4 + 1 + FLAPS,
                                      "--bind", "operational_events:#",
                                      "--bind", "admin_events:#")
    # What SDX-LC reads: one interdomain link's own status queue (every change, in order).
    watched = links[0]
    one_link = await start_consumer(f"link {str(watched.id)[:12]} queue", flaps.count(watched),
                                    "--link-queue", str(watched.id))
    controller = FakeController()
    listen = controller.load_napp(ListenEvents)
    producer = controller.load_napp(MqProducer)

    await controller.buffers.app.aput(KytosEvent("kytos/topology.topology_loaded", {
        "topology": topology, "failed_switches": {}, "failed_links": {}}))
    await controller.buffers.app.aput(KytosEvent("kytos/topology.switch.enabled",
                                                 {"dpid": "00:00:00:00:00:00:00:01"}))
    for link in flaps:
        link.active = not link.active
        name = "kytos/topology.link_up" if link.active else "kytos/topology.link_down"
        await controller.buffers.app.aput(KytosEvent(name, {
            "link": link, "reason": "link up" if link.active else "link down"}))
        await asyncio.sleep(0.05)
    await controller.settle()

    code = 0
    for name, (consumer, relaying) in (("firehose", everything),
                                       (f"link {watched.id}", one_link)):
        try:
            code |= await asyncio.wait_for(consumer.wait(), 30)
            await relaying
        except TimeoutError:
            consumer.kill()
            code = 1
            print(f"demo: the {name} consumer did not receive every event in 30 s",
                  file=sys.stderr)
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
