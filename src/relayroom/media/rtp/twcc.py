"""Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01).

The receiving transport records (transport-wide seq, arrival time) for every RTP packet carrying the
extension and sends RTPFB FMT 15 feedback every tick, so the publisher's send-side estimator (Chrome's
GoogCC) can probe and ramp up instead of crawling on loss-based estimates alone.
"""

from __future__ import annotations

import struct

from relayroom.media.rtp.seq import SeqUnwrapper

TWCC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
FMT_TWCC = 15
_MAX_STATUSES = 2000  # per feedback packet
_DELTA_US = 250
_REF_US = 64000


def find_extension(data: bytes, ext_id: int) -> int:
    """Offset of the value of one-byte header extension ``ext_id`` in an RTP packet, or -1."""
    b0 = data[0]
    if not b0 & 0x10:
        return -1
    pos = 12 + 4 * (b0 & 0x0F)
    n = len(data)
    if n < pos + 4 or data[pos] != 0xBE or data[pos + 1] != 0xDE:
        return -1
    end = pos + 4 + 4 * ((data[pos + 2] << 8) | data[pos + 3])
    if end > n:
        return -1
    i = pos + 4
    while i < end:
        b = data[i]
        if b == 0:
            i += 1
            continue
        eid = b >> 4
        if eid == 15:
            return -1
        length = (b & 0x0F) + 1
        if eid == ext_id:
            return i + 1 if i + 1 + length <= end else -1
        i += 1 + length
    return -1


def build_feedback(
    sender_ssrc: int, media_ssrc: int, fb_count: int, base_seq: int, arrivals: list[int | None]
) -> bytes:
    """One feedback packet. ``arrivals[i]`` is the arrival time in µs of seq ``base_seq + i`` (None =
    lost); at least one must be received. Status chunks are 2-bit vectors (7 per chunk)."""
    first = next(a for a in arrivals if a is not None)
    ref = first // _REF_US
    prev = ref * _REF_US
    symbols: list[int] = []
    deltas = bytearray()
    for arrival in arrivals:
        if arrival is None:
            symbols.append(0)
            continue
        d = round((arrival - prev) / _DELTA_US)
        if 0 <= d <= 255:
            symbols.append(1)
            deltas.append(d)
        else:
            d = max(-32768, min(32767, d))
            symbols.append(2)
            deltas += struct.pack("!h", d)
        prev += d * _DELTA_US
    chunks = bytearray()
    for i in range(0, len(symbols), 7):
        group = symbols[i : i + 7]
        value = 0xC000
        for j, sym in enumerate(group):
            value |= sym << (12 - 2 * j)
        chunks += struct.pack("!H", value)
    body = (
        struct.pack("!IIHH", sender_ssrc, media_ssrc, base_seq & 0xFFFF, len(arrivals))
        + struct.pack("!I", ((ref & 0xFFFFFF) << 8) | (fb_count & 0xFF))
        + bytes(chunks)
        + bytes(deltas)
    )
    pad = (-len(body)) % 4
    first_byte = 0x80 | FMT_TWCC
    if pad:
        first_byte |= 0x20  # RTCP padding: the last octet counts the padding octets
        body += bytes(pad - 1) + bytes([pad])
    return struct.pack("!BBH", first_byte, 205, (len(body) + 4) // 4 - 1) + body


def parse_feedback(data: bytes) -> tuple[int, list[int | None]]:
    """(base_seq, arrival deltas in µs relative to the reference time, None = lost) — for tests."""
    pad = data[-1] if data[0] & 0x20 else 0
    end = len(data) - pad
    base_seq, count = struct.unpack_from("!HH", data, 12)
    ref = struct.unpack_from("!I", data, 16)[0] >> 8
    pos = 20
    symbols: list[int] = []
    while len(symbols) < count:
        (chunk,) = struct.unpack_from("!H", data, pos)
        pos += 2
        if not chunk & 0x8000:  # run length
            symbols += [(chunk >> 13) & 0x3] * (chunk & 0x1FFF)
        elif chunk & 0x4000:  # 2-bit vector
            symbols += [(chunk >> (12 - 2 * j)) & 0x3 for j in range(7)]
        else:  # 1-bit vector
            symbols += [(chunk >> (13 - j)) & 0x1 for j in range(14)]
    symbols = symbols[:count]
    out: list[int | None] = []
    t = ref * _REF_US
    for sym in symbols:
        if sym == 0:
            out.append(None)
        elif sym == 1:
            t += data[pos] * _DELTA_US
            pos += 1
            out.append(t)
        else:
            t += struct.unpack_from("!h", data, pos)[0] * _DELTA_US
            pos += 2
            out.append(t)
    assert pos <= end
    return base_seq, out


class TwccRecorder:
    """Arrival times by transport-wide sequence number, flushed as feedback packets."""

    __slots__ = ("_arrivals", "_fb_count", "_next_base", "_unwrapper")

    def __init__(self) -> None:
        self._unwrapper = SeqUnwrapper()
        self._arrivals: dict[int, int] = {}
        self._next_base: int | None = None
        self._fb_count = 0

    def record(self, seq: int, arrival_us: int) -> None:
        ext = self._unwrapper.unwrap(seq)
        if self._next_base is not None and ext < self._next_base:
            return  # already reported (late duplicate/reordering past a feedback)
        if len(self._arrivals) < 10000:
            self._arrivals[ext] = arrival_us

    def feedback(self, sender_ssrc: int, media_ssrc: int) -> list[bytes]:
        if not self._arrivals:
            return []
        arrivals, self._arrivals = self._arrivals, {}
        seqs = sorted(arrivals)
        base = seqs[0]
        if self._next_base is not None and 0 < seqs[0] - self._next_base <= _MAX_STATUSES:
            base = self._next_base  # report the packets missing since the last feedback as lost
        last = seqs[-1]
        packets = []
        while base <= last:
            stop = min(last, base + _MAX_STATUSES - 1)
            row = [arrivals.get(s) for s in range(base, stop + 1)]
            if any(a is not None for a in row):
                packets.append(build_feedback(sender_ssrc, media_ssrc, self._fb_count, base, row))
                self._fb_count = (self._fb_count + 1) & 0xFF
            base = stop + 1
        self._next_base = last + 1
        return packets
