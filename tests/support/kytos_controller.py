"""A small stand-in for the Kytos controller: the app buffer and listener dispatch.

Dispatch follows core 2025.2.1's ``event_handler`` and ``notify_listeners``: one event is taken
from the app buffer per turn of the loop; every registered pattern gets "$" appended, is
matched with ``re.match`` against the event name, and each ``async`` handler of a match is
started with ``asyncio.create_task`` (handlers of later events may interleave).
"""

import asyncio
import datetime as dt
import re
from types import SimpleNamespace
from typing import Any


class AppBuffer:
    def __init__(self, maxsize: int = 1024) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=maxsize)

    async def aput(self, event: Any) -> None:
        await self.queue.put(event)


class FakeController:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.buffers = SimpleNamespace(app=AppBuffer())
        self.listeners: dict[str, list[Any]] = {}
        self.napps: dict[tuple[str, str], Any] = {}
        self.dead_letter: list[Any] = []
        self.seen: list[Any] = []  # every event that went through the app buffer
        self.switches: dict[str, Any] = {}
        self.links: dict[str, Any] = {}
        self.started_at: dt.datetime | None = dt.datetime.now(dt.UTC)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handler = self.loop.create_task(self._event_handler())

    def load_napp(self, main_class: type) -> Any:
        napp = main_class(controller=self)
        self.napps[(napp.username, napp.name)] = napp
        for pattern, handlers in napp._listeners.items():
            self.listeners.setdefault(pattern, []).extend(handlers)
        return napp

    async def _event_handler(self) -> None:
        while True:
            # As core's event_handler: one event per turn of the loop (it sleeps(0) before
            # each aget), so a full buffer is not dispatched in one go.
            await asyncio.sleep(0)
            event = await self.buffers.app.queue.get()
            self.seen.append(event)
            self.notify_listeners(event)
            self.buffers.app.queue.task_done()

    def notify_listeners(self, event: Any) -> None:
        for regex, handlers in dict(self.listeners).items():
            if regex[-1] != "$" or regex[-2] == "\\":
                regex += "$"
            if re.match(regex, event.name):
                for handler in handlers:
                    task = asyncio.create_task(handler(event))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait until the buffer is empty, every handler started so far has finished and no
        NApp has work of its own left.

        Test-only (core has no such call). A handler may return before its work is done:
        listen_events queues events for its hand-off worker, so a NApp's ``worker`` (anything
        with ``idle`` and ``drained()``) is waited for too, until all of it is quiet at once.
        """
        while True:
            await self.buffers.app.queue.join()
            if self._tasks:
                await asyncio.gather(*list(self._tasks))
            workers = self._napp_workers()
            for worker in workers:
                await worker.drained()
            # Checked without suspending: each wait above may have let more work in.
            if self.buffers.app.queue.empty() and not self._tasks \
                    and all(worker.idle for worker in workers):
                return

    def _napp_workers(self) -> list[Any]:
        return [worker for napp in self.napps.values()
                if (worker := getattr(napp, "worker", None)) is not None]

    async def stop(self) -> None:
        """Shut NApps down as core's stop_controller does: started_at is None by then."""
        self.started_at = None
        for napp in reversed(list(self.napps.values())):
            napp.shutdown()
        self._handler.cancel()
        await asyncio.gather(self._handler, return_exceptions=True)
