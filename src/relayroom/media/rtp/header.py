"""Header-level helpers on raw RTP bytes.

Hand-written with ``struct`` for speed: aiortc's RtpPacket parse+serialize costs ~5 µs per packet,
these cost well under 1 µs. Never allocate per packet beyond the one bytearray copy per consumer.
"""

from __future__ import annotations

import struct

RTP_HEADER_LEN = 12
_HDR = struct.Struct("!BBHII")  # v/p/x/cc, m/pt, seq, ts, ssrc
_SEQ_TS_SSRC = struct.Struct("!HII")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


def is_rtp_or_rtcp(first_byte: int) -> bool:
    """RFC 7983: 128..191 is RTP/RTCP."""
    return 127 < first_byte < 192


def is_rtcp(data: bytes | bytearray) -> bool:
    """RFC 5761 demux: RTCP packet types 192..223 (SR, RR, SDES, BYE, APP, RTPFB, PSFB, XR...)."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def parse_header(data: bytes | bytearray) -> tuple[int, int, int, int, bool]:
    """(payload_type, seq, timestamp, ssrc, marker); raises ValueError when too short or not v2."""
    if len(data) < RTP_HEADER_LEN:
        raise ValueError("rtp packet too short")
    b0, b1, seq, ts, ssrc = _HDR.unpack_from(data, 0)
    if b0 >> 6 != 2:
        raise ValueError("not rtp version 2")
    return b1 & 0x7F, seq, ts, ssrc, bool(b1 & 0x80)


def header_length(data: bytes | bytearray) -> int:
    """Length of fixed header + CSRCs + extension; raises ValueError when truncated."""
    n = len(data)
    if n < RTP_HEADER_LEN:
        raise ValueError("rtp packet too short")
    b0 = data[0]
    length = RTP_HEADER_LEN + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if n < length + 4:
            raise ValueError("rtp extension truncated")
        length += 4 + 4 * _U16.unpack_from(data, length + 2)[0]
    if length > n:
        raise ValueError("rtp header truncated")
    return length


def rewrite(buf: bytearray, payload_type: int, seq: int, ts: int, ssrc: int) -> None:
    """Rewrite PT (keeping the marker), seq, timestamp and SSRC in place."""
    buf[1] = (buf[1] & 0x80) | payload_type
    _SEQ_TS_SSRC.pack_into(buf, 2, seq, ts, ssrc)


def build_rtx(packet: bytes | bytearray, rtx_pt: int, rtx_seq: int, rtx_ssrc: int, osn: int) -> bytearray:
    """RFC 4588 RTX packet: same header (PT/seq/SSRC replaced), payload = OSN + original payload.

    ``packet`` must already carry the consumer's seq (its OSN is ``osn``).
    """
    hlen = header_length(packet)
    out = bytearray(len(packet) + 2)
    out[:hlen] = packet[:hlen]
    out[1] = (packet[1] & 0x80) | rtx_pt
    _U16.pack_into(out, 2, rtx_seq)
    _U32.pack_into(out, 8, rtx_ssrc)
    _U16.pack_into(out, hlen, osn)
    out[hlen + 2 :] = packet[hlen:]
    # RTX must not carry padding of the original (we copied the header's P bit; clear it when padded).
    if packet[0] & 0x20:
        pad = packet[-1]
        out[0] &= ~0x20 & 0xFF
        if pad <= len(packet) - hlen:  # a count beyond the payload is garbage: keep the bytes as payload
            del out[len(out) - pad :]
    return out


def unwrap_rtx(packet: bytes | bytearray, payload_type: int, ssrc: int) -> bytearray:
    """Undo RFC 4588 encapsulation: returns the original packet (OSN as seq, given PT/SSRC)."""
    hlen = header_length(packet)
    if len(packet) < hlen + 2:
        raise ValueError("rtx packet too short")
    osn = _U16.unpack_from(packet, hlen)[0]
    out = bytearray(len(packet) - 2)
    out[:hlen] = packet[:hlen]
    out[hlen:] = packet[hlen + 2 :]
    out[1] = (packet[1] & 0x80) | payload_type
    _U16.pack_into(out, 2, osn)
    _U32.pack_into(out, 8, ssrc)
    return out


def is_vp8_keyframe(data: bytes | bytearray, hlen: int) -> bool:
    """VP8 payload descriptor (RFC 7741) start-of-partition of a key frame."""
    return _vp8_keyframe_start(data, hlen) >= 0


def _vp8_keyframe_start(data: bytes | bytearray, hlen: int) -> int:
    """Offset of the VP8 payload header when this packet starts a key frame, else -1."""
    n = len(data)
    if n <= hlen:
        return -1
    b = data[hlen]
    pos = hlen + 1
    if b & 0x80:  # X
        if pos >= n:
            return -1
        x = data[pos]
        pos += 1
        if x & 0x80:  # I
            if pos >= n:
                return -1
            pos += 2 if data[pos] & 0x80 else 1
        if x & 0x40:  # L
            pos += 1
        if x & 0x30:  # T/K
            pos += 1
    if not (b & 0x10) or (b & 0x07) != 0 or pos >= n:  # S bit and PID 0
        return -1
    return -1 if data[pos] & 0x01 else pos


def vp8_picture_size(data: bytes | bytearray, hlen: int) -> tuple[int, int] | None:
    """(width, height) from a packet that starts a VP8 key frame (RFC 6386 §9.1: 3-byte frame tag,
    start code 9d 01 2a, then 14-bit width and height, little-endian); None for anything else."""
    pos = _vp8_keyframe_start(data, hlen)
    if pos < 0 or len(data) < pos + 10 or data[pos + 3 : pos + 6] != b"\x9d\x01\x2a":
        return None
    width = (data[pos + 6] | (data[pos + 7] << 8)) & 0x3FFF
    height = (data[pos + 8] | (data[pos + 9] << 8)) & 0x3FFF
    return (width, height) if width and height else None


def _h264_sps(data: bytes | bytearray, hlen: int) -> bytes | None:
    """The SPS NAL unit carried by this packet (single NAL or inside a STAP-A), if any."""
    n = len(data)
    if n <= hlen:
        return None
    nal = data[hlen] & 0x1F
    if nal == 7:
        return bytes(data[hlen:])
    if nal == 24:
        pos = hlen + 1
        while pos + 2 < n:
            size = _U16.unpack_from(data, pos)[0]
            if data[pos + 2] & 0x1F == 7:
                return bytes(data[pos + 2 : min(pos + 2 + size, n)])
            pos += 2 + size
    return None


class _Bits:
    """Exp-Golomb bit reader over an RBSP (emulation prevention bytes removed)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u(self, count: int) -> int:
        v = 0
        for _ in range(count):
            byte = self.data[self.pos >> 3]  # IndexError past the end: the caller gives up
            v = (v << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("exp-golomb code too long")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) >> 1 if k & 1 else -(k >> 1)


