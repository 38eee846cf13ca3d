"""VP8 payload descriptor (RFC 7741 §4.2): parse and PictureID rewrite."""

from __future__ import annotations

import struct

import pytest

from relayroom.media.codecs.vp8 import parse_descriptor, write_picture_id

HDR = struct.pack("!BBHII", 0x80, 96, 1, 2, 3)


def test_minimal_descriptor_of_a_key_frame_start() -> None:
    d = parse_descriptor(HDR + b"\x10" + b"\x00\x00\x00\x9d\x01\x2a", 12)
    assert d.length == 1 and d.start and d.keyframe
    assert (d.picture_id, d.picture_id_bits, d.tl0picidx, d.tid) == (-1, 0, -1, -1)


def test_full_descriptor_with_15_bit_picture_id_tl0picidx_and_tid() -> None:
    data = HDR + bytes([0x90, 0xE0, 0x80 | 0x12, 0x34, 0x56, (2 << 6) | 0x20 | 0x03]) + b"\x01"
    d = parse_descriptor(data, 12)
    assert d.length == 6 and d.start and not d.keyframe  # P bit 1: inter frame
    assert (d.picture_id, d.picture_id_bits, d.picture_id_pos) == (0x1234, 15, 14)
    assert (d.tl0picidx, d.tl0picidx_pos, d.tid, d.layer_sync) == (0x56, 16, 2, True)


def test_seven_bit_picture_id_and_k_without_t() -> None:
    data = HDR + bytes([0x80, 0x90, 0x7F, 0x1F]) + b"\x00"  # I and K, no T: no TID
    d = parse_descriptor(data, 12)
    assert (d.picture_id, d.picture_id_bits, d.tid, d.length) == (0x7F, 7, -1, 4)
    assert not d.start  # S bit clear


def test_a_later_partition_is_not_a_frame_start() -> None:
    assert not parse_descriptor(HDR + b"\x11\x00", 12).start  # PID 1


@pytest.mark.parametrize(
    "desc",
    [b"", b"\x80", b"\x80\x80", b"\x80\x80\x80", b"\x80\x40", b"\x80\x20", b"\x80\xe0\x80\x01\x02"],
)
def test_a_descriptor_cut_short_raises_valueerror(desc: bytes) -> None:
    with pytest.raises(ValueError):
        parse_descriptor(HDR + desc, 12)


def test_write_picture_id_keeps_the_m_bit_and_width() -> None:
    buf = bytearray(HDR + bytes([0x90, 0x80, 0x80, 0x00, 0x00]))
    write_picture_id(buf, 14, 15, 0x7ABC)
    assert buf[14:16] == b"\xfa\xbc"
    buf7 = bytearray(HDR + bytes([0x90, 0x80, 0x05, 0x00]))
    write_picture_id(buf7, 14, 7, 0x1FF)
    assert buf7[14] == 0x7F
