"""Wake-ups per event (issue 21): how many times the event loop runs something for one event
paced through both NApps, beside raw aio-pika's per message at the same pace, same run.

    .venv/bin/python benchmarks/wakeups.py                 # 500 and 1,000 ev/s, 2 s each
    .venv/bin/python benchmarks/wakeups.py --seconds 4 --rounds 3 --paced
    .venv/bin/python benchmarks/wakeups.py --linger-ms 10   # listen_events' LINGER_MS set

Counted in a paced window (bench.py's ``paced_production`` / ``paced_raw``, consumer process
included), while in the block of ``LoopCounter``:

- callbacks: every ``asyncio.Handle`` the loop runs (task steps and wake-ups, future
  callbacks, timers), by name: a task's coroutine, else the callback (bench.StepMeter.label);
- turns: the loop's iterations (one selector poll each), and those the selector woke with
  I/O ready (``io``).

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
    block. Wraps ``asyncio.Handle._run`` and the loop's selector ``select``."""

    def __init__(self, label: Callable[[asyncio.Handle], str] | None = None) -> None:
        self.callbacks: Counter[str] = Counter()
        self.turns = 0
        self.io_turns = 0
        self._label = label or _label
        self._run: Callable[[asyncio.Handle], None] | None = None
        self._selector: Any = None

    @property
    def total(self) -> int:
        return sum(self.callbacks.values())

    def __enter__(self) -> "LoopCounter":
        original = self._run = asyncio.Handle._run
        callbacks, label = self.callbacks, self._label

        def counted(handle: asyncio.Handle) -> None:
            callbacks[label(handle)] += 1
            original(handle)

        asyncio.Handle._run = counted  # type: ignore[method-assign]
        selector = self._selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
        select = selector.select

        def counted_select(timeout: float | None = None) -> list[Any]:
            events = select(timeout)
            self.turns += 1
            self.io_turns += bool(events)
            return events

        selector.select = counted_select
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.Handle._run = self._run  # type: ignore[method-assign]
        del self._selector.select  # the instance attribute: the class's method again

    def per(self, count: int) -> dict[str, float]:
        return {"callbacks": self.total / count, "turns": self.turns / count,
                "io_turns": self.io_turns / count}


def _label(handle: asyncio.Handle) -> str:
    callback = handle._callback  # type: ignore[attr-defined]
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        return "task " + getattr(coro, "__qualname__", type(coro).__name__)
    return getattr(callback, "__qualname__", type(callback).__name__)


# ------------------------------------------------------------------- the stand-alone run


async def counted(run: Any, rate: float, count: int, napps_only: bool = False
                  ) -> tuple[LoopCounter, LoopCounter]:
    """One paced window through the NApps and one through raw aio-pika, each counted."""
    import bench

    await bench.wait_until(run.stack.idle, 30, "idle before a counted run")
    name = f"wakeups{rate:.0f}.{len(run.latency_queues)}"
    with LoopCounter() as napps:
        await bench.paced_production(run, rate, count, f"{name}.production")
    with LoopCounter() as raw:
        if not napps_only:
            await bench.paced_raw(run, rate, count, f"{name}.raw")
    return napps, raw


def report(rate: float, count: int, napps: LoopCounter, raw: LoopCounter, top: int) -> None:
    mine, theirs = napps.per(count), raw.per(count) if raw.total else napps.per(count)
    print(f"{rate:,.0f} ev/s, {count} events: per event (raw aio-pika per message)")
    for key in ("callbacks", "turns", "io_turns"):
        print(f"  {key:<10} {mine[key]:6.2f} ({theirs[key]:5.2f})")
    for who, counter in (("NApps' callbacks per event", napps), ("raw's per message", raw)):
        print(f"  {who}, by name:")
        for label, number in counter.callbacks.most_common(top):
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
        most = int(max(bench.PACED_RATES) * args.seconds)
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
                napps, raw = await counted(run, rate, count, args.napps_only)
                report(rate, count, napps, raw, args.top)
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
