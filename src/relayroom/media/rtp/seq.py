"""16-bit sequence number and 32-bit timestamp arithmetic (RFC 3550 §A.1 style), wrap-around safe."""

from __future__ import annotations

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32
_HALF_SEQ = 1 << 15


def seq_add(a: int, b: int) -> int:
    return (a + b) & 0xFFFF


def seq_diff(a: int, b: int) -> int:
    """Signed distance a - b in [-32768, 32767] (positive when a is newer)."""
    d = (a - b) & 0xFFFF
    return d - SEQ_MOD if d >= _HALF_SEQ else d


def seq_newer(a: int, b: int) -> bool:
    """True when a comes strictly after b (modulo 2^16)."""
    return seq_diff(a, b) > 0


def ts_add(a: int, b: int) -> int:
    return (a + b) & 0xFFFFFFFF


def ts_diff(a: int, b: int) -> int:
    """Signed distance a - b for 32-bit RTP timestamps."""
    d = (a - b) & 0xFFFFFFFF
    return d - TS_MOD if d >= (1 << 31) else d


class SeqUnwrapper:
    """Turns 16-bit sequence numbers into a monotonic-ish 64-bit extended sequence."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: int | None = None

    def unwrap(self, seq: int) -> int:
        if self._last is None:
            self._last = seq
            return seq
        ext = self._last + seq_diff(seq, self._last & 0xFFFF)
        if ext > self._last:
            self._last = ext
        return ext

    @property
    def highest(self) -> int | None:
        return self._last
