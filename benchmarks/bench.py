"""Benchmark of listen_events + mq_producer against one RabbitMQ broker (issue 5).

One run, one broker (KYTOS_MQ_URL, default amqp://guest:guest@127.0.0.1:5672/), every figure
next to a baseline measured in the same run. Timings are printed, never asserted; the issue's
targets get an informational PASS / MISS.

  1. raw aio-pika: the same envelope bytes published with confirms, 256 in flight; and one at
     a time, awaiting each confirm (the seed's pika way)
  2. production path: KytosEvents (link_up / link_down over LINKS links) on the stand-in
     controller's app buffer -> listen_events -> hand-off event -> mq_producer -> outbox ->
     publisher -> confirm; events/s from the first put until every message is confirmed
  3. ratios of 2 to both baselines
  4. latency KytosEvent.timestamp -> a consumer in a SEPARATE process, paced at 1,000 ev/s
  5. controller CPU per event (time.process_time, no consumer in this process) and the
     longest event-loop stall during a 10,000-event burst (1 ms ticker); the burst ratio of
     issue 21 as the median of rounds of raw aio-pika, the NApps and the dispatch alone
     back to back (--burst-rounds)
  6. topology_loaded of 1,000 switches / 5,000 links, put -> confirmed
  7. paced CPU (issue 21): CPU per event at 500 and 1,000 ev/s, link events, beside raw
     aio-pika's CPU per message at the same paces, and its publishing alone (less its paced
     sender's); p50 / p99 latency to a consumer at each
  8. the all-events mix (issue 16): listen_events with PROFILE "all" fed what a 100-switch
     network emits while a link flaps (topology, of_core, mef_eline, flow_manager events and
     block-listed OpenFlow noise): CPU per event beside raw aio-pika's CPU per message for
     the same messages, the noise's own CPU, and the longest loop stall
  9. cluster (issue 17; only with --cluster or --cluster-only): 1 and 2's burst on a private
     three-node RabbitMQ cluster (tests/support/rabbit_cluster.py), QUEUE_TYPE "quorum", and on
     the single broker with classic queues, in the same run: NApps / raw aio-pika on each, and
     the cost of replication (cluster / single node) for both

Kytos-ng core is not on PyPI: the NApps run unchanged in tests/support/kytos_controller.py with
tests/kytos_double, as the demo does. Exchanges and queues are named ``bench.<run id>.*`` and
deleted at the end.

    .venv/bin/python benchmarks/bench.py            # full run, about a minute
    .venv/bin/python benchmarks/bench.py --quick    # smoke run, about 15 s
    .venv/bin/python benchmarks/bench.py --cluster-only   # only section 9, about 1.5 minutes
"""

import argparse
import asyncio
import contextlib
import gc
import inspect
import itertools
import json
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KYTOS_MQ_URL", DEFAULT_URL)
_argv, sys.argv = sys.argv, sys.argv[:1]  # real core's KytosConfig parses sys.argv
try:
    import kytos.core  # noqa: F401  (real kytos-ng core, when installed)
except ImportError:
    sys.path.insert(0, str(ROOT / "tests" / "kytos_double"))

import aio_pika  # noqa: E402
from aio_pika.abc import AbstractExchange, AbstractRobustConnection  # noqa: E402
from aiormq.abc import DeliveredMessage  # noqa: E402
from kytos.core import KytosEvent  # noqa: E402
from kytos.core.interface import Interface  # noqa: E402
from kytos.core.switch import Switch  # noqa: E402

from benchmarks.wakeups import LoopCounter  # noqa: E402
from listen_events import settings as listen_settings  # noqa: E402
from listen_events.config import load_config as load_listen_config  # noqa: E402
from listen_events.main import Main as ListenEvents  # noqa: E402
from listen_events.pipeline import TOPOLOGY_LOADED, EventPipeline  # noqa: E402
from mq_producer import settings as producer_settings  # noqa: E402
from mq_producer.config import load_config as load_producer_config  # noqa: E402
from mq_producer.envelopes import to_messages  # noqa: E402
from mq_producer.main import Main as MqProducer  # noqa: E402
from mq_producer.outbox import OutboundMessage  # noqa: E402
from mq_producer.publisher import ProducerCounters, Publisher  # noqa: E402
from mq_producer.transports.amqp.broker import broker_from_env  # noqa: E402
from mq_producer.transports.amqp.confirm_reads import PUBLISH_METHOD  # noqa: E402
from mq_producer.transports.amqp.frames import FRAME_METHOD, FRAME_OVERHEAD  # noqa: E402
from tests.support.kytos_controller import FakeController  # noqa: E402
from tests.support.rabbit_cluster import (  # noqa: E402
    RabbitCluster,
    private_cluster,
    rabbitmq_available,
)
from tests.support.topology import (  # noqa: E402
    interface_event,
    link_event,
    make_link,
    make_topology,
)

sys.argv = _argv

LINK_DOWN = "kytos/topology.link_down"
LINK_UP = "kytos/topology.link_up"
WINDOW = 256  # raw baseline's publishes in flight = mq_producer's default MAX_IN_FLIGHT
PUBLISH_TIMEOUT = 10.0  # as mq_producer's default PUBLISH_TIMEOUT, passed the same way
SINK_MAX_LENGTH = 1000  # the sink queue keeps the newest messages only (broker memory)
# The NApps' own long-running tasks (coroutine names), and the stand-in core's dispatcher.
NAPP_TASKS = ("HandOffWorker._run", "HandOffIntake._run", "Publisher.run")
DISPATCH_TASK = "FakeController._event_handler"


# ----------------------------------------------------------------------------------- figures


@dataclass
class Figures:
    """Everything measured, for --json."""

    events: int = 0
    links: int = 0
    buffer_size: int = 0
    envelope_bytes: float = 0.0
    raw_pipelined_msg_s: float = 0.0
    raw_pipelined_runs: list[float] = field(default_factory=list)
    raw_cpu_us_per_msg: float = 0.0
    serial_msg_s: float = 0.0
    serial_messages: int = 0
    production_ev_s: float = 0.0
    production_cpu_us_per_event: float = 0.0
    production_confirmed: int = 0
    production_lost: dict[str, int] = field(default_factory=dict)
    ratio_production_raw: float = 0.0
    ratio_production_serial: float = 0.0
    burst_events: int = 0
    burst_ev_s: float = 0.0
    burst_stall_max_ms: float = 0.0
    burst_stall_p99_ms: float = 0.0
    burst_ticks_over_5ms: int = 0
    burst_stall_without_gc_ms: float = 0.0
    burst_stall_on_cpu_ms: float = 0.0
    burst_napp_step_max_ms: float = 0.0
    burst_dispatch_step_max_ms: float = 0.0
    burst_dispatch_stall_max_ms: float = 0.0
    burst_dispatch_stall_without_gc_ms: float = 0.0
    dispatch_cpu_us_per_event: float = 0.0
    burst_own_ratio: float = 0.0  # the NApps' own CPU per event / raw's per message
    burst_own_ratios: list[float] = field(default_factory=list)  # per alternated round
    burst_own_rounds_us: list[tuple[float, float]] = field(default_factory=list)  # own, raw
    latency_rate: float = 0.0
    latency_received: int = 0
    latency_sent: int = 0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    latency_max_ms: float = 0.0
    latency_stall_max_ms: float = 0.0
    raw_latency_p50_ms: float = 0.0
    raw_latency_p99_ms: float = 0.0
    topology_switches: int = 0
    topology_links: int = 0
    topology_messages: int = 0
    topology_body_bytes: int = 0
    topology_handed_on_s: float = 0.0
    topology_event_confirmed_s: float = 0.0
    topology_all_confirmed_s: float = 0.0
    topology_stall_max_ms: float = 0.0
    topology_stall_without_gc_ms: float = 0.0
    topology_napp_step_max_ms: float = 0.0
    topology_cpu_s: float = 0.0
    topology_fresh_all_confirmed_s: float = 0.0
    topology_fresh_stall_max_ms: float = 0.0
    # The same messages (the topology's and its snapshots, as the NApps published them)
    # through raw aio-pika, 256 in flight, first publish to last confirm; and the NApps' over it.
    topology_raw_all_confirmed_s: float = 0.0
    topology_ratio_to_raw: float = 0.0
    # 7. paced CPU, per pace (events/s, as a string): "events", "napps_cpu_us_per_event",
    # "raw_cpu_us_per_msg", "ratio_cpu", "napps_p50_ms" / "napps_p99_ms", "raw_p50_ms" /
    # "raw_p99_ms", "received" / "raw_received" (all rounds' latencies pooled), "rounds",
    # "p99_over_raw_ms_by_round", and each latency split at the socket write:
    # "napps_to_write_p50_ms", "napps_after_write_p50_ms" (p99 too; raw_ likewise)
    paced_seconds: float = 0.0
    paced_idle_cpu_ms_per_s: float = 0.0
    paced: dict[str, dict[str, float]] = field(default_factory=dict)
    # 8. the all-events mix
    mix_events: int = 0
    mix_flaps: int = 0
    mix_messages: int = 0
    mix_cycle: dict[str, int] = field(default_factory=dict)  # events of each name per flap
    mix_envelope_bytes: float = 0.0
    mix_ev_s: float = 0.0
    mix_cpu_us_per_event: float = 0.0
    mix_cpu_us_per_message: float = 0.0
    mix_raw_msg_s: float = 0.0
    mix_raw_cpu_us_per_msg: float = 0.0
    mix_ratio_cpu_per_event: float = 0.0
    mix_ratio_cpu_per_message: float = 0.0
    mix_ratio_rounds: list[float] = field(default_factory=list)  # per event, each round's
    mix_lost: dict[str, int] = field(default_factory=dict)
    mix_dispatch_cpu_us_per_event: float = 0.0
    mix_noise_events: int = 0
    mix_noise_cpu_us_per_event: float = 0.0
    mix_noise_reached_pipeline: int = 0
    mix_stall_max_ms: float = 0.0
    mix_stall_without_gc_ms: float = 0.0
    mix_stall_on_cpu_ms: float = 0.0
    mix_napp_step_max_ms: float = 0.0
    # 9. cluster: "single" and "cluster" (each "napps_ev_s", "napps_cpu_us_per_event",
    # "napps_confirmed", "napps_not_confirmed", "raw_msg_s", "raw_cpu_us_per_msg",
    # "ratio_ev_s", "ratio_cpu" (NApps / raw), "confirm_ms" (raw, serial)), and
    # "replication": cluster / single of the NApps' and raw's figures
    cluster_nodes: int = 0
    cluster_start_s: float = 0.0
    cluster_rabbitmq: str = ""
    cluster: dict[str, dict[str, float]] = field(default_factory=dict)
    verdicts: dict[str, str] = field(default_factory=dict)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def out(text: str = "") -> None:
    print(text, flush=True)


def row(label: str, value: str, note: str = "") -> None:
    out(f"  {label:<46} {value:>18}  {note}".rstrip())


def verdict(figures: Figures, name: str, ok: bool, extra: str = "") -> str:
    text = ("PASS" if ok else "MISS") + (f" {extra}" if extra else "")
    figures.verdicts[name] = text
    return text


# ------------------------------------------------------------------------------ measurement


class GcMeter:
    """The garbage collector's pauses while in the ``with`` block (a cause of loop stalls;
    they grow with what the process holds, e.g. a backlog of events)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []  # (generation, seconds)
        self.ended: list[float] = []  # perf_counter() at the end of each pause
        self._start = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            end = time.perf_counter()
            self.pauses.append((info["generation"], end - self._start))
            self.ended.append(end)

    def within(self, start: float, end: float) -> float:
        """Seconds of collection that ended between ``start`` and ``end``."""
        return sum(pause for (_, pause), ended in zip(self.pauses, self.ended, strict=True)
                   if start <= ended <= end)

    def __enter__(self) -> "GcMeter":
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self._on_gc)

    @property
    def summary(self) -> str:
        full = [pause for generation, pause in self.pauses if generation == 2]
        longest = max((pause for _, pause in self.pauses), default=0.0)
        return (f"GC meanwhile: {len(self.pauses)} collections ({len(full)} full), "
                f"longest {longest * 1000:.1f} ms, "
                f"{sum(pause for _, pause in self.pauses) * 1000:.0f} ms in all")


class StallMeter:
    """A task that sleeps 1 ms at a time and records how late it wakes up: the loop stalls.
    Records the garbage collector's pauses meanwhile too."""

    def __init__(self, period: float = 0.001) -> None:
        self.period = period
        self.lateness: list[float] = []
        self.ticks: list[tuple[float, float]] = []  # (asleep at, awake at)
        self.cpu: list[float] = []  # this thread's CPU time from asleep to awake, per tick
        self.gc = GcMeter()
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            start, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(self.period)
            end = time.perf_counter()
            self.cpu.append(time.thread_time() - cpu)
            self.lateness.append(end - start - self.period)
            self.ticks.append((start, end))

    def __enter__(self) -> "StallMeter":
        self.gc.__enter__()
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.gc.__exit__()

    @property
    def max_ms(self) -> float:
        return max(self.lateness, default=0.0) * 1000

    @property
    def max_without_gc_ms(self) -> float:
        """The longest stall once the collector's pauses inside it are taken out: the
        code's own share."""
        return max((late - self.gc.within(start, end)
                    for late, (start, end) in zip(self.lateness, self.ticks, strict=True)),
                   default=0.0) * 1000

    @property
    def max_on_cpu_ms(self) -> float:
        """The longest stall counting only the time this thread ran (GC included): a tick
        late by L whose window held C of this thread's CPU time counts min(L, C). The rest of
        a stall the thread was not running at all: on a host whose CPUs it shares with the
        broker, the OS ran something else."""
        return max((min(late, cpu) for late, cpu in zip(self.lateness, self.cpu, strict=True)),
                   default=0.0) * 1000

    def pct_ms(self, pct: float) -> float:
        return percentile(self.lateness, pct) * 1000

    def over(self, seconds: float) -> int:
        return sum(1 for late in self.lateness if late > seconds)


