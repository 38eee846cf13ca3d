"""16-bit sequence number and 32-bit timestamp arithmetic (RFC 3550 §A.1 style), wrap-around safe."""

from __future__ import annotations

import bisect

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


def ts_at(ntp: float, sr_ntp: float, sr_rtp: int, clock_rate: int) -> int:
    """RTP timestamp of the sender's wallclock ``ntp`` (seconds), from one of its sender reports
    (``sr_ntp`` seconds <-> ``sr_rtp``). Used to line up streams with different timestamp bases."""
    return (sr_rtp + round((ntp - sr_ntp) * clock_rate)) & 0xFFFFFFFF


class SeqRewriter:
    """Maps one or more input number spaces onto one continuous output space of ``bits`` bits.

    Serves RTP sequence numbers (16 bits), VP8 PictureIDs (15 or 7) and TL0PICIDX (8). Inputs are
    unwrapped against the newest input seen, so all the arithmetic happens on plain integers:

    - ``sync(first)`` starts a new input space (another simulcast layer, a restarted publisher):
      ``first`` maps to the highest output so far + 1, inputs older than ``first`` are refused.
    - ``drop(x)`` removes ``x`` from the output: later inputs move down by one, so a subscriber sees no
      gap for what the SFU chose not to send (an upper temporal layer). Only possible while nothing
      newer than ``x`` has been output; otherwise ``x`` stays a gap in the output (``late_drops``).
    - ``rewrite(x)`` returns the output number, or None for a dropped or refused input.

    Reordered inputs keep their order in the output, and duplicates get the same output number.
    Hand-written (not a library) because it runs per forwarded packet.
    """

    __slots__ = (
        "_dropped",
        "_floor",
        "_half",
        "_mask",
        "_max_in",
        "_max_out",
        "_max_out_in",
        "_offset",
        "_synced",
        "_window",
        "late_drops",
    )

    def __init__(self, bits: int = 16, start: int = 0) -> None:
        self._mask = (1 << bits) - 1
        self._half = 1 << (bits - 1)
        self._window = min(1024, self._half // 2)  # how far back a reordered input is still accepted
        self._max_in = 0  # extended (unwrapped) newest input
        self._max_out = start - 1  # extended newest output (before masking)
        self._max_out_in = -1  # extended input of the newest output
        self._dropped: list[int] = []  # extended dropped inputs newer than _floor, ascending
        self._floor = 0  # extended input of the last sync: older inputs are refused
        self._offset = 0  # output = input + offset - (dropped inputs before it)
        self._synced = False
        self.late_drops = 0

    @property
    def synced(self) -> bool:
        return self._synced

    @property
    def last_output(self) -> int:
        """The newest output number (masked); ``start - 1`` before any output."""
        return self._max_out & self._mask

    def _extend(self, value: int) -> int:
        d = (value - self._max_in) & self._mask
        if d >= self._half:
            d -= self._mask + 1
        return self._max_in + d

    def sync(self, first: int) -> None:
        """The next input space starts at ``first`` (the output continues at last output + 1)."""
        self._max_in = first & self._mask
        self._floor = self._max_in
        self._max_out_in = self._max_in - 1
        self._offset = self._max_out + 1 - self._max_in
        self._dropped.clear()
        self._synced = True

    def drop(self, value: int) -> None:
        if not self._synced:
            return
        ext = self._extend(value)
        if ext < self._floor:
            return
        dropped = self._dropped
        i = bisect.bisect_left(dropped, ext)
        if i < len(dropped) and dropped[i] == ext:
            return
        if ext <= self._max_out_in:
            self.late_drops += 1  # something after it was already sent: it stays a gap
            return
        dropped.insert(i, ext)
        if ext > self._max_in:
            self._max_in = ext
        # Drops far older than any reordering we accept fold into the offset: inputs before them
        # are refused from now on, so the bisect stays short.
        horizon = self._max_in - self._window
        while dropped and dropped[0] < horizon:
            old = dropped.pop(0)
            self._offset -= 1
            self._floor = max(self._floor, old + 1)

    def rewrite(self, value: int) -> int | None:
        if not self._synced:
            return None
        max_in = self._max_in
        d = (value - max_in) & self._mask  # _extend, inlined: this runs per packet
        if d == 1:  # the next input in order, the common case: nothing to look up
            ext = max_in + 1
            dropped = self._dropped
            if not dropped or dropped[-1] < ext:
                out = ext + self._offset - len(dropped)
                self._max_in = self._max_out_in = ext
                self._max_out = out
                return out & self._mask
        if d >= self._half:
            d -= self._mask + 1
        ext = self._max_in + d
        if ext < self._floor:
            return None
        dropped = self._dropped
        n = 0
        if dropped:
            n = bisect.bisect_left(dropped, ext)
            if n < len(dropped) and dropped[n] == ext:
                return None
        out = ext + self._offset - n
        if ext > self._max_in:
            self._max_in = ext
        if out > self._max_out:
            self._max_out = out
        if ext > self._max_out_in:
            self._max_out_in = ext
        return out & self._mask
