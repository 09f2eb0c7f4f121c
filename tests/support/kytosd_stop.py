"""Both NApps in a loop run the way kytosd runs it, then stopped the way kytosd stops it.

Run as ``python -m tests.support.kytosd_stop MODE PREFIX [event]`` from the repository root
(``event``: listen_events' DIRECT_HAND_OFF off, its envelopes in hand-off events), with
KYTOS_MQ_URL in the environment (tests/integration/test_kytosd_stop.py does). As
kytos/core/kytosd.py 2025.2.1's ``async_main``: a new event loop, ``run_until_complete`` of
the start (here: the test double's controller, both NApps loaded through it, and the
test's events published and confirmed), a SIGTERM handler that stops the controller,
``run_forever()``, and ``loop.close()`` once it returns. The controller stops in core's
order (tests/support/kytos_controller.py ``stop_controller``): NApps' ``shutdown()``, then
``loop.stop()`` in the same callback.

MODE:
- ``idle``: nothing published; SIGTERM.
- ``events``: EVENTS topology events published and confirmed first; SIGTERM.
- ``late``: as ``events``, then the stop runs in the same turn of the loop as handler tasks
  started for events dispatched just before it, as happens when core's dispatcher took them
  from the app buffer in the turn before the signal: a topology event (listen_events) and a
  hand-off event of LATE_ENVELOPES envelopes (mq_producer) reach the NApps after their
  ``shutdown()``. The NApps' status answers are then printed, one ``STATUS <napp> <json>``
  line each.
- ``rpc``: as ``events``, then the stop runs in the first turn in which the producer's link
  queue task has sent a channel RPC for a new link's queue: aiormq's task for that RPC is
  created and never starts. ``RPC NOT STARTED <n>`` says how many such tasks the
  connection held when the stop began (the case happened only if n > 0).
- ``rpc-waiting``: as ``events``, then each of those links changes status while its last
  status waits unread in its queue, which mq_producer purges first (a channel RPC with a
  timeout); the stop runs in the first turn in which such an RPC waits through
  ``asyncio.wait_for`` (aiormq's channel lock, or the broker's reply), which in Python 3.11
  runs what it waits for in a task of its own. ``RPC WAITING <n>`` says how many such tasks
  there were when the stop began (the case happened only if n > 0).
- ``buffered``: as ``events``, then a link event behind FILLER events no NApp listens to
  in the app buffer, as in a burst; with ``event``, its hand-off event waits there behind
  them, as hand-off events wait behind a burst's own: the stop comes once listen_events has
  handed it on, before core's dispatcher reaches it. Core drops what its buffers hold.
- ``in-flight``: as ``events``, then IN_FLIGHT more link events; the stop comes in the first
  turn in which the producer has messages published and not yet answered, and no handler
  task of core's waits (core's, which its stop leaves pending; ``late`` has those) -
  ``IN FLIGHT <n>`` says how many: the case happened only if n > 0.
- ``connecting``: the broker at KYTOS_MQ_URL never completes a connection (the test's
  socket: SYNs dropped, or accepted and never answered); the stop comes while mq_producer's
  attempt waits. ``AWAITED TASKS <n>`` says how many tasks the publishing task was waiting
  on, down the chain, when the stop began (the attempt was in flight only if n > 0).

Everything the process prints goes to stdout/stderr for the test to read; the logging goes to
stderr at INFO.
"""

import asyncio
import gc
import inspect
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
try:
    import kytos.core  # noqa: F401  (real kytos-ng core, when installed)
except ImportError:
    sys.path.insert(0, str(ROOT / "tests" / "kytos_double"))

from kytos.core import KytosEvent  # noqa: E402

from listen_events import settings as listen_settings  # noqa: E402
from listen_events.main import Main as ListenEvents  # noqa: E402
from mq_producer import settings  # noqa: E402
from mq_producer.main import Main as MqProducer  # noqa: E402
from tests.support.kytos_controller import FakeController  # noqa: E402
from tests.support.topology import make_link  # noqa: E402

EVENTS = 5
LATE_ENVELOPES = 3
FILLER = 200
IN_FLIGHT = 200  # link events of ``in-flight``


