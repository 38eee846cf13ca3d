"""Properties of the RTP header helpers and payload probes (hypothesis): what we build parses back to what
we built, and no input makes them raise anything but the documented ValueError.

The coverage-guided fuzzers (tests/fuzz, ``make fuzz``) run the same functions for far longer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayroom.media.rtp import header, twcc

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)


@dataclass(frozen=True)
class Rtp:
    pt: int
    seq: int
    ts: int
    ssrc: int
    marker: bool
    csrcs: list[int]
    extensions: list[tuple[int, bytes]]  # RFC 8285 one-byte elements
    payload: bytes
    padding: int

    def header_len(self) -> int:
        return 12 + 4 * len(self.csrcs) + (len(self._ext_block()) if self.extensions else 0)

    def _ext_block(self) -> bytes:
        body = b"".join(bytes([(i << 4) | (len(v) - 1)]) + v for i, v in self.extensions)
        body += bytes(-len(body) % 4)
        return struct.pack("!HH", 0xBEDE, len(body) // 4) + body

    def build(self) -> bytes:
        b0 = 0x80 | (0x20 if self.padding else 0) | (0x10 if self.extensions else 0) | len(self.csrcs)
        out = struct.pack("!BBHII", b0, (0x80 if self.marker else 0) | self.pt, self.seq, self.ts, self.ssrc)
        out += b"".join(struct.pack("!I", c) for c in self.csrcs)
        if self.extensions:
            out += self._ext_block()
        out += self.payload
        if self.padding:
            out += bytes(self.padding - 1) + bytes([self.padding])
        return out


@st.composite
def rtp_packets(draw: st.DrawFn) -> Rtp:
    return Rtp(
        pt=draw(st.integers(0, 127)),
        seq=draw(U16),
        ts=draw(U32),
        ssrc=draw(U32),
        marker=draw(st.booleans()),
        csrcs=draw(st.lists(U32, max_size=15)),
        extensions=draw(
            st.lists(
                st.tuples(st.integers(1, 14), st.binary(min_size=1, max_size=16)),
                max_size=5,
                unique_by=lambda e: e[0],
            )
        ),
        payload=draw(st.binary(max_size=300)),
        padding=draw(st.integers(0, 255)),
    )


@PROPS
@given(rtp_packets())
def test_a_built_rtp_packet_parses_back_to_its_fields_and_extensions(p: Rtp) -> None:
    data = p.build()
    assert header.parse_header(data) == (p.pt, p.seq, p.ts, p.ssrc, p.marker)
    assert header.header_length(data) == p.header_len()
    for ext_id, value in p.extensions:
        pos = twcc.find_extension(data, ext_id)
        assert data[pos : pos + len(value)] == value


@PROPS
@given(rtp_packets(), st.permutations(range(1, 15)), st.sets(st.integers(1, 14)))
def test_remapping_extension_ids_moves_values_and_blanks_the_dropped_ones(
    p: Rtp, perm: list[int], dropped: set[int]
) -> None:
    table = bytearray(16)
    for old, new in zip(range(1, 15), perm, strict=True):
        table[old] = 0 if old in dropped else new
    buf = bytearray(p.build())
    header.remap_extensions(buf, bytes(table))
    assert len(buf) == len(p.build()) and header.header_length(buf) == p.header_len()
    for ext_id, value in p.extensions:
        new_id = table[ext_id]
        if new_id:
            pos = twcc.find_extension(bytes(buf), new_id)
            assert buf[pos : pos + len(value)] == value
    assert buf[p.header_len() :] == p.build()[p.header_len() :]


@PROPS
@given(rtp_packets(), st.integers(96, 127), U16, U32)
def test_rtx_unwraps_to_the_original_packet_without_its_padding(
    p: Rtp, rtx_pt: int, rtx_seq: int, rtx_ssrc: int
) -> None:
    data = p.build()
    rtx = header.build_rtx(data, rtx_pt, rtx_seq, rtx_ssrc, p.seq)
    assert header.parse_header(rtx)[:4] == (rtx_pt, rtx_seq, p.ts, rtx_ssrc)
    unpadded = Rtp(**{**p.__dict__, "padding": 0}).build()
    assert header.unwrap_rtx(rtx, p.pt, p.ssrc) == unpadded


@PROPS
@given(st.binary(max_size=200), st.binary(min_size=16, max_size=16))
def test_arbitrary_bytes_raise_only_valueerror(data: bytes, table: bytes) -> None:
    for fn in (
        header.parse_header,
        header.header_length,
        lambda d: header.remap_extensions(bytearray(d), table),
    ):
        try:
            fn(data)
        except ValueError:
            pass
    if len(data) >= 12:
        for ext_id in range(1, 15):
            assert twcc.find_extension(data, ext_id) < len(data)
        try:
            header.unwrap_rtx(data, 96, 1)
            header.build_rtx(data, 97, 1, 2, 3)
        except ValueError:
            pass


# ------------------------------------------------------------------------------ VP8 (RFC 7741)


@st.composite
def vp8_descriptors(draw: st.DrawFn) -> bytes:
    """A payload descriptor for the first packet of a frame (S=1, PID=0), optional extensions."""
    picture_id = draw(st.none() | st.integers(0, 0x7FFF))
    tl0 = draw(st.none() | st.integers(0, 255))
    tk = draw(st.none() | st.integers(0, 255))
    x = (
        (0x80 if picture_id is not None else 0)
        | (0x40 if tl0 is not None else 0)
        | (0x20 if tk is not None else 0)
    )
    out = bytes([(0x80 if x else 0) | 0x10])
    if x:
        out += bytes([x])
        if picture_id is not None:
            out += struct.pack("!H", 0x8000 | picture_id) if picture_id > 127 else bytes([picture_id])
        if tl0 is not None:
            out += bytes([tl0])
        if tk is not None:
            out += bytes([tk])
    return out


@PROPS
@given(
    rtp_packets(), vp8_descriptors(), st.integers(1, 0x3FFF), st.integers(1, 0x3FFF), st.binary(max_size=50)
)
def test_a_vp8_key_frame_start_gives_its_picture_size(
    p: Rtp, descriptor: bytes, width: int, height: int, rest: bytes
) -> None:
    frame_tag = bytes([0x10, 0x02, 0x00])  # key frame (bit 0 clear), version 0, shown
    key = frame_tag + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + rest
    data = Rtp(**{**p.__dict__, "payload": descriptor + key, "padding": 0}).build()
    hlen = header.header_length(data)
    assert header.is_vp8_keyframe(data, hlen)
    assert header.vp8_picture_size(data, hlen) == (width, height)
    inter = Rtp(**{**p.__dict__, "payload": descriptor + bytes([key[0] | 1]) + key[1:], "padding": 0}).build()
    assert not header.is_vp8_keyframe(inter, hlen) and header.vp8_picture_size(inter, hlen) is None
    middle = Rtp(**{**p.__dict__, "payload": bytes([descriptor[0] & ~0x10]) + descriptor[1:] + key}).build()
    assert not header.is_vp8_keyframe(middle, hlen)


# ------------------------------------------------------------------------------ H.264 (RFC 6184)


class _BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> None:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(2 * code.bit_length() - 1, code)

    def rbsp(self) -> bytes:
        bits = [*self.bits, 1]  # rbsp_stop_one_bit, then zeros to the byte boundary
        bits += [0] * (-len(bits) % 8)
        raw = bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))
        out, zeros = bytearray(), 0
        for b in raw:  # emulation prevention (§7.4.1)
            if zeros >= 2 and b <= 3:
                out.append(3)
                zeros = 0
            out.append(b)
            zeros = zeros + 1 if b == 0 else 0
        return bytes(out)


def sps(profile: int, mbs_w: int, mbs_h: int, crop: tuple[int, int, int, int]) -> bytes:
    """An SPS NAL unit (ITU-T H.264 §7.3.2.1.1) for 4:2:0 progressive video."""
    w = _BitWriter()
    w.u(8, profile)
    w.u(16, 0x001F)  # constraint flags, level 3.1
    w.ue(0)  # seq_parameter_set_id
    if profile == 100:
        w.ue(1)  # chroma_format_idc 4:2:0
        w.ue(0)
        w.ue(0)
        w.u(1, 0)
        w.u(1, 0)  # no scaling matrices
    w.ue(0)  # log2_max_frame_num_minus4
    w.ue(0)  # pic_order_cnt_type 0
    w.ue(2)  # log2_max_pic_order_cnt_lsb_minus4
    w.ue(1)  # max_num_ref_frames
    w.u(1, 0)
    w.ue(mbs_w - 1)
    w.ue(mbs_h - 1)
    w.u(1, 1)  # frame_mbs_only_flag
    w.u(1, 1)  # direct_8x8_inference_flag
    w.u(1, 1 if any(crop) else 0)
    if any(crop):
        for c in crop:
            w.ue(c)
    w.u(1, 0)  # vui_parameters_present_flag
    return b"\x67" + w.rbsp()


@st.composite
def h264_sizes(draw: st.DrawFn) -> tuple[int, int, int, tuple[int, int, int, int]]:
    mbs_w, mbs_h = draw(st.integers(1, 120)), draw(st.integers(1, 68))
    left, right = draw(st.integers(0, 7)), draw(st.integers(0, 7))
    top, bottom = draw(st.integers(0, 7)), draw(st.integers(0, 7))
    if 2 * (left + right) >= 16 * mbs_w or 2 * (top + bottom) >= 16 * mbs_h:
        left = right = top = bottom = 0
    return draw(st.sampled_from([66, 100])), mbs_w, mbs_h, (left, right, top, bottom)


@PROPS
@given(rtp_packets(), h264_sizes(), st.booleans())
def test_an_h264_sps_gives_its_cropped_picture_size_single_or_in_a_stap_a(
    p: Rtp, size: tuple[int, int, int, tuple[int, int, int, int]], stap: bool
) -> None:
    profile, mbs_w, mbs_h, (left, right, top, bottom) = size
    nal = sps(profile, mbs_w, mbs_h, (left, right, top, bottom))
    pps, idr = b"\x68\xce\x3c\x80", b"\x65\x88\x84\x00\x33"
    payload = b"\x18" + b"".join(struct.pack("!H", len(n)) + n for n in (nal, pps, idr)) if stap else nal
    data = Rtp(**{**p.__dict__, "payload": payload, "padding": 0}).build()
    hlen = header.header_length(data)
    assert header.is_h264_keyframe(data, hlen)
    expected = (16 * mbs_w - 2 * (left + right), 16 * mbs_h - 2 * (top + bottom))
    assert header.h264_picture_size(data, hlen) == expected


@PROPS
@given(rtp_packets(), st.integers(1, 23), st.booleans(), st.binary(max_size=40))
def test_fu_a_is_a_key_frame_only_when_it_starts_an_idr(
    p: Rtp, nal_type: int, start: bool, rest: bytes
) -> None:
    payload = bytes([0x7C, (0x80 if start else 0) | nal_type]) + rest
    data = Rtp(**{**p.__dict__, "payload": payload, "padding": 0}).build()
    hlen = header.header_length(data)
    assert header.is_h264_keyframe(data, hlen) == (start and nal_type == 5)
    assert header.h264_picture_size(data, hlen) is None


@PROPS
@given(st.binary(max_size=300), st.integers(0, 40))
def test_payload_probes_never_raise(data: bytes, hlen: int) -> None:
    for probe in (header.is_vp8_keyframe, header.is_h264_keyframe):
        assert probe(data, hlen) in (True, False)
    for size in (header.vp8_picture_size(data, hlen), header.h264_picture_size(data, hlen)):
        assert size is None or all(0 < v <= 16384 for v in size)
