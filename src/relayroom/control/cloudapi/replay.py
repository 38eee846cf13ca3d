"""Accepted signatures of state-changing cloud-API requests, remembered for the timestamp window.

TC3 signs a request's body and its timestamp, not a nonce: the same signed request is valid for as long
as its ``X-TC-Timestamp`` is within the allowed skew (300 s either way). A state-changing action
(``RemoveUser``, ``DismissRoom``...) is therefore taken once: its signature is remembered until its
timestamp leaves the window, and a repeat is refused. Read-only actions are not remembered (a client
may poll the same query twice in one second).

``ReplayCache`` is the seam: in memory for one node (here), in Redis once nodes share state.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from typing import Protocol


class ReplayCache(Protocol):
    async def add(self, key: str, ttl_s: float) -> bool:
        """Remember ``key`` for ``ttl_s`` seconds. True when it was new; False when it is already
        remembered (a replay). Atomic: of two concurrent adds of one key, exactly one gets True.
        Raises :class:`ReplayCacheFull` when it cannot remember more (the caller refuses the request).
        """
        ...


class ReplayCacheFull(Exception):
    """Too many unexpired entries to remember another one."""


class InMemoryReplayCache:
    """One node's cache: a dict of expiry times and a heap to drop them in order.

    Bounded: at ``max_entries`` unexpired entries it refuses to remember more (fail closed; the
    per-credential rate limit keeps an honest deployment far below: 20 requests/s for 600 s is 12,000
    per credential).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_entries: int = 200_000) -> None:
        self._clock = clock
        self._max = max_entries
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        self._expire(self._clock())
        return len(self._expiry)

    def _expire(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            at, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == at:
                del self._expiry[key]

    async def add(self, key: str, ttl_s: float) -> bool:
        # No await inside: atomic on the event loop.
        now = self._clock()
        self._expire(now)
        if key in self._expiry:
            return False
        if len(self._expiry) >= self._max:
            raise ReplayCacheFull(f"{len(self._expiry)} signatures remembered")
        at = now + max(ttl_s, 0.0)
        self._expiry[key] = at
        heapq.heappush(self._heap, (at, key))
        return True
