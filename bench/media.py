"""Pre-built synthetic media: VP8-shaped video frames and Opus-sized audio, with a send stamp per packet.

Nothing is encoded at run time. Every packet's payload ends with a 16-byte trailer::

    flags (u16: bit0 video, bit1 key frame), stream id (u16), counter (u32),
    send time (u64, CLOCK_REALTIME ns)

SFUs forward payloads untouched, so the subscriber finds the trailer at the end of the decrypted packet
and measures the added latency of each packet against the kernel's receive timestamp (SO_TIMESTAMPNS,
also CLOCK_REALTIME).
"""

from __future__ import annotations

import os
import random
import struct
from dataclasses import dataclass

TRAILER = struct.Struct("!HHIQ")
TRAILER_SIZE = TRAILER.size
FLAG_VIDEO = 1
FLAG_KEY = 2

# RTP header + one-byte-header extension block (RFC 8285): mid (id 1) and abs-send-time (id 2).
EXT_MID = 1
EXT_ABS_SEND_TIME = 2
_HDR_EXT = struct.Struct("!BBHII HH BB BBBB BB")  # 12 + 4 + 8 = 24 bytes
HEADER_SIZE = 24

VIDEO_PT = 96
AUDIO_PT = 111
VIDEO_CLOCK = 90000
AUDIO_CLOCK = 48000
MAX_PAYLOAD = 1180  # libwebrtc keeps RTP packets around 1200 B on the wire

_POOL = os.urandom(64 * 1024)


def abs_send_time(ns: int) -> int:
    """24-bit 6.18 fixed-point seconds (http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time)."""
    return ((ns << 18) // 1_000_000_000) & 0xFFFFFF


def rtp_header(pt: int, marker: bool, seq: int, ts: int, ssrc: int, mid: int, ns: int) -> bytes:
    ast = abs_send_time(ns)
    return _HDR_EXT.pack(
        0x90,  # V=2, X=1
        pt | (0x80 if marker else 0),
        seq & 0xFFFF,
        ts & 0xFFFFFFFF,
        ssrc,
        0xBEDE,
        2,  # extension length in 32-bit words
        (EXT_MID << 4) | 0,  # id 1, 1 byte
        0x30 + mid,  # mid "0" / "1"
        (EXT_ABS_SEND_TIME << 4) | 2,  # id 2, 3 bytes
        (ast >> 16) & 0xFF,
        (ast >> 8) & 0xFF,
        ast & 0xFF,
        0,
        0,  # padding
    )


@dataclass(frozen=True)
class Frame:
    """One encoded frame, already split into RTP payloads (without trailer)."""

    key: bool
    payloads: tuple[bytes, ...]


def _vp8_payloads(size: int, key: bool, rnd: random.Random) -> tuple[bytes, ...]:
    """Split a frame of ``size`` bytes the way libwebrtc does: equal parts of at most MAX_PAYLOAD."""
    budget = MAX_PAYLOAD - TRAILER_SIZE
    n = max(1, -(-size // budget))
    part = size // n
    out: list[bytes] = []
    for i in range(n):
        if i == 0:
            # VP8 payload descriptor: S=1, PartID 0. Frame tag: bit0 = 0 for key frames, show_frame.
            desc = b"\x10"
            if key:
                head = b"\x10\x02\x00\x9d\x01\x2a" + struct.pack("<HH", 640, 480)
            else:
                head = b"\x11\x02\x00"
            body_len = max(0, part - len(desc) - len(head))
        else:
            desc, head = b"\x00", b""
            body_len = max(0, part - 1)
        off = rnd.randrange(0, len(_POOL) - body_len - 1)
        out.append(desc + head + _POOL[off : off + body_len])
    return tuple(out)


def video_frames(kbps: int, fps: int, count: int, seed: int) -> tuple[list[Frame], Frame]:
    """``count`` delta frames averaging ``kbps`` at ``fps`` (sizes vary ±30 %) and one key frame (5×)."""
    rnd = random.Random(seed)
    mean = kbps * 1000 / 8 / fps
    deltas = [
        Frame(False, _vp8_payloads(int(mean * rnd.uniform(0.7, 1.3)), False, rnd)) for _ in range(count)
    ]
    key = Frame(True, _vp8_payloads(int(mean * 5), True, rnd))
    return deltas, key


def opus_payloads(count: int, seed: int) -> list[bytes]:
    """20 ms Opus-sized payloads (TOC byte + ~80–120 B), as a talking voice at ~40 kbit/s."""
    rnd = random.Random(seed)
    out = []
    for _ in range(count):
        n = rnd.randrange(80, 121) - TRAILER_SIZE
        off = rnd.randrange(0, len(_POOL) - n - 1)
        out.append(b"\x78" + _POOL[off : off + n - 1])
    return out
