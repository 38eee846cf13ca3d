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
    n = len(data)
    if n <= hlen:
        return False
    b = data[hlen]
    pos = hlen + 1
    if b & 0x80:  # X
        if pos >= n:
            return False
        x = data[pos]
        pos += 1
        if x & 0x80:  # I
            if pos >= n:
                return False
            pos += 2 if data[pos] & 0x80 else 1
        if x & 0x40:  # L
            pos += 1
        if x & 0x30:  # T/K
            pos += 1
    if not (b & 0x10) or (b & 0x07) != 0 or pos >= n:  # S bit and PID 0
        return False
    return not (data[pos] & 0x01)


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
EXT_URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
EXT_URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
_CANONICAL_EXT = {EXT_URI_AUDIO_LEVEL: EXT_AUDIO_LEVEL, EXT_URI_ABS_SEND_TIME: EXT_ABS_SEND_TIME}


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
