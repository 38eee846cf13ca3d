"""Synthetic VP8 simulcast streams for the layer-switching tests: three encodings of one capture, each
with its own SSRC, sequence/timestamp/PictureID/TL0PICIDX bases, key frames where asked, and the
libwebrtc three-layer temporal pattern (TID 0, 2, 1, 2; Y set on frames that refer only to TL0)."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

TID_PATTERN = (0, 2, 1, 2)
SYNC_PATTERN = (False, True, True, False)
FRAME_TICKS = 3000  # 30 fps at 90 kHz


@dataclass(frozen=True)
class SimulcastPacket:
    layer: int
    frame: int  # capture index: the same for the three encodings of one picture
    seq: int
    ts: int
    picture_id: int
    tl0: int
    tid: int
    sync: bool
    keyframe_start: bool
    data: bytes


@dataclass(frozen=True)
class LayerBases:
    ssrc: int
    seq: int
    ts: int
    picture_id: int
    tl0: int


def vp8_packet(
    ssrc: int,
    seq: int,
    ts: int,
    picture_id: int,
    tl0: int,
    tid: int,
    sync: bool,
    start: bool,
    key: bool,
    marker: bool,
    pt: int = 96,
    size: int = 40,
) -> bytes:
    header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    desc = bytes(
        [
            0x80 | (0x10 if start else 0),
            0xE0,  # I, L, T
            0x80 | ((picture_id >> 8) & 0x7F),
            picture_id & 0xFF,
            tl0 & 0xFF,
            (tid << 6) | (0x20 if sync else 0),
        ]
    )
    if start:
        payload = (b"\x00\x00\x00\x9d\x01\x2a\x40\x01\xf0\x00" if key else b"\x01\x00\x00") + bytes(size)
    else:
        payload = bytes(size)
    return header + desc + payload


def layer_bases(rnd: random.Random, layers: int = 3) -> list[LayerBases]:
    return [
        LayerBases(
            ssrc=rnd.randint(1, 0xFFFFFFFF),
            seq=rnd.randint(0, 0xFFFF),
            ts=rnd.randint(0, 0xFFFFFFFF),
            picture_id=rnd.randint(0, 0x7FFF),
            tl0=rnd.randint(0, 0xFF),
        )
        for _ in range(layers)
    ]


def simulcast_packets(
    frames: int,
    keyframes: list[set[int]],
    bases: list[LayerBases],
    packets_per_frame: tuple[int, ...] = (1, 2, 3),
) -> list[SimulcastPacket]:
    """Every packet of ``frames`` pictures in sending order (picture by picture, lowest layer first).
    ``keyframes[layer]`` holds the capture indexes at which that encoding sends a key frame (index 0
    always does)."""
    out: list[SimulcastPacket] = []
    seq = [b.seq for b in bases]
    pid = [b.picture_id for b in bases]
    tl0 = [b.tl0 for b in bases]
    since_key = [0] * len(bases)
    for frame in range(frames):
        for layer, base in enumerate(bases):
            key = frame == 0 or frame in keyframes[layer]
            since_key[layer] = 0 if key else since_key[layer] + 1
            phase = since_key[layer] % len(TID_PATTERN)
            tid = TID_PATTERN[phase]
            sync = SYNC_PATTERN[phase]
            if tid == 0 and frame > 0:
                tl0[layer] = (tl0[layer] + 1) & 0xFF
            ts = (base.ts + frame * FRAME_TICKS) & 0xFFFFFFFF
            count = packets_per_frame[layer]
            for i in range(count):
                data = vp8_packet(
                    base.ssrc, seq[layer], ts, pid[layer], tl0[layer], tid, sync, i == 0, key, i == count - 1
                )
                out.append(
                    SimulcastPacket(
                        layer, frame, seq[layer], ts, pid[layer], tl0[layer], tid, sync, key and i == 0, data
                    )
                )
                seq[layer] = (seq[layer] + 1) & 0xFFFF
            pid[layer] = (pid[layer] + 1) & 0x7FFF
    return out
