"""How long the event loop was held: the longest gap between the turns of a 1 ms ticker."""

import asyncio
import gc
import time

# What a fault test asserts of ``longest_cpu``: that nothing blocked the loop (a synchronous
# socket, a name lookup, a sleep hold it for far longer). Not a performance bound: with three
# broker nodes and the test's own stream on two CPUs, one turn of the loop took 12.4 ms of this
# thread's time in a CI run (the limit was 10 ms); benchmarks/bench.py measures the stalls
# (section 5, target < 5 ms on a quiet host).
BLOCKED_LOOP = 0.050


class StallMeter:
    """The longest gap between the turns of a 1 ms ticker: how long the loop was held, in
    wall-clock time (``longest``, which a busy host stretches: the broker and this process
    share two CPUs) and in the time this thread ran (``longest_cpu``, what our code held)."""

    def __init__(self) -> None:
        self.longest = self.longest_cpu = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last, last_cpu = time.perf_counter(), time.thread_time()
        while True:
            await asyncio.sleep(0.001)
            now, now_cpu = time.perf_counter(), time.thread_time()
            self.longest = max(self.longest, now - last - 0.001)
            self.longest_cpu = max(self.longest_cpu, now_cpu - last_cpu)
            last, last_cpu = now, now_cpu

    def __str__(self) -> str:
        return (f"loop held at most {self.longest_cpu * 1000:.1f} ms of CPU "
                f"({self.longest * 1000:.1f} ms of wall-clock time)")

    def __enter__(self) -> "StallMeter":
        # What earlier tests of this process left on the heap is frozen: a full collection
        # of it (over 100 ms in a whole-suite run) is not the code under test holding the loop.
        gc.collect()
        gc.freeze()
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        gc.unfreeze()
