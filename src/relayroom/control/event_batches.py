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


RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0


class BatchWriter(Generic[T]):
    """Items are put without waiting; ``run`` (one task) or ``drain`` writes all queued items at once.

    Items leave the queue only under one lock, so a ``drain`` that returns has seen every item put before
    it was called (queries that must see them, shutdown). A batch whose write fails (the database
    restarting) is kept and written first the next time, in order, and ``run`` retries it with backoff:
    a ``write`` must therefore leave its own in-memory state as it was when it fails."""

    def __init__(self, write: Callable[[list[T]], Awaitable[None]], what: str) -> None:
        self._write = write
        self._what = what
        self._queue: asyncio.Queue[T] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._failed: list[T] = []  # a batch not written yet: first in the next write

    def put(self, item: T) -> None:
        self._queue.put_nowait(item)
        self._wake.set()

    def qsize(self) -> int:
        return self._queue.qsize() + len(self._failed)

    async def drain(self) -> None:
        """Write everything queued up to now (nothing is written when nothing is queued)."""
        async with self._lock:
            batch, self._failed = self._failed, []
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if batch:
                try:
                    await self._write(batch)
                except BaseException:
                    self._failed = batch  # written again next time
                    raise

    async def run(self) -> None:
        """The writer task: a failed batch is logged and written again after a pause (0.5 s doubling to
        5 s), together with what came meanwhile."""
        delay = RETRY_FIRST_S
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain()
                delay = RETRY_FIRST_S
            except Exception as exc:
                log.warning("%s write failed (%s); retrying in %.1f s", self._what, type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                self._wake.set()
