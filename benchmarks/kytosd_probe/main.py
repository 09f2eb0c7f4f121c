"""bench/kytosd_probe: paced link events in a real kytosd, for benchmarks/kytosd_paced.py.

Issue 21 measured the NApps' CPU per event inside kytosd itself: this NApp holds 50 switches
and 100 links of core's own classes and, on ``POST v1/window``, sends ``kytos/topology.link_up``
/ ``link_down`` events carrying them through core's app buffer at a pace, as topology does,
reading the process's CPU time (``time.process_time``: every thread) from the first event
to ``TAIL`` seconds after the last. With ``"raw": true`` it also publishes each event through
aio-pika itself (a task per publish, publisher confirms, ``mandatory``, the properties
mq_producer sets, a body of a link's as_dict() as an envelope holds it): less a window
without, what publishing alone costs in the same process. Only for a benchmark: it is
never installed anywhere else (kytosd_paced.py copies it into a napps directory of its own).
"""

import asyncio
import contextlib
import gc
import os
import time
import uuid
from typing import Any

import aio_pika
import orjson
from kytos.core import KytosEvent, KytosNApp, rest
from kytos.core.interface import Interface
from kytos.core.link import Link
from kytos.core.rest_api import JSONResponse, Request, aget_json_or_400
from kytos.core.switch import Switch

SWITCHES, LINKS = 50, 100
TAIL = 0.5  # seconds counted after the last event: its publish and confirm, and the others'
PORT_SPEED = 10**10 // 8  # bytes per second, as core keeps it
LINK_UP, LINK_DOWN = "kytos/topology.link_up", "kytos/topology.link_down"


