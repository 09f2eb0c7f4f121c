"""Wake-ups per event (issue 21): how many times the event loop runs something for one event
paced through both NApps, beside raw aio-pika's per message at the same pace, same run.

    .venv/bin/python benchmarks/wakeups.py                 # 500 and 1,000 ev/s, 2 s each
    .venv/bin/python benchmarks/wakeups.py --seconds 4 --rounds 3 --paced
    .venv/bin/python benchmarks/wakeups.py --linger-ms 10   # listen_events' LINGER_MS set
    .venv/bin/python benchmarks/wakeups.py --cpu --burst 10000  # CPU by name; and a burst

Counted in a paced window (bench.py's ``paced_production`` / ``paced_raw``, consumer process
included), while in the block of ``LoopCounter``:

- callbacks: every ``asyncio.Handle`` the loop runs (task steps and wake-ups, future
  callbacks, timers), by name: a task's coroutine, else the callback (bench.StepMeter.label);
- turns: the loop's iterations (one selector poll each), and those the selector woke with
  I/O ready (``io``).

- with ``--cpu``, the thread's CPU time (``time.thread_time``) by name, in the selector's
  polls, and the rest of the block: where a paced event's CPU goes. For each pace, also the
  NApps' own share (their CPU less the stand-in dispatch alone at that pace, counted the
  same way), split into their own code's steps and the rest, each over raw's per message:
  the rest is a floor for issue 21's paced ratio at the default settings, what would be
  left if listen_events' and mq_producer's code cost nothing. ``--burst N`` counts a
  burst of N events too (bench.py's sections 2 and 1): the same steps cost two to five
  times as much each at a steady pace as in a burst (docs/benchmarks.rst, "Paced CPU").

Everything on the loop is counted, the paced sender's own step and timer too (raw's has the
same), so the figures are for the path as a whole; the breakdown says who. ``--paced`` also
runs bench.py's section 7 (uncounted: the counter costs about a microsecond per callback)
for the CPU per event and the latencies in the same process. The counter has no dependency
on bench.py: bench.py can use ``LoopCounter`` in its own section 7.
"""

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any


class LoopCounter:
    """Counts the callbacks the running loop runs (by label) and its turns while in the
    block. Wraps ``asyncio.Handle._run`` and the loop's selector ``select``. With ``cpu``,
    also the thread's CPU time (``time.thread_time``) each label's callbacks took, the
    selector's polls took, and the block took in all; the clock read costs about a
    microsecond per callback more."""

    def __init__(self, label: Callable[[asyncio.Handle], str] | None = None,
                 cpu: bool = False) -> None:
        self.callbacks: Counter[str] = Counter()
        self.turns = 0
        self.io_turns = 0
        self.timed = cpu
        self.cpu: Counter[str] = Counter()  # thread CPU seconds, by label (with ``cpu``)
        self.select_cpu = 0.0
        self.block_cpu = 0.0
        self._label = label or _label
        self._run: Callable[[asyncio.Handle], None] | None = None
        self._selector: Any = None

    @property
    def total(self) -> int:
        return sum(self.callbacks.values())

    def __enter__(self) -> "LoopCounter":
        original = self._run = asyncio.Handle._run
        callbacks, label = self.callbacks, self._label

        cpu, clock = self.cpu, time.thread_time

        def counted(handle: asyncio.Handle) -> None:
            callbacks[label(handle)] += 1
            original(handle)

        def timed(handle: asyncio.Handle) -> None:
            name = label(handle)  # before: a coroutine that ends in this step has no frame
            start = clock()
            original(handle)
            cpu[name] += clock() - start
            callbacks[name] += 1

        asyncio.Handle._run = timed if self.timed else counted  # type: ignore[method-assign]
        selector = self._selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
        select = selector.select

        def counted_select(timeout: float | None = None) -> list[Any]:
            start = clock() if self.timed else 0.0
            events = select(timeout)
            if self.timed:
                self.select_cpu += clock() - start
            self.turns += 1
            self.io_turns += bool(events)
            return events

        selector.select = counted_select
        self.block_cpu = clock()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.block_cpu = time.thread_time() - self.block_cpu
        asyncio.Handle._run = self._run  # type: ignore[method-assign]
        del self._selector.select  # the instance attribute: the class's method again

    def per(self, count: int) -> dict[str, float]:
        return {"callbacks": self.total / count, "turns": self.turns / count,
                "io_turns": self.io_turns / count}

    def cpu_us(self, count: int) -> dict[str, float]:
        """Thread CPU microseconds per ``count`` (with ``cpu``): in callbacks, in the
        selector's polls, and the rest of the block (the loop's own bookkeeping)."""
        callbacks = sum(self.cpu.values())
        return {"all": self.block_cpu / count * 1e6, "callbacks": callbacks / count * 1e6,
                "polls": self.select_cpu / count * 1e6,
                "rest": (self.block_cpu - callbacks - self.select_cpu) / count * 1e6}