class StepMeter:
    """The longest single step (thread CPU time, less the garbage collector's pauses inside
    it) of each task or callback on the loop, by coroutine name: who holds the loop. Wraps
    asyncio's Handle._run while in the block, which costs about a microsecond per callback."""

    def __init__(self) -> None:
        self.longest: dict[str, float] = {}
        self._original: Callable[[asyncio.Handle], None] | None = None
        self._gc = GcMeter()

    @staticmethod
    def label(handle: asyncio.Handle) -> str:
        callback = handle._callback  # type: ignore[attr-defined]
        task = getattr(callback, "__self__", None)
        if isinstance(task, asyncio.Task):
            coro = task.get_coro()
            return getattr(coro, "__qualname__", type(coro).__name__)
        return getattr(callback, "__qualname__", type(callback).__name__)

    def __enter__(self) -> "StepMeter":
        original = self._original = asyncio.Handle._run
        longest, label, pauses = self.longest, self.label, self._gc.pauses
        self._gc.__enter__()

        def timed(handle: asyncio.Handle) -> None:
            start, collections = time.thread_time(), len(pauses)
            original(handle)
            spent = time.thread_time() - start - sum(
                pause for _, pause in pauses[collections:])
            name = label(handle)
            if spent > longest.get(name, 0.0):
                longest[name] = spent

        asyncio.Handle._run = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.Handle._run = self._original  # type: ignore[method-assign]
        self._gc.__exit__()

    def ms(self, name: str) -> float:
        return self.longest.get(name, 0.0) * 1000


async def wait_until(condition: Callable[[], bool], limit: float, what: str,
                     poll: float = 0.002) -> float:
    """Poll until ``condition()`` (at most ``limit`` seconds); return perf_counter() when
    first seen true."""
    deadline = time.perf_counter() + limit
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what}: not reached in {limit:.0f}s")
        await asyncio.sleep(poll)
    return time.perf_counter()


def settled(counters: ProducerCounters) -> int:
    """Messages the producer is done with, whatever the outcome."""
    return (counters.confirmed + counters.returned + counters.dropped + counters.suppressed
            + counters.rejected)


# ---------------------------------------------------------------------------- the NApp stack


class _NoLog(list[Any]):
    """Replaces the stand-in controller's ``seen`` list (a test aid core does not have): it
    would keep every event of the run alive and make the garbage collector's full passes,
    hence the loop stalls measured here, grow with the run."""

    def append(self, _item: Any) -> None:
        return None


@dataclass
class Stack:
    controller: FakeController
    listen: ListenEvents
    producer: MqProducer

    @property
    def publisher(self) -> Publisher:
        assert self.producer.publisher is not None
        return self.producer.publisher

    @property
    def pipeline(self) -> EventPipeline:
        assert self.listen.pipeline is not None
        return self.listen.pipeline

    def idle(self) -> bool:
        worker = self.listen.worker
        return (self.controller.buffers.app.queue.empty() and not self.controller._tasks
                and (worker is None or worker.idle) and len(self.publisher.outbox) == 0)


@dataclass(frozen=True)
class Names:
    prefix: str

    @property
    def exchanges(self) -> dict[str, str]:
        return {kind: f"{self.prefix}.{kind}" for kind in
                ("admin_events", "operational_events", "other_events", "interdomain_links")}

    @property
    def operational(self) -> str:
        return self.exchanges["operational_events"]

    @property
    def sink(self) -> str:
        return f"{self.prefix}.sink"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.dead"

    @property
    def link_queue_prefix(self) -> str:
        return f"{self.prefix}.interdomain_link."

    @property
    def link_queues_exchange(self) -> str:
        """mq_producer declares it (LINK_STATUS's queue prefix + "queues") even with no
        interdomain link: cleanup() deletes it too."""
        return f"{self.link_queue_prefix}queues"

    def latency_queue(self, what: str) -> str:
        return f"{self.prefix}.latency.{what}"


MERGED_SETTINGS = {"LINK_STATUS"}  # producer_settings_for's dicts that update the setting's


def producer_settings_for(names: Names, *, basic_publish: bool = False) -> dict[str, Any]:
    """mq_producer's settings for a run: the defaults (BUFFER_SIZE included: a burst larger
    than it waits for room while the broker confirms) with bench.* names and one bounded sink
    queue, so every message is routed (confirmed, not returned). Plain values (kytosd_paced.py
    writes them into a copy of settings.py); those of MERGED_SETTINGS update the setting's
    own dict."""
    exchanges = names.exchanges
    return {
        # This benchmark is of the RabbitMQ / aio-pika transport, whatever else mq_producer
        # offers.
        "TRANSPORT": "amqp",
        "ROUTES": [
            {"event_class": "administrative", "exchange": exchanges["admin_events"],
             "routing_key": "{event_class}.{event_name}"},
            {"event_class": "operational", "exchange": exchanges["operational_events"],
             "routing_key": "{event_class}.{event_name}"},
            {"exchange": exchanges["other_events"], "routing_key": "{event_class}.{event_name}"},
        ],
        # Bound to the exchange of every route (section 8's events of other NApps go to
        # other_events), so that every message is routed, never returned.
        "QUEUES": [
            {"queue": names.sink, "exchange": exchanges[kind], "binding": "#",
             "arguments": {"x-max-length": SINK_MAX_LENGTH}}
            for kind in ("operational_events", "admin_events", "other_events")],
        # Merged into the setting's own dict (MERGED_SETTINGS).
        "LINK_STATUS": {"exchange": exchanges["interdomain_links"],
                        "queue_prefix": names.link_queue_prefix},
        "DEAD_LETTER": names.dead_letter,
        # One queue per message, as raw aio-pika's: the per-NApp and verbose queues would make
        # the broker route each message three times (and outlive the run).
        "NAPP_QUEUES": {"enabled": False},
        "VERBOSE_QUEUE": {"enabled": False},
        "AMQP_FAST_PATH": not basic_publish,
    }


def configure_producer(names: Names, *, basic_publish: bool = False) -> None:
    """mq_producer's settings module, in memory only: ``producer_settings_for(names)``."""
    os.environ["KYTOS_MQ_TRANSPORT"] = "amqp"
    for name, value in producer_settings_for(names, basic_publish=basic_publish).items():
        if name in MERGED_SETTINGS:
            value = {**getattr(producer_settings, name), **value}
        setattr(producer_settings, name, value)


async def start_stack() -> Stack:
    controller = FakeController(record_handed_over=False)
    controller.seen = _NoLog()
    listen = controller.load_napp(ListenEvents)
    producer = controller.load_napp(MqProducer)
    if listen.pipeline is None or producer.publisher is None:
        raise SystemExit(f"a NApp is disabled: {listen.disabled_reason or ''} "
                         f"{producer.disabled_reason or ''}")
    stack = Stack(controller, listen, producer)
    await wait_until(lambda: stack.publisher.transport.connected, 30, "producer connected")
    return stack


def kytos_event(name: str, content: dict[str, Any]) -> Any:
    """A KytosEvent (the stand-in core is untyped)."""
    return KytosEvent(name, content)  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class LinkEvents:
    """``count`` link_down / link_up events cycling over ``links``, each made when iterated to,
    as the topology NApp makes one just before putting it on the app buffer: a list made in
    advance would be thousands of fresh objects aging through the garbage collector's
    generations during the measurement, a full collection the controller would not have."""

    links: Sequence[Any]
    count: int
    start: int = 0

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Any]:
        links = self.links
        for index in range(self.start, self.start + self.count):
            up = (index // len(links)) % 2 == 1
            yield kytos_event(LINK_UP if up else LINK_DOWN,
                              {"link": links[index % len(links)],
                               "reason": "link up" if up else "link down"})


async def build_messages(events: Sequence[Any]) -> list[OutboundMessage]:
    """What mq_producer would publish for ``events``: same routing, same encoded bytes."""
    pipeline = EventPipeline(load_listen_config(listen_settings))
    config = load_producer_config(producer_settings)
    messages: list[OutboundMessage] = []
    for event in events:
        processed = pipeline.process(event.name, event.id, event.timestamp, event.content)
        # EventPipeline.process is a coroutine since c17e479, a plain function before.
        envelopes = await processed if inspect.isawaitable(processed) else processed
        for envelope in envelopes:
            messages.extend(to_messages(envelope, config.router, config.link_status,
                                        time.time(), config.max_message_bytes))
    return messages


# ------------------------------------------------------------ the all-events mix (section 8)

IF_LINK_DOWN = "kytos/of_core.switch.interface.link_down"
IF_LINK_UP = "kytos/of_core.switch.interface.link_up"
IF_DOWN = "kytos/topology.interface.down"
IF_UP = "kytos/topology.interface.up"
EVC_REDEPLOYED = "kytos/mef_eline.redeployed_link_down"
EVC_CREATED = "kytos/mef_eline.created"
EVC_DEPLOYED = "kytos/mef_eline.deployed"
FLOW_ADDED = "kytos/flow_manager.flow.added"
FLOW_REMOVED = "kytos/flow_manager.flow.removed"
ECHO_REQUEST = "kytos/of_core.v0x04.messages.in.ofpt_echo_request"
PACKET_IN = "kytos/of_core.v0x04.messages.in.ofpt_packet_in"
NOISE = frozenset((ECHO_REQUEST, PACKET_IN))  # block-listed (BLOCKED_EVENTS' first pattern)

# The network the mix stands for (docs/benchmarks.rst, "The all-events mix"): 100 switches of
# 5 ports, 150 links (3 per switch), 300 EVCs whose paths are 3 links (4 switches) long, hence
# 6 EVCs over each link, each with 2 flows (one per direction) on each switch of its path.
MIX_EVCS_PER_LINK = 6
MIX_PATH_LINKS = 3
MIX_FLOWS_PER_PATH = 2 * (MIX_PATH_LINKS + 1)
MIX_DATAPATHS, MIX_PORTS = 100, 5
# Its OpenFlow background, per second: of_lldp's LLDP every 3 s out of both ends of 150 links
# comes back as 100 packet_in/s; an echo request every 5 s from each switch, 20/s.
MIX_PACKET_IN, MIX_ECHO = 100, 20
MIX_WARM_UP_FLAPS = 4
MIX_ROUNDS = 3  # the NApps' runs of the mix, each between two of raw aio-pika's

MixStep = tuple[str, int, int]  # event name; endpoint (0 / 1) or EVC slot; flow number


def spread(first: Sequence[MixStep], second: Sequence[MixStep]) -> list[MixStep]:
    """Both, each in its own order, the items of ``second`` evenly among those of ``first``."""
    keyed = [((index + 0.5) / len(items), rank, index, item)
             for rank, items in enumerate((first, second)) for index, item in enumerate(items)]
    return [item for *_, item in sorted(keyed, key=lambda entry: entry[:3])]


def flap_cycle() -> list[MixStep]:
    """The events of one link flap in the mix's network, in order, with a second of its
    OpenFlow background spread among them: the link goes down (of_core's port status on both
    ends, topology's interface and link events), each EVC over it moves to another path
    (flow_manager removes its flows and installs the new ones, then mef_eline says it was
    redeployed), the link comes back, and an operator creates and deploys one EVC meanwhile."""
    published: list[MixStep] = [(IF_LINK_DOWN, 0, 0), (IF_LINK_DOWN, 1, 0), (IF_DOWN, 0, 0),
                                (IF_DOWN, 1, 0), (LINK_DOWN, 0, 0)]
    for evc in range(MIX_EVCS_PER_LINK):
        published += [(FLOW_REMOVED, evc, flow) for flow in range(MIX_FLOWS_PER_PATH)]
        published += [(FLOW_ADDED, evc, flow) for flow in range(MIX_FLOWS_PER_PATH)]
        published.append((EVC_REDEPLOYED, evc, 0))
    published += [(IF_LINK_UP, 0, 0), (IF_LINK_UP, 1, 0), (IF_UP, 0, 0), (IF_UP, 1, 0),
                  (LINK_UP, 0, 0)]
    new = MIX_EVCS_PER_LINK  # the operator's EVC
    published += [(EVC_CREATED, new, 0),
                  *[(FLOW_ADDED, new, flow) for flow in range(MIX_FLOWS_PER_PATH)],
                  (EVC_DEPLOYED, new, 0)]
    noise = spread([(PACKET_IN, index, 0) for index in range(MIX_PACKET_IN)],
                   [(ECHO_REQUEST, index, 0) for index in range(MIX_ECHO)])
    return spread(published, noise)


def make_datapaths() -> list[Any]:
    """The switches flows are installed on: MIX_DATAPATHS of MIX_PORTS ports each (a flow
    event carries its switch, interfaces and all)."""
    switches = []
    for index in range(MIX_DATAPATHS):
        switch = Switch(f"00:00:00:00:00:00:03:{index:02x}")
        for port in range(1, MIX_PORTS + 1):
            switch.interfaces[port] = Interface(f"s{index}-eth{port}", port, switch)
        switches.append(switch)
    return switches


@dataclass(frozen=True)
class MixWorld:
    """What the mix's events are made of: flap ``n`` is of ``links[n % len(links)]``."""

    links: Sequence[Any]
    datapaths: Sequence[Any]
    cycle: Sequence[MixStep]

    def event(self, flap: int, name: str, slot: int, number: int) -> Any:
        link = self.links[flap % len(self.links)]
        if name in (LINK_UP, LINK_DOWN):
            return kytos_event(*link_event(link, name == LINK_UP))
        if name in (IF_LINK_DOWN, IF_LINK_UP, IF_DOWN, IF_UP):
            return kytos_event(*interface_event((link.endpoint_a, link.endpoint_b)[slot], name))
        if name in NOISE:
            return kytos_event(name, self.noise(flap, name, slot))
        if name.startswith("kytos/mef_eline."):
            return kytos_event(name, self.evc(flap, slot))
        return kytos_event(name, self.flow(flap, slot, number))

    def evc(self, flap: int, slot: int) -> dict[str, Any]:
        """mef_eline's event content (the EVC's id, name, UNIs, metadata and state), with its
        current path: a few Link objects."""
        links = self.links
        path = [links[(flap + slot + hop) % len(links)] for hop in range(MIX_PATH_LINKS)]
        evc_id = f"{flap:010x}{slot:04x}"
        vlan = {"tag_type": "vlan", "value": 100 + slot}
        return {"evc_id": evc_id, "id": evc_id, "name": f"bench-evc-{flap}-{slot}",
                "metadata": {"owner": "bench", "sdx_service": f"L2VPN-{flap}-{slot}"},
                "active": True, "enabled": True,
                "uni_a": {"interface_id": path[0].endpoint_a.id, "tag": vlan},
                "uni_z": {"interface_id": path[-1].endpoint_b.id, "tag": vlan},
                "current_path": path}

    def flow(self, flap: int, slot: int, number: int) -> dict[str, Any]:
        """flow_manager's event content: the switch and the flow (a dict)."""
        datapath = self.datapaths[(flap * 7 + slot * 3 + number // 2) % len(self.datapaths)]
        vlan = 100 + slot
        return {"datapath": datapath, "flow": {
            "id": f"{flap:016x}{slot:08x}{number:08x}", "switch": datapath.dpid,
            "table_id": 0, "priority": 20000, "cookie": 0xAA00000000000000 | flap << 8 | slot,
            "cookie_mask": 0, "idle_timeout": 0, "hard_timeout": 0, "owner": "mef_eline",
            "match": {"in_port": 1 + number % MIX_PORTS, "dl_vlan": vlan},
            "instructions": [{"instruction_type": "apply_actions", "actions": [
                {"action_type": "set_vlan", "vlan_id": vlan},
                {"action_type": "output", "port": 1 + (number + 1) % MIX_PORTS}]}]}}

    @staticmethod
    def noise(flap: int, name: str, number: int) -> dict[str, Any]:
        """of_core's message event content (never serialized: block-listed)."""
        header = {"version": 4, "message_type": 10 if name == PACKET_IN else 2,
                  "length": 102 if name == PACKET_IN else 8, "xid": flap * 1000 + number}
        message: dict[str, Any] = {"header": header}
        if name == PACKET_IN:
            message.update(buffer_id=0xFFFFFFFF, total_len=60, reason=0, table_id=0, cookie=0,
                           match={"in_port": 1 + number % MIX_PORTS}, data=bytes(60))
        return {"message": message, "source": f"10.0.{flap % 100}.1:6653"}


@dataclass(frozen=True)
class MixEvents:
    """``count`` events of the mix from event ``start`` on (flap after flap), each made when
    iterated to, as LinkEvents."""

    world: MixWorld
    count: int
    start: int = 0

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Any]:
        cycle = self.world.cycle
        for index in range(self.start, self.start + self.count):
            flap, position = divmod(index, len(cycle))
            yield self.world.event(flap, *cycle[position])

    @property
    def published(self) -> int:
        """Its events that are not block-listed noise: one message each."""
        cycle = self.world.cycle
        return sum(1 for index in range(self.start, self.start + self.count)
                   if cycle[index % len(cycle)][0] not in NOISE)


@contextlib.contextmanager
def listen_profile(profile: str) -> Iterator[str]:
    """listen_events' PROFILE for the NApps loaded and the pipelines built in the block, as
    after a restart with it (the subscription is read when listen_events is imported, for
    ``@alisten_to``). Yields the subscription."""
    saved_profile, saved_events = listen_settings.PROFILE, ListenEvents.on_event.events
    listen_settings.PROFILE = profile
    try:
        subscription = load_listen_config(listen_settings).subscription
        ListenEvents.on_event.events = [subscription]
        yield subscription
    finally:
        listen_settings.PROFILE = saved_profile
        ListenEvents.on_event.events = saved_events


# ----------------------------------------------------------------------- raw aio-pika paths


def amqp_message(message: OutboundMessage, headers: dict[str, Any] | None = None
                 ) -> aio_pika.Message:
    """The AMQP message mq_producer's transport builds (same properties)."""
    return aio_pika.Message(
        message.body, content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=message.message_id,
        timestamp=int(message.timestamp), type=message.event_name, app_id="kytos/mq_producer",
        headers=headers)


@dataclass
class RawResult:
    messages: int
    seconds: float
    cpu: float
    returned: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


async def publish_pipelined(exchange: AbstractExchange, messages: Sequence[OutboundMessage],
                            window: int = WINDOW,
                            exchanges: Mapping[str, AbstractExchange] | None = None
                            ) -> RawResult:
    """``window`` coroutines publishing from one shared iterator: ``window`` in flight. With
    ``exchanges`` (by name), each message goes to its own exchange, as mq_producer sends it."""
    source: Iterator[OutboundMessage] = iter(messages)
    returned = 0

    async def worker() -> None:
        nonlocal returned
        for message in source:
            target = exchange if exchanges is None else exchanges[message.exchange]
            result = await target.publish(amqp_message(message), message.routing_key,
                                          mandatory=True, timeout=PUBLISH_TIMEOUT)
            if isinstance(result, DeliveredMessage):
                returned += 1

    cpu, start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(window)))
    return RawResult(len(messages), time.perf_counter() - start, time.process_time() - cpu,
                     returned)


