"""Retransmission ring for NACK: preallocated, indexed ``seq % N``."""

from __future__ import annotations

from collections.abc import Iterator


class RetransmissionBuffer:
    """Keeps the last N packets of a producer (original seq space), bounded by count and age.

    ``store`` keeps a reference to the (already decrypted) packet bytes; no copy.
    """

    __slots__ = ("_max_age_ms", "_packets", "_seqs", "_size", "_times")

    def __init__(self, size: int = 1024, max_age_ms: int = 2000) -> None:
        if size <= 0 or size & (size - 1):
            raise ValueError("size must be a power of two")
        self._size = size
        self._max_age_ms = max_age_ms
        self._packets: list[bytes | None] = [None] * size
        self._seqs: list[int] = [-1] * size
        self._times: list[float] = [0.0] * size

    def store(self, seq: int, packet: bytes, now_ms: float) -> None:
        i = seq & (self._size - 1)
        self._packets[i] = packet
        self._seqs[i] = seq
        self._times[i] = now_ms

    def get(self, seq: int, now_ms: float) -> bytes | None:
        i = seq & (self._size - 1)
        if self._seqs[i] != seq:
            return None
        if now_ms - self._times[i] > self._max_age_ms:
            return None
        return self._packets[i]

    def clear(self) -> None:
        self._packets = [None] * self._size
        self._seqs = [-1] * self._size

    def __len__(self) -> int:
        return sum(1 for p in self._packets if p is not None)


def nack_items_to_seqs(items: list[tuple[int, int]]) -> Iterator[int]:
    """Expand (PID, BLP) pairs of a generic NACK (RFC 4585 §6.2.1) into sequence numbers."""
    for pid, blp in items:
        yield pid
        for bit in range(16):
            if blp & (1 << bit):
                yield (pid + bit + 1) & 0xFFFF


def seqs_to_nack_items(seqs: list[int]) -> list[tuple[int, int]]:
    """Pack sorted-by-arrival sequence numbers into (PID, BLP) pairs."""
    items: list[tuple[int, int]] = []
    for seq in seqs:
        if items:
            pid, blp = items[-1]
            d = (seq - pid) & 0xFFFF
            if 1 <= d <= 16:
                items[-1] = (pid, blp | (1 << (d - 1)))
                continue
        items.append((seq, 0))
    return items
