"""RTCP builders/parsers, cross-checked with aiortc's RtcpPacket.parse."""

from __future__ import annotations

import pytest
from aiortc.rtp import (
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    unpack_remb_fci,
)

from relayroom.media.rtp import rtcp

BLOCK = rtcp.ReportBlock(
    ssrc=0x1234, fraction_lost=25, packets_lost=-3, highest_seq=70000, jitter=42, lsr=7, dlsr=9
)


def test_rr_round_trip_with_aiortc() -> None:
    data = rtcp.build_rr(0xAA, [BLOCK])
    (pkt,) = RtcpPacket.parse(data)
    assert isinstance(pkt, RtcpRrPacket)
    assert pkt.ssrc == 0xAA
    r = pkt.reports[0]
    assert (r.ssrc, r.fraction_lost, r.packets_lost, r.highest_sequence, r.jitter, r.lsr, r.dlsr) == (
        0x1234,
        25,
        -3,
        70000,
        42,
        7,
        9,
    )
    assert rtcp.parse(data) == [rtcp.ReceiverReport(0xAA, [BLOCK])]


def test_sr_round_trip_with_aiortc() -> None:
    sr = rtcp.SenderReport(0xBB, (3900000000 << 32) | 123, 90000, 10, 1000, [BLOCK])
    data = rtcp.build_sr(sr)
    (pkt,) = RtcpPacket.parse(data)
    assert isinstance(pkt, RtcpSrPacket)
    assert (pkt.ssrc, pkt.sender_info.ntp_timestamp, pkt.sender_info.rtp_timestamp) == (
        0xBB,
        (3900000000 << 32) | 123,
        90000,
    )
    assert (pkt.sender_info.packet_count, pkt.sender_info.octet_count) == (10, 1000)
    assert rtcp.parse(data) == [sr]


@pytest.mark.parametrize("lost", [[5], [1, 2, 3, 20], [65535, 0, 1], list(range(100, 140))])
def test_nack_round_trip_with_aiortc(lost: list[int]) -> None:
    data = rtcp.build_nack(1, 0xCC, lost)
    (pkt,) = RtcpPacket.parse(data)
    assert isinstance(pkt, RtcpRtpfbPacket) and pkt.fmt == 1
    # aiortc does not wrap PID + bit past 65535; compare modulo 2^16
    assert (pkt.ssrc, pkt.media_ssrc, sorted(s & 0xFFFF for s in pkt.lost)) == (1, 0xCC, sorted(lost))
    assert rtcp.parse(data) == [rtcp.Nack(1, 0xCC, lost)]


def test_pli_fir_remb_round_trip_with_aiortc() -> None:
    data = (
        rtcp.build_rr(1)
        + rtcp.build_pli(1, 0xDD)
        + rtcp.build_fir(1, 0xEE, 3)
        + rtcp.build_remb(1, 1_500_000, [5, 6])
    )
    pkts = RtcpPacket.parse(data)
    assert isinstance(pkts[1], RtcpPsfbPacket) and pkts[1].fmt == 1 and pkts[1].media_ssrc == 0xDD
    assert isinstance(pkts[2], RtcpPsfbPacket) and pkts[2].fmt == 4
    assert isinstance(pkts[3], RtcpPsfbPacket) and pkts[3].fmt == 15
    bitrate, ssrcs = unpack_remb_fci(pkts[3].fci)
    assert ssrcs == [5, 6] and abs(bitrate - 1_500_000) < 1_500_000 / 1000
    items = rtcp.parse(data)
    assert items[1] == rtcp.Pli(1, 0xDD)
    assert items[2] == rtcp.Fir(1, [(0xEE, 3)])
    assert isinstance(items[3], rtcp.Remb) and items[3].ssrcs == [5, 6]


def test_parse_skips_sdes_bye_and_unknown_rtpfb_and_keeps_transport_cc_whole() -> None:
    sdes = bytes([0x81, 202, 0, 2]) + (1).to_bytes(4, "big") + bytes([1, 2, ord("a"), ord("b")])
    unknown = bytes([0x83, 205, 0, 2]) + bytes(8)  # RTPFB FMT 3 (TMMBR): not ours
    twcc = bytes([0x8F, 205, 0, 2]) + (7).to_bytes(4, "big") + (8).to_bytes(4, "big")
    assert rtcp.parse(rtcp.build_rr(9) + sdes + unknown + twcc) == [
        rtcp.ReceiverReport(9, []),
        rtcp.TransportFeedback(7, 8, twcc),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"\x80",
        b"\x80\xc9\x00",
        b"\x80\xc9\x00\x05" + bytes(4),  # length beyond the buffer
        b"\x40\xc9\x00\x01" + bytes(4),  # version 1
        b"\x81\xc9\x00\x01" + bytes(4),  # RR claiming a block it does not have
        b"\x80\xc8\x00\x01" + bytes(4),  # SR without sender info
        b"\x81\xcd\x00\x01" + bytes(4),  # feedback without media ssrc
    ],
)
def test_parse_rejects_malformed_rtcp(data: bytes) -> None:
    with pytest.raises(ValueError):
        rtcp.parse(data)
