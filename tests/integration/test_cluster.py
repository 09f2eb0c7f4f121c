"""mq_producer on a three-node RabbitMQ cluster (issue #17): failover between nodes, quorum
queues.

One private cluster for the module (tests/support/rabbit_cluster.py: three nodes on loopback,
nodes 2 and 3 joined to node 1). Both NApps run in the stand-in controller with KYTOS_MQ_URL
naming the three nodes and QUEUE_TYPE "quorum", so every queue the producer declares (the
events queue here, the dead-letter queue, the per-link status queues) is a quorum queue,
replicated on the three nodes:

- the node the producer is connected to is killed (kill -9) mid-stream, later restarted: the
  producer is on another node within RETRY_INTERVAL plus a second, every confirmed message is
  in the quorum queue, in order per key, with one alarm line and one recovery line;
- a follower node is stopped gracefully and started again: nothing lost, no alarm;
- the node leading a per-link status queue is killed while that queue holds a message: after
  failover it still holds exactly that one message, the present status, and a change made
  afterwards replaces it;
- a quorum queue's leader killed before the producer's channel first publishes to it: every
  publish refused (RabbitMQ 3.10.8 refuses for good on such a channel) until the transport
  opens a new channel, RETRY_INTERVAL into the refusals; then everything is confirmed;
- during each of these faults the loop is never held over BLOCKED_LOOP of this thread's CPU
  time;
- two controllers with different DOMAIN_SCOPE on two nodes: consumers bound "ampath.#" and
  "#" read one domain's messages and both, each domain's queues are its own.

Takes about 1.5 minutes on two CPUs (the cluster itself 15 to 20 s to start). Deselect
with ``-m "not cluster"``.
"""

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import aio_pika
import orjson
import pytest
from kytos.core import KytosEvent

from listen_events.envelope import Envelope
from mq_consumer.consumer import ConsumerOptions, EventConsumer
from mq_producer.outbox import OutboundMessage
from mq_producer.transports.amqp.broker import broker_from_env
from tests.support.delivery import first_copies_in_order
from tests.support.handoff import handed_envelopes
from tests.support.napp_stack import Stack
from tests.support.rabbit_cluster import RabbitCluster, private_cluster, rabbitmq_available
from tests.support.stall_meter import BLOCKED_LOOP, StallMeter
from tests.support.topology import make_link
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.broker,
    pytest.mark.private_broker,
    pytest.mark.cluster,
    pytest.mark.skipif(not rabbitmq_available(), reason="RabbitMQ server binaries not "
                       "installed (scripts/setup installs them)"),
]

LOGGER = "kytos.napps.kytos/mq_producer"
EXCHANGE = "cluster.events"
LINK_EXCHANGE = "cluster.links"
LINK_PREFIX = "cluster.link."
DEAD_LETTER = "cluster.dead"
RETRY_INTERVAL = 1.0
STREAM = 20_000  # events per stream (test a and b)
RATE = 2_000  # events per second offered (the broker's confirms set the real pace)
LINKS = [make_link(index) for index in range(1, 17)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitCluster]:
    for started in private_cluster(tmp_path_factory.mktemp("cluster")):
        phases = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in started.phases.items())
        print(f"\ncluster of {len(started)} started in {started.start_seconds:.1f}s "
              f"({phases}): {started}")
        yield started


@pytest.fixture
async def whole_cluster(cluster: RabbitCluster) -> RabbitCluster:
    """The cluster with every node running (a test before may have left one down)."""
    for index in range(len(cluster)):
        if index not in cluster.running():
            await asyncio.to_thread(cluster.start, index)
    await asyncio.to_thread(cluster.wait_clustered)
    return cluster


@pytest.fixture
def events_queue(request: pytest.FixtureRequest) -> str:
    """The quorum queue bound to every event of the test (its own name)."""
    return f"cluster.all.{request.node.name.removeprefix('test_')[:40]}"


