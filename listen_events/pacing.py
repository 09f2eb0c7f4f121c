"""Cooperative pacing: long work gives the event loop a turn at least every few milliseconds.

Kytos runs every NApp, REST and core itself on one asyncio loop; work that does not await
holds all of them. A Pacer measures how long the current stretch of work has run and yields
only once it is over budget, so short work pays no context switch and long work (a topology
of thousands of links) never holds the loop much longer than the budget. Pure asyncio.
"""

import asyncio
import time

# The longest stretch of work (seconds) before the event loop gets a turn.
WORK_SLICE = 0.002


class Pacer:
    """Tracks the time since the event loop last had a turn; ``pause()`` gives it one when
    that time is over ``budget``."""

    def __init__(self, budget: float = WORK_SLICE) -> None:
        if budget < 0:
            raise ValueError(f"budget must be >= 0 seconds, got {budget}")
        self.budget = budget
        self.pauses = 0  # turns given to the loop by pause(), for tests and diagnostics
        self._since = time.perf_counter()

    @property
    def due(self) -> bool:
        """True when more than the budget elapsed since the loop's last turn."""
        return self._spent(self.budget)

    def _spent(self, budget: float) -> bool:
        return time.perf_counter() - self._since > budget

    @property
    def deadline(self) -> float:
        """The ``time.perf_counter()`` time after which the loop is due a turn."""
        return self._since + self.budget

    def restart(self) -> None:
        """Record that the loop just had a turn some other way (the caller awaited something
        that suspended, e.g. waiting for work): the budget starts again from now."""
        self._since = time.perf_counter()

    async def pause(self, budget: float | None = None) -> None:
        """Give the loop one turn if the budget (``budget`` seconds instead, when given) is
        spent; otherwise return without suspending (an ``async def`` that does not await
        never yields)."""
        if self._spent(self.budget if budget is None else budget):
            await asyncio.sleep(0)
            self.pauses += 1
            self._since = time.perf_counter()
