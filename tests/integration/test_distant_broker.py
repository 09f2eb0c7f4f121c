"""A broker at another site (issue #14's fault matrix, case 5): a private RabbitMQ node
reached through a latency proxy adding 40 ms (+- 5 ms) each way, an 80 ms round trip as
between SDX sites. 200 interdomain links appear at once, their link events interleaved with
200 other events, through the HandOffIntake and the Publisher on the real AMQP transport.

The per-link status queues are declared in the background, pipelined on one declaration
channel (mq_producer/transports/amqp/declarations.py); the status messages wait in their own
lanes until their link's queue is there, while every other message flows; nothing of it
counts against PUBLISH_TIMEOUT. After a connection the broker closes, every queue is declared
again in the background, and a new status for an existing link reaches its queue.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator

import aio_pika
import pytest

from mq_producer import settings
from mq_producer.config import load_config
from mq_producer.intake import HandOffIntake
from mq_producer.outbox import OutboundMessage
from mq_producer.publisher import Publisher
from mq_producer.transports.base import PublishOutcome, TransportError
from mq_producer.transports.factory import make_transport
from tests.support.latency_proxy import LatencyProxy
from tests.support.rabbit_node import RabbitNode, private_node, rabbitmq_available
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.private_broker,
    pytest.mark.skipif(not rabbitmq_available(), reason="RabbitMQ server binaries not "
                       "installed (scripts/setup installs them)"),
]

HANDOFF = "kytos/listen_events.broadcast"
LINKS = 200
DELAY, JITTER = 0.040, 0.005  # each way
EVENTS, LINK_EXCHANGE, PREFIX = "far.events", "far.links", "far.link."
LIBRARIES = ("aio_pika", "aiormq")
ALL_EVENTS = "far.all"  # a queue bound to EVENTS with "#": every event message lands there
PRODUCER_LOG = "kytos.napps.kytos/mq_producer"


class DistantSettings:
    """mq_producer's default settings with one route, one queue of everything routed,
    interdomain link status on, and the default PUBLISH_TIMEOUT (10 s)."""

    def __init__(self) -> None:
        for name in dir(settings):
            if name.isupper():
                setattr(self, name, getattr(settings, name))
        self.ROUTES = [{"exchange": EVENTS, "routing_key": "{event_class}.{event_name}"}]
        self.QUEUES = [{"queue": ALL_EVENTS, "exchange": EVENTS, "binding": "#"}]
        # No copies on the links exchange: nobody is bound there, they would come back as
        # returned (test_sdx_status.py tests them).
        self.LINK_STATUS = {"enabled": True, "exchange": LINK_EXCHANGE, "queue_prefix": PREFIX,
                            "metadata": {"interdomain": True}, "link_ids": [],
                            "copy_routing_key": None}
        self.DEAD_LETTER = "far.dead"
        self.RETRY_INTERVAL = 0.5
        self.HEARTBEAT = 5


def link_id(number: int) -> str:
    return f"urn:sdx:link:far-{number:03d}"


def link_envelope(number: int, status: str, serial: int) -> dict[str, object]:
    return {"schema_version": 1, "message_id": f"link-{number}-{serial}", "msg_type": "event",
            "event_name": "kytos/topology.link_down" if status == "DOWN"
            else "kytos/topology.link_up", "event_class": "operational",
            "key": f"link:{link_id(number)}", "producer": None,
            "link": {"id": link_id(number), "status": status,
                     "metadata": {"interdomain": True}},
            "content": {"n": number}}


def other_envelope(number: int) -> dict[str, object]:
    return {"schema_version": 1, "message_id": f"other-{number}", "msg_type": "event",
            "event_name": "kytos/topology.switch.enabled", "event_class": "administrative",
            "key": f"switch:{number}", "producer": None, "link": None,
            "content": {"dpid": number}}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    yield from private_node(tmp_path_factory.mktemp("rabbit"))


@pytest.fixture
async def proxy(node: RabbitNode) -> AsyncIterator[LatencyProxy]:
    async with LatencyProxy("127.0.0.1", node.port, delay=DELAY, jitter=JITTER,
                            seed=14) as latency:
        yield latency


async def test_the_latency_proxy_delays_each_way_and_keeps_the_order():
    """The tool itself, on a loopback echo server: a round trip takes 80 ms (+- 2 x jitter
    and the loop's own delay), and 2,000 writes come back whole and in order."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with LatencyProxy("127.0.0.1", port, delay=DELAY, jitter=JITTER) as latency:
            reader, writer = await asyncio.open_connection("127.0.0.1", latency.port)
            trips = []
            for _ in range(10):
                sent = time.monotonic()
                writer.write(b"ping")
                await reader.readexactly(4)
                trips.append(time.monotonic() - sent)
            payload = b"".join(b"%06d" % number for number in range(2000))
            for start in range(0, len(payload), 6):
                writer.write(payload[start:start + 6])
                if start % 600 == 0:
                    await asyncio.sleep(0.001)  # many chunks, each with its own jitter
            assert await reader.readexactly(len(payload)) == payload
            writer.close()
        print(f"\nround trips through the proxy: {min(trips) * 1000:.1f} to "
              f"{max(trips) * 1000:.1f} ms; {latency.chunks_delayed} chunks delayed")
        assert min(trips) >= 2 * (DELAY - JITTER) and max(trips) < 2 * (DELAY + JITTER) + 0.03
    finally:
        server.close()
        await server.wait_closed()


class Timed:
    """The Publisher, with the time each message was confirmed (seconds since ``start``)."""

    def __init__(self, publisher: Publisher) -> None:
        self.start = time.monotonic()
        self.confirmed: dict[str, float] = {}
        self.outcomes: dict[str, list[str]] = {}
        settle = publisher._settle

        def timed(message: OutboundMessage, attempt: int,
                  outcome: PublishOutcome | TransportError) -> None:
            if attempt == message.attempts:
                name = outcome.value if isinstance(outcome, PublishOutcome) else "error"
                self.outcomes.setdefault(message.message_id, []).append(name)
                if outcome is PublishOutcome.CONFIRMED:
                    self.confirmed[message.message_id] = time.monotonic() - self.start
            settle(message, attempt, outcome)

        publisher._settle = timed  # type: ignore[method-assign]


async def depth(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, durable=True, passive=True)
        return declared.declaration_result.message_count
    finally:
        await connection.close()


async def link_queue_depths(url: str) -> dict[str, int]:
    """Each link queue's depth, on a direct connection (no proxy); -1 if it does not exist."""
    depths: dict[str, int] = {}
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        for number in range(LINKS):
            name = f"{PREFIX}{link_id(number)}"
            try:
                queue = await channel.declare_queue(name, durable=True, passive=True)
                depths[name] = queue.declaration_result.message_count
            except aio_pika.exceptions.ChannelNotFoundEntity:
                depths[name] = -1
                channel = await connection.channel()
    finally:
        await connection.close()
    return depths


async def test_200_links_at_80ms_round_trip_all_declared_and_confirmed_without_a_stall(
        node: RabbitNode, proxy: LatencyProxy, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="kytos.napps.kytos/mq_producer")
    environ = {"KYTOS_MQ_TRANSPORT": "amqp",
               "KYTOS_MQ_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}/"}
    distant = DistantSettings()
    config = load_config(distant, environ)
    transport = make_transport(config, environ, settings=distant)
    publisher = Publisher(transport, config)
    intake = HandOffIntake(publisher)
    connecting = time.monotonic()
    publisher.start()
    try:
        await wait_until(lambda: transport.connected, timeout=30, what="connected")
        connected_in = time.monotonic() - connecting
        # The node is the module's: what earlier tests left in the queue is not this test's
        events_before = await depth(node.url, ALL_EVENTS)
        names = {f"{PREFIX}{link_id(number)}" for number in range(LINKS)}

        # -- 200 interdomain links at once, 200 other events interleaved -----------------
        timed = Timed(publisher)
        envelopes = [envelope for number in range(LINKS)
                     for envelope in (link_envelope(number, "DOWN", 1), other_envelope(number))]
        for start in range(0, len(envelopes), 100):
            intake.push(HANDOFF, f"h{start}", {"envelopes": envelopes[start:start + 100]})
        declared_at: list[float] = []

        def all_declared() -> bool:
            queues = transport.queues
            if not declared_at and all(queues.get(name) == "ok" for name in names):
                declared_at.append(time.monotonic() - timed.start)
            return bool(declared_at)

        await wait_until(lambda: all_declared() and len(timed.confirmed) == 3 * LINKS,
                         timeout=60, what="every queue declared and every message confirmed")
        status = [at for message_id, at in timed.confirmed.items()
                  if message_id.endswith(":status")]
        ordinary = [at for message_id, at in timed.confirmed.items()
                    if not message_id.endswith(":status")]
        print(f"\nproxy: {DELAY * 1000:.0f} ms +- {JITTER * 1000:.0f} ms each way "
              f"({proxy.round_trip * 1000:.0f} ms round trip; the largest delay seen "
              f"{proxy.max_late * 1000:.1f} ms); connected (exchanges, QUEUES and the "
              f"dead-letter queue checked) in {connected_in:.2f}s")
        print(f"{LINKS} link queues all declared after {declared_at[0]:.2f}s; "
              f"{len(ordinary)} ordinary messages all confirmed after {max(ordinary):.2f}s "
              f"(first {min(ordinary):.2f}s); {len(status)} status messages all confirmed "
              f"after {max(status):.2f}s (first {min(status):.2f}s)")
        assert max(status) < 60 and declared_at[0] < 60
        assert max(ordinary) < 10  # not held up by the declarations:
        assert max(ordinary) < max(status)  # all confirmed while status messages still wait
        assert proxy.total_connections == 1  # no reconnection
        assert [r.getMessage() for r in caplog.records if "ALARM" in r.getMessage()] == []
        assert publisher.alarm.outage is None
        counters = publisher.counters
        assert (counters.confirmed, counters.returned, counters.failed, counters.refused,
                counters.dropped) == (3 * LINKS, 0, 0, 0, 0)
        assert all(outcomes == ["confirmed"] for outcomes in timed.outcomes.values())
        depths = await link_queue_depths(node.url)
        assert depths == dict.fromkeys(names, 1)  # each link's DOWN, in its own queue
        assert await depth(node.url, ALL_EVENTS) == events_before + 2 * LINKS

        # -- the broker closes the connection: everything declared again, in the background
        consumer = await aio_pika.connect(node.url)
        channel = await consumer.channel()
        emptied = f"{PREFIX}{link_id(5)}"  # its consumer took the DOWN: room for the next
        assert (await (await channel.declare_queue(emptied, durable=True, passive=True))
                .get(no_ack=True)) is not None
        lost = f"{PREFIX}{link_id(7)}"  # the broker lost it (deleted): declared again
        await channel.queue_delete(lost)
        await consumer.close()

        redeclaring: list[int] = []

        async def sample() -> None:  # how many link queues were "declaring" at once
            while True:
                redeclaring.append(sum(1 for name in names
                                       if transport.queues.get(name) == "declaring"))
                await asyncio.sleep(0.005)

        sampler = asyncio.create_task(sample())
        closed_at = time.monotonic()
        await asyncio.to_thread(node.rabbitmqctl, "close_all_connections",
                                "test: the connection to a distant broker is lost")
        await wait_until(lambda: publisher.alarm.outage is not None, what="the loss")
        await wait_until(lambda: transport.connected and publisher.alarm.outage is None,
                         timeout=30, what="reconnected")
        reconnected_in = time.monotonic() - closed_at
        await wait_until(lambda: all(transport.queues.get(name) == "ok" for name in names),
                         timeout=60, what="every link queue declared again")
        redeclared_in = time.monotonic() - closed_at
        sampler.cancel()
        print(f"after the broker closed the connection: reconnected in {reconnected_in:.2f}s, "
              f"all {LINKS} link queues declared again {redeclared_in:.2f}s after the close "
              f"(at most {max(redeclaring)} declaring at once)")
        assert max(redeclaring) == LINKS  # every one of them, not only the lost one
        assert proxy.total_connections == 2

        intake.push(HANDOFF, "again", {"envelopes": [link_envelope(5, "UP", 2),
                                                     link_envelope(7, "UP", 2)]})
        await wait_until(lambda: publisher.counters.confirmed == 3 * LINKS + 4,
                         timeout=15, what="the two new link events and their status")
        assert publisher.counters.returned == 0 and publisher.counters.refused == 0
        consumer = await aio_pika.connect(node.url)
        channel = await consumer.channel()
        for name in (emptied, lost):
            message = await (await channel.declare_queue(name, durable=True, passive=True)
                             ).get(no_ack=True)
            assert message is not None and message.message_id.endswith("-2:status"), name
        await consumer.close()
        alarms = [r.getMessage() for r in caplog.records if "ALARM" in r.getMessage()]
        assert len(alarms) == 1 and "broker unreachable" in alarms[0]
        print("lines at WARNING and above:\n" + "\n".join(
            f"{r.levelname} {r.name}: {r.getMessage()[:160]}" for r in caplog.records
            if r.levelno >= logging.WARNING))
    finally:
        intake.stop()
        await publisher.stop(flush_timeout=0)


async def test_a_queue_the_broker_refuses_costs_its_batch_a_split_and_its_message_a_return(
        node: RabbitNode, proxy: LatencyProxy, caplog: pytest.LogCaptureFixture):
    """One link's queue already exists with other arguments (406 PRECONDITION_FAILED, which
    closes the declaration channel, failing its batch). The batch is declared again in parts
    until that queue stands alone: the 63 others get their queues, that one its state and one
    ERROR line - once, not again after a reconnection - and its status message is published
    all the same: no queue is bound for it, so the broker returns it (``returned``), as it did
    when declarations ran inside publish()."""
    caplog.set_level(logging.INFO, logger="kytos.napps.kytos/mq_producer")
    environ = {"KYTOS_MQ_TRANSPORT": "amqp",
               "KYTOS_MQ_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}/"}
    distant = DistantSettings()
    distant.LINK_STATUS = {**distant.LINK_STATUS, "exchange": "far.other.links",
                           "queue_prefix": "far.other."}  # not the first test's queues
    bad = f"far.other.{link_id(13)}"
    admin = await aio_pika.connect(node.url)
    await (await admin.channel()).declare_queue(bad, durable=True)  # no x-max-length...
    await admin.close()
    config = load_config(distant, environ)
    transport = make_transport(config, environ, settings=distant)
    publisher = Publisher(transport, config)
    intake = HandOffIntake(publisher)
    publisher.start()
    try:
        await wait_until(lambda: transport.connected, timeout=30, what="connected")
        started = time.monotonic()
        intake.push(HANDOFF, "h", {"envelopes": [link_envelope(number, "DOWN", 1)
                                                 for number in range(64)]})
        counters = publisher.counters
        await wait_until(lambda: counters.confirmed + counters.returned == 128, timeout=60,
                         what="every message answered")
        print(f"\n64 links, one queue refused (406): all answered after "
              f"{time.monotonic() - started:.2f}s at {proxy.round_trip * 1000:.0f} ms "
              "round trip")
        assert (counters.confirmed, counters.returned, counters.failed) == (127, 1, 0)
        states = transport.queues
        assert states[bad].startswith("exists with other arguments or another type")
        assert [name for name, state in states.items() if name.startswith("far.other.")
                and state != "ok"] == [bad]
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR
                  and r.name == PRODUCER_LOG]  # not asyncio's, about earlier tests' loops
        assert len(errors) == 1 and repr(bad) in errors[0] and "published all the same" \
            in errors[0]
        returned = [r.getMessage() for r in caplog.records if "returned as unroutable" in
                    r.getMessage()]
        assert len(returned) == 1 and link_id(13) in returned[0]

        await asyncio.to_thread(node.rabbitmqctl, "close_all_connections", "test")
        await wait_until(lambda: publisher.alarm.outage is not None, what="the loss")
        await wait_until(lambda: transport.connected and all(
            state != "declaring" for state in transport.queues.values()), timeout=30,
            what="declared again")
        assert transport.queues == states
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR
                  and r.name == PRODUCER_LOG and "ALARM" not in r.getMessage()]
        assert len(errors) == 1  # the same refusal is not logged again
        assert [r.getMessage() for r in caplog.records if r.name.startswith(LIBRARIES)
                and r.levelno >= logging.WARNING] == []  # nor by the client library
    finally:
        intake.stop()
        await publisher.stop(flush_timeout=0)


