"""mq_producer.tasks.cancel: what Kytos' stop leaves behind is ended quietly; on_loop (both
NApps'): shutdown()'s work on the loop's thread, whichever thread core calls it from."""

import asyncio
import contextlib
import gc
import sys
import threading
import warnings
from collections.abc import AsyncIterator

import pytest

from listen_events.worker import on_loop as listen_on_loop
from mq_producer.tasks import cancel
from mq_producer.tasks import on_loop as producer_on_loop
from tests.support.waiting import wait_until


async def _forever() -> None:
    await asyncio.Event().wait()


def _collected_warnings(loop: asyncio.AbstractEventLoop, tasks: list[asyncio.Task[None]],
                        reported: list[str]) -> list[str]:
    """Close the loop as kytosd does, drop the tasks and collect them: Python's warnings
    (returned) and asyncio's reports (into ``reported``; the message only, as the context
    holds the task and with it the coroutine)."""
    loop.set_exception_handler(lambda _loop, context: reported.append(context["message"]))
    loop.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tasks.clear()
        gc.collect()
    return [str(warning.message) for warning in caught]


@pytest.mark.parametrize("started", [False, True])
def test_a_task_cancelled_for_good_is_not_reported(started):
    """Before it started (created in the turn Kytos stops), or while it waits."""
    loop = asyncio.new_event_loop()
    tasks = [loop.create_task(_forever())]
    if started:
        loop.run_until_complete(asyncio.sleep(0))
    cancel(tasks[0], for_good=True)
    reported: list[str] = []
    assert _collected_warnings(loop, tasks, reported) == []
    assert reported == []


def test_without_cancel_both_are_reported():
    """The control: the two reports cancel() prevents are the ones asyncio really makes."""
    loop = asyncio.new_event_loop()
    tasks = [loop.create_task(_forever()), loop.create_task(_forever())]
    loop.run_until_complete(asyncio.sleep(0))
    tasks.append(loop.create_task(_forever()))  # never starts
    reported: list[str] = []
    messages = _collected_warnings(loop, tasks, reported)
    assert any("was never awaited" in message for message in messages), messages
    assert reported.count("Task was destroyed but it is pending!") == 3, reported


def test_the_tasks_a_task_awaits_are_ended_quietly_with_it():
    """The library tasks our tasks wait on (a connection attempt, an RPC), down the chain:
    one waiting, one that failed in the turn of the stop (nobody has seen its exception),
    one created in that turn (not started yet)."""
    loop = asyncio.new_event_loop()
    answer: asyncio.Future[None] = loop.create_future()
    inner: list[asyncio.Task[None]] = []

    async def innermost(kind: str) -> None:
        if kind == "fails":
            await answer
        else:
            await _forever()

    async def middle(kind: str) -> None:
        task = loop.create_task(innermost(kind))
        inner.append(task)
        await task

    async def outer(kind: str) -> None:
        task = loop.create_task(middle(kind))
        inner.append(task)
        await task

    waiting, failing = loop.create_task(outer("waits")), loop.create_task(outer("fails"))
    loop.run_until_complete(asyncio.sleep(0.01))  # both chains built
    late: list[asyncio.Task[None]] = []

    def stop() -> None:  # as Kytos stops: our tasks cancelled for good, then loop.stop()
        for task in (waiting, failing, *late):
            cancel(task, for_good=True)
        loop.stop()

    def turn_before() -> None:
        answer.set_exception(ConnectionError("refused"))  # the innermost fails next turn
        late.append(loop.create_task(outer("waits")))  # its first step: next turn too
        loop.call_soon(stop)  # after both

    loop.call_soon(turn_before)
    loop.run_forever()
    assert inner[3].done() and not inner[3].cancelled()  # the failure
    assert not inner[4].done()  # created in the turn of the stop, never started
    tasks = [waiting, failing, *late, *inner]
    inner.clear()
    late.clear()
    reported: list[str] = []
    assert _collected_warnings(loop, tasks, reported) == []
    assert reported == []


def test_without_the_chain_the_awaited_tasks_are_reported():
    """The control: cancelling only the outer task leaves the inner one to asyncio's report."""
    loop = asyncio.new_event_loop()

    async def outer() -> None:
        await loop.create_task(_forever())

    tasks = [loop.create_task(outer())]
    loop.run_until_complete(asyncio.sleep(0.01))
    tasks[0].cancel()
    tasks[0]._log_destroy_pending = False
    reported: list[str] = []
    _collected_warnings(loop, tasks, reported)
    assert reported == ["Task was destroyed but it is pending!"], reported