def _settings(prefix: str) -> None:
    """The test's own exchanges (as tests/integration/conftest.py's producer_settings)."""
    settings.ROUTES = [
        {"event_class": "administrative", "exchange": f"{prefix}.admin_events",
         "routing_key": "{event_class}.{event_name}"},
        {"event_class": "operational", "exchange": f"{prefix}.operational_events",
         "routing_key": "{event_class}.{event_name}"},
        {"exchange": f"{prefix}.other_events", "routing_key": "{event_class}.{event_name}"},
    ]
    settings.QUEUES = []
    settings.NAPP_QUEUES = {"enabled": False}
    settings.VERBOSE_QUEUE = {"enabled": False}
    settings.LINK_STATUS = {"enabled": True, "exchange": f"{prefix}.links",
                            "queue_prefix": f"{prefix}.link.",
                            "metadata": {"interdomain": True}, "link_ids": []}
    settings.DEAD_LETTER = f"{prefix}.dead"


async def _until(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _start(mode: str) -> FakeController:
    """As core's start_controller: the NApps load while the loop runs."""
    controller = FakeController()
    controller.load_napp(ListenEvents)
    producer = controller.load_napp(MqProducer)
    if mode == "connecting":
        await asyncio.sleep(0.5)  # the first attempt is under way (PUBLISH_TIMEOUT is 10 s)
        return controller
    await _until(lambda: producer.publisher.transport.connected, "the producer to connect")
    if mode in ("events", "late", "rpc", "rpc-waiting", "buffered", "in-flight"):
        for index in range(EVENTS):
            link = make_link(index + 1, interdomain=True)
            await controller.buffers.app.aput(KytosEvent(
                "kytos/topology.link_down" if index % 2 else "kytos/topology.link_up",
                {"link": link, "reason": "link down"}))
        publisher = producer.publisher
        counters = publisher.counters
        # Each event's own message (returned: no queue is bound), its link status message
        # (confirmed into the link's queue) and that status's copy (returned), which goes
        # into the buffer once the status is confirmed: nothing left in the buffer.
        await _until(lambda: counters.confirmed + counters.returned >= 2 * EVENTS
                     and len(publisher.outbox) == 0
                     and publisher.status_lanes.pending == publisher.status_lanes.in_flight
                     == 0, "the broker to answer every message")
    return controller


def _stop_when(controller: FakeController, stop, found: Callable[[], int],
               label: str | None = None, turns: int = 20_000) -> None:
    """Check ``found()`` once a turn of the loop from the next one on; stop in the first
    turn it is not 0 (or after ``turns``), printing ``<label> <found>`` first if given."""
    def poll(turn: int) -> None:
        count = found()
        if count or turn >= turns:
            if label is not None:
                print(label, count, flush=True)
            stop()
        else:
            controller.loop.call_soon(poll, turn + 1)

    controller.loop.call_soon(poll, 0)


def _late(controller: FakeController, stop) -> None:
    """The stop, then handler tasks of events dispatched before it, in one turn of the loop."""
    controller.loop.call_soon(stop)
    link = make_link(40, interdomain=True)
    controller.notify_listeners(KytosEvent("kytos/topology.link_down",
                                           {"link": link, "reason": "link down"}))
    controller.notify_listeners(KytosEvent(
        settings.SOURCE_EVENTS.replace("\\", ""),
        {"envelopes": [b"{}"] * LATE_ENVELOPES}))


def _buffered(controller: FakeController, stop) -> None:
    """A hand-off event behind FILLER others in the app buffer; the stop once it is there."""
    counters = controller.napps[("kytos", "listen_events")].pipeline.counters
    handed_on = counters.handed_on
    for _ in range(FILLER):
        controller.buffers.app.put_nowait(KytosEvent("kytos/test.filler", {}))
    controller.notify_listeners(KytosEvent(
        "kytos/topology.link_down", {"link": make_link(1, interdomain=True), "reason": "down"}))
    _stop_when(controller, stop, lambda: counters.handed_on - handed_on)


def _in_flight(controller: FakeController, stop) -> None:
    """IN_FLIGHT more link events; the stop once some of their messages are in flight."""
    publisher = controller.napps[("kytos", "mq_producer")].publisher
    for index in range(IN_FLIGHT):
        controller.buffers.app.put_nowait(KytosEvent("kytos/topology.link_down", {
            "link": make_link(index + 1), "reason": "link down"}))
    _stop_when(controller, stop, lambda: 0 if controller._tasks else publisher._in_flight(),
               "IN FLIGHT")


def _rpc(controller: FakeController, stop) -> None:
    """A new link's queue to declare: the link queue task sends Queue.Declare (or opens its
    channel first), for which aiormq creates a task; the stop runs in the first turn in which
    such a task exists and has not started: usually the next turn, later while the link
    queue task is still busy with the links of ``_start``. (The stop used to go in the next
    turn whatever happened; one run of about forty failed on 2026-12-06, its output not
    kept; 30 runs after it, 10 of them beside a busy loop, passed.)"""
    transport = controller.napps[("kytos", "mq_producer")].publisher.transport
    transport._link_queues.add("link-rpc")

    def not_started() -> int:
        connection = transport._connection.transport.connection
        store = connection._Base__future_store.futures
        return sum(1 for item in store if isinstance(getattr(item, "task", item), asyncio.Task)
                   and inspect.getcoroutinestate(getattr(item, "task", item).get_coro())
                   == inspect.CORO_CREATED)

    _stop_when(controller, stop, not_started, "RPC NOT STARTED")


def _rpc_waiting(controller: FakeController, stop) -> None:
    """Every link of ``_start`` changes status (its queue is purged first); the stop in the
    first turn in which wait_for runs a task for a purge (a task whose done callback releases
    wait_for's future)."""
    for index in range(EVENTS):
        controller.notify_listeners(KytosEvent(
            "kytos/topology.link_up" if index % 2 else "kytos/topology.link_down",
            {"link": make_link(index + 1, interdomain=True), "reason": "flap"}))

    def waiting() -> int:
        return sum(1 for task in asyncio.all_tasks(controller.loop) if any(
            getattr(callback, "func", None) is asyncio.tasks._release_waiter
            for callback, _context in task._callbacks or ()))

    _stop_when(controller, stop, waiting, "RPC WAITING")


def _awaited_tasks(controller: FakeController) -> int:
    """The tasks the publishing task waits on, down the chain (Task._fut_waiter)."""
    awaited = controller.napps[("kytos", "mq_producer")].publisher._runner
    count = -1
    while isinstance(awaited, asyncio.Task):
        count += 1
        awaited = awaited._fut_waiter
    return count


def _status(napp) -> dict:
    """The NApp's v1/status answer. Its handler never awaits: run to its end right here,
    on no loop (this one is closed)."""
    coroutine = napp.status(None)
    try:
        coroutine.send(None)
    except StopIteration as answer:
        return json.loads(answer.value.body)
    raise AssertionError("the status handler awaited")


def main() -> None:
    mode, prefix = sys.argv[1], sys.argv[2]
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s %(message)s")
    _settings(prefix)
    listen_settings.DIRECT_HAND_OFF = sys.argv[3:] != ["event"]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    napps = []
    try:
        napps.append(loop.run_until_complete(_start(mode)))  # the controller, first

        def kill_handler() -> None:  # kytosd's stop_controller, on SIGINT/SIGTERM
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
            print("STOPPING", flush=True)
            controller = napps[0]
            napps[:] = list(controller.napps.values())
            controller.stop_controller()

        loop.add_signal_handler(signal.SIGINT, kill_handler)
        loop.add_signal_handler(signal.SIGTERM, kill_handler)
        if mode == "late":
            loop.call_soon(_late, napps[0], kill_handler)
        elif mode == "buffered":
            loop.call_soon(_buffered, napps[0], kill_handler)
        elif mode == "in-flight":
            loop.call_soon(_in_flight, napps[0], kill_handler)
        elif mode == "rpc":
            loop.call_soon(_rpc, napps[0], kill_handler)
        elif mode == "rpc-waiting":
            loop.call_soon(_rpc_waiting, napps[0], kill_handler)
        elif mode == "connecting":
            print("AWAITED TASKS", _awaited_tasks(napps[0]), flush=True)
            loop.call_soon(os.kill, os.getpid(), signal.SIGTERM)
        else:
            loop.call_soon(os.kill, os.getpid(), signal.SIGTERM)
        loop.run_forever()
    finally:
        loop.close()
    print("LOOP CLOSED", flush=True)
    if mode == "late":
        for napp in napps:
            print("STATUS", napp.napp_id, json.dumps(_status(napp)), flush=True)
    # What was left on the loop is collected now (kytosd's interpreter exit does it later).
    napps.clear()
    gc.collect()
    print("EXIT", flush=True)


if __name__ == "__main__":
    main()
