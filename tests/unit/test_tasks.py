"""mq_producer.tasks.cancel: what Kytos' stop leaves behind is ended quietly."""

import asyncio
import gc
import warnings

from mq_producer.tasks import cancel


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


def test_a_task_cancelled_for_good_before_it_started_is_not_reported():
    loop = asyncio.new_event_loop()
    tasks = [loop.create_task(_forever())]
    cancel(tasks[0], for_good=True)
    reported: list[str] = []
    assert _collected_warnings(loop, tasks, reported) == []
    assert reported == []


def test_a_task_cancelled_for_good_while_it_waits_is_not_reported():
    loop = asyncio.new_event_loop()
    tasks = [loop.create_task(_forever())]
    loop.run_until_complete(asyncio.sleep(0))  # the task starts and waits
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
