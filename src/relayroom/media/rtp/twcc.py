"""Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01).

The receiving transport records (transport-wide seq, arrival time) for every RTP packet carrying the
extension and sends RTPFB FMT 15 feedback every tick, so the publisher's send-side estimator (Chrome's
GoogCC) can probe and ramp up instead of crawling on loss-based estimates alone.

The other direction: ``decode_feedback`` reads the feedback a subscriber sends about what we sent it,
for our own send-side estimator (``media/bwe``). It comes from outside, so it is checked octet by
octet. ``with_transport_sequence`` writes our transport-wide sequence number into a packet we send to a
subscriber (the one function the send path calls for it, ``WebRtcTransport.stamp_transport_cc``).
"""

from __future__ import annotations

import struct

from relayroom.media.rtp.header import EXT_URI_TRANSPORT_CC
from relayroom.media.rtp.seq import SeqUnwrapper

TWCC_URI = EXT_URI_TRANSPORT_CC
FMT_TWCC = 15
_MAX_STATUSES = 2000  # per feedback packet
_DELTA_US = 250
_REF_US = 64000
_FB_HEAD = struct.Struct("!HHI")  # base seq, status count, reference time (24) + fb pkt count (8)
_I16 = struct.Struct("!h")
NOT_RECEIVED = -1
# More statuses than any send history we keep: a run-length chunk can claim 8191 in two octets, so
# a tiny packet could otherwise make us build huge lists.
MAX_DECODED_STATUSES = 8192


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


def with_transport_sequence(data: bytes, ext_id: int, seq: int) -> bytes:
    """``data`` with transport-wide sequence number ``seq`` in header extension ``ext_id``.

    Packets from publishers usually carry the element already (the producer maps the publisher's
    transport-cc id to ours, rtp/header.py), so it is overwritten in place. Otherwise a 3-octet element
    (+ 1 octet of padding) is appended to the one-byte extension block, a block is added when the packet
    has none, and a two-byte block (RFC 8285 §4.3) gets a 4-octet element. Deterministic, so a native
    send path can produce the same bytes."""
    hi_lo = bytes(((seq >> 8) & 0xFF, seq & 0xFF))
    pos = find_extension(data, ext_id)
    if pos > 0 and data[pos - 1] & 0x0F == 1:
        return data[:pos] + hi_lo + data[pos + 2 :]
    b0 = data[0]
    start = 12 + 4 * (b0 & 0x0F)
    if not b0 & 0x10:
        block = bytes((0xBE, 0xDE, 0, 1, (ext_id << 4) | 1)) + hi_lo + b"\x00"
        return bytes((b0 | 0x10,)) + data[1:start] + block + data[start:]
    if len(data) < start + 4:
        raise ValueError("rtp extension truncated")
    words = (data[start + 2] << 8) | data[start + 3]
    end = start + 4 + 4 * words
    if end > len(data) or words >= 0xFFFF:
        raise ValueError("rtp extension truncated")
    if data[start] == 0xBE and data[start + 1] == 0xDE:
        element = bytes(((ext_id << 4) | 1,)) + hi_lo + b"\x00"
    elif data[start] == 0x10 and data[start + 1] >> 4 == 0:
        element = bytes((ext_id, 2)) + hi_lo
    else:
        raise ValueError("unknown rtp header extension profile")
    words += 1
    length = bytes((words >> 8, words & 0xFF))
    return data[: start + 2] + length + data[start + 4 : end] + element + data[end:]


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
    """(base_seq, arrival times in µs, None = lost): ``decode_feedback`` in the shape tests like."""
    base_seq, _count, arrivals = decode_feedback(data)
    return base_seq, [None if a == NOT_RECEIVED else a for a in arrivals]


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


def decode_feedback(packet: bytes | bytearray) -> tuple[int, int, list[int]]:
    """One RTPFB FMT 15 packet (RTCP header included) -> (base_seq, feedback count, arrivals), where
    ``arrivals[i]`` is the arrival time in µs (receiver clock) of transport-wide seq ``base_seq + i``,
    or NOT_RECEIVED. ValueError for anything malformed: it comes from a subscriber, so nothing is
    trusted (lengths, run lengths, symbols, deltas against the end of the packet)."""
    n = len(packet)
    if n < 20 or packet[1] != 205 or packet[0] & 0x1F != FMT_TWCC:
        raise ValueError("not a transport-cc feedback")
    end = 4 * (((packet[2] << 8) | packet[3]) + 1)
    if end > n:
        raise ValueError("transport-cc feedback truncated")
    if packet[0] & 0x20:
        pad = packet[end - 1]
        if pad == 0 or pad > end - 20:
            raise ValueError("bad rtcp padding")
        end -= pad
    base_seq, count, ref = _FB_HEAD.unpack_from(packet, 12)
    if count == 0 or count > MAX_DECODED_STATUSES:
        raise ValueError("transport-cc status count out of range")
    fb_count = ref & 0xFF
    ref >>= 8
    if ref & 0x800000:  # 24-bit signed in the spec; negative reference times do not occur in practice
        ref -= 1 << 24
    pos = 20
    symbols: list[int] = []
    while len(symbols) < count:
        if pos + 2 > end:
            raise ValueError("transport-cc status chunks truncated")
        chunk = (packet[pos] << 8) | packet[pos + 1]
        pos += 2
        if not chunk & 0x8000:  # run length
            symbol = (chunk >> 13) & 0x3
            run = chunk & 0x1FFF
            if run == 0:
                raise ValueError("transport-cc empty run")
            symbols += [symbol] * min(run, count - len(symbols))
        elif chunk & 0x4000:  # seven 2-bit symbols
            symbols += [(chunk >> s) & 0x3 for s in (12, 10, 8, 6, 4, 2, 0)]
        else:  # fourteen 1-bit symbols
            symbols += [(chunk >> s) & 0x1 for s in range(13, -1, -1)]
    del symbols[count:]
    arrivals = [NOT_RECEIVED] * count
    t = ref * _REF_US
    for i, sym in enumerate(symbols):
        if sym == 0:
            continue
        if sym == 1:
            if pos >= end:
                raise ValueError("transport-cc deltas truncated")
            t += packet[pos] * _DELTA_US
            pos += 1
        elif sym == 2:
            if pos + 2 > end:
                raise ValueError("transport-cc deltas truncated")
            t += _I16.unpack_from(packet, pos)[0] * _DELTA_US
            pos += 2
        else:
            raise ValueError("transport-cc reserved status symbol")
        arrivals[i] = t
    return base_seq, fb_count, arrivals