def _sps_size(nal: bytes) -> tuple[int, int] | None:
    """Picture size from an H.264 SPS (ITU-T H.264 §7.3.2.1.1), cropping applied."""
    rbsp = nal[1:256].replace(b"\x00\x00\x03", b"\x00\x00")
    r = _Bits(rbsp)
    profile = r.u(8)
    r.u(16)  # constraint flags, level
    r.ue()  # seq_parameter_set_id
    chroma_format = 1
    separate_planes = 0
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        chroma_format = r.ue()
        if chroma_format == 3:
            separate_planes = r.u(1)
        r.ue()  # bit_depth_luma_minus8
        r.ue()  # bit_depth_chroma_minus8
        r.u(1)  # qpprime_y_zero_transform_bypass_flag
        if r.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format != 3 else 12):
                if r.u(1):
                    last, nxt = 8, 8
                    for _ in range(16 if i < 6 else 64):
                        if nxt:
                            nxt = (last + r.se() + 256) % 256
                        last = nxt or last
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.u(1)
        r.se()
        r.se()
        cycle = r.ue()
        if cycle > 255:
            return None
        for _ in range(cycle):
            r.se()
    r.ue()  # max_num_ref_frames
    r.u(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = r.ue() + 1
    height_map_units = r.ue() + 1
    frame_mbs_only = r.u(1)
    if not frame_mbs_only:
        r.u(1)  # mb_adaptive_frame_field_flag
    r.u(1)  # direct_8x8_inference_flag
    width = width_mbs * 16
    height = (2 - frame_mbs_only) * height_map_units * 16
    if r.u(1):  # frame_cropping_flag
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        array_type = 0 if separate_planes else chroma_format
        crop_x = 1 if array_type == 0 else (2 if array_type in (1, 2) else 1)
        crop_y = (1 if array_type in (0, 2, 3) else 2) * (2 - frame_mbs_only)
        width -= crop_x * (left + right)
        height -= crop_y * (top + bottom)
    if not (0 < width <= 16384 and 0 < height <= 16384):
        return None
    return width, height


def h264_picture_size(data: bytes | bytearray, hlen: int) -> tuple[int, int] | None:
    """(width, height) from the SPS in this packet (single NAL or STAP-A); None when there is none or
    it does not parse."""
    nal = _h264_sps(data, hlen)
    if nal is None:
        return None
    try:
        return _sps_size(nal)
    except (IndexError, ValueError):
        return None


def is_h264_keyframe(data: bytes | bytearray, hlen: int) -> bool:
    """True for IDR / SPS (single NAL, STAP-A containing one, or FU-A start of an IDR)."""
    n = len(data)
    if n <= hlen:
        return False
    nal = data[hlen] & 0x1F
    if nal in (5, 7):
        return True
    if nal == 24:  # STAP-A
        pos = hlen + 1
        while pos + 2 < n:
            size = _U16.unpack_from(data, pos)[0]
            if data[pos + 2] & 0x1F in (5, 7):
                return True
            pos += 2 + size
        return False
    if nal == 28 and n > hlen + 1:  # FU-A
        fu = data[hlen + 1]
        return bool(fu & 0x80) and (fu & 0x1F) == 5
    return False


def rewritten(data: bytes, payload_type: int, seq: int, ts: int, ssrc: int) -> bytes:
    """Copy of ``data`` with PT/seq/ts/SSRC replaced, as ``bytes``.

    pylibsrtp only accepts ``bytes``, so the hot path builds the new 12-byte header and appends the rest
    (one allocation for the header, one for the result) instead of bytearray + rewrite + bytes().
    """
    return _HDR.pack(data[0], (data[1] & 0x80) | payload_type, seq, ts, ssrc) + data[12:]


# Header extension ids every subscriber m-line uses (RFC 8285 one-byte form; the same in every BUNDLE).
EXT_AUDIO_LEVEL = 1
EXT_ABS_SEND_TIME = 3
# transport-cc: the publisher's element keeps its place under our id, and each subscriber transport
# overwrites its value with its own sequence number (rtp/twcc.with_transport_sequence).
EXT_TRANSPORT_CC = 5
EXT_URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
EXT_URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
EXT_URI_TRANSPORT_CC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
_CANONICAL_EXT = {
    EXT_URI_AUDIO_LEVEL: EXT_AUDIO_LEVEL,
    EXT_URI_ABS_SEND_TIME: EXT_ABS_SEND_TIME,
    EXT_URI_TRANSPORT_CC: EXT_TRANSPORT_CC,
}


def extension_table(publisher_ids: list[tuple[int, str]]) -> bytes | None:
    """16-entry map publisher id -> subscriber id (0 = remove); None when packets can pass unchanged."""
    table = bytearray(16)
    for ext_id, uri in publisher_ids:
        if 1 <= ext_id <= 14:
            table[ext_id] = _CANONICAL_EXT.get(uri, 0)
    identity = all(table[ext_id] == ext_id for ext_id, _ in publisher_ids if 1 <= ext_id <= 14)
    return None if identity else bytes(table)


def remap_extensions(buf: bytearray, table: bytes) -> None:
    """Rewrite one-byte header extension ids in place; unmapped elements become padding (id 0).

    Done once per incoming packet (not per consumer) so every subscriber sees the same ids.
    """
    if len(buf) < RTP_HEADER_LEN:
        raise ValueError("rtp packet too short")
    if not buf[0] & 0x10:
        return
    pos = 12 + 4 * (buf[0] & 0x0F)
    n = len(buf)
    if n < pos + 4:
        raise ValueError("rtp extension truncated")
    if buf[pos] != 0xBE or buf[pos + 1] != 0xDE:
        return  # two-byte form: left as is
    end = pos + 4 + 4 * ((buf[pos + 2] << 8) | buf[pos + 3])
    if end > n:
        raise ValueError("rtp extension truncated")
    i = pos + 4
    while i < end:
        b = buf[i]
        if b == 0:
            i += 1
            continue
        ext_id = b >> 4
        if ext_id == 15:
            break
        length = (b & 0x0F) + 1
        new_id = table[ext_id]
        if new_id:
            buf[i] = (new_id << 4) | (b & 0x0F)
        else:
            stop = min(i + 1 + length, end)
            buf[i:stop] = bytes(stop - i)
        i += 1 + length