def configure(monkeypatch: pytest.MonkeyPatch, events_queue: str) -> None:
    """Both NApps' settings for the cluster: QUEUE_TYPE quorum, one route, one queue bound to
    it, link status queues, short retry and timeouts."""
    from mq_producer import settings

    monkeypatch.setattr(settings, "QUEUE_TYPE", "quorum")
    monkeypatch.setattr(settings, "ROUTES", [{"exchange": EXCHANGE,
                                              "routing_key": "{event_class}.{event_name}"}])
    monkeypatch.setattr(settings, "QUEUES", [{"queue": events_queue, "exchange": EXCHANGE,
                                              "binding": "#",
                                              "arguments": {"x-max-length": 100_000}}])
    monkeypatch.setattr(settings, "NAPP_QUEUES", {"enabled": False})
    monkeypatch.setattr(settings, "VERBOSE_QUEUE", {"enabled": False})
    monkeypatch.setattr(settings, "LINK_STATUS", {
        "enabled": True, "exchange": LINK_EXCHANGE, "queue_prefix": LINK_PREFIX,
        "metadata": {"interdomain": True}, "link_ids": [], "copy_routing_key": None})
    monkeypatch.setattr(settings, "DEAD_LETTER", DEAD_LETTER)
    monkeypatch.setattr(settings, "RETRY_INTERVAL", RETRY_INTERVAL)
    monkeypatch.setattr(settings, "PUBLISH_TIMEOUT", 5.0)
    monkeypatch.setattr(settings, "HEARTBEAT", 5)
    monkeypatch.setattr(settings, "ALARM_REMINDER_INTERVAL", 60.0)


async def start_stack(monkeypatch: pytest.MonkeyPatch, url_list: str) -> Stack:
    """Both NApps in a stand-in controller (they read the environment as they load),
    connected to the cluster."""
    monkeypatch.setenv("KYTOS_MQ_URL", url_list)
    started = Stack.start()
    try:
        await wait_until(lambda: started.producer.publisher.transport.connected, timeout=30,
                         what="connected to the cluster")
    except BaseException:
        await started.stop()
        raise
    return started


