"""A small stand-in for the Kytos controller: the app buffer and listener dispatch.

Dispatch follows core 2025.2.1's ``event_handler`` and ``notify_listeners``: one event is taken
from the app buffer per turn of the loop; every registered pattern gets "$" appended, is
matched with ``re.match`` against the event name, and each ``async`` handler of a match is
started with ``asyncio.create_task`` (handlers of later events may interleave).

Stopping follows core 2025.2.1's ``Controller.stop_controller`` (kytos/core/controller.py):
``buffers.send_stop_signal()`` puts ``kytos/core.shutdown`` on the buffers, which from then on
silently drop whatever is put on them; ``started_at`` becomes None; each NApp is unloaded in
the reverse of its loading order (its ``shutdown()`` called through ``kytos/core.shutdown.
<napp id>``, then its listeners removed); core's own tasks are cancelled and ``loop.stop()`` is
called - all of it synchronously, in the one callback of the loop that handles SIGINT/SIGTERM
(kytos/core/kytosd.py), and kytosd then closes the loop: nothing a NApp schedules in
``shutdown()`` runs.
"""

import asyncio
import datetime as dt
import re
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from kytos.core import KytosEvent

SHUTDOWN = "kytos/core.shutdown"


class AppBuffer:
    def __init__(self, maxsize: int = 1024) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=maxsize)
        self.rejecting = False  # as core's KytosEventBuffer after kytos/core.shutdown
        self.rejected: list[Any] = []  # test-only: what core would have dropped silently

    async def aput(self, event: Any) -> None:
        if self.rejecting:
            self.rejected.append(event)
        else:
            await self.queue.put(event)
        if event.name == SHUTDOWN:
            self.rejecting = True

    def empty(self) -> bool:
        return self.queue.empty()

    def put_nowait(self, event: Any) -> None:
        """What core's sync ``put`` does from the loop's thread (send_stop_signal's)."""
        if self.rejecting:
            self.rejected.append(event)
        elif not self.queue.full():  # core's put would block; kytosd stops all the same
            self.queue.put_nowait(event)
        if event.name == SHUTDOWN:
            self.rejecting = True


@dataclass(frozen=True)
class HandedOver:
    """Test-only: in ``seen``, envelopes a NApp's ``take_hand_off`` was given, in place of the
    hand-off event listen_events did not send (listen_events/direct.py). Core has no record
    of them: they never reach it."""

    name: str
    content: dict[str, Any]
    direct: bool = True


class FakeController:
    def __init__(self, record_handed_over: bool = True) -> None:
        self.loop = asyncio.get_running_loop()
        self.buffers = SimpleNamespace(app=AppBuffer())
        self.events_listeners: dict[str, list[Any]] = {}
        self.napps: dict[tuple[str, str], Any] = {}
        self.dead_letter: list[Any] = []
        # Test-only: every event that went through the app buffer and, with
        # record_handed_over, every batch handed over directly (HandedOver), in order.
        self.seen: list[Any] = []
        self.record_handed_over = record_handed_over
        self.switches: dict[str, Any] = {}
        self.links: dict[str, Any] = {}
        self.started_at: dt.datetime | None = dt.datetime.now(dt.UTC)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handler = self.loop.create_task(self._event_handler())

    def load_napp(self, main_class: type) -> Any:
        napp = main_class(controller=self)
        take_hand_off = getattr(napp, "take_hand_off", None)
        if self.record_handed_over and take_hand_off is not None:
            def recorded(name: str, envelopes: list[Any]) -> None:
                self.seen.append(HandedOver(name, {"envelopes": envelopes}))
                take_hand_off(name, envelopes)

            napp.take_hand_off = recorded
        self.napps[(napp.username, napp.name)] = napp
        for pattern, handlers in napp._listeners.items():
            self.events_listeners.setdefault(pattern, []).extend(handlers)
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
            if event.name == SHUTDOWN:  # as core's event_handler
                break

    def notify_listeners(self, event: Any) -> None:
        for regex, handlers in dict(self.events_listeners).items():
            if regex[-1] != "$" or regex[-2] == "\\":
                regex += "$"
            if re.match(regex, event.name):
                for handler in handlers:
                    if not asyncio.iscoroutinefunction(handler):  # core calls sync ones
                        handler(event)
                        continue
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

    def stop_controller(self, stop_loop: bool = True) -> None:
        """Sync, on the loop, in core's order (see the module's docstring): the stop signal on
        the buffer, started_at None, every NApp's ``shutdown()`` (last loaded first) and its
        listeners removed, core's tasks cancelled, then ``loop.stop()``: the loop runs no turn
        for what the NApps scheduled (kytosd closes it next)."""
        self.buffers.app.put_nowait(KytosEvent(name=SHUTDOWN))
        self.started_at = None
        for key in reversed(list(self.napps)):
            self.unload_napp(key)
        self._handler.cancel()
        if stop_loop:
            # Core's own tasks are core's business (kytosd leaves them pending too): this
            # one's coroutine is closed now and asyncio not told of it, so that what a test
            # reads from a stopped process is the NApps' doing only.
            if self._handler is not asyncio.current_task():
                self._handler.get_coro().close()
            self._handler._log_destroy_pending = False
            self.loop.stop()

    def unload_napp(self, key: tuple[str, str]) -> Any:
        """As core's unload_napp: shutdown() (once), then the NApp's listeners go. Core calls
        it on the loop's thread when Kytos stops, and from a thread of its own when a NApp is
        disabled through its API (test_outages.py does the same with asyncio.to_thread)."""
        napp = self.napps.pop(key)
        napp._shutdown_handler(KytosEvent(name=f"{SHUTDOWN}.{napp.napp_id}"))
        for pattern, handlers in napp._listeners.items():
            listeners = self.events_listeners.get(pattern, [])
            for handler in handlers:
                if handler in listeners:
                    listeners.remove(handler)
            if not listeners:
                self.events_listeners.pop(pattern, None)
        return napp

    async def stop(self) -> None:
        """Shut NApps down as core's stop_controller does (started_at is None by then), in a
        test whose loop goes on: the loop is not stopped, core's handler task is awaited."""
        napps = list(self.napps.values())
        self.stop_controller(stop_loop=False)
        self.napps = {(napp.username, napp.name): napp for napp in napps}  # for the fixtures
        await asyncio.gather(self._handler, return_exceptions=True)
