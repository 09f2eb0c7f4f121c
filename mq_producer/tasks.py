"""Ending our own tasks when Kytos stops; shutdown()'s work on the loop's thread (on_loop).

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
alike). Python 3.11's ``asyncio.wait_for`` (aiormq times its channel RPCs with it: the lock,
the reply) waits on a plain future while a task of its own runs what it waits for; cancelled,
it cancels that task at its next step, which never comes: we do it for it. That task is the
one whose done callbacks release the future (``asyncio.tasks._release_waiter``). These
internals are pinned by tests/unit/test_kytosd_stop_contract.py; without them only the tasks
found are quieted.
"""

import asyncio
import contextlib
import functools
import inspect
from collections.abc import Callable


def on_loop(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Run ``callback`` now when called on ``loop``'s thread, else hand it to the loop and
    return at once. Core calls shutdown() on the loop's thread when Kytos stops, but from a
    thread of its own when the NApp is disabled through Kytos' API (kytos-ng 2025.2.1: the
    disable route, and watchdog's observer seeing the NApp's link go, each call unload_napp):
    our tasks, timers and futures may be touched only on their loop's thread."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:  # no loop runs in this thread
        running = None
    if running is loop:
        callback()
        return
    with contextlib.suppress(RuntimeError):  # the loop is closed: our tasks ended with it
        loop.call_soon_threadsafe(callback)


def cancel(task: asyncio.Task[object] | None, *, for_good: bool) -> None:
    """Cancel ``task`` if it is still running; ``for_good``: the loop will not run it again
    (Kytos is stopping), so it and the tasks it awaits are ended quietly."""
    if task is None or task.done():
        return
    task.cancel()
    if for_good:
        _quiet(task)


_RELEASE_WAITER = getattr(asyncio.tasks, "_release_waiter", None)  # wait_for's, 3.11


def _quiet(task: asyncio.Task[object]) -> None:
    """``task`` and, down the chain, each task it waits on: never reported by asyncio."""
    seen: set[int] = set()  # tasks awaiting each other: a deadlock, not a hang
    chain: list[object] = [task]
    while chain:
        awaited = chain.pop()
        if not isinstance(awaited, asyncio.Future) or id(awaited) in seen:
            continue
        seen.add(id(awaited))
        if not isinstance(awaited, asyncio.Task):  # a plain future: wait_for's?
            for runner in _running_for(awaited, task.get_loop()):
                runner.cancel()
                chain.append(runner)
            continue
        if awaited.done():
            continue
        awaited._log_destroy_pending = False  # type: ignore[attr-defined]
        coroutine = awaited.get_coro()
        if inspect.iscoroutine(coroutine) \
                and inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED:
            coroutine.close()
        chain.append(getattr(awaited, "_fut_waiter", None))


def _running_for(waiter: asyncio.Future[object],
                 loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[object]]:
    """The pending tasks that asyncio.wait_for runs for a task waiting on ``waiter``."""
    if _RELEASE_WAITER is None:
        return []
    return [task for task in asyncio.all_tasks(loop)
            if any(type(callback) is functools.partial and callback.func is _RELEASE_WAITER
                   and callback.args[0] is waiter
                   for callback, _context in getattr(task, "_callbacks", None) or ())]