@pytest.fixture
async def stack(whole_cluster: RabbitCluster, events_queue: str,
                monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:
    configure(monkeypatch, events_queue)
    started = await start_stack(monkeypatch, whole_cluster.url_list)
    try:
        # The tests kill one node: the events queue must keep a majority of its members.
        await asyncio.to_thread(whole_cluster.wait_quorum_online, events_queue)
        yield started
    finally:
        await started.stop()
        await _delete_queue(whole_cluster, events_queue)


async def _delete_queue(cluster: RabbitCluster, name: str) -> None:
    """Drop a test's queue (the nodes are small; twenty thousand messages add up)."""
    for index in cluster.running():
        try:
            connection = await aio_pika.connect(cluster.urls[index], timeout=10)
        except (OSError, aio_pika.exceptions.AMQPError):
            continue
        try:
            await (await connection.channel()).queue_delete(name)
        finally:
            await connection.close()
        return


# -- reading what the producer did -----------------------------------------------------------

class Confirmed:
    """The ids of the messages the publisher counted as confirmed."""

    def __init__(self, publisher) -> None:
        self.ids: set[str] = set()
        settle = publisher._settle
        counters = publisher.counters

        def settled(message: OutboundMessage, attempt: int, outcome: object) -> None:
            before = counters.confirmed
            settle(message, attempt, outcome)
            if counters.confirmed > before:
                self.ids.add(message.message_id)

        publisher._settle = settled  # the transport gets it with each batch


def node_in_use(stack: Stack, cluster: RabbitCluster) -> int | None:
    """The index of the node the producer is connected to (None while it is not)."""
    transport = stack.producer.publisher.transport
    return cluster.index_of(transport.description) if transport.connected else None


def alarm_lines(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    return ([m for m in messages if "ALARM" in m],
            [m for m in messages if "reachable again" in m])


def handed_on(stack: Stack) -> list[dict]:
    return [envelope for event in stack.controller.seen
            if event.name == "kytos/listen_events.broadcast"
            for envelope in handed_envelopes(event.content)]


async def emit_stream(stack: Stack, count: int, rate: float, seed: int) -> float:
    """``count`` link_up / link_down events on 16 links, offered at about ``rate`` per second
    (the app buffer's bound slows it when the producer falls behind). Returns the seconds."""
    rng = random.Random(seed)
    began = time.monotonic()
    for index in range(count):
        link = rng.choice(LINKS)
        name = "kytos/topology.link_up" if index % 2 else "kytos/topology.link_down"
        await stack.controller.buffers.app.aput(
            KytosEvent(name, {"link": link, "reason": str(index)}))
        if index % 50 == 49:
            await asyncio.sleep(max(began + (index + 1) / rate - time.monotonic(), 0))
    return time.monotonic() - began


async def quarter_confirmed(stack: Stack, seed: int) -> asyncio.Task[float]:
    """A STREAM of events started, once a quarter of it is confirmed (the task emitting it
    goes on)."""
    publisher = stack.producer.publisher
    stream = asyncio.create_task(emit_stream(stack, STREAM, RATE, seed))
    await wait_until(lambda: publisher.counters.confirmed >= STREAM // 4, timeout=60,
                     what="a quarter of the stream confirmed")
    return stream


async def drain(url: str, queue_name: str, timeout: float = 90) -> list[dict]:
    """Everything in a queue, read by a consumer (prefetch 2,000, no ack) until it is empty."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=2_000)
        queue = await channel.declare_queue(queue_name, durable=True, passive=True)
        expected = queue.declaration_result.message_count
        bodies: list[dict] = []
        arrived = asyncio.Event()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            bodies.append(orjson.loads(message.body))
            if len(bodies) >= expected:
                arrived.set()

        tag = await queue.consume(on_message, no_ack=True)
        if expected == 0:
            arrived.set()
        await asyncio.wait_for(arrived.wait(), timeout)
        count = -1
        while count != len(bodies):  # and nothing more after those
            count = len(bodies)
            await asyncio.sleep(0.5)
        await queue.cancel(tag)
    finally:
        await connection.close()
    return bodies


@dataclass
class Delivery:
    events: int
    handed_on: int
    confirmed: int
    received: int
    unique: int
    missing_confirmed: int
    missing_handed_on: int

    @property
    def duplicates(self) -> int:
        return self.received - self.unique

    def __str__(self) -> str:
        return (f"events={self.events} handed_on={self.handed_on} confirmed={self.confirmed} "
                f"received={self.received} unique={self.unique} "
                f"duplicates={self.duplicates} missing_confirmed={self.missing_confirmed} "
                f"missing_handed_on={self.missing_handed_on}")


def check_delivery(events: int, sent: list[dict], confirmed: Confirmed, confirmed_count: int,
                   received: list[dict]) -> Delivery:
    """What arrived against what was confirmed and handed on; order per key (first copy of
    each message) kept."""
    first_seen = first_copies_in_order(received)
    return Delivery(events, len(sent), confirmed_count, len(received), len(first_seen),
                    len(confirmed.ids - first_seen.keys()),
                    len({envelope["message_id"] for envelope in sent} - first_seen.keys()))


async def settled(stack: Stack, timeout: float = 120) -> None:
    """Every event handed on, the buffer empty, no outage."""
    await stack.controller.settle()
    publisher = stack.producer.publisher
    await wait_until(lambda: len(publisher.outbox) == 0 and publisher.alarm.outage is None,
                     timeout=timeout, what="the buffer to empty")


def queue_types(cluster: RabbitCluster, *names: str) -> dict[str, str]:
    return {row["name"]: row["type"] for row in cluster.queue_info("name", "type")
            if row["name"] in names}


async def watch_switch(stack: Stack, cluster: RabbitCluster, away_from: int,
                       since: float) -> float:
    """Seconds from ``since`` until the producer is connected to a node other than
    ``away_from``."""
    while True:
        current = node_in_use(stack, cluster)
        if current is not None and current != away_from:
            return time.monotonic() - since
        await asyncio.sleep(0.01)


# -- the cluster helper itself ---------------------------------------------------------------

async def test_three_nodes_form_one_cluster_and_a_quorum_queue_survives_its_leader(
        whole_cluster: RabbitCluster):
    cluster = whole_cluster
    views = [await asyncio.to_thread(cluster.cluster_status, index)
             for index in range(len(cluster))]
    for view in views:
        assert sorted(view["running_nodes"]) == sorted(cluster.names)
        assert sorted(view["disk_nodes"]) == sorted(cluster.names)
    assert cluster.url_list == ",".join(cluster.urls) and len(set(cluster.urls)) == 3
    # A quorum queue declared through node 2 (its leader there: client-local), 100 confirmed
    # persistent messages.
    name = "cluster.helper.qq"
    connection = await aio_pika.connect(cluster.urls[1])
    channel = await connection.channel()
    await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
    for number in range(100):
        await channel.default_exchange.publish(
            aio_pika.Message(b"%d" % number, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            name)
    await connection.close()
    leader = await asyncio.to_thread(cluster.quorum_leader, name)
    assert leader == 1
    rows = {row["name"]: row for row in await asyncio.to_thread(
        cluster.queue_info, "name", "type", "members")}
    assert rows[name]["type"] == "quorum" and sorted(rows[name]["members"]) == sorted(
        cluster.names)

    killed_at = time.monotonic()
    await asyncio.to_thread(cluster.kill, leader)
    new_leader = await asyncio.to_thread(cluster.quorum_leader, name)
    elected_in = time.monotonic() - killed_at
    assert new_leader != leader
    bodies = await drain(cluster.urls[new_leader], name)
    assert sorted(int(body) for body in bodies) == list(range(100))

    restarted_at = time.monotonic()
    await asyncio.to_thread(cluster.start, leader)
    restarted_in = time.monotonic() - restarted_at
    online = next(row for row in await asyncio.to_thread(cluster.queue_info, "name", "online")
                  if row["name"] == name)["online"]
    print(f"\nhelper: leader {cluster.names[leader]} killed, new leader "
          f"{cluster.names[new_leader]} in {elected_in:.1f}s, 100/100 messages read, node "
          f"back in the cluster in {restarted_in:.1f}s")
    assert sorted(online) == sorted(cluster.names)
    await _delete_queue(cluster, name)


# -- mq_producer on the cluster --------------------------------------------------------------

async def test_kill_9_of_the_producers_node_mid_stream(
        whole_cluster: RabbitCluster, stack: Stack, events_queue: str,
        caplog: pytest.LogCaptureFixture):
    cluster = whole_cluster
    publisher = stack.producer.publisher
    confirmed = Confirmed(publisher)
    victim = node_in_use(stack, cluster)
    assert victim is not None
    assert queue_types(cluster, events_queue, DEAD_LETTER) == {
        events_queue: "quorum", DEAD_LETTER: "quorum"}

    with StallMeter() as meter:
        began = time.monotonic()
        stream = await quarter_confirmed(stack, seed=17)
        killed_at = time.monotonic()
        confirmed_before = publisher.counters.confirmed
        switch = asyncio.create_task(watch_switch(stack, cluster, victim, killed_at))
        await asyncio.to_thread(cluster.kill, victim)
        switch_seconds = await asyncio.wait_for(switch, 30)
        new_node = node_in_use(stack, cluster)
        await asyncio.sleep(2)
        restarted_at = time.monotonic()
        await asyncio.to_thread(cluster.start, victim)  # while the stream goes on
        restart_seconds = time.monotonic() - restarted_at
        stream_seconds = await stream
        await settled(stack)
    total_seconds = time.monotonic() - began

    reader = next(index for index in cluster.running() if index != victim)
    received = await drain(cluster.urls[reader], events_queue)
    delivery = check_delivery(STREAM, handed_on(stack), confirmed, publisher.counters.confirmed,
                              received)
    alarms, recoveries = alarm_lines(caplog)
    print(f"\nkill -9 of {cluster.names[victim]} after {confirmed_before} confirms: on "
          f"{cluster.names[new_node]} {switch_seconds:.2f}s later; killed node back in "
          f"{restart_seconds:.1f}s; stream {stream_seconds:.1f}s, all confirmed "
          f"{total_seconds:.1f}s after its start; {delivery}; "
          f"dropped={publisher.counters.dropped} failed={publisher.counters.failed}; "
          f"alarm lines={len(alarms)} recovery lines={len(recoveries)}; {meter}")
    for line in alarms + recoveries:
        print(f"  {line}")
    assert switch_seconds <= RETRY_INTERVAL + 1.0
    assert meter.longest_cpu < BLOCKED_LOOP, meter
    assert new_node != victim
    assert delivery.missing_confirmed == 0 and delivery.missing_handed_on == 0
    assert delivery.handed_on == STREAM and publisher.counters.dropped == 0
    assert len(alarms) == 1 and len(recoveries) == 1, (alarms, recoveries)
    assert node_in_use(stack, cluster) == new_node  # the restart did not move it


async def test_a_follower_stopped_and_started_loses_nothing_and_raises_no_alarm(
        whole_cluster: RabbitCluster, stack: Stack, events_queue: str,
        caplog: pytest.LogCaptureFixture):
    cluster = whole_cluster
    publisher = stack.producer.publisher
    confirmed = Confirmed(publisher)
    in_use = node_in_use(stack, cluster)
    leader = await asyncio.to_thread(cluster.quorum_leader, events_queue)
    follower = next(index for index in range(len(cluster)) if index not in (in_use, leader))

    with StallMeter() as meter:
        began = time.monotonic()
        stream = await quarter_confirmed(stack, seed=18)
        stopped_at = time.monotonic()
        await asyncio.to_thread(cluster.stop, follower)
        stop_seconds = time.monotonic() - stopped_at
        await asyncio.sleep(1)
        started_at = time.monotonic()
        await asyncio.to_thread(cluster.start, follower)
        start_seconds = time.monotonic() - started_at
        stream_seconds = await stream
        await settled(stack)
    total_seconds = time.monotonic() - began

    received = await drain(cluster.urls[follower], events_queue)  # it has caught up
    delivery = check_delivery(STREAM, handed_on(stack), confirmed, publisher.counters.confirmed,
                              received)
    alarms, recoveries = alarm_lines(caplog)
    print(f"\nfollower {cluster.names[follower]} stopped in {stop_seconds:.1f}s, started in "
          f"{start_seconds:.1f}s (producer on {cluster.names[in_use]}, queue leader "
          f"{cluster.names[leader]}); stream {stream_seconds:.1f}s, all confirmed "
          f"{total_seconds:.1f}s after its start; {delivery}; "
          f"dropped={publisher.counters.dropped} failed={publisher.counters.failed}; "
          f"alarm lines={len(alarms)} recovery lines={len(recoveries)}; {meter}")
    assert delivery.missing_confirmed == 0 and delivery.missing_handed_on == 0
    assert delivery.handed_on == STREAM and delivery.duplicates == 0
    assert meter.longest_cpu < BLOCKED_LOOP, meter
    assert publisher.counters.dropped == publisher.counters.failed == 0
    assert alarms == [] and recoveries == []
    assert node_in_use(stack, cluster) == in_use


def _idle(stack: Stack) -> Callable[[], bool]:
    publisher = stack.producer.publisher

    def idle() -> bool:
        lanes = publisher.status()["status_lanes"]
        return stack.producer.worker.idle and len(publisher.outbox) == 0 \
            and lanes["pending"] == 0 and lanes["in_flight"] == 0 \
            and publisher.alarm.outage is None
    return idle


async def _set_status(stack: Stack, link, up: bool) -> None:
    link.active = up
    name = "kytos/topology.link_up" if up else "kytos/topology.link_down"
    await stack.controller.buffers.app.aput(KytosEvent(name, {"link": link, "reason": name}))
    await stack.controller.settle()
    await wait_until(_idle(stack), timeout=30, what="the producer idle")


async def _peek(url: str, queue_name: str) -> tuple[int, dict | None]:
    """(depth, the first message) of a queue, the message left in it (requeued)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=True, passive=True)
        depth = queue.declaration_result.message_count
        message = await queue.get(fail=False)
        if message is None:
            return depth, None
        await message.nack(requeue=True)
        return depth, orjson.loads(message.body)
    finally:
        await connection.close()


async def _read_all(url: str, queue_name: str) -> list[dict]:
    """What waits in a queue, read (and acked) until it is empty."""
    connection = await aio_pika.connect(url)
    try:
        queue = await (await connection.channel()).declare_queue(queue_name, passive=True)
        got = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            got.append(orjson.loads(message.body))
        return got
    finally:
        await connection.close()


async def test_a_quorum_status_queue_ends_on_the_present_status(
        whole_cluster: RabbitCluster, stack: Stack):
    """No fault. RabbitMQ 3.10's quorum queues check x-max-length before adding a message:
    with reject-publish a status queue of length 1 takes a second message and refuses the
    third (a classic one refuses the second). So it may hold two statuses, the present one
    last; the next change is refused and replaces both (README, "Running on a RabbitMQ
    cluster")."""
    cluster = whole_cluster
    publisher = stack.producer.publisher
    link = make_link(41, interdomain=True)
    queue_name = f"{LINK_PREFIX}{link.id}"
    await _set_status(stack, link, up=True)
    await _set_status(stack, link, up=False)  # UP unread: DOWN accepted beside it
    assert queue_types(cluster, queue_name) == {queue_name: "quorum"}
    node = node_in_use(stack, cluster)
    try:
        depth, head = await _peek(cluster.urls[node], queue_name)
        assert depth == 2 and head is not None and head["link"]["status"] == "UP"
        await _set_status(stack, link, up=True)  # refused: both purged, the present one goes
        await wait_until(_idle(stack), timeout=30, what="the producer idle")
        statuses = [body["link"]["status"]
                    for body in await _read_all(cluster.urls[node], queue_name)]
        print(f"\nquorum status queue: UP, DOWN held together; after UP again it held "
              f"{statuses}; refused={publisher.counters.refused} "
              f"replaced={publisher.counters.replaced}")
        assert statuses == ["UP"] and publisher.counters.replaced >= 1
    finally:
        await _delete_queue(cluster, queue_name)


async def test_kill_of_a_status_queues_leader_keeps_the_present_status(
        whole_cluster: RabbitCluster, stack: Stack):
    cluster = whole_cluster
    publisher = stack.producer.publisher
    link = make_link(40, interdomain=True)
    queue_name = f"{LINK_PREFIX}{link.id}"
    await _set_status(stack, link, up=False)
    assert queue_types(cluster, queue_name) == {queue_name: "quorum"}
    leader = await asyncio.to_thread(cluster.quorum_leader, queue_name)
    before = await _peek(cluster.urls[leader], queue_name)
    assert before[0] == 1 and before[1] is not None and before[1]["link"]["status"] == "DOWN"
    producer_node = node_in_use(stack, cluster)

    with StallMeter() as meter:
        killed_at = time.monotonic()
        await asyncio.to_thread(cluster.kill, leader)
        try:
            new_leader = await asyncio.to_thread(cluster.quorum_leader, queue_name)
            elected_in = time.monotonic() - killed_at
            await wait_until(_idle(stack), timeout=30, what="the producer idle on another node")
            after_kill = await _peek(cluster.urls[new_leader], queue_name)
            now_on = node_in_use(stack, cluster)
            # the present status, the very message published before the kill
            assert after_kill[0] == 1 and after_kill[1] is not None
            assert after_kill[1]["message_id"] == before[1]["message_id"]

            await _set_status(stack, link, up=True)  # a change, the DOWN still unread
            statuses = [body["link"]["status"]
                        for body in await _read_all(cluster.urls[new_leader], queue_name)]
            print(f"\nstatus queue leader {cluster.names[leader]} killed (producer on "
                  f"{cluster.names[producer_node]}, then {now_on and cluster.names[now_on]}); new "
                  f"leader {cluster.names[new_leader]} in {elected_in:.1f}s; after failover the "
                  f"queue held {after_kill[0]} message, DOWN; after the change it held "
                  f"{statuses}; counters: confirmed={publisher.counters.confirmed} "
                  f"refused={publisher.counters.refused} replaced={publisher.counters.replaced} "
                  f"failed={publisher.counters.failed}")
            assert statuses == ["DOWN", "UP"]  # at most two on a quorum queue, the present last
        finally:
            await asyncio.to_thread(cluster.start, leader)
            await _delete_queue(cluster, queue_name)
    print(f"status queue leader kill: {meter}")
    assert meter.longest_cpu < BLOCKED_LOOP, meter


async def test_a_channel_refused_for_good_after_a_quorum_leaders_loss_is_replaced(
        whole_cluster: RabbitCluster, stack: Stack, events_queue: str,
        caplog: pytest.LogCaptureFixture):
    """RabbitMQ 3.10.8 refuses for good on a channel whose first publish to a quorum queue
    comes while the queue's leader is lost, and takes the same publishes at once on a new
    channel of the same connection. The producer's channel meets that with a quorum queue
    bound after it started, to link_down events only, whose leader's node is killed before
    the first event: every link_down is refused (it goes to the events queue too) while
    every link_up is confirmed, until the transport opens a new channel, RETRY_INTERVAL into
    the link_downs' refusals; then everything is confirmed, in both queues, and no alarm is
    raised (the broker answered all along)."""
    cluster = whole_cluster
    publisher = stack.producer.publisher
    in_use = node_in_use(stack, cluster)
    victim = next(index for index in range(len(cluster)) if index != in_use)
    late_queue = f"{events_queue}.late"
    await _bound_queue(cluster.urls[victim], late_queue, EXCHANGE,  # its leader there
                       "*.kytos/topology.link_down")
    try:
        await asyncio.to_thread(cluster.wait_quorum_online, late_queue)
        assert await asyncio.to_thread(cluster.quorum_leader, late_queue) == victim
        confirmed = Confirmed(publisher)
        # When the new channel was decided (seconds after the kill), and how many were
        # confirmed by then.
        at_renewal: list[tuple[float, int]] = []
        watcher = _OnRecord("publishing on a new channel", lambda: at_renewal.append(
            (time.monotonic() - began, publisher.counters.confirmed)))
        logging.getLogger(LOGGER).addHandler(watcher)
        await asyncio.to_thread(cluster.kill, victim)
        began = time.monotonic()
        count = 300
        switch_events = 160
        try:
            # Meanwhile, on another route (to the events queue alone), a switch event every
            # 50 ms for 8 s: confirmed all along, it must not hide the link_downs' refusals.
            others = asyncio.create_task(_switch_events(stack, switch_events, 0.05))
            await emit_stream(stack, count, RATE, seed=31)
            await others
            await settled(stack, timeout=60)
        finally:
            logging.getLogger(LOGGER).removeHandler(watcher)
        seconds = time.monotonic() - began
        sent = handed_on(stack)
        received = {name: await drain(cluster.urls[in_use], name)
                    for name in (events_queue, late_queue)}
        renewals = [r.getMessage() for r in caplog.records if r.name == LOGGER
                    and "publishing on a new channel" in r.getMessage()]
        alarms, _ = alarm_lines(caplog)
        print(f"\nqueue leader {cluster.names[victim]} killed before the first event: "
              f"{publisher.counters.refused} refusals; new channel after (s, confirmed) "
              f"{at_renewal}; all {count + switch_events} confirmed in {seconds:.1f}s; {renewals}")
        assert publisher.counters.refused > 0  # refused on the first channel: the case tested
        assert len(renewals) == 1 and alarms == []
        renewed_after, confirmed_by_then = at_renewal[0]
        # While the other route was confirmed, not once it stopped (after 8 s).
        assert confirmed_by_then > 0 and renewed_after < 4 * RETRY_INTERVAL
        assert publisher.counters.confirmed == len(confirmed.ids) == len(sent) \
            == count + switch_events
        link_downs = {envelope["message_id"] for envelope in sent
                      if envelope["event_name"] == "kytos/topology.link_down"}
        assert 0 < len(link_downs) < count
        assert confirmed.ids <= {body["message_id"] for body in received[events_queue]}
        assert link_downs == {body["message_id"] for body in received[late_queue]}
        assert publisher.counters.dropped == publisher.counters.failed == 0
    finally:
        await _delete_queue(cluster, late_queue)


async def test_mq_consumer_resumes_on_another_node(
        whole_cluster: RabbitCluster, stack: Stack, events_queue: str):
    """The consumer library with the cluster's node list: its node killed mid-stream, it
    resumes on the next one and reads every event of the quorum queue (de-duplicated).

    The consumer starts on a node that is neither the producer's nor the queue's leader, so
    that the kill is the consumer's fault alone: the producer's node and a queue leader
    killed have tests of their own. (With all three on node 1, RabbitMQ 3.10.8 nacked the
    producer's publishes on its new node for the 120 s the test waited, in 2 of about 10
    whole-suite runs: its new channel had first published while the queue had no leader, see
    test_a_channel_refused_for_good_after_a_quorum_leaders_loss_is_replaced.)"""
    cluster = whole_cluster
    publisher = stack.producer.publisher
    handled: set[str] = set()

    async def handler(envelope: Envelope) -> None:
        handled.add(envelope.message_id)

    leader = await asyncio.to_thread(cluster.quorum_leader, events_queue)
    first = next(index for index in range(len(cluster))
                 if index not in (node_in_use(stack, cluster), leader))
    nodes = cluster.urls[first:] + cluster.urls[:first]
    consumer = EventConsumer(broker_from_env({"KYTOS_MQ_URL": ",".join(nodes)}),
                             ConsumerOptions(bindings=[], queue=events_queue, dead_letter="",
                                             queue_arguments={"x-max-length": 100_000},
                                             queue_type="quorum"), handler)
    await consumer.start()
    try:
        def consumers_node() -> int:
            return cluster.index_of(consumer._broker.node(consumer._node).display)

        victim = consumers_node()
        assert victim == first
        count = 4_000
        stream = asyncio.create_task(emit_stream(stack, count, RATE, seed=23))
        await wait_until(lambda: len(handled) >= count // 4, timeout=60,
                         what="a quarter read")
        killed_at = time.monotonic()
        await asyncio.to_thread(cluster.kill, victim)
        await wait_until(lambda: consumer.connected.is_set() and consumers_node() != victim,
                         timeout=30, what="the consumer on another node")
        resumed_in = time.monotonic() - killed_at
        await stream
        await settled(stack)
        await wait_until(lambda: len(handled) == publisher.counters.confirmed, timeout=60,
                         what="every confirmed event read")
        print(f"\nmq_consumer: node {cluster.names[victim]} killed, resumed on node "
              f"{cluster.names[consumers_node()]} in {resumed_in:.2f}s; {len(handled)} "
              f"events read, {consumer.counters['duplicates']} duplicates dropped")
        assert len(handled) == count
    finally:
        await consumer.close()


async def _switch_events(stack: Stack, count: int, interval: float) -> None:
    """``count`` switch.enabled events, one every ``interval`` seconds."""
    switch = LINKS[0].endpoint_a.switch
    for _ in range(count):
        await stack.controller.buffers.app.aput(
            KytosEvent("kytos/topology.switch.enabled", {"switch": switch}))
        await asyncio.sleep(interval)


class _OnRecord(logging.Handler):
    """Calls ``action()`` when a record whose message contains ``text`` is emitted."""

    def __init__(self, text: str, action: Callable[[], object]) -> None:
        super().__init__()
        self._text, self._action = text, action

    def emit(self, record: logging.LogRecord) -> None:
        if self._text in record.getMessage():
            self._action()


# -- many controllers, one cluster -----------------------------------------------------------

async def _bound_queue(url: str, name: str, exchange: str, pattern: str) -> None:
    """A consumer's own quorum queue, bound to ``exchange`` with ``pattern``."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, durable=True,
                                            arguments={"x-queue-type": "quorum"})
        await queue.bind(exchange, pattern)
    finally:
        await connection.close()


async def test_two_domains_share_the_cluster_and_each_consumer_takes_its_choice(
        whole_cluster: RabbitCluster, monkeypatch: pytest.MonkeyPatch):
    """Two controllers (DOMAIN_SCOPE "ampath" and "sax"), each on its own node of the
    cluster, publish the same kind of events and a status of the same link id. A consumer
    bound with "ampath.#" reads ampath's messages only, one bound with "#" reads both
    domains', and each domain's queues - its events queue and its link status queue, same
    link id - are its own."""
    cluster = whole_cluster
    configure(monkeypatch, "cluster.domains")
    monkeypatch.setattr("mq_producer.settings.LINK_STATUS", {
        "enabled": True, "exchange": LINK_EXCHANGE, "queue_prefix": LINK_PREFIX,
        "metadata": {"interdomain": True}, "link_ids": [], "copy_routing_key": "{link_id}"})
    mine, everyone, sax_copies = ("cluster.consumer.ampath", "cluster.consumer.all",
                                  "cluster.consumer.sax_links")
    stacks: dict[str, Stack] = {}
    created = [mine, everyone, sax_copies]
    try:
        for first_node, domain in enumerate(("ampath", "sax")):
            monkeypatch.setenv("KYTOS_MQ_DOMAIN_SCOPE", domain)
            monkeypatch.setenv("KYTOS_EVENTS_DOMAIN", domain)
            rotated = cluster.urls[first_node:] + cluster.urls[:first_node]
            stacks[domain] = await start_stack(monkeypatch, ",".join(rotated))
        nodes = {domain: node_in_use(stack, cluster) for domain, stack in stacks.items()}
        assert nodes == {"ampath": 0, "sax": 1}
        await _bound_queue(cluster.urls[2], mine, EXCHANGE, "ampath.#")
        await _bound_queue(cluster.urls[2], everyone, EXCHANGE, "#")
        await _bound_queue(cluster.urls[2], sax_copies, LINK_EXCHANGE, "sax.#")

        shared_link = {domain: make_link(60, interdomain=True) for domain in stacks}
        for seed, (domain, stack) in enumerate(stacks.items()):
            await emit_stream(stack, 300, RATE, seed=seed)
            await _set_status(stack, shared_link[domain], up=domain == "sax")
        for stack in stacks.values():
            await settled(stack)
        sent = {domain: {e["message_id"] for e in handed_on(stack)}
                for domain, stack in stacks.items()}
        assert all(len(ids) == 301 for ids in sent.values())
        link_id = shared_link["ampath"].id
        assert link_id == shared_link["sax"].id
        created += [f"{domain}.cluster.domains" for domain in stacks]
        created += [f"{domain}.{LINK_PREFIX}{link_id}" for domain in stacks]

        read = {name: await drain(cluster.urls[2], name)
                for name in (mine, everyone, "ampath.cluster.domains", "sax.cluster.domains")}
        ids = {name: [body["message_id"] for body in bodies] for name, bodies in read.items()}
        status_queues = {domain: await _read_all(cluster.urls[2],
                                                 f"{domain}.{LINK_PREFIX}{link_id}")
                         for domain in stacks}
        copies = await _read_all(cluster.urls[2], sax_copies)
        print(f"\ntwo domains on one cluster (ampath on {cluster.names[0]}, sax on "
              f"{cluster.names[1]}): 'ampath.#' read {len(ids[mine])}, '#' read "
              f"{len(ids[everyone])}, ampath's queue {len(ids['ampath.cluster.domains'])}, "
              f"sax's {len(ids['sax.cluster.domains'])}; status queues of link "
              f"{link_id[:12]}: " + ", ".join(
                  f"{domain} {[body['link']['status'] for body in bodies]}"
                  for domain, bodies in status_queues.items())
              + f"; sax's copies {[body['link']['status'] for body in copies]}")
        assert sorted(ids[mine]) == sorted(sent["ampath"])
        assert {body["producer"]["domain"] for body in read[mine]} == {"ampath"}
        assert sorted(ids[everyone]) == sorted(sent["ampath"] | sent["sax"])
        assert sorted(ids["ampath.cluster.domains"]) == sorted(sent["ampath"])
        assert sorted(ids["sax.cluster.domains"]) == sorted(sent["sax"])
        assert [(body["producer"]["domain"], body["link"]["status"])
                for body in status_queues["ampath"]] == [("ampath", "DOWN")]
        assert [(body["producer"]["domain"], body["link"]["status"])
                for body in status_queues["sax"]] == [("sax", "UP")]
        assert [(body["producer"]["domain"], body["link"]["id"]) for body in copies] == [
            ("sax", link_id)]
        assert queue_types(cluster, *created[3:]) == dict.fromkeys(created[3:], "quorum")
    finally:
        for stack in stacks.values():
            await stack.stop()
        for name in created:
            await _delete_queue(cluster, name)