def make_links() -> list[Link]:
    """LINKS links between SWITCHES switches, each endpoint a 10 Gb/s port of its own (a port
    with no speed makes core's Interface.as_dict() log a WARNING, which the NApps of today
    avoid and those of a commit before issue 21 do not: for both, a port with a speed)."""
    switches = [Switch(f"00:00:00:00:00:00:00:{index:02x}") for index in range(1, SWITCHES + 1)]
    links = []
    for index in range(LINKS):
        ends = []
        for side, switch in enumerate((switches[index % SWITCHES],
                                       switches[(index + 1 + index // SWITCHES) % SWITCHES])):
            port = 2 * index + side + 1
            interface = Interface(f"eth{port}", port, switch, speed=PORT_SPEED)
            switch.update_interface(interface)
            ends.append(interface)
        links.append(Link(*ends))
    return links


class Main(KytosNApp):
    """Sends paced link events (or publishes them raw) on request."""

    def setup(self) -> None:
        self.links = make_links()

    def execute(self) -> None:
        pass

    def shutdown(self) -> None:
        pass

    @rest("v1/ready")
    async def ready(self, _request: Request) -> JSONResponse:
        """200 once loaded: kytosd answers HTTP before it has loaded its NApps."""
        return JSONResponse({"links": len(self.links)})

    @rest("v1/window", methods=["POST"])
    async def window(self, request: Request) -> JSONResponse:
        """One paced window: {"rate": events/s, "seconds": s, "raw": bool, "exchange": name,
        "count": bool (every callback on the loop counted and timed)}."""
        body = await aget_json_or_400(request)
        rate, count = float(body["rate"]), int(float(body["rate"]) * float(body["seconds"]))
        raw = await RawPublisher.open(body["exchange"], self.links) if body.get("raw") else None
        counter = loop_counter() if body.get("count") else contextlib.nullcontext()
        collections = GcClock()
        try:
            gc.collect()
            with counter, collections:
                cpu = time.process_time()
                late = await paced(rate, count, lambda index: self._send(index % LINKS, raw))
                await asyncio.sleep(TAIL)
                cpu = time.process_time() - cpu
            answer: dict[str, Any] = {"events": count, "cpu_seconds": cpu,
                                      "late_max_ms": late * 1000,
                                      "gc": {"collections": collections.collections,
                                             "cpu_seconds": collections.cpu}}
            if body.get("count"):
                answer["counted"] = {
                    "loop_thread_cpu_seconds": counter.block_cpu,
                    "polls_cpu_seconds": counter.select_cpu,
                    "callbacks": {label: [number, counter.cpu[label]] for label, number
                                  in counter.callbacks.most_common()}}
            if raw is not None:
                answer.update(await raw.settle())
        finally:
            if raw is not None:
                await raw.close()
        return JSONResponse(answer)

    async def _send(self, index: int, raw: "RawPublisher | None") -> None:
        """Link ``index`` flipped, its event put on the app buffer (the same in every mode,
        so that a mode less base is what it adds) and, raw, published."""
        link = self.links[index]
        up = flip(link)
        if raw is not None:
            raw.publish(index, up)
        await self.controller.buffers.app.aput(KytosEvent(
            name=LINK_UP if up else LINK_DOWN,
            content={"link": link, "reason": "link up" if up else "link down"}))


class GcClock:
    """The garbage collections while in the block, by generation, and the CPU time they
    took (``gc.callbacks``; the thread's CPU clock, read where each starts and stops)."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.cpu = [0.0, 0.0, 0.0]
        self._started = 0.0

    def _phase(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.collections[info["generation"]] += 1
            self.cpu[info["generation"]] += time.thread_time() - self._started

    def __enter__(self) -> "GcClock":
        gc.callbacks.append(self._phase)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self._phase)


def loop_counter() -> Any:
    """benchmarks/wakeups.py's LoopCounter timing every callback on the loop (the thread's
    CPU), from the copy kytosd_paced.py puts beside this module with ``--count``."""
    from .wakeups import LoopCounter
    return LoopCounter(cpu=True)


def flip(link: Link) -> bool:
    """Turn the link up if it was down and down if up; whether it is up now."""
    if link.is_active():
        link.deactivate()
        return False
    link.activate()
    return True


async def paced(rate: float, count: int, send: Any) -> float:
    """``await send(i)`` at ``rate`` per second, on schedule (catching up if late); the
    latest an event was sent, in seconds."""
    start, late = time.perf_counter(), 0.0
    for index in range(count):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late = max(late, -delay)
        await send(index)
    return late


class RawPublisher:
    """Each event published by aio-pika in a task of its own, as bench.py's ``paced_raw``."""

    def __init__(self, connection: Any, exchange: Any, bodies: dict[tuple[int, bool], bytes]):
        self.connection, self.exchange, self.bodies = connection, exchange, bodies
        self.tasks: set[asyncio.Task[Any]] = set()
        self.results: list[asyncio.Task[Any]] = []

    @classmethod
    async def open(cls, exchange_name: str, links: list[Link]) -> "RawPublisher":
        connection = await aio_pika.connect(os.environ["KYTOS_MQ_URL"])
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(exchange_name, ensure=False)
        bodies = {}
        for index, link in enumerate(links):
            for up in (True, False):
                bodies[index, up] = orjson.dumps({
                    "version": 1, "event": {"name": LINK_UP if up else LINK_DOWN,
                                            "class": "operational"},
                    "content": {"link": link.as_dict(),
                                "reason": "link up" if up else "link down"}})
        return cls(connection, exchange, bodies)

    def publish(self, index: int, up: bool) -> None:
        name = LINK_UP if up else LINK_DOWN
        task = asyncio.create_task(self.exchange.publish(
            aio_pika.Message(self.bodies[index, up],
                             content_type="application/json",
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                             message_id=uuid.uuid4().hex, timestamp=int(time.time()), type=name,
                             app_id="kytos/mq_producer"),
            f"operational.{name}", mandatory=True, timeout=10))
        self.tasks.add(task)
        self.results.append(task)
        task.add_done_callback(self.tasks.discard)

    async def settle(self) -> dict[str, int]:
        """How many of the window's publishes were confirmed (the rest raised)."""
        await asyncio.gather(*self.tasks, return_exceptions=True)
        confirmed = sum(not task.cancelled() and task.exception() is None
                        for task in self.results)
        return {"published": len(self.results), "confirmed": confirmed}

    async def close(self) -> None:
        for task in self.tasks:  # only on an error before settle(): the window's own tasks
            task.cancel()
        await self.connection.close()
