"""RTCP parse/build for what the SFU needs: SR, RR, PLI, FIR, generic NACK, REMB, transport-cc feedback
(RFC 3550/4585/5104, draft-holmer-rmcat-transport-wide-cc-extensions-01).

Hand-written on raw bytes (aiortc's RtcpPacket.parse costs ~2.3 µs and decodes every RTPFB as NACK).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from relayroom.media.rtp.nack import nack_items_to_seqs, seqs_to_nack_items

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_RTPFB = 205
RTCP_PSFB = 206

FMT_NACK = 1
FMT_PLI = 1
FMT_FIR = 4
FMT_APP = 15  # REMB lives here
FMT_TRANSPORT_CC = 15  # RTPFB: transport-wide congestion control feedback

_HDR = struct.Struct("!BBH")
_U32 = struct.Struct("!I")
_U32X2 = struct.Struct("!II")
_SR_INFO = struct.Struct("!IIIII")  # ntp sec, ntp frac, rtp ts, packets, octets
_BLOCK = struct.Struct("!IBBHIIII")  # ssrc, fraction, lost(24: hi byte + lo 16), highest, jitter, lsr, dlsr


@dataclass(frozen=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int
    packets_lost: int
    highest_seq: int
    jitter: int
    lsr: int
    dlsr: int


@dataclass(frozen=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int  # 64-bit NTP
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)


@dataclass(frozen=True)
class ReceiverReport:
    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)


@dataclass(frozen=True)
class Nack:
    sender_ssrc: int
    media_ssrc: int
    lost: list[int]


@dataclass(frozen=True)
class Pli:
    sender_ssrc: int
    media_ssrc: int


@dataclass(frozen=True)
class Fir:
    sender_ssrc: int
    entries: list[tuple[int, int]]  # (ssrc, command seq nr)


@dataclass(frozen=True)
class Remb:
    sender_ssrc: int
    bitrate: int
    ssrcs: list[int]


@dataclass(frozen=True)
class TransportFeedback:
    """Transport-wide CC feedback (RTPFB FMT 15), kept whole: ``rtp/twcc.decode_feedback`` reads it."""

    sender_ssrc: int
    media_ssrc: int
    packet: bytes  # the RTCP packet, header included


RtcpItem = SenderReport | ReceiverReport | Nack | Pli | Fir | Remb | TransportFeedback


def iter_packets(data: bytes | bytearray) -> Iterator[tuple[int, int, int, int]]:
    """Yield (packet_type, count_or_fmt, offset, length_bytes) of each packet in a compound RTCP.

    Raises ValueError on a malformed compound packet (after yielding the valid prefix).
    """
    pos = 0
    n = len(data)
    while pos < n:
        if n - pos < 4:
            raise ValueError("rtcp header truncated")
        b0, pt, words = _HDR.unpack_from(data, pos)
        if b0 >> 6 != 2:
            raise ValueError("not rtcp version 2")
        length = 4 * (words + 1)
        if pos + length > n:
            raise ValueError("rtcp packet truncated")
        yield pt, b0 & 0x1F, pos, length
        pos += length


def _blocks(data: bytes | bytearray, pos: int, count: int, end: int) -> list[ReportBlock]:
    out = []
    for _ in range(count):
        if pos + 24 > end:
            raise ValueError("report block truncated")
        ssrc, frac, lost_hi, lost_lo, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, pos)
        lost = (lost_hi << 16) | lost_lo
        if lost & 0x800000:
            lost -= 1 << 24
        out.append(ReportBlock(ssrc, frac, lost, highest, jitter, lsr, dlsr))
        pos += 24
    return out


def parse(data: bytes | bytearray) -> list[RtcpItem]:
    """Parse the items we care about out of a (compound) RTCP packet; others are skipped."""
    items: list[RtcpItem] = []
    for pt, fmt, pos, length in iter_packets(data):
        end = pos + length
        if pt == RTCP_SR:
            if length < 28:
                raise ValueError("sr truncated")
            ssrc = _U32.unpack_from(data, pos + 4)[0]
            sec, frac, rtp_ts, pc, oc = _SR_INFO.unpack_from(data, pos + 8)
            items.append(
                SenderReport(ssrc, (sec << 32) | frac, rtp_ts, pc, oc, _blocks(data, pos + 28, fmt, end))
            )
        elif pt == RTCP_RR:
            if length < 8:
                raise ValueError("rr truncated")
            ssrc = _U32.unpack_from(data, pos + 4)[0]
            items.append(ReceiverReport(ssrc, _blocks(data, pos + 8, fmt, end)))
        elif pt in (RTCP_RTPFB, RTCP_PSFB):
            if length < 12:
                raise ValueError("feedback truncated")
            sender, media = _U32X2.unpack_from(data, pos + 4)
            if pt == RTCP_RTPFB and fmt == FMT_NACK:
                pairs = [struct.unpack_from("!HH", data, p) for p in range(pos + 12, end - 3, 4)]
                items.append(Nack(sender, media, list(nack_items_to_seqs(pairs))))
            elif pt == RTCP_RTPFB and fmt == FMT_TRANSPORT_CC:
                items.append(TransportFeedback(sender, media, bytes(data[pos:end])))
            elif pt == RTCP_PSFB and fmt == FMT_PLI:
                items.append(Pli(sender, media))
            elif pt == RTCP_PSFB and fmt == FMT_FIR:
                entries = [(_U32.unpack_from(data, p)[0], data[p + 4]) for p in range(pos + 12, end - 7, 8)]
                items.append(Fir(sender, entries))
            elif pt == RTCP_PSFB and fmt == FMT_APP and length >= 20 and data[pos + 12 : pos + 16] == b"REMB":
                num = data[pos + 16]
                exp = data[pos + 17] >> 2
                mantissa = ((data[pos + 17] & 0x03) << 16) | (data[pos + 18] << 8) | data[pos + 19]
                ssrcs = [
                    _U32.unpack_from(data, pos + 20 + 4 * i)[0] for i in range(num) if pos + 24 + 4 * i <= end
                ]
                items.append(Remb(sender, mantissa << exp, ssrcs))
    return items


def _header(fmt: int, pt: int, payload_len: int) -> bytes:
    return _HDR.pack(0x80 | fmt, pt, payload_len // 4)


def _pack_blocks(reports: list[ReportBlock]) -> bytes:
    out = bytearray()
    for r in reports:
        lost = r.packets_lost & 0xFFFFFF
        out += _BLOCK.pack(
            r.ssrc, r.fraction_lost & 0xFF, lost >> 16, lost & 0xFFFF, r.highest_seq, r.jitter, r.lsr, r.dlsr
        )
    return bytes(out)


def build_rr(sender_ssrc: int, reports: list[ReportBlock] | None = None) -> bytes:
    reports = (reports or [])[:31]
    body = _U32.pack(sender_ssrc) + _pack_blocks(reports)
    return _header(len(reports), RTCP_RR, len(body)) + body


def build_sr(sr: SenderReport) -> bytes:
    reports = sr.reports[:31]
    body = (
        _U32.pack(sr.ssrc)
        + _SR_INFO.pack(
            sr.ntp_timestamp >> 32,
            sr.ntp_timestamp & 0xFFFFFFFF,
            sr.rtp_timestamp,
            sr.packet_count & 0xFFFFFFFF,
            sr.octet_count & 0xFFFFFFFF,
        )
        + _pack_blocks(reports)
    )
    return _header(len(reports), RTCP_SR, len(body)) + body


def build_pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    return _header(FMT_PLI, RTCP_PSFB, 8) + _U32X2.pack(sender_ssrc, media_ssrc)


def build_fir(sender_ssrc: int, media_ssrc: int, seq_nr: int) -> bytes:
    body = _U32X2.pack(sender_ssrc, 0) + _U32.pack(media_ssrc) + bytes([seq_nr & 0xFF, 0, 0, 0])
    return _header(FMT_FIR, RTCP_PSFB, len(body)) + body


def build_nack(sender_ssrc: int, media_ssrc: int, seqs: list[int]) -> bytes:
    items = seqs_to_nack_items(seqs)
    body = _U32X2.pack(sender_ssrc, media_ssrc) + b"".join(struct.pack("!HH", p, b) for p, b in items)
    return _header(FMT_NACK, RTCP_RTPFB, len(body)) + body


def build_remb(sender_ssrc: int, bitrate: int, ssrcs: list[int]) -> bytes:
    exp = 0
    mantissa = bitrate
    while mantissa > 0x3FFFF:
        mantissa >>= 1
        exp += 1
    body = (
        _U32X2.pack(sender_ssrc, 0)
        + b"REMB"
        + bytes([len(ssrcs), (exp << 2) | (mantissa >> 16), (mantissa >> 8) & 0xFF, mantissa & 0xFF])
        + b"".join(_U32.pack(s) for s in ssrcs)
    )
    return _header(FMT_APP, RTCP_PSFB, len(body)) + body