async def publish_serial(exchange: AbstractExchange, messages: Sequence[OutboundMessage],
                         budget: float) -> RawResult:
    """One publish at a time, each confirm awaited before the next; stops after ``budget``
    seconds (it is slow)."""
    returned = done = 0
    cpu, start = time.process_time(), time.perf_counter()
    for message in messages:
        result = await exchange.publish(amqp_message(message), message.routing_key,
                                        mandatory=True, timeout=PUBLISH_TIMEOUT)
        returned += isinstance(result, DeliveredMessage)
        done += 1
        if time.perf_counter() - start > budget:
            break
    return RawResult(done, time.perf_counter() - start, time.process_time() - cpu, returned)


# -------------------------------------------------------------------------- production path


@dataclass
class RunResult:
    events: int
    seconds: float
    cpu: float
    counters: dict[str, int]

    @property
    def rate(self) -> float:
        return self.events / self.seconds


# Events the stand-in sources put per turn of the loop. In kytosd each event comes from some
# handler's own step (topology's, for link events); one step putting a thousand would hold
# the loop for milliseconds of the benchmark's own making, and count as the NApps' stall.
FEED_PER_TURN = 8


async def feed(app: Any, events: Sequence[Any]) -> None:
    """Put events on the app buffer (it holds 1024) as fast as it takes them, at most
    FEED_PER_TURN per turn of the loop: still many times core's pace of one per turn."""
    for index, event in enumerate(events, 1):
        await app.aput(event)
        if index % FEED_PER_TURN == 0:
            await asyncio.sleep(0)


def delta(before: dict[str, int], after: ProducerCounters) -> dict[str, int]:
    return {name: value - before[name] for name, value in asdict(after).items()
            if value != before[name]}


async def run_production(stack: Stack, events: Sequence[Any], expected: int,
                         limit: float) -> RunResult:
    """From the first put until the producer is done with ``expected`` messages."""
    counters = stack.publisher.counters
    before = asdict(counters)
    target = settled(counters) + expected
    cpu, start = time.process_time(), time.perf_counter()
    feeder = asyncio.create_task(feed(stack.controller.buffers.app, events))
    end = await wait_until(lambda: settled(counters) >= target, limit, "production run")
    cpu = time.process_time() - cpu
    await feeder
    return RunResult(len(events), end - start, cpu, delta(before, counters))


# -------------------------------------------------------------------------------- latency


async def start_consumer(exchange: str, queue: str, count: int, limit: float
                         ) -> asyncio.subprocess.Process:
    """The latency consumer process, once its queue is bound; it stops after ``count``
    messages or ``limit`` seconds."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).with_name("latency_consumer.py")), exchange, queue,
        str(count), str(limit), stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    if line.strip() != b"ready":
        raise RuntimeError(f"latency consumer did not start: {line!r}")
    return process


async def consumer_latencies(process: asyncio.subprocess.Process, limit: float
                             ) -> list[float]:
    assert process.stdout is not None
    data = await asyncio.wait_for(process.stdout.read(), limit)  # one JSON line, then EOF
    await process.wait()
    return [float(value) for value in json.loads(data)]


async def paced(rate: float, count: int, send: Callable[[int], Awaitable[None]]) -> None:
    """Call ``send(i)`` at ``rate`` per second, on schedule (catching up if late)."""
    start = time.perf_counter()
    for index in range(count):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(index)


def link_event_sender(app: Any, links: Sequence[Any], sent: list[float] | None = None
                      ) -> Callable[[int], Awaitable[None]]:
    """``send(i)`` for ``paced``: flips link ``i`` and puts its link_up / link_down event on
    the app buffer, as topology does; with ``sent``, appends each event's timestamp (the
    latency consumer's send time) to it."""

    async def send_event(index: int) -> None:
        link = links[index % len(links)]
        link.active = not link.active
        event = kytos_event(LINK_UP if link.active else LINK_DOWN,
                            {"link": link, "reason": "link up" if link.active else "link down"})
        if sent is not None:
            sent.append(event.timestamp.timestamp())
        await app.aput(event)

    return send_event


def publishes_in(data: bytes | bytearray | memoryview) -> int:
    """The Basic.Publish method frames in ``data``, whole AMQP frames as written."""
    view, count, at = memoryview(data), 0, 0
    while at + 11 <= len(view):
        if view[at] == FRAME_METHOD and view[at + 7:at + 11] == PUBLISH_METHOD:
            count += 1
        at += FRAME_OVERHEAD + int.from_bytes(view[at + 3:at + 7], "big")
    return count


