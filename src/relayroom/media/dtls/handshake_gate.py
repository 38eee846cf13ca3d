"""DTLS handshakes in slices: at most N handshake flights processed per event-loop turn per worker.

A handshake flight costs the worker's thread key generation, a signature or the peer's certificate
check (up to a millisecond of CPU each). Three hundred subscribers joining within two seconds send
their ClientHellos together; processed as they arrive, a loop turn that read a dozen of them would
hold up every media datagram queued behind them (docs/performance.md, "Mass join"). The gate lets
``limit`` flights run per loop turn; the others wait in arrival order (their records are already in
OpenSSL's memory BIO) and run in the next turns, each after the loop has polled the socket again, so
media keeps flowing between them. A handshake waiting for its peer holds nothing (a cap on handshakes
*in progress* would let clients that went quiet block the others). ``limit`` 0: no gate.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable


class HandshakeGate:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0  # flights run in this loop turn
        self._turn_pending = False  # a callback resets _used at the next turn
        self._queue: deque[tuple[int, Callable[[], None]]] = deque()
        self._queued: set[int] = set()
        # lifetime totals (worker.dump, /metrics)
        self.processed = 0
        self.deferred = 0
        self.peak_waiting = 0
        self.peak_per_turn = 0

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def run(self, ticket: int, step: Callable[[], None]) -> None:
        """Run ``step`` (one handshake flight of the transport ``ticket``) now if this turn has room,
        else in a later turn, in order. A ticket already waiting is not queued twice (its step reads
        whatever arrived meanwhile)."""
        if self.limit <= 0:
            self.processed += 1
            step()
            return
        if ticket in self._queued:
            return
        if self._queue or self._used >= self.limit:
            self._queue.append((ticket, step))
            self._queued.add(ticket)
            self.deferred += 1
            self.peak_waiting = max(self.peak_waiting, len(self._queue))
            self._take_turn()
            return
        self._count()
        step()

    def cancel(self, ticket: int) -> None:
        """The transport closed: drop its waiting step."""
        if ticket in self._queued:
            self._queued.discard(ticket)
            self._queue = deque(item for item in self._queue if item[0] != ticket)

    def _count(self) -> None:
        self._used += 1
        self.processed += 1
        self.peak_per_turn = max(self.peak_per_turn, self._used)
        self._take_turn()

    def _take_turn(self) -> None:
        if not self._turn_pending:
            self._turn_pending = True
            asyncio.get_running_loop().call_soon(self._next_turn)

    def _next_turn(self) -> None:
        """Runs once per loop turn while there is work: the new turn's budget, then waiting steps."""
        self._turn_pending = False
        self._used = 0
        while self._queue and self._used < self.limit:
            ticket, step = self._queue.popleft()
            self._queued.discard(ticket)
            self._count()
            step()
        if self._queue:
            self._take_turn()
