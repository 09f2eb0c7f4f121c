"""Demo: a simulated topology with flapping links, through both NApps, into RabbitMQ.

Kytos-ng core is not installable from PyPI, so the two NApps run here in the small stand-in
controller the tests use (tests/support/kytos_controller.py with tests/kytos_double); in a
real kytosd they run unchanged. The ``mq-consumer`` command runs as a separate process and
prints every event it receives: one process reads the firehose exchanges, a second one
reads one interdomain link's own status queue, as SDX-LC does.

The firehose gets every event. The link's queue keeps the link's present status: a status
its consumer has not read yet when the link changes again is replaced by the new one (the
consumer needs the present status, not the history), so the demo checks that the link
consumer ends with the link's last change, in order, rather than a count.

The broker may be the one a real deployment uses later: the demo publishes as domain
``demo.oxp`` with mq_producer's DOMAIN_SCOPE set to it, so every queue it declares is named
``demo.oxp.*``, and it deletes them at the end (with their messages: nothing of the demo is
left for a real consumer to read). The exchanges and the dead-letter queue are shared by
every domain: they are left as they are.
"""

import asyncio
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "kytos_double")]
os.environ.setdefault("KYTOS_MQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
DOMAIN = "demo.oxp"
os.environ["KYTOS_EVENTS_DOMAIN"] = DOMAIN  # listen_events' envelopes say it
os.environ["KYTOS_MQ_DOMAIN_SCOPE"] = DOMAIN  # mq_producer's queues are DOMAIN.*

import aio_pika  # noqa: E402
from kytos.core import KytosEvent  # noqa: E402  (the stand-in core, see above)

from listen_events.main import Main as ListenEvents  # noqa: E402
from mq_producer.main import Main as MqProducer  # noqa: E402
from mq_producer.transports.amqp.broker import (  # noqa: E402
    broker_from_env,
    connection_error_text,
)
from tests.support.kytos_controller import FakeController  # noqa: E402
from tests.support.topology import make_link, make_topology  # noqa: E402

FLAPS = 12
LINKS = 3


_LINK_LINE = re.compile(r"^(?P<time>\S+) .* link=\S+ (?P<status>UP|DOWN) .*#(?P<seq>\d+)\]$")


async def relay(tag: str, stream: asyncio.StreamReader, lines: list[str]) -> None:
    """Print a consumer's lines, tagged with which consumer it is; keep them in ``lines``."""
    while line := await stream.readline():
        lines.append(line.decode().rstrip())
        print(f"[{tag}] {lines[-1]}", flush=True)


async def start_consumer(tag: str, expected: int, lines: list[str],
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
            return consumer, asyncio.create_task(relay(tag, consumer.stdout, lines))


async def main() -> int:
    links = [make_link(index, interdomain=True) for index in range(1, LINKS + 1)]
    rng = random.Random(38)
    flaps = [rng.choice(links) for _ in range(FLAPS)]
    topology = make_topology(4, 4)
    # The firehose: topology_loaded, its 4 link snapshots, switch.enabled, the flaps.
    everything = await start_consumer("firehose", 1 + 4 + 1 + FLAPS, [],
                                      "--bind", "operational_events:#",
                                      "--bind", "admin_events:#")
    # What SDX-LC reads: one interdomain link's own status queue (its present status).
    watched = links[0]
    link_lines: list[str] = []
    one_link = await start_consumer(f"link {str(watched.id)[:12]} queue", 0, link_lines,
                                    "--domain", DOMAIN, "--link-queue", str(watched.id))
    controller = FakeController()
    listen = controller.load_napp(ListenEvents)
    producer = controller.load_napp(MqProducer)
    code = 0
    try:
        await controller.buffers.app.aput(KytosEvent("kytos/topology.topology_loaded", {
            "topology": topology, "failed_switches": {}, "failed_links": {}}))
        await controller.buffers.app.aput(KytosEvent("kytos/topology.switch.enabled",
                                                     {"dpid": "00:00:00:00:00:00:00:01"}))
        last_change = dt.datetime.min.replace(tzinfo=dt.UTC)
        for link in flaps:
            link.active = not link.active
            name = "kytos/topology.link_up" if link.active else "kytos/topology.link_down"
            event = KytosEvent(name, {"link": link, "reason": "link up" if link.active
                                      else "link down"})
            if link is watched:
                last_change = event.timestamp
            await controller.buffers.app.aput(event)
            await asyncio.sleep(0.05)
        await controller.settle()

        consumer, relaying = everything
        try:
            code |= await asyncio.wait_for(consumer.wait(), 30)
            await relaying
        except TimeoutError:
            consumer.kill()
            code = 1
            print("demo: the firehose consumer did not receive every event in 30 s",
                  file=sys.stderr)
        code |= await check_link_queue(one_link, link_lines, last_change,
                                       "UP" if watched.active else "DOWN", flaps.count(watched))
        print("\nlisten_events status:", json.dumps(json.loads(
            (await listen.status(None)).body)["counters"]))
        status = json.loads((await producer.status(None)).body)
        print("mq_producer status:  ", json.dumps({"connected": status["connected"],
                                                   "counters": status["counters"]}))
    finally:  # on an error too: the demo's queues go
        transport = producer.publisher.transport
        declared = list(transport.queues), list(transport.destinations)
        await controller.stop()
        await transport.close()
        code |= await delete_own(*declared)
    return code


async def delete_own(queues: list[str], exchanges: list[str]) -> int:
    """Delete the queues and exchanges mq_producer declared for the demo's domain (named
    DOMAIN.*), messages and all; say what is left (shared by every domain). 0 if done, else
    1 (said, with the names to delete by hand)."""
    prefix = f"{DOMAIN}."
    own_queues = sorted(name for name in queues if name.startswith(prefix))
    own_exchanges = sorted(name for name in exchanges if name.startswith(prefix))
    shared = sorted({name for name in (*queues, *exchanges) if not name.startswith(prefix)})
    broker = broker_from_env(os.environ)  # as mq_producer connects: TLS and all
    try:
        connection = await aio_pika.connect(broker.url, ssl_context=broker.ssl_context(),
                                            timeout=10)
        async with connection:
            channel = await connection.channel()
            for name in own_queues:
                await channel.queue_delete(name)
            for name in own_exchanges:
                await channel.exchange_delete(name)
    except (aio_pika.exceptions.AMQPError, OSError, TimeoutError) as exc:
        print(f"demo: could not delete its queues and exchanges on {broker.display} "
              f"({connection_error_text(broker, exc)}); delete them by hand: "
              f"{', '.join(own_queues + own_exchanges)}", file=sys.stderr)
        return 1
    print(f"demo: deleted its {len(own_queues)} queues and {len(own_exchanges)} exchange(s) "
          f"({prefix}*); left as they are, shared by every domain: {', '.join(shared)}")
    return 0


async def check_link_queue(consumer: tuple[asyncio.subprocess.Process, asyncio.Task],
                           lines: list[str], last_change: dt.datetime, status: str,
                           changes: int) -> int:
    """The link consumer read the link's last change (its present status), and what it read
    came in order; then it is stopped. 0 if so, else 1."""
    process, relaying = consumer
    last = last_change.isoformat(timespec="milliseconds")
    read: list[re.Match[str]] = []
    for _ in range(300):  # 30 s
        read = [match for match in map(_LINK_LINE.match, lines) if match]
        if any(match["time"] >= last for match in read):
            break
        await asyncio.sleep(0.1)
    process.terminate()
    await process.wait()
    await relaying
    sequences = [int(match["seq"]) for match in read]
    if not read or read[-1]["time"] != last or read[-1]["status"] != status:
        print(f"demo: the link consumer did not read the link's last change ({status} at "
              f"{last}) in 30 s", file=sys.stderr)
        return 1
    if sequences != sorted(sequences):
        print(f"demo: the link consumer read its statuses out of order: {sequences}",
              file=sys.stderr)
        return 1
    print(f"\ndemo: the link queue gave {len(read)} of the link's {changes} changes, in order, "
          f"the last one its present status ({status}); a change not read yet when the next "
          "one came was replaced by it")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
