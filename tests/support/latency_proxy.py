"""An asyncio TCP proxy that makes a loopback broker look distant: every chunk, in both
directions, is delivered ``delay`` seconds (plus or minus ``jitter``) after it arrived.

Order is kept (a chunk is never delivered before the one read ahead of it, whatever its
jitter), the proxy listens on 127.0.0.1 only, and it is bounded: at most ``max_chunks``
chunks of at most 64 KiB wait in each direction, after which it stops reading from that side
(TCP's own back-pressure), and the delay never exceeds ``delay + jitter`` per chunk beyond
what ordering adds. ``stall()`` / ``resume()`` and the connection counts are StallProxy's::

    proxy = LatencyProxy("127.0.0.1", node.port, delay=0.040, jitter=0.005)  # 80 ms RTT
    port = await proxy.start()
    ...
    proxy.drop_connections()  # abort every connection made so far, keep listening
    await proxy.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

from tests.support.stall_proxy import StallProxy

_CHUNK = 64 * 1024


class LatencyProxy(StallProxy):
    """Forward 127.0.0.1:<port> to target_host:target_port, each way ``delay`` late."""

    def __init__(self, target_host: str, target_port: int, *, delay: float = 0.040,
                 jitter: float = 0.005, max_chunks: int = 256, seed: int | None = None) -> None:
        super().__init__(target_host, target_port)
        if not 0 <= jitter <= delay:
            raise ValueError("jitter must be between 0 and delay")
        self.delay = delay
        self.jitter = jitter
        self.max_chunks = max_chunks
        self._random = random.Random(seed)
        self.chunks_delayed = 0
        self.max_late = 0.0  # the largest delay applied to a chunk, ordering included

    @property
    def round_trip(self) -> float:
        """The round trip the proxy adds, on average (seconds)."""
        return 2 * self.delay

    def drop_connections(self) -> None:
        """Abort (RST) every connection made so far on both sides; keep listening."""
        for writer in list(self._writers):
            writer.transport.abort()

    async def close(self) -> None:
        """As StallProxy's, letting the connections end on their own first (a handler task
        cancelled while asyncio's stream protocol watches it makes Python 3.11 log a
        traceback)."""
        self.drop_connections()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=1.0)
        await super().close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy reader -> writer, each chunk delivered at its due time, in order."""
        due_chunks: asyncio.Queue[tuple[float, float, bytes]] = asyncio.Queue(self.max_chunks)

        async def read() -> None:
            last_due = 0.0
            while True:
                data = await reader.read(_CHUNK)
                arrived = time.monotonic()
                late = self.delay + self._random.uniform(-self.jitter, self.jitter)
                last_due = max(arrived + late, last_due)  # never overtakes the chunk before
                await due_chunks.put((last_due, arrived, data))
                if not data:
                    return

        async def write() -> None:
            while True:
                due, arrived, data = await due_chunks.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._flowing.wait()
                if not data:
                    if writer.can_write_eof():
                        with contextlib.suppress(OSError):
                            writer.write_eof()
                    return
                self.chunks_delayed += 1
                self.max_late = max(self.max_late, time.monotonic() - arrived)
                writer.write(data)
                await writer.drain()

        async with asyncio.TaskGroup() as group:
            group.create_task(read())
            group.create_task(write())
