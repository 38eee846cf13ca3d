"""At most N DTLS handshakes in progress per worker; the others wait their turn.

A handshake costs the worker's thread key generation, a signature and the peer's certificate check
(about a millisecond of CPU in a few flights). Three hundred subscribers joining within two seconds
all send their ClientHello at once; answered as they arrive, their flights would hold up the datagrams
of everyone already forwarding (docs/performance.md, "Mass join"). The gate admits ``limit``
handshakes; a transport that comes when all slots are taken keeps its first flight and starts when
one frees (``on_admit``, scheduled with ``call_soon``: one handshake start per loop callback, so media
read in between goes first). A slot held longer than ``slot_timeout_s`` (a peer that went silent
mid-handshake: OpenSSL's retransmission timer would keep it for minutes) stops counting.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

SLOT_TIMEOUT_S = 2.0


class HandshakeGate:
    def __init__(self, limit: int, slot_timeout_s: float = SLOT_TIMEOUT_S) -> None:
        self.limit = limit  # 0 = no cap
        self.slot_timeout_s = slot_timeout_s
        self._active: dict[int, float] = {}  # ticket -> admitted at (monotonic)
        self._waiting: OrderedDict[int, Callable[[], None]] = OrderedDict()
        self.admitted = 0  # lifetime totals (worker.dump)
        self.deferred = 0
        self.peak_waiting = 0
        self.peak_active = 0
        self._handle: asyncio.Handle | None = None

    @property
    def active(self) -> int:
        return len(self._active)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def acquire(self, ticket: int, on_admit: Callable[[], None]) -> bool:
        """True: start the handshake now. False: ``on_admit`` is called once a slot is free (unless
        ``release(ticket)`` comes first)."""
        if ticket in self._active:
            return True
        if self.limit <= 0:
            self._admit(ticket)
            return True
        if ticket in self._waiting:
            return False
        self._expire(time.monotonic())
        if len(self._active) < self.limit and not self._waiting:
            self._admit(ticket)
            return True
        self._waiting[ticket] = on_admit
        self.deferred += 1
        self.peak_waiting = max(self.peak_waiting, len(self._waiting))
        self._kick()
        return False

    def release(self, ticket: int) -> None:
        """The handshake ended (connected, failed, closed) or will never start: free its slot."""
        self._waiting.pop(ticket, None)
        self._active.pop(ticket, None)
        if self._handle is not None:  # maybe a timer for a slot's expiry: a slot is free now
            self._handle.cancel()
            self._handle = None
        self._kick()

    def _admit(self, ticket: int) -> None:
        self._active[ticket] = time.monotonic()
        self.admitted += 1
        self.peak_active = max(self.peak_active, len(self._active))

    def _expire(self, now: float) -> None:
        stale = [t for t, since in self._active.items() if now - since > self.slot_timeout_s]
        for ticket in stale:
            del self._active[ticket]

    def _kick(self) -> None:
        """Look at the queue in a later callback (after the datagrams read in this turn)."""
        if self._waiting and self._handle is None:
            self._handle = asyncio.get_running_loop().call_soon(self._admit_next)

    def _admit_next(self) -> None:
        self._handle = None
        now = time.monotonic()
        self._expire(now)
        if not self._waiting:
            return
        if len(self._active) >= self.limit:  # every slot taken: look again when the oldest expires
            oldest = min(self._active.values())
            delay = max(0.01, oldest + self.slot_timeout_s - now)
            self._handle = asyncio.get_running_loop().call_later(delay, self._admit_next)
            return
        ticket, on_admit = self._waiting.popitem(last=False)
        self._admit(ticket)
        on_admit()
        self._kick()