class PublishWrites:
    """While in the block, the time (``time.time()``) each published message went to a
    socket, in order, one entry per message (those of one write share it): aiormq's writer
    and mq_producer's fast path both write through ``asyncio.StreamWriter.write``, which
    this wraps."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._original: Callable[..., None] | None = None

    def __enter__(self) -> "PublishWrites":
        original = self._original = asyncio.StreamWriter.write
        times = self.times

        def write(writer: asyncio.StreamWriter, data: bytes | bytearray | memoryview) -> None:
            count = publishes_in(data)
            if count:
                times.extend([time.time()] * count)
            original(writer, data)

        asyncio.StreamWriter.write = write  # type: ignore[method-assign]
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.StreamWriter.write = self._original  # type: ignore[method-assign]


@dataclass
class PacedResult:
    sent: int
    cpu: float  # process CPU seconds from the first send until all confirmed
    latencies: list[float]  # seconds, as the consumer process saw them
    # Each latency split at the socket write: sent to written, written to received (empty
    # when the sends, writes and arrivals of a run could not be paired one to one, in order).
    to_write: list[float] = field(default_factory=list)
    after_write: list[float] = field(default_factory=list)

    @classmethod
    def paired(cls, count: int, cpu: float, latencies: list[float], sent: Sequence[float],
               written: Sequence[float]) -> "PacedResult":
        """A run's result, its latencies split at the write when each message's send time
        (``sent``), write time and arrival pair up in order (one queue, in order)."""
        result = cls(count, cpu, latencies)
        if len(sent) == len(written) == len(latencies) == count:
            result.to_write = [write - send for send, write in zip(sent, written, strict=True)]
            result.after_write = [latency - before for latency, before
                                  in zip(latencies, result.to_write, strict=True)]
        return result

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.sent * 1e6

    def ms(self, pct: float) -> float:
        return percentile(self.latencies, pct) * 1000

    def split_ms(self, pct: float) -> tuple[float, float] | None:
        """The ``pct`` percentile of the time to the socket write and of the time after it
        (ms); None unless every message of the result was paired."""
        if not self.to_write or len(self.to_write) != len(self.latencies):
            return None
        return (percentile(self.to_write, pct) * 1000,
                percentile(self.after_write, pct) * 1000)

    def __add__(self, other: "PacedResult") -> "PacedResult":
        return PacedResult(self.sent + other.sent, self.cpu + other.cpu,
                           self.latencies + other.latencies, self.to_write + other.to_write,
                           self.after_write + other.after_write)


async def paced_production(run: "Run", rate: float, count: int, queue: str) -> PacedResult:
    """``count`` link events through the NApps at ``rate``, a consumer process on its own
    ``queue``: the process CPU until the producer has settled them all, and the latencies."""
    wait = count / rate + 20
    run.latency_queues.append(run.names.latency_queue(queue))
    consumer = await start_consumer(run.names.operational, run.latency_queues[-1], count, wait)
    counters = run.stack.publisher.counters
    target = settled(counters) + count
    sent: list[float] = []
    with PublishWrites() as writes:
        cpu = time.process_time()
        await paced(rate, count,
                    link_event_sender(run.stack.controller.buffers.app, run.links, sent))
        await wait_until(lambda: settled(counters) >= target, wait, "paced production run")
        cpu = time.process_time() - cpu
    return PacedResult.paired(count, cpu, await consumer_latencies(consumer, wait + 10), sent,
                              writes.times)


async def paced_raw(run: "Run", rate: float, count: int, queue: str) -> PacedResult:
    """The same pace through raw aio-pika (the same envelope bytes, each publish in its own
    task): what the broker and the consumer alone cost."""
    wait = count / rate + 20
    run.latency_queues.append(run.names.latency_queue(queue))
    consumer = await start_consumer(run.names.operational, run.latency_queues[-1], count, wait)
    publishes: set[asyncio.Task[Any]] = set()
    sent: list[float] = []

    async def send_raw(index: int) -> None:
        message = run.raw_messages[index % len(run.raw_messages)]
        sent_us = time.time_ns() // 1000
        sent.append(sent_us / 1e6)
        task = asyncio.create_task(run.exchange.publish(
            amqp_message(message, {"x-bench-sent-us": sent_us}),
            message.routing_key, mandatory=True, timeout=PUBLISH_TIMEOUT))
        publishes.add(task)
        task.add_done_callback(publishes.discard)

    with PublishWrites() as writes:
        cpu = time.process_time()
        await paced(rate, count, send_raw)
        await asyncio.gather(*publishes)
        cpu = time.process_time() - cpu
    return PacedResult.paired(count, cpu, await consumer_latencies(consumer, wait + 10), sent,
                              writes.times)


# -------------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Options:
    events: int
    links: int
    burst: int
    rate: float
    latency_seconds: float
    switches: int
    topology_links: int
    serial_budget: float
    json_path: Path | None
    production_only: bool = False
    gc_freeze: bool = False
    basic_publish: bool = False
    paced_seconds: float = 4.0
    paced_rounds: int = 4  # section 7: alternated rounds per pace, pooled
    linger_ms: float = 10.0  # section 7: the NApps with LINGER_MS at this too (0: not)
    mix_events: int = 10_000
    mix_only: bool = False
    paced_only: bool = False
    burst_rounds: int = 3  # section 5: alternated rounds of the burst ratio
    cluster: bool = False  # section 9 after the others (or alone, with cluster_only)
    cluster_only: bool = False


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: small N, burst, latency window, topology, paced runs "
                             "and mix")
    parser.add_argument("-n", "--events", type=int, help="events for throughput (20000)")
    parser.add_argument("--links", type=int, default=100, help="links the events cycle over")
    parser.add_argument("--burst", type=int, help="events of the loop-stall burst (10000)")
    parser.add_argument("--rate", type=float, default=1000.0, help="latency pace, events/s")
    parser.add_argument("--latency-seconds", type=float, help="latency window (5)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--production-only", action="store_true",
                        help="run only section 2's production path (for a profiler, e.g. "
                             "py-spy record -- .venv/bin/python benchmarks/bench.py "
                             "--production-only)")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() once everything is set up, as a deployment may do "
                             "after start-up: full collections then skip the frozen heap")
    parser.add_argument("--basic-publish", action="store_true",
                        help="mq_producer publishes through aiormq's basic_publish "
                             "(AMQP_FAST_PATH off): the fast path's worth, in ratios")
    parser.add_argument("--paced-seconds", type=float,
                        help="section 7: seconds of each paced run, per pace and path (4)")
    parser.add_argument("--paced-rounds", type=int,
                        help="section 7: rounds per pace, the paths' order alternating, their "
                             "events shared out and their latencies pooled (4)")
    parser.add_argument("--linger-ms", type=float, default=10.0,
                        help="section 7: also the NApps with listen_events' LINGER_MS at this "
                             "(milliseconds; 0: not) (10)")
    parser.add_argument("--mix-events", type=int,
                        help="section 8: events of the all-events mix, rounded up to whole "
                             "link flaps (10000)")
    parser.add_argument("--mix-only", action="store_true",
                        help="run only section 8, the all-events mix (e.g. for a profiler)")
    parser.add_argument("--paced-only", action="store_true",
                        help="run only section 7, the paced runs (e.g. for a profiler)")
    parser.add_argument("--burst-rounds", type=int,
                        help="section 5: rounds of raw aio-pika, the NApps and the stand-in "
                             "dispatch alone, back to back, for the burst ratio's median (3)")
    parser.add_argument("--cluster", action="store_true",
                        help="then section 9: sections 1 and 2 on a private three-node "
                             "RabbitMQ cluster with quorum queues beside the single broker "
                             "(the cluster takes 15-20 s to start)")
    parser.add_argument("--cluster-only", action="store_true",
                        help="run only section 9 (implies --cluster)")
    args = parser.parse_args(argv)
    quick = args.quick
    return Options(
        events=args.events or (2000 if quick else 20_000), links=args.links,
        burst=args.burst or (1000 if quick else 10_000), rate=args.rate,
        latency_seconds=args.latency_seconds or (1.0 if quick else 5.0),
        switches=100 if quick else 1000, topology_links=500 if quick else 5000,
        serial_budget=1.0 if quick else 4.0, json_path=args.json,
        production_only=args.production_only, gc_freeze=args.gc_freeze,
        basic_publish=args.basic_publish,
        paced_seconds=args.paced_seconds or (1.0 if quick else 4.0),
        paced_rounds=max(args.paced_rounds or (2 if quick else 4), 1), linger_ms=args.linger_ms,
        mix_events=args.mix_events or (2000 if quick else 10_000), mix_only=args.mix_only,
        paced_only=args.paced_only, burst_rounds=max(args.burst_rounds or (1 if quick else 3), 1),
        cluster=args.cluster or args.cluster_only,
        cluster_only=args.cluster_only)


async def cleanup(url: str, names: Names, queues: Sequence[str]) -> tuple[int, int]:
    """Delete the run's queues and exchanges (all named bench.<run id>.*)."""
    deleted_queues = deleted_exchanges = 0
    connection = await aio_pika.connect(url)
    try:
        for queue in queues:
            if queue.startswith(names.prefix + "."):
                channel = await connection.channel()
                with contextlib.suppress(aio_pika.exceptions.AMQPException):
                    await channel.queue_delete(queue)
                    deleted_queues += 1
                with contextlib.suppress(aio_pika.exceptions.AMQPException):
                    await channel.close()
        for exchange in [*names.exchanges.values(), names.dead_letter,
                         names.link_queues_exchange]:
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.AMQPException):
                await channel.exchange_delete(exchange)
                deleted_exchanges += 1
            with contextlib.suppress(aio_pika.exceptions.AMQPException):
                await channel.close()
    finally:
        await connection.close()
    return deleted_queues, deleted_exchanges


@dataclass
class Run:
    """What the phases share."""

    options: Options
    names: Names
    figures: Figures
    stack: Stack
    channel: aio_pika.abc.AbstractChannel  # the baselines' own (confirms)
    exchange: AbstractExchange  # the operational exchange, on that channel
    links: list[Any]
    raw_messages: list[OutboundMessage]
    latency_queues: list[str] = field(default_factory=list)


def node_in_use(url: str, stack: Stack) -> str:
    """The entry of ``url`` (KYTOS_MQ_URL: one URL, or a cluster's, comma-separated) naming
    the node the producer is connected to: the baselines publish through the same node."""
    entries = [entry.strip() for entry in url.split(",")]
    broker = broker_from_env({"KYTOS_MQ_URL": url})
    description = stack.publisher.transport.description
    for index, entry in enumerate(entries):
        if broker.node(index).display == description:
            return entry
    raise RuntimeError(f"the producer's node {description} is not in KYTOS_MQ_URL")


@contextlib.asynccontextmanager
async def open_run(options: Options, names: Names, figures: Figures, url: str,
                   raw_messages: bool = True) -> AsyncIterator[Run]:
    """The NApps started on ``url`` (KYTOS_MQ_URL; configure_producer(names) done), the
    baselines' confirming channel on the producer's node and, with ``raw_messages``, the
    envelopes of ``options.events`` link events. On leaving: all stopped, and the queues and
    exchanges named ``names.prefix.*`` deleted."""
    stack = await start_stack()
    node = node_in_use(url, stack)
    connection: AbstractRobustConnection = await aio_pika.connect_robust(node)
    latency_queues: list[str] = []
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(names.operational, ensure=False)
        links = [make_link(index) for index in range(1, options.links + 1)]
        messages = await build_messages(LinkEvents(links, options.events)) if raw_messages \
            else []
        yield Run(options=options, names=names, figures=figures, stack=stack, channel=channel,
                  exchange=exchange, links=links, raw_messages=messages,
                  latency_queues=latency_queues)
    finally:
        queues = [*stack.publisher.transport.queues, *latency_queues]
        await stop_stack(stack)
        await connection.close()
        deleted = await cleanup(node, names, queues)
        out(f"\ncleanup: deleted {deleted[0]} queues and {deleted[1]} exchanges named "
            f"{names.prefix}.*")


async def phase_baselines(run: Run, heading: bool = True) -> tuple[RawResult, RawResult]:
    if heading:
        out("\n1. baseline: raw aio-pika, same envelope bytes and properties, same exchange")
    await publish_pipelined(run.exchange, run.raw_messages[:1000])  # warm-up
    pipelined = await publish_pipelined(run.exchange, run.raw_messages)
    row(f"pipelined, {WINDOW} in flight, confirms", f"{pipelined.rate:,.0f} msg/s",
        f"{pipelined.messages} msgs in {pipelined.seconds:.2f} s, "
        f"{pipelined.cpu / pipelined.messages * 1e6:.0f} us CPU/msg"
        + (f", {pipelined.returned} RETURNED" if pipelined.returned else ""))
    serial = await publish_serial(run.exchange, run.raw_messages, run.options.serial_budget)
    run.figures.serial_msg_s, run.figures.serial_messages = serial.rate, serial.messages
    row("serial: await each confirm in turn", f"{serial.rate:,.0f} msg/s",
        f"{serial.messages} msgs in {serial.seconds:.2f} s (time-boxed)")
    return pipelined, serial


async def phase_production(run: Run, heading: bool = True) -> RunResult:
    if heading:
        out("\n2. production path: app buffer -> listen_events -> hand-off -> mq_producer "
            "-> confirm")
    figures, links = run.figures, run.links
    await run_production(run.stack, LinkEvents(links, 1000), 1000, 60)  # warm-up
    events = LinkEvents(links, run.options.events)
    with GcMeter() as collector:
        production = await run_production(run.stack, events, len(events), 120)
    figures.production_ev_s = production.rate
    figures.production_cpu_us_per_event = production.cpu / production.events * 1e6
    figures.production_confirmed = production.counters.get("confirmed", 0)
    figures.production_lost = {name: value for name, value in production.counters.items()
                               if name not in ("received", "published", "confirmed")}
    row("events -> confirmed", f"{production.rate:,.0f} ev/s",
        f"{production.events} events in {production.seconds:.2f} s, "
        f"{figures.production_cpu_us_per_event:.0f} us CPU/event")
    out(f"  {collector.summary}")
    if figures.production_lost:
        out(f"  WARNING: not all confirmed: {figures.production_lost}")
    return production


async def measure_burst(run: Run, headings: bool = True) -> tuple[RunResult, RawResult]:
    """Sections 1 and 2: raw aio-pika pipelined and serial, the NApps' burst, raw pipelined
    again (the baseline is the mean of both pipelined runs). Returns (production, serial)."""
    figures = run.figures
    pipelined, serial = await phase_baselines(run, headings)
    production = await phase_production(run, headings)
    again = await publish_pipelined(run.exchange, run.raw_messages)
    row("raw pipelined again, after it (drift check)", f"{again.rate:,.0f} msg/s",
        f"{again.messages} msgs in {again.seconds:.2f} s")
    figures.raw_pipelined_runs = [pipelined.rate, again.rate]
    figures.raw_pipelined_msg_s = (pipelined.rate + again.rate) / 2
    figures.raw_cpu_us_per_msg = (pipelined.cpu + again.cpu) / (2 * pipelined.messages) * 1e6
    return production, serial


def print_ratios(run: Run, production: RunResult, serial: RawResult) -> None:
    figures = run.figures
    out("\n3. ratios (production events/s over baseline messages/s, same run)")
    figures.ratio_production_raw = ratio = production.rate / figures.raw_pipelined_msg_s
    figures.ratio_production_serial = production.rate / serial.rate
    floor = "" if ratio >= 1.0 else ("(above the 0.8 floor)" if ratio >= 0.8
                                     else "(BELOW the 0.8 floor)")
    row("production / raw pipelined (mean of 2 runs)", f"{ratio:.2f}",
        "target >= 1.0, never < 0.8: "
        + verdict(figures, "ratio production/raw pipelined >= 1.0", ratio >= 1.0, floor))
    row("production / serial confirms", f"{figures.ratio_production_serial:.1f}x",
        "target >= 4x: " + verdict(figures, "ratio production/serial >= 4x",
                                   figures.ratio_production_serial >= 4))


