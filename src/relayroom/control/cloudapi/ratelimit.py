"""Per-credential request limits: TRTC documents 20 QPS for room and quality APIs, 5 for usage APIs.

``RateLimiter`` is the seam: in memory for one node (here), in Redis once nodes share state.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol


class RateLimiter(Protocol):
    async def allow(self, secret_id: str, cls: str, limit: int) -> bool:
        """Count one request of ``secret_id`` in limit class ``cls``; False (and not counted) when
        ``limit`` requests were already counted within the last window."""
        ...


class InMemoryRateLimiter:
    """Sliding one-second window per (credential, limit class). In-memory: per node."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, window_s: float = 1.0) -> None:
        self._clock = clock
        self._window = window_s
        self._hits: dict[tuple[str, str], deque[float]] = {}

    async def allow(self, secret_id: str, cls: str, limit: int) -> bool:
        # No await inside: atomic on the event loop.
        now = self._clock()
        q = self._hits.setdefault((secret_id, cls), deque())
        while q and q[0] <= now - self._window:
            q.popleft()
        if len(q) >= limit:
            return False
        q.append(now)
        if len(self._hits) > 10_000:  # forget idle credentials
            for k in [k for k, v in self._hits.items() if not v or v[-1] <= now - self._window]:
                del self._hits[k]
        return True
