"""Properties of the VP8 payload descriptor parser (hypothesis): a descriptor we build parses back to its
fields, agrees with the key-frame probe in rtp/header.py, and any bytes give a result or ValueError."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayroom.media.codecs import vp8
from relayroom.media.rtp import header

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RTP = bytes([0x80, 96]) + bytes(10)  # a 12-octet RTP header


@PROPS
@given(
    st.none() | st.integers(0, 0x7FFF),
    st.booleans(),
    st.none() | st.integers(0, 255),
    st.none() | st.tuples(st.integers(0, 3), st.booleans()),
    st.booleans(),
    st.booleans(),
    st.integers(0, 7),
    st.booleans(),
)
def test_a_built_descriptor_parses_back_and_agrees_with_the_key_frame_probe(
    picture_id: int | None,
    long_id: bool,
    tl0: int | None,
    tid_y: tuple[int, bool] | None,
    key_index: bool,
    start: bool,
    pid: int,
    inter: bool,
) -> None:
    long_id = long_id or (picture_id is not None and picture_id > 127)
    x = (0x80 if picture_id is not None else 0) | (0x40 if tl0 is not None else 0)
    x |= (0x20 if tid_y is not None else 0) | (0x10 if key_index else 0)
    desc = bytes([(0x80 if x else 0) | (0x10 if start else 0) | pid])
    if x:
        desc += bytes([x])
        if picture_id is not None:
            desc += struct.pack("!H", 0x8000 | picture_id) if long_id else bytes([picture_id])
        if tl0 is not None:
            desc += bytes([tl0])
        if x & 0x30:
            tid, y = tid_y or (0, False)
            desc += bytes([(tid << 6) | (0x20 if y else 0) | 3])
    data = RTP + desc + bytes([0x11 if inter else 0x10, 0x02, 0x00]) + b"\x9d\x01\x2a" + bytes(4)
    got = vp8.parse_descriptor(data, 12)
    assert got.length == len(desc)
    assert got.picture_id == (picture_id if picture_id is not None else -1)
    assert got.picture_id_bits == (0 if picture_id is None else 15 if long_id else 7)
    assert got.tl0picidx == (tl0 if tl0 is not None else -1)
    assert (got.tid, got.layer_sync) == (tid_y if tid_y is not None else (-1, False))
    assert got.start == (start and pid == 0)
    assert got.keyframe == (start and pid == 0 and not inter) == header.is_vp8_keyframe(data, 12)


@PROPS
@given(st.binary(max_size=40), st.integers(0, 20))
def test_any_bytes_give_a_descriptor_or_valueerror(data: bytes, hlen: int) -> None:
    try:
        got = vp8.parse_descriptor(data, hlen)
    except ValueError:
        return
    assert hlen + got.length <= len(data)
    assert got.keyframe == header.is_vp8_keyframe(data, hlen)
