"""The aiormq and asyncio internals the NApps' stop relies on when Kytos stops (see
AmqpTransport.abandon), pinned against the installed versions: an upgrade that moves them fails
here, not silently in production (where the Close would not be sent, and tasks would be
reported as destroyed while pending)."""

import asyncio
import functools
import inspect
import sys

import aiormq
import aiormq.base
import pytest


def test_the_connection_keeps_its_writer_task_and_the_stream_writer_is_its_writer_local():
    source = inspect.getsource(aiormq.Connection)
    assert "self._writer_task = self.create_task(self.__writer(writer))" in source
    writer = aiormq.Connection._Connection__writer
    assert list(inspect.signature(writer).parameters) == ["self", "writer"]


def test_the_future_store_holds_every_future_and_task_of_a_connection_and_its_channels():
    assert "__future_store" in aiormq.base.Base.__slots__  # mangled: _Base__future_store
    assert isinstance(aiormq.base.Base._Base__future_store, type(aiormq.base.Base.loop))
    loop = asyncio.new_event_loop()
    assert aiormq.base.FutureStore(loop).futures == set()
    loop.close()
    assert "self.parent.add(future)" in inspect.getsource(aiormq.base.FutureStore.add)
    # A closed channel's reader returns from its finally at once, without awaiting.
    assert "if self.is_closed:" in inspect.getsource(aiormq.base.Base.close)


def test_asyncio_lets_a_pending_task_be_destroyed_quietly():
    loop = asyncio.new_event_loop()

    async def forever() -> None:
        await asyncio.Event().wait()

    task = loop.create_task(forever())
    task._log_destroy_pending = False
    assert task._log_destroy_pending is False
    task.get_coro().close()
    loop.close()


def test_a_task_shows_the_task_it_awaits():
    """mq_producer.tasks follows Task._fut_waiter down to the library tasks our task awaits."""
    loop = asyncio.new_event_loop()
    inner: list[asyncio.Task[None]] = []

    async def forever() -> None:
        await asyncio.Event().wait()

    async def outer() -> None:
        inner.append(loop.create_task(forever()))
        await inner[0]

    task = loop.create_task(outer())
    loop.run_until_complete(asyncio.sleep(0.01))
    assert task._fut_waiter is inner[0]
    task.cancel()
    loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
    assert task._fut_waiter is None and inner[0].cancelled()
    loop.close()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="wait_for runs no task of its own "
                    "from Python 3.12")
def test_wait_for_runs_its_awaitable_in_a_task_that_releases_the_future_its_caller_awaits():
    """mq_producer.tasks finds the task Python 3.11's asyncio.wait_for runs for a task of ours
    (aiormq's RPCs) by that done callback, on the future our task waits on."""
    loop = asyncio.new_event_loop()

    async def outer() -> None:
        await asyncio.wait_for(asyncio.Event().wait(), 5)

    task = loop.create_task(outer())
    loop.run_until_complete(asyncio.sleep(0.01))
    waiter = task._fut_waiter
    assert isinstance(waiter, asyncio.Future) and not isinstance(waiter, asyncio.Task)
    (inner,) = asyncio.all_tasks(loop) - {task}
    assert any(type(callback) is functools.partial
               and callback.func is asyncio.tasks._release_waiter and callback.args == (waiter,)
               for callback, _context in inner._callbacks)
    task.cancel()
    loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
    assert inner.cancelled()  # what wait_for does at its next step, when the loop runs one
    loop.close()


def test_aio_pika_hands_its_kwargs_to_aiormq_which_takes_a_transport_factory():
    """connection.py's SocketFactory reaches aiormq.Connection through aio-pika's
    ``Connection.kwargs`` (its constructor keeps only the parameters it knows);
    test_kytosd_stop.py checks, against the broker, that a connection uses it."""
    import aio_pika

    assert "transport_factory" in inspect.signature(aiormq.Connection.__init__).parameters
    assert "**self.kwargs" in inspect.getsource(aio_pika.Connection.connect)
    source = inspect.getsource(aio_pika.abc.UnderlayConnection.make_connection)
    assert "aiormq.connect(" in source and "**kwargs" in source


def test_nats_py_keeps_the_tasks_and_transport_of_a_connection():
    """JetStreamTransport.abandon ends these when Kytos stops."""
    import nats.aio.client
    import nats.aio.subscription

    source = inspect.getsource(nats.aio.client.Client.__init__)
    for name in ("_reading_task", "_ping_interval_task", "_flusher_task", "_subs",
                 "_transport"):
        assert f"self.{name}" in source, name
    assert "self._wait_for_msgs_task" in inspect.getsource(nats.aio.subscription.Subscription)