def _label(handle: asyncio.Handle) -> str:
    callback = handle._callback  # type: ignore[attr-defined]
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        name = "task " + getattr(coro, "__qualname__", type(coro).__name__)
        # Core's alisten_to runs every handler in a coroutine of its own (``inner``): which
        # NApp's handler it runs is in its frame.
        frame = getattr(coro, "cr_frame", None)
        handler = frame.f_locals.get("handler") if frame is not None \
            and name.endswith(".inner") else None
        return name if handler is None else f"{name} ({handler.__qualname__})"
    return getattr(callback, "__qualname__", type(callback).__name__)


# ------------------------------------------------------------------- the stand-alone run


async def counted(run: Any, rate: float, count: int, napps_only: bool = False,
                  cpu: bool = False) -> tuple[LoopCounter, LoopCounter, LoopCounter | None]:
    """One paced window through the NApps and one through raw aio-pika, each counted; with
    ``cpu``, also the stand-in core's dispatch alone at the same pace (bench.py's
    ``paced_dispatch_only``: a no-op listener), for the NApps' own share."""
    import bench

    await bench.wait_until(run.stack.idle, 30, "idle before a counted run")
    name = f"wakeups{rate:.0f}.{len(run.latency_queues)}"
    with LoopCounter(cpu=cpu) as napps:
        await bench.paced_production(run, rate, count, f"{name}.production")
    with LoopCounter(cpu=cpu) as raw:
        if not napps_only:
            await bench.paced_raw(run, rate, count, f"{name}.raw")
    if not cpu:
        return napps, raw, None
    with LoopCounter(cpu=True) as dispatch:
        await bench.paced_dispatch_only(run, rate, count)
    return napps, raw, dispatch


# The NApps' own code on the loop: their event handlers' steps (core's ``inner`` running
# them) and their tasks' and callbacks' steps. Everything else a paced event costs them is
# core's dispatch of the hand-off event, aiormq reading the broker's confirm, and the
# loop's polls and bookkeeping.
NAPP_CODE = ("(Main.on_event)", "(Main.on_envelopes)", "HandOffWorker.", "HandOffIntake.",
             "Publisher.")


def own_share(napps: LoopCounter, raw: LoopCounter, dispatch: LoopCounter, count: int
              ) -> str:
    """The NApps' own CPU per event (theirs less the dispatch alone), the part of it spent in
    their own code, and the rest, each against raw aio-pika's per message: the rest is what
    would be left if listen_events' and mq_producer's work cost nothing."""
    dispatch_us = dispatch.cpu_us(count)["all"]
    own = napps.cpu_us(count)["all"] - dispatch_us
    code = sum(us for label, us in napps.cpu.items()
               if any(part in label for part in NAPP_CODE)) / count * 1e6
    raw_us = raw.cpu_us(count)["all"]
    return (f"  the NApps' own (less the dispatch alone, {dispatch_us:.0f}): "
            f"{own:.0f} us = {own / raw_us:.2f} of raw's per message; in their own code "
            f"{code:.0f}, the rest {own - code:.0f} = {(own - code) / raw_us:.2f} of raw's "
            "(the hand-off's dispatch, the confirm's reading, the loop's polls and "
            "bookkeeping): what is left if their code cost nothing")


async def counted_burst(run: Any, count: int, napps_only: bool = False, cpu: bool = False
                        ) -> tuple[LoopCounter, LoopCounter]:
    """``count`` link events through the NApps as fast as the app buffer takes them, and the
    same count of messages through raw aio-pika, 256 in flight (bench.py's sections 2 and 1),
    each counted: what each step costs when the loop is never idle, beside the paced
    windows' figures, where every step runs alone."""
    import bench

    await bench.wait_until(run.stack.idle, 30, "idle before a counted burst")
    with LoopCounter(cpu=cpu) as napps:
        await bench.run_production(run.stack, bench.LinkEvents(run.links, count), count, 120)
    with LoopCounter(cpu=cpu) as raw:
        if not napps_only:
            await bench.publish_pipelined(run.exchange, run.raw_messages[:count])
    return napps, raw


