"""Rendering pictures for people (``GET /frames/{id}/image``) at a bounded cost.

A picture costs net_D on the whole frame plus a PNG encode: seconds of CPU and tens of MB for a
large frame, asked for with a request of a few hundred bytes. So at most ``render_concurrency``
pictures are rendered at once; a request that finds them all busy waits up to ``render_wait_s``
and is then told to come back (:class:`RendererBusy`, answered 503 with Retry-After) rather than
queueing work without end. Rendered PNGs are kept in an LRU bounded by bytes, keyed by what
determines them (codec and container digest), so looking at a frame twice renders it once.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from collections.abc import Callable, Hashable

from fastapi.concurrency import run_in_threadpool


class RendererBusy(Exception):
    """Every renderer stayed busy for the whole wait; ``retry_after_s`` is a fair time to retry."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"all picture renderers are busy; retry in {retry_after_s}s")
        self.retry_after_s = retry_after_s


class ByteLRU:
    """A least-recently-used map whose values' total length stays under ``capacity`` bytes."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.size = 0
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()

    def get(self, key: Hashable) -> bytes | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: bytes) -> None:
        """Keep ``value``, evicting the least recently used; one larger than the whole cache
        is not kept."""
        if len(value) > self.capacity:
            return
        old = self._items.pop(key, None)
        self.size -= len(old) if old is not None else 0
        self._items[key] = value
        self.size += len(value)
        while self.size > self.capacity:
            _, evicted = self._items.popitem(last=False)
            self.size -= len(evicted)


class Renderer:
    """Bounded concurrent rendering with a cache; used from the event loop only."""

    def __init__(self, concurrency: int, wait_s: float, cache_bytes: int) -> None:
        self.concurrency = concurrency
        self.wait_s = wait_s
        self.cache = ByteLRU(cache_bytes)
        self._slots: asyncio.Semaphore | None = None  # made in the serving loop, on first use

    async def png(self, key: Hashable, render: Callable[[], bytes]) -> bytes:
        """The cached picture for ``key``, or ``render()`` run on a worker thread once a slot is
        free; raises :class:`RendererBusy` when none frees up within the wait."""
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        try:
            if self._slots.locked():  # (wait_for with timeout 0 fails even on a free slot)
                await asyncio.wait_for(self._slots.acquire(), timeout=self.wait_s)
            else:
                await self._slots.acquire()
        except TimeoutError:
            raise RendererBusy(max(1, math.ceil(self.wait_s))) from None
        try:
            cached = self.cache.get(key)  # rendered by the request this one waited behind
            if cached is None:
                cached = await run_in_threadpool(render)
                self.cache.put(key, cached)
            return cached
        finally:
            self._slots.release()