@pytest.mark.parametrize("max_waiting", [500, 100_000], ids=["limit", "control"])
async def test_a_broker_that_confirms_slower_than_events_come_costs_drops_not_memory(
        node: RabbitNode, proxy: LatencyProxy, caplog: pytest.LogCaptureFixture,
        max_waiting: int):
    """4,000 events at once to a broker 80 ms away, a buffer of 256: it keeps confirming (no
    outage, no drop policy by PUBLISH_TIMEOUT), at most 256 a round trip, so the rest waits
    in the intake. With MAX_WAITING 500 no more than 500 ever wait, the oldest buffered are
    dropped (counted, one WARNING), everything else is confirmed, the newest last. Control:
    MAX_WAITING above the burst - all of it waits in memory and nothing is dropped."""
    caplog.set_level(logging.INFO, logger=PRODUCER_LOG)
    environ = {"KYTOS_MQ_TRANSPORT": "amqp",
               "KYTOS_MQ_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}/"}
    distant = DistantSettings()
    distant.BUFFER_SIZE, distant.MAX_WAITING = 256, max_waiting
    config = load_config(distant, environ)
    transport = make_transport(config, environ, settings=distant)
    publisher = Publisher(transport, config)
    intake = HandOffIntake(publisher)
    publisher.start()
    most_waiting = 0

    async def watch() -> None:
        nonlocal most_waiting
        while True:
            most_waiting = max(most_waiting, intake.waiting)
            await asyncio.sleep(0.002)

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        await wait_until(lambda: transport.connected, timeout=30, what="connected")
        events_before = await depth(node.url, ALL_EVENTS)
        count = 4000
        envelopes = [other_envelope(10_000 + number) for number in range(count)]
        for start in range(0, count, 100):
            intake.push(HANDOFF, f"h{start}", {"envelopes": envelopes[start:start + 100]})
        counters = publisher.counters
        await wait_until(lambda: intake.idle and counters.confirmed + counters.dropped == count
                         and not publisher.outbox, timeout=60, what="every message settled")
        stored = await depth(node.url, ALL_EVENTS) - events_before
        print(f"\nMAX_WAITING {max_waiting}: at most {most_waiting} waited; "
              f"{counters.confirmed} confirmed, {counters.dropped} dropped")
        assert publisher.alarm.outage is None and counters.failed == 0
        assert stored == counters.confirmed  # what was not dropped reached the queue
        limit_lines = [r.getMessage() for r in caplog.records
                       if "wait for room in the buffer (MAX_WAITING)" in r.getMessage()]
        if max_waiting == 500:
            assert most_waiting <= 500 and counters.dropped > 0 and len(limit_lines) == 1
            assert f"other-{10_000 + count - 1}" in [
                entry["message_id"] for entry in publisher.outcomes.recent()
                if entry["outcome"] == "confirmed"]  # the newest went out
        else:
            assert most_waiting > 500 and counters.dropped == 0 and limit_lines == []
    finally:
        watcher.cancel()
        intake.stop()
        await publisher.stop(flush_timeout=0)
        async with await aio_pika.connect(node.url) as connection:  # for the next tests
            channel = await connection.channel()
            await (await channel.declare_queue(ALL_EVENTS, durable=True, passive=True)).purge()