def report(rate: float | None, count: int, napps: LoopCounter, raw: LoopCounter, top: int,
           dispatch: LoopCounter | None = None) -> None:
    mine, theirs = napps.per(count), raw.per(count) if raw.total else napps.per(count)
    pace = "a burst" if rate is None else f"{rate:,.0f} ev/s"
    print(f"{pace}, {count} events: per event (raw aio-pika per message)")
    for key in ("callbacks", "turns", "io_turns"):
        print(f"  {key:<10} {mine[key]:6.2f} ({theirs[key]:5.2f})")
    if napps.timed:
        mine_us, theirs_us = napps.cpu_us(count), (raw if raw.total else napps).cpu_us(count)
        print("  thread CPU, us: " + "; ".join(
            f"{key} {mine_us[key]:.0f} ({theirs_us[key]:.0f})" for key in mine_us))
        if dispatch is not None and raw.total:
            print(own_share(napps, raw, dispatch, count))
    for who, counter in (("NApps' callbacks per event", napps), ("raw's per message", raw)):
        print(f"  {who}, by name" + (": how many, CPU us, us each" if counter.timed else ":"))
        for label, number in counter.callbacks.most_common(top):
            if counter.timed:
                us = counter.cpu[label] * 1e6
                print(f"    {number / count:6.2f} {us / count:7.1f} {us / number:7.1f}  {label}")
            else:
                print(f"    {number / count:6.2f}  {label}")


async def main_async(args: argparse.Namespace) -> None:
    import bench

    url = os.environ["KYTOS_MQ_URL"]
    names = bench.Names(f"bench.{uuid.uuid4().hex[:8]}")
    bench.configure_producer(names)
    stack = await bench.start_stack()
    connection = await bench.aio_pika.connect_robust(url)
    latency_queues: list[str] = []
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(names.operational, ensure=False)
        links = [bench.make_link(index) for index in range(1, args.links + 1)]
        most = max(int(max(bench.PACED_RATES) * args.seconds), args.burst)
        raw_messages = await bench.build_messages(bench.LinkEvents(links, most))
        options = bench.parse_args(["--paced-seconds", str(args.seconds)])
        run = bench.Run(options=options, names=names, figures=bench.Figures(), stack=stack,
                        channel=channel, exchange=exchange, links=links,
                        raw_messages=raw_messages, latency_queues=latency_queues)
        print(f"load {os.getloadavg()[0]:.2f}; names {names.prefix}.*; the NApps with "
              f"LINGER_MS = {args.linger_ms:g}")
        assert stack.listen.worker is not None
        stack.listen.worker.linger = args.linger_ms / 1000
        for round_ in range(1, args.rounds + 1):
            print(f"\n-- round {round_} --")
            for rate in bench.PACED_RATES:
                count = int(rate * args.seconds)
                napps, raw, dispatch = await counted(run, rate, count, args.napps_only,
                                                     args.cpu)
                report(rate, count, napps, raw, args.top, dispatch)
            if args.burst:
                napps, raw = await counted_burst(run, args.burst, args.napps_only, args.cpu)
                report(None, args.burst, napps, raw, args.top)
            if args.paced:
                await bench.phase_paced(run)
    finally:
        queues = [*stack.publisher.transport.queues, *latency_queues]
        await bench.stop_stack(stack)
        await connection.close()
        await bench.cleanup(url, names, queues)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="each counted window (2)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of everything (1)")
    parser.add_argument("--links", type=int, default=100, help="links the events cycle over")
    parser.add_argument("--top", type=int, default=15, help="names in the breakdown (15)")
    parser.add_argument("--paced", action="store_true",
                        help="also bench.py's section 7 (CPU per event, latency), uncounted, "
                             "after each round's counts")
    parser.add_argument("--linger-ms", type=float, default=0.0,
                        help="listen_events' LINGER_MS for the counted NApps' windows (0)")
    parser.add_argument("--burst", type=int, default=0,
                        help="also a burst of this many events, and of raw messages, counted "
                             "after each round's paced windows (0: none)")
    parser.add_argument("--cpu", action="store_true",
                        help="also the thread's CPU per event, by name, in polls and the rest "
                             "(about 1 us per callback more)")
    parser.add_argument("--napps-only", action="store_true",
                        help="no raw aio-pika window (for a profiler: py-spy record -- ...)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench  # noqa: F401  (here, not on the loop: a profile of the run leaves it out)

    started = time.perf_counter()
    asyncio.run(main_async(args))
    print(f"\n{time.perf_counter() - started:.0f} s; load now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
