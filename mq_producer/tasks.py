"""Ending our own tasks when Kytos stops.

Kytos stops its loop in the same callback that calls the NApps' shutdown(), then closes it
(kytos/core/controller.py stop_controller, kytosd.py): a task cancelled there never runs again,
nor does any task it awaits - such as the task a client library runs a connection attempt or a
channel RPC in, for us. Left as they are, asyncio reports them when the garbage collector takes
them, and the NApp's stop shows in Kytos' output:

- "Task was destroyed but it is pending!": ``_log_destroy_pending`` is asyncio's own switch
  for that (base_events, gather set it);
- "coroutine ... was never awaited", for a task created in the turn Kytos stops: its
  coroutine has not started, and is closed now.

``Task.cancel`` passes the cancellation down the chain of tasks awaited (a task that failed in
that turn has its exception marked as seen by it), so the ``finally`` clauses, run when the
coroutines are closed after loop.close(), need no loop. The chain is followed through
``Task._fut_waiter``, the future a task waits on (asyncio's own, C and Python implementations
alike). Both internals are pinned by tests/unit/test_kytosd_stop_contract.py; without
``_fut_waiter`` only the task itself is quieted.
"""

import asyncio
import inspect


def cancel(task: asyncio.Task[object] | None, *, for_good: bool) -> None:
    """Cancel ``task`` if it is still running; ``for_good``: the loop will not run it again
    (Kytos is stopping), so it and the tasks it awaits are ended quietly."""
    if task is None or task.done():
        return
    task.cancel()
    if for_good:
        _quiet(task)


def _quiet(task: asyncio.Task[object]) -> None:
    """``task`` and, down the chain, each task it waits on: never reported by asyncio."""
    seen: set[int] = set()
    awaited: object = task
    while isinstance(awaited, asyncio.Task) and not awaited.done() \
            and id(awaited) not in seen:  # tasks awaiting each other: a deadlock, not a hang
        seen.add(id(awaited))
        awaited._log_destroy_pending = False  # type: ignore[attr-defined]
        coroutine = awaited.get_coro()
        if inspect.iscoroutine(coroutine) \
                and inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED:
            coroutine.close()
        awaited = getattr(awaited, "_fut_waiter", None)
