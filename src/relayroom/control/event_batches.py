"""Room events handed over by the media path and written to the database in batches by one task.

Call history and the webhook outbox both take room events on the media path (enqueue only, never
awaiting the database there) and persist them in batches; this is that shared queue and writer loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class BatchWriter(Generic[T]):
    """Items are put without waiting; ``run`` (one task) or ``drain`` writes all queued items at once.

    Items leave the queue only under one lock, so a ``drain`` that returns has seen every item put before
    it was called (queries that must see them, shutdown)."""

    def __init__(self, write: Callable[[list[T]], Awaitable[None]], what: str) -> None:
        self._write = write
        self._what = what
        self._queue: asyncio.Queue[T] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def put(self, item: T) -> None:
        self._queue.put_nowait(item)
        self._wake.set()

    def qsize(self) -> int:
        return self._queue.qsize()

    async def drain(self) -> None:
        """Write everything queued up to now (nothing is written when nothing is queued)."""
        async with self._lock:
            batch: list[T] = []
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if batch:
                await self._write(batch)

    async def run(self) -> None:
        """The writer task: a failed batch is logged and the loop goes on with the next."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain()
            except Exception:
                log.exception("%s write failed", self._what)
