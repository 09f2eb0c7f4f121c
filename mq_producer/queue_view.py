"""The queues of the web UI panel: each queue the transport declared, with its state, the
messages ready in it and its consumers as the broker says (on demand, kept CACHE_SECONDS so
that no number of open panels can load the broker), and what the producer counted for it.

Transport-agnostic: ``fetch(names, timeout)`` is the transport's own inspection (AMQP:
``transports/amqp/inspect.py``); a transport without queues gives ``unavailable`` instead.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from .transports.base import TransportError

CACHE_SECONDS = 5.0  # an answer of the broker is reused this long
MAX_INSPECTED = 500  # queues asked about in one inspection; the others are listed, not asked

Fetch = Callable[[Sequence[str], float], Awaitable[dict[str, dict[str, object]]]]


class QueueView:
    def __init__(self, fetch: Fetch | None, unavailable: str | None, timeout: float,
                 cache_seconds: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._unavailable = unavailable
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._names: tuple[str, ...] | None = None  # what the cached answer is about
        self._fetched_at = 0.0  # monotonic
        self._checked_at: float | None = None  # wall clock, for the answer
        self._depths: dict[str, dict[str, object]] = {}
        self._reason: str | None = None
        self.inspections = 0  # how many times the broker was asked (tests)

    async def answer(self, states: Mapping[str, str],
                     counts: Callable[[str], dict[str, int] | None]) -> dict[str, object]:
        """The route's answer for the queues ``states`` names (name -> declared state)."""
        names = tuple(sorted(states))
        if self._fetch is not None and names:
            await self._refresh(names)
        reason = self._unavailable if self._fetch is None else self._reason
        queues = []
        for name in names:
            depth = self._depths.get(name, {})
            error = depth.get("error")
            if self._fetch is not None and not depth and reason is None:
                error = f"not asked (more than {MAX_INSPECTED} queues)"
            queues.append({"name": name, "state": states[name],
                           "messages": depth.get("messages"),
                           "consumers": depth.get("consumers"),
                           "error": error, "counts": counts(name)})
        return {"inspected": self._fetch is not None and reason is None and bool(names),
                "reason": reason, "checked_at": self._checked_at,
                "cache_seconds": self._cache_seconds, "queues": queues}

    async def _refresh(self, names: tuple[str, ...]) -> None:
        async with self._lock:  # concurrent requests wait for one inspection
            if names == self._names \
                    and self._clock() - self._fetched_at < self._cache_seconds:
                return
            assert self._fetch is not None
            self.inspections += 1
            try:
                self._depths = await self._fetch(names[:MAX_INSPECTED], self._timeout)
                self._reason = None
            except TransportError as exc:  # texts of transports never hold a password
                self._depths, self._reason = {}, str(exc)
            self._names = names
            self._fetched_at = self._clock()
            self._checked_at = time.time()
