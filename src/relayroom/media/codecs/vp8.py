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


class Vp8Descriptor:
    """A parsed descriptor. One instance can be reused per packet (``parse``): this runs per packet
    and building a fresh tuple-like object costs more than the parse itself."""

    __slots__ = (
        "keyframe",
        "layer_sync",
        "length",
        "picture_id",
        "picture_id_bits",
        "picture_id_pos",
        "start",
        "tid",
        "tl0picidx",
        "tl0picidx_pos",
    )

    def __init__(self) -> None:
        self.length = 0  # octets of the descriptor; the VP8 payload starts at hlen + length
        self.start = False  # S=1 and PID=0: the first packet of a frame
        self.keyframe = False  # first packet of a key frame
        self.picture_id = -1  # -1 when absent
        self.picture_id_bits = 0  # 7 or 15; 0 when absent
        self.picture_id_pos = -1  # offset of the PictureID octet(s) in the packet; -1 when absent
        self.tl0picidx = -1
        self.tl0picidx_pos = -1
        self.tid = -1  # temporal layer index; -1 when absent
        self.layer_sync = False  # Y: depends only on TL0 frames (a temporal layer may switch up here)

    def parse(self, data: bytes | bytearray, hlen: int) -> None:
        """Read the descriptor of a VP8 RTP packet whose RTP header is ``hlen`` octets; ValueError when
        the packet ends inside it."""
        try:
            b = data[hlen]
            pos = hlen + 1
            if b & 0x80:  # X
                x = data[pos]
                pos += 1
                if x & 0x80:  # I
                    self.picture_id_pos = pos
                    if data[pos] & 0x80:  # M: 15 bits
                        self.picture_id = ((data[pos] & 0x7F) << 8) | data[pos + 1]
                        self.picture_id_bits = 15
                        pos += 2
                    else:
                        self.picture_id = data[pos]
                        self.picture_id_bits = 7
                        pos += 1
                else:
                    self.picture_id = self.picture_id_pos = -1
                    self.picture_id_bits = 0
                if x & 0x40:  # L
                    self.tl0picidx_pos = pos
                    self.tl0picidx = data[pos]
                    pos += 1
                else:
                    self.tl0picidx = self.tl0picidx_pos = -1
                if x & 0x30:  # T or K: one octet
                    t = data[pos]
                    if x & 0x20:
                        self.tid = t >> 6
                        self.layer_sync = bool(t & 0x20)
                    else:
                        self.tid = -1
                        self.layer_sync = False
                    pos += 1
                else:
                    self.tid = -1
                    self.layer_sync = False
            else:
                self.picture_id = self.picture_id_pos = self.tl0picidx = self.tl0picidx_pos = self.tid = -1
                self.picture_id_bits = 0
                self.layer_sync = False
        except IndexError:
            raise ValueError("vp8 descriptor truncated") from None
        self.length = pos - hlen
        self.start = start = bool(b & 0x10) and not b & 0x07
        self.keyframe = start and pos < len(data) and not data[pos] & 0x01


def parse_descriptor(data: bytes | bytearray, hlen: int) -> Vp8Descriptor:
    """The descriptor of a VP8 RTP packet (a new object); ValueError when truncated."""
    desc = Vp8Descriptor()
    desc.parse(data, hlen)
    return desc


def write_picture_id(buf: bytearray, pos: int, bits: int, value: int) -> None:
    """Overwrite a PictureID of ``bits`` (7 or 15) bits at ``pos`` (keeps the M bit)."""
    if bits == 15:
        buf[pos] = 0x80 | ((value >> 8) & 0x7F)
        buf[pos + 1] = value & 0xFF
    else:
        buf[pos] = value & 0x7F