async def phase_latency(run: Run) -> None:
    options, figures = run.options, run.figures
    out(f"\n4. latency, KytosEvent.timestamp -> consumer in a separate process, paced at "
        f"{options.rate:.0f}/s for {options.latency_seconds:g} s")
    await wait_until(run.stack.idle, 30, "idle before the latency run")
    count = int(options.rate * options.latency_seconds)
    with StallMeter() as steady:
        latencies = (await paced_production(run, options.rate, count, "production")).latencies
    figures.latency_rate, figures.latency_sent = options.rate, count
    figures.latency_received = len(latencies)
    figures.latency_p50_ms = percentile(latencies, 50) * 1000
    figures.latency_p99_ms = percentile(latencies, 99) * 1000
    figures.latency_max_ms = max(latencies, default=math.nan) * 1000
    figures.latency_stall_max_ms = steady.max_ms
    row("production path p50 / p99",
        f"{figures.latency_p50_ms:.2f} / {figures.latency_p99_ms:.2f} ms",
        "p99 target < 10 ms: " + verdict(figures, "latency p99 < 10 ms at 1,000 ev/s",
                                         figures.latency_p99_ms < 10))
    row("  max; received / sent", f"{figures.latency_max_ms:.1f} ms",
        f"{len(latencies)} / {count}; longest loop stall meanwhile {steady.max_ms:.1f} ms")
    out(f"  {steady.gc.summary}")

    # The same pace through raw aio-pika: what the broker and the consumer alone cost.
    raw_latencies = (await paced_raw(run, options.rate, count, "raw")).latencies
    figures.raw_latency_p50_ms = percentile(raw_latencies, 50) * 1000
    figures.raw_latency_p99_ms = percentile(raw_latencies, 99) * 1000
    row("baseline: raw aio-pika publish -> consumer",
        f"{figures.raw_latency_p50_ms:.2f} / {figures.raw_latency_p99_ms:.2f} ms",
        f"p50 / p99 at the same pace; received {len(raw_latencies)} / {count}")


async def phase_cpu_and_stall(run: Run) -> None:
    figures = run.figures
    out("\n5. controller CPU (no consumer in this process) and event-loop stalls")
    row("CPU per event, production run of section 2",
        f"{figures.production_cpu_us_per_event:.0f} us",
        "target < 150 us: " + verdict(figures, "controller CPU < 150 us/event",
                                      figures.production_cpu_us_per_event < 150))
    row("  for scale: raw aio-pika CPU per message", f"{figures.raw_cpu_us_per_msg:.0f} us",
        "(section 1's pipelined runs)")
    row("  difference: the NApps, dispatch and hand-off",
        f"{figures.production_cpu_us_per_event - figures.raw_cpu_us_per_msg:.0f} us")
    await wait_until(run.stack.idle, 30, "idle before the burst")
    events = LinkEvents(run.links, run.options.burst)
    with StallMeter() as meter, StepMeter() as steps:
        await asyncio.sleep(0.05)
        burst = await run_production(run.stack, events, len(events), 120)
    figures.burst_events, figures.burst_ev_s = burst.events, burst.rate
    figures.burst_stall_max_ms = meter.max_ms
    figures.burst_stall_p99_ms = meter.pct_ms(99)
    figures.burst_ticks_over_5ms = meter.over(0.005)
    row(f"longest loop stall, {burst.events}-event burst", f"{meter.max_ms:.1f} ms",
        "target < 5 ms: " + verdict(figures, "longest loop stall < 5 ms", meter.max_ms < 5))
    row("  1 ms ticker lateness p50 / p99",
        f"{meter.pct_ms(50):.2f} / {meter.pct_ms(99):.1f} ms",
        f"{figures.burst_ticks_over_5ms} of {len(meter.lateness)} ticks > 5 ms late; "
        f"burst at {burst.rate:,.0f} ev/s")
    out(f"  {meter.gc.summary}")
    figures.burst_napp_step_max_ms = napp_steps_row(steps)
    figures.burst_dispatch_step_max_ms = steps.ms(DISPATCH_TASK)
    row("  ", "", "< 5 ms: " + verdict(figures, "NApps' own longest step < 5 ms (core's "
                                                "dispatch excluded)",
                                       figures.burst_napp_step_max_ms < 5))
    row("  longest step of the stand-in core's dispatch",
        f"{figures.burst_dispatch_step_max_ms:.1f} ms",
        "one event from the app buffer per turn of the loop, a handler task for each")
    figures.burst_stall_without_gc_ms = meter.max_without_gc_ms
    row("  longest stall less the GC pauses inside it",
        f"{figures.burst_stall_without_gc_ms:.1f} ms", "the code's own share")
    figures.burst_stall_on_cpu_ms = meter.max_on_cpu_ms
    row("  longest stall, only the time this thread ran",
        f"{figures.burst_stall_on_cpu_ms:.1f} ms",
        "GC included; the rest the OS ran other processes (the broker shares these CPUs)")
    baseline, dispatch_cpu = await dispatch_only(events)
    figures.burst_dispatch_stall_max_ms = baseline.max_ms
    figures.burst_dispatch_stall_without_gc_ms = baseline.max_without_gc_ms
    row("  baseline: same burst, stand-in dispatch only",
        f"{baseline.max_ms:.1f} / {baseline.max_without_gc_ms:.1f} ms",
        "longest / less GC; a no-op listener in place of the NApps: core's dispatch alone")
    out(f"  {baseline.gc.summary}")
    # Section 2's CPU, not the burst's: the StepMeter above adds its own cost to every step.
    figures.dispatch_cpu_us_per_event = dispatch_cpu / len(events) * 1e6
    row("  CPU per event of that dispatch only", f"{figures.dispatch_cpu_us_per_event:.0f} us",
        "feeding the app buffer, a loop turn and a handler task per event: core's share")
    own = figures.production_cpu_us_per_event - figures.dispatch_cpu_us_per_event
    row("  the NApps' own CPU per event", f"{own:.0f} us",
        "section 2's CPU per event less that: listen_events, mq_producer, aiormq, socket")
    with_dispatch = figures.production_cpu_us_per_event / figures.raw_cpu_us_per_msg
    row("  the NApps' own / raw aio-pika's per message", f"{own / figures.raw_cpu_us_per_msg:.2f}",
        f"with core's dispatch {with_dispatch:.2f}; sections 1, 2 and this one's: a minute apart")
    rounds = run.options.burst_rounds
    figures.burst_own_rounds_us = await burst_own_rounds(run, rounds)
    figures.burst_own_ratios = [own_us / raw_us for own_us, raw_us in figures.burst_own_rounds_us]
    figures.burst_own_ratio = statistics.median(figures.burst_own_ratios)
    row(f"    the same, {rounds} round{'s' if rounds > 1 else ''} back to back: median",
        f"{figures.burst_own_ratio:.2f}",
        "rounds " + ", ".join(f"{own_us:.0f} / {raw_us:.0f} us = {own_us / raw_us:.2f}"
                              for own_us, raw_us in figures.burst_own_rounds_us)
        + "; issue 21 target <= 0.7: " + verdict(
            figures, "burst: the NApps' own CPU per event <= 0.7 x raw's per message (issue 21)",
            figures.burst_own_ratio <= 0.7))


async def burst_own_rounds(run: Run, rounds: int) -> list[tuple[float, float]]:
    """The NApps' own CPU per event and raw aio-pika's per message (us), once per round; each
    round publishes the burst's count through raw aio-pika, then through the NApps, then
    feeds it to the stand-in dispatch alone, back to back. This host's load drifts over
    seconds: figures taken within a few seconds of each other are the steadier ratio."""
    count = min(run.options.burst, len(run.raw_messages))
    rounds_us = []
    for _ in range(rounds):
        raw = await publish_pipelined(run.exchange, run.raw_messages[:count])
        await wait_until(run.stack.idle, 30, "idle before a burst round")
        events = LinkEvents(run.links, count)
        napps = await run_production(run.stack, events, count, 120)
        _, dispatch_cpu = await dispatch_only(events)
        rounds_us.append(((napps.cpu - dispatch_cpu) / count * 1e6, raw.cpu / raw.messages * 1e6))
    return rounds_us


def napp_steps_row(steps: StepMeter) -> float:
    """Print the NApp tasks' longest steps; return the longest of them (ms)."""
    own = {name: steps.ms(name) for name in NAPP_TASKS}
    row("  longest step of a NApp task (CPU less GC)", f"{max(own.values()):.1f} ms",
        "; ".join(f"{name.split('.')[0]} {value:.1f}" for name, value in own.items()))
    return max(own.values())


async def dispatch_only(events: Sequence[Any], pattern: str = r"kytos/topology\.link_(up|down)",
                        expected: int | None = None) -> tuple[StallMeter, float]:
    """The loop stalls, and the process CPU seconds, when the same burst goes through a
    stand-in controller whose only listener (subscribed to ``pattern``; ``expected`` of the
    events match it, all by default) does nothing: core's own share (it starts a handler task
    for every event it takes from the app buffer, one per turn of the loop)."""
    controller, handled = no_op_controller(pattern)
    expected = len(events) if expected is None else expected
    try:
        with StallMeter() as meter:
            await asyncio.sleep(0.05)
            cpu = time.process_time()
            await feed(controller.buffers.app, events)
            await wait_until(lambda: handled[0] >= expected
                             and controller.buffers.app.queue.empty(), 60, "no-op listener")
            cpu = time.process_time() - cpu
    finally:
        await controller.stop()
    return meter, cpu


def no_op_controller(pattern: str) -> tuple[FakeController, list[int]]:
    """A stand-in controller whose only listener (on ``pattern``) does nothing but count the
    events it gets (``[count]``)."""
    controller = FakeController()
    controller.seen = _NoLog()
    handled = [0]

    async def no_op(_event: Any) -> None:
        handled[0] += 1

    controller.events_listeners[pattern] = [no_op]
    return controller, handled


async def paced_dispatch_only(run: Run, rate: float, count: int) -> PacedResult:
    """Section 7's paced link events through a stand-in controller whose only listener does
    nothing: core's own dispatch at that pace (a loop turn, a handler task for each event),
    the NApps' stack idle beside it; its CPU (no latencies: nothing is published)."""
    controller, handled = no_op_controller(r"kytos/topology\.link_(up|down)")
    try:
        cpu = time.process_time()
        await paced(rate, count, link_event_sender(controller.buffers.app, run.links))
        await wait_until(lambda: handled[0] >= count, 30, "no-op listener, paced")
        cpu = time.process_time() - cpu
    finally:
        await controller.stop()
    return PacedResult(count, cpu, [])


