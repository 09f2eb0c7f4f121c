"""Ending our own tasks when Kytos stops.

Kytos stops its loop in the same callback that calls the NApps' shutdown(), then closes it
(kytos/core/controller.py stop_controller, kytosd.py): a task cancelled there never runs again.
asyncio would report it as "destroyed but pending" when the garbage collector takes it;
``_log_destroy_pending`` is asyncio's own switch for that (base_events, gather set it), pinned
by tests/unit/test_kytosd_stop_contract.py. What the task awaits is cancelled with it, so its
``finally`` clauses, run when the coroutine is closed after loop.close(), need no loop.
A task whose coroutine has not started yet (created in the turn Kytos stops, such as the task
aiormq creates for each channel RPC) would never start: its coroutine is closed now, or Python
reports it as "never awaited" when it is collected.
"""

import asyncio
import inspect


def cancel(task: asyncio.Task[object] | None, *, for_good: bool) -> None:
    """Cancel ``task`` if it is still running; ``for_good``: the loop will not run it again
    (Kytos is stopping), so asyncio is told not to report it as destroyed while pending."""
    if task is None or task.done():
        return
    task.cancel()
    if for_good:
        task._log_destroy_pending = False  # type: ignore[attr-defined]
        coroutine = task.get_coro()
        if inspect.iscoroutine(coroutine) \
                and inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED:
            coroutine.close()