def test_a_task_cancelled_not_for_good_still_runs_its_cancellation():
    """An unload (the loop goes on): the task is only cancelled, and sees it."""
    loop = asyncio.new_event_loop()
    seen: list[str] = []

    async def waits() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    task = loop.create_task(waits())
    loop.run_until_complete(asyncio.sleep(0))
    cancel(task, for_good=False)
    loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
    assert seen == ["cancelled"] and task.cancelled()
    loop.close()


def _rpc_like(loop: asyncio.AbstractEventLoop, lock: asyncio.Lock, replies: asyncio.Queue
              ) -> asyncio.Task[None]:
    """A task as aiormq's channel RPC runs it: in a task of its own (aiormq's ``@task``),
    awaited by ours, the channel lock and then the reply each awaited through
    ``asyncio.wait_for`` (aiormq's Countdown)."""

    @contextlib.asynccontextmanager
    async def locked() -> AsyncIterator[None]:
        async with lock:
            yield

    async def rpc() -> None:
        context = locked()
        await asyncio.wait_for(context.__aenter__(), 5)
        try:
            await asyncio.wait_for(replies.get(), 5)
        finally:
            await context.__aexit__(None, None, None)

    async def ours() -> None:
        await loop.create_task(rpc())

    return loop.create_task(ours())


@pytest.mark.parametrize("quieted", [True, False])
def test_the_tasks_asyncio_wait_for_runs_for_an_awaited_rpc_are_ended_quietly(quieted):
    """Kytos stopped while RPCs wait, one for its reply, the next for the channel lock the
    first holds: Python 3.11's wait_for runs each in a task of its own, which only wait_for
    cancels, at a step that never comes. Seen in a real kytosd stopped while link status
    queues were being declared and purged: "Task was destroyed but it is pending!" for
    Queue.get() and _AsyncGeneratorContextManager.__aenter__(), and "Exception ignored in:
    <coroutine object Queue.get>: Event loop is closed". The control (``quieted`` False:
    only our tasks, as before) shows both reports."""
    if not quieted and sys.version_info >= (3, 12):
        pytest.skip("wait_for runs no task of its own from Python 3.12: nothing to report")
    loop = asyncio.new_event_loop()
    lock, replies = asyncio.Lock(), asyncio.Queue()
    tasks = [_rpc_like(loop, lock, replies), _rpc_like(loop, lock, replies)]
    loop.run_until_complete(asyncio.sleep(0.01))  # the first waits for its reply, the second
    assert lock.locked()  # for the lock
    del lock, replies  # the tasks are collected with them, in the window watched below
    for task in tasks:
        if quieted:
            cancel(task, for_good=True)
        else:
            task.cancel()
            task._log_destroy_pending = False
    del task
    unraisable: list[str] = []
    hook, sys.unraisablehook = sys.unraisablehook, lambda info: unraisable.append(
        f"{info.err_msg or ''}: {info.exc_type.__name__}: {info.exc_value}")
    try:
        reported: list[str] = []
        messages = _collected_warnings(loop, tasks, reported)
    finally:
        sys.unraisablehook = hook
    if quieted:
        assert (messages, reported, unraisable) == ([], [], [])
    else:
        assert "Task was destroyed but it is pending!" in reported, reported
        assert any("Event loop is closed" in line for line in unraisable), unraisable


@pytest.mark.parametrize("on_loop", [producer_on_loop, listen_on_loop],
                         ids=["mq_producer", "listen_events"])
async def test_on_loop_runs_at_once_on_the_loop_and_hands_over_from_another_thread(on_loop):
    loop = asyncio.get_running_loop()
    ran: list[int] = []
    on_loop(loop, lambda: ran.append(threading.get_ident()))
    assert ran == [threading.get_ident()]  # on the loop's thread: at once, in this step
    await asyncio.to_thread(on_loop, loop, lambda: ran.append(threading.get_ident()))
    await wait_until(lambda: len(ran) == 2, what="the handed-over call")
    assert ran[1] == ran[0]  # run by the loop, on its thread
    closed = asyncio.new_event_loop()
    closed.close()
    on_loop(closed, lambda: ran.append(0))  # a closed loop: nothing runs, nothing raises
    await asyncio.sleep(0)
    assert len(ran) == 2