async def paced_sender_only(rate: float, count: int) -> PacedResult:
    """Section 7's raw aio-pika sender at that pace with nothing to publish (each send time
    taken, as ``paced_raw`` does): what raw's CPU per message holds besides its publishing -
    the wake-up for each message - as the dispatch alone does for the NApps. Its CPU."""
    sent: list[float] = []

    async def tick(_index: int) -> None:
        sent.append(time.time_ns() // 1000 / 1e6)

    cpu = time.process_time()
    await paced(rate, count, tick)
    return PacedResult(count, time.process_time() - cpu, [])


@dataclass
class TopologyRun:
    handed_on_s: float  # from the put until listen_events had handed every envelope on
    event_confirmed_s: float  # until the topology_loaded message was confirmed
    all_confirmed_s: float  # until it and every snapshot were
    body_bytes: int
    cpu_s: float
    stall: StallMeter
    steps: StepMeter
    messages: list[OutboundMessage]  # as confirmed, in that order


async def topology_loaded(run: Run, collect_first: bool) -> TopologyRun:
    """One topology_loaded of a topology built for it, put -> all confirmed. With
    ``collect_first`` the topology is collected once (``gc.collect()``) before the event."""
    options, stack = run.options, run.stack
    await wait_until(stack.idle, 30, "idle before topology_loaded")
    topology = make_topology(options.switches, options.topology_links)
    loaded = kytos_event(TOPOLOGY_LOADED, {"topology": topology, "failed_switches": {},
                                           "failed_links": {}})
    if collect_first:
        gc.collect()
    snapshots = len(topology.links) if stack.pipeline.config.snapshot_on_topology_loaded else 0
    expected = 1 + snapshots
    marks: dict[str, float] = {}
    outbox = stack.publisher.outbox
    confirm = outbox.confirm
    confirmed: list[OutboundMessage] = []

    def marking_confirm(message: OutboundMessage) -> None:
        if message.event_name == TOPOLOGY_LOADED and "event" not in marks:
            marks["event"] = time.perf_counter()
            marks["body"] = len(message.body)
        confirmed.append(message)
        confirm(message)

    counters, handed_on = stack.publisher.counters, stack.pipeline.counters
    target, handed = settled(counters) + expected, handed_on.handed_on + expected
    setattr(outbox, "confirm", marking_confirm)  # noqa: B010  (this instance, this phase)
    try:
        with StallMeter() as meter, StepMeter() as steps:
            cpu, start = time.process_time(), time.perf_counter()
            await stack.controller.buffers.app.aput(loaded)
            all_handed = await wait_until(lambda: handed_on.handed_on >= handed, 120,
                                          "topology handed on")
            end = await wait_until(lambda: settled(counters) >= target, 120,
                                   "topology confirmed")
            cpu = time.process_time() - cpu
    finally:
        delattr(outbox, "confirm")
    run.figures.topology_switches = options.switches
    run.figures.topology_links, run.figures.topology_messages = len(topology.links), expected
    return TopologyRun(all_handed - start, marks.get("event", math.nan) - start, end - start,
                       int(marks.get("body", 0)), cpu, meter, steps, confirmed)


async def topology_raw(run: Run, messages: Sequence[OutboundMessage]) -> float:
    """Seconds for raw aio-pika to publish ``messages`` (section 6's, as the NApps published
    them, each to its exchange) with 256 in flight, first publish to last confirm: what the
    broker and a client take for the same bytes, the NApps' serializing excluded."""
    ordered = sorted(messages, key=lambda message: message.event_name != TOPOLOGY_LOADED)
    exchanges = {name: await run.channel.get_exchange(name, ensure=False)
                 for name in sorted({message.exchange for message in ordered})}
    result = await publish_pipelined(run.exchange, ordered, exchanges=exchanges)
    if result.returned:
        raise SystemExit(f"{result.returned} topology messages returned: no valid baseline")
    return result.seconds


async def phase_topology(run: Run) -> None:
    options, figures = run.options, run.figures
    out(f"\n6. topology_loaded of {options.switches} switches / {options.topology_links} "
        "links, put -> confirmed; the topology built, then collected once before the event "
        "(in kytosd it sits in a heap many times this process's: the collections that the "
        "bench's brand-new topology makes due are the last row's)")
    loaded = await topology_loaded(run, collect_first=True)
    meter = loaded.stall
    snapshots = figures.topology_messages - 1
    figures.topology_body_bytes = loaded.body_bytes
    figures.topology_handed_on_s = loaded.handed_on_s
    figures.topology_event_confirmed_s = loaded.event_confirmed_s
    figures.topology_all_confirmed_s = loaded.all_confirmed_s
    figures.topology_stall_max_ms = meter.max_ms
    figures.topology_cpu_s = loaded.cpu_s
    row("topology_loaded message confirmed", f"{figures.topology_event_confirmed_s:.2f} s",
        f"body {figures.topology_body_bytes / 1e6:.1f} MB; target < 2 s: "
        + verdict(figures, "topology_loaded confirmed < 2 s",
                  figures.topology_event_confirmed_s < 2))
    row(f"  with its {snapshots} link snapshots, all confirmed",
        f"{figures.topology_all_confirmed_s:.2f} s",
        f"{figures.topology_messages} messages; issue 21: < 1 s: "
        + verdict(figures, "topology_loaded + its snapshots confirmed < 1 s",
                  figures.topology_all_confirmed_s < 1))
    row("  listen_events had handed all on at", f"{figures.topology_handed_on_s:.2f} s")
    figures.topology_raw_all_confirmed_s = await topology_raw(run, loaded.messages)
    figures.topology_ratio_to_raw = \
        figures.topology_all_confirmed_s / figures.topology_raw_all_confirmed_s
    row("  raw aio-pika, the same messages", f"{figures.topology_raw_all_confirmed_s:.2f} s",
        f"256 in flight, first publish to last confirm: the NApps took "
        f"{figures.topology_ratio_to_raw:.2f} times as long, their serializing included")
    row("  longest loop stall meanwhile (GC included)", f"{meter.max_ms:.1f} ms",
        f"{loaded.cpu_s:.2f} s CPU; issue 21: < 20 ms: "
        + verdict(figures, "topology_loaded: longest stall, GC included, < 20 ms",
                  meter.max_ms < 20))
    figures.topology_stall_without_gc_ms = meter.max_without_gc_ms
    row("  longest stall less the GC pauses inside it",
        f"{figures.topology_stall_without_gc_ms:.1f} ms")
    figures.topology_napp_step_max_ms = napp_steps_row(loaded.steps)
    out(f"  {meter.gc.summary}")
    fresh = await topology_loaded(run, collect_first=False)
    figures.topology_fresh_all_confirmed_s = fresh.all_confirmed_s
    figures.topology_fresh_stall_max_ms = fresh.stall.max_ms
    row("  the same, topology just built (not collected)",
        f"{fresh.all_confirmed_s:.2f} s", f"longest stall {fresh.stall.max_ms:.1f} ms")
    out(f"  {fresh.stall.gc.summary}")
    # The two topologies are garbage now: collected here, not in a later section's figures.
    gc.collect()


PACED_RATES = (500.0, 1000.0)
IDLE_SECONDS = 0.5


async def phase_paced(run: Run) -> None:
    options, figures = run.options, run.figures
    out(f"\n7. paced CPU (no ticker): link events at a steady pace, topology profile, "
        f"{options.paced_seconds:g} s per pace and path in {options.paced_rounds} alternated "
        "rounds (NApps, variants, dispatch alone, raw's sender alone, raw; raw, sender, "
        "dispatch, variants, NApps; ...), pooled; a consumer process on a queue of its own "
        "each")
    figures.paced_seconds = options.paced_seconds
    await wait_until(run.stack.idle, 30, "idle before the paced runs")
    cpu = time.process_time()
    await asyncio.sleep(IDLE_SECONDS)
    figures.paced_idle_cpu_ms_per_s = (time.process_time() - cpu) / IDLE_SECONDS * 1000
    row("idle process, CPU per second", f"{figures.paced_idle_cpu_ms_per_s:.1f} ms",
        "nothing sent: heartbeats, the NApps' timers; in every paced figure below, both paths'")
    for rate in PACED_RATES:
        count = max(2, int(rate * options.paced_seconds))
        await wait_until(run.stack.idle, 30, "idle before a paced run")
        name = f"paced{rate:.0f}"
        pooled, rounds = await alternated_rounds(run, rate, count, name)
        napps, raw, reads, core, dispatch, sender = pooled["napps"], pooled["raw"], \
            pooled["reads"], pooled["core"], pooled["dispatch"], pooled["sender"]
        assert napps is not None and raw is not None and dispatch is not None \
            and sender is not None
        ratio = napps.cpu_us / raw.cpu_us
        figures.paced[f"{rate:.0f}"] = {
            "events": count, "napps_cpu_us_per_event": napps.cpu_us,
            "raw_cpu_us_per_msg": raw.cpu_us, "ratio_cpu": ratio,
            "napps_p50_ms": napps.ms(50), "napps_p99_ms": napps.ms(99),
            "raw_p50_ms": raw.ms(50), "raw_p99_ms": raw.ms(99),
            "received": len(napps.latencies), "raw_received": len(raw.latencies)}
        row(f"{rate:,.0f} ev/s: CPU per event (raw per message)",
            f"{napps.cpu_us:.0f} us ({raw.cpu_us:.0f} us)",
            f"ratio {ratio:.2f}; {count} events and {count} raw messages, in "
            f"{len(rounds)} rounds")
        row("  latency p50 / p99 (raw aio-pika's)",
            f"{napps.ms(50):.2f} / {napps.ms(99):.2f} ms",
            f"raw {raw.ms(50):.2f} / {raw.ms(99):.2f} ms; received {len(napps.latencies)} / "
            f"{len(raw.latencies)} of {count}; all rounds' latencies pooled")
        split_row(run, rate, napps, raw)
        dispatch_us = dispatch.cpu_us
        figures.paced[f"{rate:.0f}"].update({
            "dispatch_cpu_us_per_event": dispatch_us,
            "napps_own_cpu_us_per_event": napps.cpu_us - dispatch_us,
            "ratio_own_cpu": (napps.cpu_us - dispatch_us) / raw.cpu_us})
        own_ratio = (napps.cpu_us - dispatch_us) / raw.cpu_us
        row("  the stand-in core's dispatch alone", f"{dispatch_us:.0f} us",
            f"a no-op listener, same pace, {count} events in the same rounds: the NApps' own "
            f"{napps.cpu_us - dispatch_us:.0f} us, ratio {own_ratio:.2f} to raw's; issue 21 "
            "target <= 0.5: " + verdict(
                figures, f"paced {rate:,.0f}/s: the NApps' own CPU per event <= 0.5 x raw's "
                         "per message (issue 21)", own_ratio <= 0.5))
        publishing_us = publishing_row(run, rate, napps.cpu_us - dispatch_us, raw, sender)
        each_round = [round_napps.ms(99) - round_raw.ms(99) for round_napps, round_raw in rounds]
        figures.paced[f"{rate:.0f}"].update({
            "rounds": len(rounds), "p99_over_raw_ms_by_round": each_round})
        row("  p99 latency over raw aio-pika's", f"{napps.ms(99) - raw.ms(99):+.2f} ms",
            f"pooled; round by round {min(each_round):+.2f} to {max(each_round):+.2f} ms; "
            "issue 21 target <= +0.5 ms: " + verdict(
                figures, f"paced {rate:,.0f}/s: p99 latency <= raw's + 0.5 ms (issue 21)",
                napps.ms(99) - raw.ms(99) <= 0.5))
        if options.linger_ms:
            worker = run.stack.listen.worker
            assert worker is not None
            worker.linger = options.linger_ms / 1000
            try:
                lingered = await paced_production(run, rate, count, f"{name}.linger")
            finally:
                worker.linger = 0.0
            linger_own_ratio = (lingered.cpu_us - dispatch_us) / raw.cpu_us
            figures.paced[f"{rate:.0f}"].update({
                "linger_ms": options.linger_ms, "linger_cpu_us_per_event": lingered.cpu_us,
                "linger_ratio_cpu": lingered.cpu_us / raw.cpu_us,
                "linger_ratio_own_cpu": linger_own_ratio,
                "linger_p50_ms": lingered.ms(50), "linger_p99_ms": lingered.ms(99)})
            row(f"  with LINGER_MS = {options.linger_ms:g}: CPU per event",
                f"{lingered.cpu_us:.0f} us",
                f"ratio {lingered.cpu_us / raw.cpu_us:.2f} to raw's above; p50 / p99 "
                f"{lingered.ms(50):.2f} / {lingered.ms(99):.2f} ms; {count} events, after")
            row("    the NApps' own (less the dispatch above)",
                f"{lingered.cpu_us - dispatch_us:.0f} us",
                f"ratio {linger_own_ratio:.2f} to raw's ("
                f"{(lingered.cpu_us - dispatch_us) / publishing_us:.2f} to its publishing "
                "alone); issue 21 target <= 0.5: " + verdict(
                    figures, f"paced {rate:,.0f}/s with LINGER_MS = {options.linger_ms:g}: the "
                             "NApps' own CPU per event <= 0.5 x raw's (issue 21)",
                    linger_own_ratio <= 0.5))
        if core is not None:
            core_row(run, rate, raw, dispatch_us, napps, core)
        if reads is not None:
            reads_row(run, rate, raw, dispatch_us, napps, reads)
        # Wake-ups, apart: counting costs about 1 us per callback, kept out of the CPU above.
        counted = max(2, int(rate * min(options.paced_seconds / 2, 1.0)))
        with LoopCounter() as napps_loop:
            await paced_production(run, rate, counted, f"{name}.production.counted")
        with LoopCounter() as raw_loop:
            await paced_raw(run, rate, counted, f"{name}.raw.counted")
        napps_per, raw_per = napps_loop.per(counted), raw_loop.per(counted)
        figures.paced[f"{rate:.0f}"].update({
            "napps_callbacks_per_event": napps_per["callbacks"],
            "napps_turns_per_event": napps_per["turns"],
            "raw_callbacks_per_msg": raw_per["callbacks"], "raw_turns_per_msg": raw_per["turns"]})
        row("  loop callbacks / turns per event (raw's)",
            f"{napps_per['callbacks']:.1f} / {napps_per['turns']:.1f}",
            f"raw {raw_per['callbacks']:.1f} / {raw_per['turns']:.1f} per message; "
            f"{counted} more of each, counted (the consumer's start and the waits included)")


def publishing_row(run: Run, rate: float, own_us: float, raw: PacedResult,
                   sender: PacedResult) -> float:
    """Section 7: raw aio-pika's CPU per message less its sender's alone (the wake-up for each
    message), and the NApps' own over that: each path less the same pace with nothing
    published, the way the check in a real kytosd measures (the NApps loaded less not loaded,
    raw publishing less not publishing). Returns raw's publishing alone (us a message)."""
    publishing_us = max(raw.cpu_us - sender.cpu_us, 1.0)  # never 0, whatever the noise
    ratio = own_us / publishing_us
    run.figures.paced[f"{rate:.0f}"].update({
        "sender_cpu_us_per_tick": sender.cpu_us, "raw_publishing_cpu_us_per_msg": publishing_us,
        "ratio_own_cpu_to_raw_publishing": ratio})
    row("  raw aio-pika's publishing alone", f"{publishing_us:.0f} us",
        f"raw's per message less its sender alone ({sender.cpu_us:.0f} us a tick, the same "
        f"rounds): the NApps' own over it {ratio:.2f}; issue 21 target <= 0.5: " + verdict(
            run.figures, f"paced {rate:,.0f}/s: the NApps' own CPU per event <= 0.5 x raw's "
                         "publishing alone (issue 21, as in a real kytosd)", ratio <= 0.5))
    return publishing_us


def split_row(run: Run, rate: float, napps: PacedResult, raw: PacedResult) -> None:
    """Section 7: where the latency forms - in this process, up to the socket write, and
    after it (the broker, the consumer, and the host's CPUs they share with this process)."""
    napps_50, napps_99, raw_50, raw_99 = (result.split_ms(pct) for result in (napps, raw)
                                          for pct in (50, 99))
    if napps_50 is None or napps_99 is None or raw_50 is None or raw_99 is None:
        row("    to the socket write, and after it", "n/a",
            "sends, writes and arrivals did not pair up one to one")
        return
    run.figures.paced[f"{rate:.0f}"].update({
        "napps_to_write_p50_ms": napps_50[0], "napps_to_write_p99_ms": napps_99[0],
        "napps_after_write_p50_ms": napps_50[1], "napps_after_write_p99_ms": napps_99[1],
        "raw_to_write_p50_ms": raw_50[0], "raw_to_write_p99_ms": raw_99[0],
        "raw_after_write_p50_ms": raw_50[1], "raw_after_write_p99_ms": raw_99[1]})
    row("    to the socket write, p50 / p99", f"{napps_50[0]:.2f} / {napps_99[0]:.2f} ms",
        f"raw {raw_50[0]:.2f} / {raw_99[0]:.2f} ms: in this process, from the event (raw: "
        "the publish call)")
    row("    after it, to the consumer", f"{napps_50[1]:.2f} / {napps_99[1]:.2f} ms",
        f"raw {raw_50[1]:.2f} / {raw_99[1]:.2f} ms: the broker and the consumer process, on "
        "the CPUs this process uses too")


async def alternated_rounds(run: Run, rate: float, count: int, name: str
                            ) -> tuple[dict[str, PacedResult | None],
                                       list[tuple[PacedResult, PacedResult]]]:
    """``count`` events through the NApps, as many through each variant of them (VARIANTS:
    None when it is the default already), through the stand-in core's dispatch alone, as many
    ticks of raw's sender alone and ``count`` raw messages, at ``rate``, in ``paced_rounds``
    rounds whose order alternates (NApps, variants, dispatch, sender, raw; raw, sender,
    dispatch, variants reversed, NApps; ...): a drift of the host's pace, and its bursts of
    noise, weigh on all alike - the dispatch and the sender too, which the "own" and
    "publishing alone" figures subtract. Each pooled, by path ("napps", "dispatch", "sender",
    "raw" and the variants' names), and the NApps' and raw's of each round (single rounds'
    p99s differ by a millisecond and more)."""
    rounds = max(1, min(run.options.paced_rounds, count))
    paths = ("napps", *VARIANTS, "dispatch", "sender", "raw")
    pooled: dict[str, PacedResult | None] = dict.fromkeys(paths)
    by_round: list[tuple[PacedResult, PacedResult]] = []
    for number in range(rounds):
        share = count // rounds + (number < count % rounds)
        results: dict[str, PacedResult | None] = {}
        for path in paths if number % 2 == 0 else reversed(paths):
            queue = f"{name}.{path}.{number + 1}"
            if path == "napps":
                results[path] = await paced_production(run, rate, share, queue)
            elif path == "raw":
                results[path] = await paced_raw(run, rate, share, queue)
            elif path == "dispatch":
                results[path] = await paced_dispatch_only(run, rate, share)
            elif path == "sender":
                results[path] = await paced_sender_only(rate, share)
            else:
                results[path] = await VARIANTS[path](run, rate, share, queue)
        round_napps, round_raw = results["napps"], results["raw"]
        assert round_napps is not None and round_raw is not None
        by_round.append((round_napps, round_raw))
        for path, result in results.items():
            if result is not None:
                before = pooled[path]
                pooled[path] = result if before is None else before + result
    return pooled, by_round


async def through_core(run: Run, rate: float, count: int, queue: str) -> PacedResult | None:
    """``paced_production`` with listen_events' DIRECT_HAND_OFF off (every batch a hand-off
    event, dispatched by the stand-in core to mq_producer's handler); None when that is the
    setting already."""
    listen = run.stack.listen
    direct = listen.direct
    if direct is None:
        return None
    listen.direct = None
    try:
        return await paced_production(run, rate, count, queue)
    finally:
        listen.direct = direct


async def reads_as_they_come(run: Run, rate: float, count: int, queue: str
                             ) -> PacedResult | None:
    """``paced_production`` with CONFIRM_READ_LINGER_MS at 0 (every confirm read as it
    comes); None when that is the setting already."""
    confirm_linger = run.stack.publisher.transport.confirm_linger  # type: ignore[attr-defined]
    default = confirm_linger.seconds
    if not default:
        return None
    confirm_linger.seconds = 0.0
    try:
        return await paced_production(run, rate, count, queue)
    finally:
        confirm_linger.seconds = default


# Section 7's variants of the NApps, each run in every round beside them and raw aio-pika.
VARIANTS: dict[str, Callable[[Run, float, int, str], Awaitable[PacedResult | None]]] = {
    "core": through_core, "reads": reads_as_they_come}


def reads_row(run: Run, rate: float, raw: PacedResult, dispatch_us: float,
              napps: PacedResult, reads: PacedResult) -> None:
    """Section 7: the NApps with confirms read as they come beside the default, same run."""
    default_ms = run.stack.publisher.transport.confirm_linger.seconds * 1000  # type: ignore
    own_ratio = (reads.cpu_us - dispatch_us) / raw.cpu_us
    run.figures.paced[f"{rate:.0f}"].update({
        "confirm_read_linger_ms": default_ms,
        "reads_as_they_come_cpu_us_per_event": reads.cpu_us,
        "reads_as_they_come_ratio_own_cpu": own_ratio,
        "reads_as_they_come_p50_ms": reads.ms(50), "reads_as_they_come_p99_ms": reads.ms(99)})
    row("  confirms read as they come: CPU per event", f"{reads.cpu_us:.0f} us",
        f"CONFIRM_READ_LINGER_MS = 0; the NApps' own {reads.cpu_us - dispatch_us:.0f} us, "
        f"ratio {own_ratio:.2f} to raw's; p50 / p99 {reads.ms(50):.2f} / {reads.ms(99):.2f} "
        f"ms; {reads.sent} events, in rounds beside the NApps'")
    napps_split, reads_split = napps.split_ms(50), reads.split_ms(50)
    where = "" if napps_split is None or reads_split is None else (
        f" (to the socket write {napps_split[0] - reads_split[0]:+.2f}, after it "
        f"{napps_split[1] - reads_split[1]:+.2f})")
    row(f"    the default ({default_ms:g} ms) saves",
        f"{reads.cpu_us - napps.cpu_us:.0f} us per event",
        f"p50 {napps.ms(50) - reads.ms(50):+.2f} ms{where}, p99 "
        f"{napps.ms(99) - reads.ms(99):+.2f} ms with it")


def core_row(run: Run, rate: float, raw: PacedResult, dispatch_us: float,
             napps: PacedResult, core: PacedResult) -> None:
    """Section 7: the NApps handing every batch on through core beside the default's direct
    hand-off, same run."""
    own_ratio = (core.cpu_us - dispatch_us) / raw.cpu_us
    run.figures.paced[f"{rate:.0f}"].update({
        "through_core_cpu_us_per_event": core.cpu_us,
        "through_core_ratio_own_cpu": own_ratio,
        "through_core_p50_ms": core.ms(50), "through_core_p99_ms": core.ms(99)})
    row("  hand-off events through core: CPU per event", f"{core.cpu_us:.0f} us",
        f"DIRECT_HAND_OFF = False; the NApps' own {core.cpu_us - dispatch_us:.0f} us, ratio "
        f"{own_ratio:.2f} to raw's; p50 / p99 {core.ms(50):.2f} / {core.ms(99):.2f} ms; "
        f"{core.sent} events, in rounds beside the NApps'")
    row("    the direct hand-off saves", f"{core.cpu_us - napps.cpu_us:.0f} us per event",
        f"p50 {napps.ms(50) - core.ms(50):+.2f} ms, p99 {napps.ms(99) - core.ms(99):+.2f} ms "
        "with it")


def mix_groups(per_flap: Mapping[str, int]) -> dict[str, list[tuple[str, int]]]:
    """The events of a flap by NApp, the block-listed noise apart."""
    groups: dict[str, list[tuple[str, int]]] = {}
    noise = "block-listed noise"
    for name, count in sorted(per_flap.items(), key=lambda item: (item[0] in NOISE, item[0])):
        napp, _, rest = name.partition(".")
        groups.setdefault(noise if name in NOISE else napp, []).append(
            (rest.removeprefix("v0x04.messages.in."), count))
    return groups


async def stop_stack(stack: Stack) -> None:
    """mq_producer unloaded as core's unload_napp does while Kytos runs - the loop goes on here
    too - so that its connection gets a full close (Close-Ok awaited); then the rest stopped.
    Kytos' own stop abandons the connection instead, its loop stopping in the same turn: here,
    with the loop going on, the broker logged "client unexpectedly closed TCP connection"."""
    with contextlib.suppress(TimeoutError):
        await wait_until(stack.idle, 30, "idle at the end")
    stack.controller.unload_napp(("kytos", "mq_producer"))
    if stack.producer._stopping is not None:
        await stack.producer._stopping
    await stack.controller.stop()


async def phase_mix(run: Run) -> None:
    options, figures = run.options, run.figures
    world = MixWorld(run.links, make_datapaths(), flap_cycle())
    cycle = len(world.cycle)
    flaps = max(1, math.ceil(options.mix_events / cycle))
    warm_up = MixEvents(world, MIX_WARM_UP_FLAPS * cycle)
    events = MixEvents(world, flaps * cycle, warm_up.count)
    per_flap = Counter(name for name, *_ in world.cycle)
    figures.mix_cycle = dict(per_flap)
    figures.mix_events, figures.mix_flaps = len(events), flaps
    noise = sum(count for name, count in per_flap.items() if name in NOISE)
    out(f'\n8. the all-events mix: listen_events PROFILE "all", {flaps} link flaps of {cycle} '
        f"events = {len(events):,} events, each made just before it is put")
    out(f"  a flap: {cycle - noise} events published ({(cycle - noise) / cycle:.0%}), {noise} "
        f"block-listed ({noise / cycle:.0%}); docs/benchmarks.rst says why these numbers")
    for group, names in mix_groups(per_flap).items():
        total = sum(count for _, count in names)
        out(f"    {group:<20} {total:>4} {total / cycle:>6.1%}  "
            + ", ".join(f"{name} {count}" for name, count in names))
    with listen_profile("all") as subscription:
        stack = await start_stack()
        try:
            await mix_measure(run, stack, world, warm_up, events, subscription)
        finally:
            await stop_stack(stack)


async def mix_measure(run: Run, stack: Stack, world: MixWorld, warm_up: MixEvents,
                      events: MixEvents, subscription: str) -> None:
    figures = run.figures
    # Rounds of whole flaps, raw aio-pika before and after each round of the NApps: the host's
    # pace drifts over seconds, and each round's ratio is to the raw runs on either side.
    cycle = len(world.cycle)
    flaps = len(events) // cycle
    rounds = min(MIX_ROUNDS, flaps)
    bounds = [round(index * flaps / rounds) for index in range(rounds + 1)]
    chunks = [MixEvents(world, (end - begin) * cycle, events.start + begin * cycle)
              for begin, end in itertools.pairwise(bounds)]
    batches = [await build_messages(MixEvents(world, len(chunk), chunk.start))
               for chunk in chunks]
    messages = [message for batch in batches for message in batch]
    figures.mix_messages = len(messages)
    figures.mix_envelope_bytes = sum(len(m.body) for m in messages) / max(1, len(messages))
    exchanges = {name: await run.channel.get_exchange(name, ensure=False)
                 for name in sorted({message.exchange for message in messages})}
    out(f"  envelopes: {len(messages):,}, {figures.mix_envelope_bytes:.0f} bytes on average, "
        f"to {', '.join(name.rpartition('.')[2] for name in exchanges)} (the sink queue is "
        "bound to each)")
    if len(messages) != events.published:
        out(f"  WARNING: {len(messages)} messages for {events.published} published events")
    await run_production(stack, warm_up, warm_up.published, 60)  # warm-up
    await publish_pipelined(run.exchange, messages[:1000], exchanges=exchanges)  # warm-up
    raw_runs: list[RawResult] = []
    napps_runs: list[RunResult] = []
    collector = GcMeter()
    for chunk, batch in zip(chunks, batches, strict=True):
        raw_runs.append(await publish_pipelined(run.exchange, batch, exchanges=exchanges))
        await wait_until(stack.idle, 30, "idle before a round of the mix")
        with collector:
            napps_runs.append(await run_production(stack, chunk, chunk.published, 120))
    raw_runs.append(await publish_pipelined(run.exchange, batches[0], exchanges=exchanges))
    raw_messages = sum(raw.messages for raw in raw_runs)
    figures.mix_raw_msg_s = raw_messages / sum(raw.seconds for raw in raw_runs)
    figures.mix_raw_cpu_us_per_msg = raw_us = sum(raw.cpu for raw in raw_runs) / raw_messages * 1e6
    cpu, seconds = sum(n.cpu for n in napps_runs), sum(n.seconds for n in napps_runs)
    figures.mix_ev_s = len(events) / seconds
    figures.mix_cpu_us_per_event = per_event = cpu / len(events) * 1e6
    figures.mix_cpu_us_per_message = per_message = cpu / events.published * 1e6
    figures.mix_ratio_cpu_per_event = per_event / raw_us
    figures.mix_ratio_cpu_per_message = per_message / raw_us
    figures.mix_ratio_rounds = [
        napps.cpu / napps.events / ((before.cpu + after.cpu) / (before.messages + after.messages))
        for napps, (before, after) in zip(napps_runs, itertools.pairwise(raw_runs),
                                          strict=True)]
    counters: Counter[str] = Counter()
    for napps in napps_runs:
        counters.update(napps.counters)
    figures.mix_lost = {name: value for name, value in counters.items()
                        if name not in ("received", "published", "confirmed")}
    returned = sum(raw.returned for raw in raw_runs)
    row(f"raw aio-pika, same messages, {WINDOW} in flight", f"{figures.mix_raw_msg_s:,.0f} msg/s",
        f"{len(raw_runs)} runs, {raw_messages:,} msgs in all; {raw_us:.0f} us CPU/msg"
        + (f"; {returned} RETURNED" if returned else ""))
    row("NApps: events -> confirmed", f"{figures.mix_ev_s:,.0f} ev/s",
        f"{len(events):,} events ({events.published:,} messages) in {rounds} rounds between "
        f"them, {seconds:.2f} s")
    out(f"  {collector.summary}")
    if figures.mix_lost:
        out(f"  WARNING: not all confirmed: {figures.mix_lost}")
    spread_note = "" if rounds < 2 else (
        f" (rounds {min(figures.mix_ratio_rounds):.2f}-{max(figures.mix_ratio_rounds):.2f})")
    row("CPU per event (raw aio-pika's per message)", f"{per_event:.0f} us ({raw_us:.0f} us)",
        f"ratio {figures.mix_ratio_cpu_per_event:.2f}{spread_note}, target <= 1.0: "
        + verdict(figures, "mix: CPU per event / raw CPU per message <= 1.0",
                  figures.mix_ratio_cpu_per_event <= 1.0))
    row("  per published message, the noise's CPU included", f"{per_message:.0f} us",
        f"ratio {figures.mix_ratio_cpu_per_message:.2f} to raw's per message (no target: the "
        "stricter reading)")

    # The noise alone: what a block-listed event costs (no handler is started for it).
    noise_world = replace(world, cycle=[step for step in world.cycle if step[0] in NOISE])
    noise = MixEvents(noise_world, len(events) - events.published)
    await wait_until(stack.idle, 30, "idle before the noise")
    received = stack.pipeline.counters.received
    cpu = time.process_time()
    await feed(stack.controller.buffers.app, noise)
    await wait_until(stack.idle, 30, "noise dispatched")
    cpu = time.process_time() - cpu
    figures.mix_noise_events = len(noise)
    figures.mix_noise_cpu_us_per_event = cpu / len(noise) * 1e6
    figures.mix_noise_reached_pipeline = stack.pipeline.counters.received - received
    row("block-listed noise alone, CPU per event", f"{figures.mix_noise_cpu_us_per_event:.0f} us",
        f"{len(noise):,} events; {figures.mix_noise_reached_pipeline} reached listen_events: "
        + verdict(figures, "mix: no block-listed event reaches listen_events",
                  figures.mix_noise_reached_pipeline == 0))

    # Core's share: the same events through a stand-in controller with a no-op listener
    # subscribed as listen_events is.
    dispatched = MixEvents(world, len(events), events.start + len(events))
    _, dispatch_cpu = await dispatch_only(dispatched, subscription, dispatched.published)
    figures.mix_dispatch_cpu_us_per_event = dispatch_cpu / len(dispatched) * 1e6
    row("  CPU per event of the stand-in dispatch only",
        f"{figures.mix_dispatch_cpu_us_per_event:.0f} us",
        "a no-op listener with listen_events' subscription: core's share, events made "
        "and fed")
    row("  the NApps' own CPU per event",
        f"{per_event - figures.mix_dispatch_cpu_us_per_event:.0f} us")

    await wait_until(stack.idle, 30, "idle before the mix's stall run")
    burst = MixEvents(world, len(events), events.start + 2 * len(events))
    with StallMeter() as meter, StepMeter() as steps:
        await asyncio.sleep(0.05)
        stalled = await run_production(stack, burst, burst.published, 120)
    figures.mix_stall_max_ms = meter.max_ms
    figures.mix_stall_without_gc_ms = meter.max_without_gc_ms
    figures.mix_stall_on_cpu_ms = meter.max_on_cpu_ms
    row(f"longest loop stall, {len(burst):,}-event mix burst", f"{meter.max_ms:.1f} ms",
        "target < 5 ms: " + verdict(figures, "mix: longest loop stall < 5 ms",
                                    meter.max_ms < 5))
    row("  less GC / only the time this thread ran",
        f"{meter.max_without_gc_ms:.1f} / {meter.max_on_cpu_ms:.1f} ms",
        f"{meter.over(0.005)} of {len(meter.lateness)} ticks > 5 ms late; burst at "
        f"{stalled.rate:,.0f} ev/s")
    out(f"  {meter.gc.summary}")
    figures.mix_napp_step_max_ms = napp_steps_row(steps)
    row("  ", "", "< 5 ms: " + verdict(figures, "mix: NApps' own longest step < 5 ms",
                                       figures.mix_napp_step_max_ms < 5))


# ------------------------------------------------------------------ the cluster (section 9)


@dataclass(frozen=True)
class Target:
    """A broker section 9 runs sections 1 and 2 on."""

    key: str  # figures.cluster's key; the names are bench.<run id>.<key>.*
    title: str
    url: str  # KYTOS_MQ_URL: one URL, or a cluster's nodes comma-separated
    queue_type: str  # mq_producer's QUEUE_TYPE: of every queue it declares, the sink included
    cluster: RabbitCluster | None = None


@contextlib.contextmanager
def on_broker(target: Target) -> Iterator[None]:
    """KYTOS_MQ_URL and QUEUE_TYPE for the NApps started in the block (read as they load)."""
    saved_url, saved_type = os.environ["KYTOS_MQ_URL"], producer_settings.QUEUE_TYPE
    os.environ["KYTOS_MQ_URL"], producer_settings.QUEUE_TYPE = target.url, target.queue_type
    try:
        yield
    finally:
        os.environ["KYTOS_MQ_URL"], producer_settings.QUEUE_TYPE = saved_url, saved_type


def server_version(channel: aio_pika.abc.AbstractChannel) -> str:
    version = channel.channel.connection.server_properties.get("version", "?")
    return version.decode() if isinstance(version, bytes) else str(version)


def burst_figures(figures: Figures) -> dict[str, float]:
    """What measure_burst left in ``figures``, as section 9 keeps it."""
    raw_us = figures.raw_cpu_us_per_msg
    return {"napps_ev_s": figures.production_ev_s,
            "napps_cpu_us_per_event": figures.production_cpu_us_per_event,
            "napps_confirmed": figures.production_confirmed,
            "napps_not_confirmed": sum(figures.production_lost.values()),
            "raw_msg_s": figures.raw_pipelined_msg_s, "raw_cpu_us_per_msg": raw_us,
            "ratio_ev_s": figures.production_ev_s / figures.raw_pipelined_msg_s,
            "ratio_cpu": figures.production_cpu_us_per_event / raw_us,
            "confirm_ms": 1000 / figures.serial_msg_s}


async def measure_target(options: Options, prefix: str, target: Target
                         ) -> tuple[dict[str, float], str]:
    """Sections 1 and 2 on ``target``, with names and Figures of their own. Returns their
    figures and the broker's RabbitMQ version."""
    names = Names(f"{prefix}.{target.key}")
    configure_producer(names, basic_publish=options.basic_publish)
    figures = Figures()
    with on_broker(target):
        async with open_run(options, names, figures, target.url) as run:
            version = server_version(run.channel)
            out(f"\n  {target.title}: the NApps and raw aio-pika through "
                f"{run.stack.publisher.transport.description} (RabbitMQ {version})")
            await measure_burst(run, headings=False)
            if target.cluster is not None:
                cluster = target.cluster
                # The raw baseline's queue too: its leader should be the producer's node.
                sink = next(info for info in await asyncio.to_thread(
                    cluster.queue_info, "name", "type", "leader", "members")
                    if info["name"] == names.sink)
                node = cluster.index_of(run.stack.publisher.transport.description)
                row("the sink queue's leader", f"node {cluster.index_of(sink['leader']) + 1}",
                    f"{sink['type']}, {len(sink['members'])} members; the producer's and the "
                    f"baseline's node: {node + 1}")
    return burst_figures(figures), version


# Section 9's figures whose cluster / single node ratio is the cost of replication.
REPLICATED = ("napps_ev_s", "raw_msg_s", "napps_cpu_us_per_event", "raw_cpu_us_per_msg",
              "confirm_ms")


async def phase_cluster(options: Options, figures: Figures, cluster: RabbitCluster,
                        single_url: str) -> None:
    prefix = f"bench.{uuid.uuid4().hex[:8]}"
    # The single node first, while the cluster idles: both pay its idle CPU alike.
    targets = (Target("single", "single node, classic queues", single_url, "classic"),
               Target("cluster", f"cluster of {len(cluster)} nodes, quorum queues",
                      cluster.url_list, "quorum", cluster))
    results: dict[str, dict[str, float]] = {}
    versions: dict[str, str] = {}
    for target in targets:
        results[target.key], versions[target.key] = await measure_target(options, prefix, target)
    figures.cluster_rabbitmq = versions["cluster"]
    single, clustered = results["single"], results["cluster"]
    replication = {key: clustered[key] / single[key] for key in REPLICATED}
    figures.cluster = {**results, "replication": replication}

    def compare(label: str, key: str, spec: str, unit: str = "") -> None:
        note = f"({single[key]:{spec}}{unit})"
        if key in replication:
            note += f"; cluster / single {replication[key]:.2f}"
        row(label, f"{clustered[key]:{spec}}{unit}", note)

    out("\n  cluster (single node), same run; cluster / single node is the cost of replication")
    compare("NApps: events -> confirmed", "napps_ev_s", ",.0f", " ev/s")
    compare("raw aio-pika pipelined (mean of 2 runs)", "raw_msg_s", ",.0f", " msg/s")
    compare("  NApps / raw, events/s over messages/s", "ratio_ev_s", ".2f")
    compare("NApps: CPU per event", "napps_cpu_us_per_event", ".0f", " us")
    compare("raw aio-pika: CPU per message", "raw_cpu_us_per_msg", ".0f", " us")
    compare("  NApps / raw, CPU", "ratio_cpu", ".2f")
    compare("raw aio-pika: a confirm's round trip (serial)", "confirm_ms", ".2f", " ms")
    lost = [key for key, result in results.items() if result["napps_not_confirmed"]]
    if lost:
        out(f"  WARNING: not all confirmed on {', '.join(lost)}: its events/s overstated")


def section_cluster(options: Options, figures: Figures) -> None:
    """Section 9: starts a private cluster and always stops it, whatever happens (its data
    directory goes with it)."""
    out('\n9. cluster (issue 17): sections 1 and 2 on a private three-node RabbitMQ cluster, '
        'QUEUE_TYPE "quorum", and on the single broker, classic queues, in turn; raw aio-pika '
        "through the producer's node")
    if not rabbitmq_available():
        out("  skipped: no RabbitMQ server binaries (scripts/setup installs them)")
        return
    single_url = os.environ["KYTOS_MQ_URL"]
    with tempfile.TemporaryDirectory(prefix="bench-cluster-", ignore_cleanup_errors=True) as base, \
            contextlib.contextmanager(private_cluster)(Path(base)) as cluster:
        figures.cluster_nodes = len(cluster)
        figures.cluster_start_s = cluster.start_seconds or 0.0
        phases = ", ".join(f"{name} {seconds:.1f}" for name, seconds in cluster.phases.items())
        row("cluster started", f"{figures.cluster_start_s:.1f} s", f"{phases}; {cluster}")
        asyncio.run(phase_cluster(options, figures, cluster, single_url))


def platform_line() -> str:
    return (f"python {platform.python_version()}  aio-pika {metadata.version('aio-pika')}  "
            f"cpus {os.cpu_count()}  load {os.getloadavg()[0]:.2f}")


async def bench(options: Options) -> Figures:
    url = os.environ["KYTOS_MQ_URL"]
    names = Names(f"bench.{uuid.uuid4().hex[:8]}")
    configure_producer(names, basic_publish=options.basic_publish)
    figures = Figures(events=options.events, links=options.links,
                      buffer_size=producer_settings.BUFFER_SIZE)
    out("== listen_events + mq_producer benchmark (issue 5) ==" + (
        "  [mq_producer through aiormq's basic_publish]" if options.basic_publish else ""))
    out(f"broker {broker_from_env(os.environ).display}  names {names.prefix}.*  "
        + platform_line())
    out(f"N={options.events} events over {options.links} links (make_link, not interdomain: "
        f"one message each), burst {options.burst}, latency {options.rate:.0f} ev/s x "
        f"{options.latency_seconds:g} s, topology {options.switches} switches / "
        f"{options.topology_links} links, paced CPU {', '.join(f'{r:.0f}' for r in PACED_RATES)}"
        f" ev/s x {options.paced_seconds:g} s, all-events mix {options.mix_events} events")
    out("everything runs on this process's loop (the stand-in controller) except the latency "
        "consumer, a separate process")
    out(f"mq_producer BUFFER_SIZE {figures.buffer_size} (the default): events come faster than "
        "they are confirmed; a full buffer makes the intake wait while the broker confirms")
    async with open_run(options, names, figures, url,
                        raw_messages=not (options.production_only or options.mix_only)) as run:
        raw_messages = run.raw_messages
        figures.envelope_bytes = sum(len(m.body) for m in raw_messages) / max(1, len(raw_messages))
        out(f"envelopes: {figures.envelope_bytes:.0f} bytes on average, persistent, "
            f"mandatory, to {names.operational} (topic) with one queue bound '#' "
            f"(x-max-length {SINK_MAX_LENGTH}, no consumer; bound to the admin and other "
            "exchanges too)")
        if options.gc_freeze:
            gc.collect()
            gc.freeze()
            out(f"--gc-freeze: {gc.get_freeze_count():,} objects frozen; collections skip them")

        if options.production_only:
            await phase_production(run)
            return figures
        if options.mix_only:
            await phase_mix(run)
            return figures
        if options.paced_only:
            await phase_paced(run)
            return figures
        production, serial = await measure_burst(run)
        print_ratios(run, production, serial)
        await phase_latency(run)
        await phase_cpu_and_stall(run)
        await phase_topology(run)
        await phase_paced(run)
        await phase_mix(run)
    return figures


def summary(figures: Figures) -> None:
    if not figures.verdicts:
        return
    out("\ntargets (informational, timings are never asserted):")
    for name, text in figures.verdicts.items():
        out(f"  {text:<28} {name}")


def main() -> None:
    options = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    if options.cluster_only:
        figures = Figures(events=options.events, links=options.links,
                          buffer_size=producer_settings.BUFFER_SIZE)
        out("== listen_events + mq_producer benchmark, section 9 only (issue 17) ==")
        out(f"single broker {broker_from_env(os.environ).display}  {platform_line()}")
        out(f"N={options.events} events over {options.links} links, as sections 1 and 2; "
            f"serial confirms time-boxed to {options.serial_budget:g} s")
    else:
        figures = asyncio.run(bench(options))
    if options.cluster:
        section_cluster(options, figures)
    summary(figures)
    out(f"\ntotal run time {time.perf_counter() - started:.0f} s; load average now "
        f"{os.getloadavg()[0]:.2f} (other processes on this host skew every figure)")
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(asdict(figures), indent=2) + "\n")


if __name__ == "__main__":
    main()
