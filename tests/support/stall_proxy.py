"""An asyncio TCP proxy that can simulate a stalled network.

``stall()`` stops forwarding bytes in both directions while every socket stays
open (no FIN, no RST), like a silently dropped link; peers only notice through
their own timeouts (e.g. AMQP heartbeats).  ``resume()`` delivers whatever was
held back and continues.  Typical use::

    proxy = StallProxy("127.0.0.1", 5672)
    port = await proxy.start()
    conn = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:{port}/?heartbeat=2")
    proxy.stall()
    ...
    await proxy.close()
"""

from __future__ import annotations

import asyncio
import contextlib

_CHUNK = 64 * 1024


class StallProxy:
    """Forward 127.0.0.1:<port> to target_host:target_port, with a stall switch."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host: str = target_host
        self.target_port: int = target_port
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._flowing: asyncio.Event = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._connections: int = 0
        self._total_connections: int = 0

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("StallProxy.start() has not been called")
        return self._port

    @property
    def connections(self) -> int:
        """Client connections currently open through the proxy."""
        return self._connections

    @property
    def total_connections(self) -> int:
        """Client connections accepted since start()."""
        return self._total_connections

    @property
    def stalled(self) -> bool:
        return not self._flowing.is_set()

    async def start(self) -> int:
        """Listen on 127.0.0.1 on a free port and return that port."""
        if self._server is not None:
            raise RuntimeError("StallProxy already started")
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, backlog=1024, reuse_address=True
        )
        self._port = int(self._server.sockets[0].getsockname()[1])
        return self._port

    def stall(self) -> None:
        """Stop moving bytes in both directions; keep every socket open."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again, starting with whatever was held back during the stall."""
        self._flowing.set()

    async def close(self) -> None:
        """Close the listener and abort every connection the proxy made."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> StallProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(client_w)
        self._connections += 1
        self._total_connections += 1
        upstream_w: asyncio.StreamWriter | None = None
        failed = True
        try:
            upstream_r, upstream_w = await asyncio.open_connection(
                self.target_host, self.target_port
            )
            self._writers.add(upstream_w)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pump(client_r, upstream_w))
                group.create_task(self._pump(upstream_r, client_w))
            failed = False
        except* OSError:
            pass  # a peer reset or the target refused: abort both sides below
        finally:
            for writer in (client_w, upstream_w):
                if writer is None:
                    continue
                self._writers.discard(writer)
                if failed:
                    writer.transport.abort()
                else:
                    writer.close()
            self._connections -= 1
            self._handlers.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy reader -> writer; hold everything (data and EOF) while stalled."""
        while True:
            await self._flowing.wait()
            data = await reader.read(_CHUNK)
            await self._flowing.wait()
            if not data:
                if writer.can_write_eof():
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                return
            writer.write(data)
            await writer.drain()
