"""Waiting for asynchronous conditions in tests, with a bound and a clear failure."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable


async def wait_until(condition: Callable[[], object], timeout: float = 15.0,
                     what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


class LoopTurns:
    """How many turns another task got while the block ran (``count``): proof that the code
    under test let the event loop run other work."""

    def __init__(self) -> None:
        self.count = 0


@contextlib.asynccontextmanager
async def loop_turns() -> AsyncIterator[LoopTurns]:
    turns = LoopTurns()

    async def other_task() -> None:
        while True:
            await asyncio.sleep(0)
            turns.count += 1

    task = asyncio.create_task(other_task())
    await asyncio.sleep(0)  # started: counting from here
    try:
        yield turns
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
