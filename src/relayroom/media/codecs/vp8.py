"""VP8 RTP payload descriptor (RFC 7741 §4.2): read it, and rewrite PictureID / TL0PICIDX in place.

```
      0 1 2 3 4 5 6 7
     +-+-+-+-+-+-+-+-+
     |X|R|N|S|R| PID | (required)
     +-+-+-+-+-+-+-+-+
X:   |I|L|T|K| RSV   | (optional)
     +-+-+-+-+-+-+-+-+
I:   |M| PictureID   | (optional; M=1: 15-bit PictureID over two octets)
     +-+-+-+-+-+-+-+-+
L:   |   TL0PICIDX   | (optional)
     +-+-+-+-+-+-+-+-+
T/K: |TID|Y| KEYIDX  | (optional)
     +-+-+-+-+-+-+-+-+
```

Then the VP8 payload header; its P bit (first octet, bit 0) is 0 for a key frame (RFC 6386 §9.1).
Hand-written: per packet, a few byte reads.
"""

from __future__ import annotations

from typing import NamedTuple


class Vp8Descriptor(NamedTuple):
    length: int  # octets of the descriptor; the VP8 payload starts at hlen + length
    start: bool  # S=1 and PID=0: the first packet of a frame
    keyframe: bool  # first packet of a key frame
    picture_id: int  # -1 when absent
    picture_id_bits: int  # 7 or 15; 0 when absent
    picture_id_pos: int  # offset of the PictureID octet(s) in the packet; -1 when absent
    tl0picidx: int  # -1 when absent
    tl0picidx_pos: int  # -1 when absent
    tid: int  # temporal layer index; -1 when absent
    layer_sync: bool  # Y: the frame depends only on TL0 frames (a temporal layer may switch up here)


def parse_descriptor(data: bytes | bytearray, hlen: int) -> Vp8Descriptor:
    """The descriptor of a VP8 RTP packet whose RTP header is ``hlen`` octets; ValueError when the
    packet ends inside the descriptor."""
    n = len(data)
    if n <= hlen:
        raise ValueError("vp8 payload empty")
    b = data[hlen]
    pos = hlen + 1
    picture_id = -1
    pid_bits = 0
    pid_pos = -1
    tl0 = -1
    tl0_pos = -1
    tid = -1
    sync = False
    if b & 0x80:  # X
        if pos >= n:
            raise ValueError("vp8 descriptor truncated")
        x = data[pos]
        pos += 1
        if x & 0x80:  # I
            if pos >= n:
                raise ValueError("vp8 descriptor truncated")
            pid_pos = pos
            if data[pos] & 0x80:  # M: 15 bits
                if pos + 1 >= n:
                    raise ValueError("vp8 descriptor truncated")
                picture_id = ((data[pos] & 0x7F) << 8) | data[pos + 1]
                pid_bits = 15
                pos += 2
            else:
                picture_id = data[pos] & 0x7F
                pid_bits = 7
                pos += 1
        if x & 0x40:  # L
            if pos >= n:
                raise ValueError("vp8 descriptor truncated")
            tl0_pos = pos
            tl0 = data[pos]
            pos += 1
        if x & 0x30:  # T or K: one octet
            if pos >= n:
                raise ValueError("vp8 descriptor truncated")
            if x & 0x20:  # T
                tid = data[pos] >> 6
                sync = bool(data[pos] & 0x20)
            pos += 1
    start = bool(b & 0x10) and (b & 0x07) == 0
    keyframe = start and pos < n and not data[pos] & 0x01
    return Vp8Descriptor(pos - hlen, start, keyframe, picture_id, pid_bits, pid_pos, tl0, tl0_pos, tid, sync)


def write_picture_id(buf: bytearray, pos: int, bits: int, value: int) -> None:
    """Overwrite a PictureID of ``bits`` (7 or 15) bits at ``pos`` (keeps the M bit)."""
    if bits == 15:
        buf[pos] = 0x80 | ((value >> 8) & 0x7F)
        buf[pos + 1] = value & 0xFF
    else:
        buf[pos] = value & 0x7F
