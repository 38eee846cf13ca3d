"""Per-track quality statistics: picture size from key frames, receive stats, subscriber RR, rates."""

from __future__ import annotations

import struct

import pytest
from aiortc.rtp import RtpPacket

from relayroom.media.producer import Producer, ProducerParams
from relayroom.media.rtp import header, rtcp
from tests.media.test_producer_consumer import CONT, DELTA, Sink, feed, make_consumer, make_producer, vp8


def vp8_key(width: int, height: int, descriptor: bytes = b"\x10") -> bytes:
    """VP8 payload of a key frame start: descriptor, 3-byte frame tag, start code, 14-bit sizes."""
    return descriptor + b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", width | 0x4000, height)


# SPS from libx264 (320x180 baseline needs cropping; 1280x720 high has the high-profile fields)
SPS_320x180 = bytes.fromhex("6742c00dd901419f9e10000003001000000303c8f142a480")
SPS_1280x720 = bytes.fromhex("6764001facb200a00b7420000003002000000791e30649")
SPS_160x120 = bytes.fromhex("674d400bd902847e5840000003004000000f23c50a92")


def rtp(payload: bytes, seq: int = 1, ts: int = 1000, pt: int = 97, ssrc: int = 1111) -> bytes:
    return RtpPacket(
        payload_type=pt, sequence_number=seq, timestamp=ts, ssrc=ssrc, payload=payload
    ).serialize()


def test_vp8_picture_size_from_a_key_frame_only() -> None:
    assert header.vp8_picture_size(rtp(vp8_key(640, 360)), 12) == (640, 360)  # scale bits ignored
    # extended descriptor: X, I (15-bit picture id), L, T/K
    ext = b"\x90\xf0\x80\x01\x00\x00"
    assert header.vp8_picture_size(rtp(vp8_key(1280, 720, ext)), 12) == (1280, 720)
    assert header.vp8_picture_size(rtp(DELTA + b"\x00" * 8), 12) is None  # delta frame
    assert header.vp8_picture_size(rtp(b"\x00" + vp8_key(640, 360)[1:]), 12) is None  # not partition start
    assert header.vp8_picture_size(rtp(vp8_key(640, 360)[:8]), 12) is None  # truncated
    bad = bytearray(rtp(vp8_key(640, 360)))
    bad[16] = 0  # start code broken
    assert header.vp8_picture_size(bad, 12) is None


@pytest.mark.parametrize(
    ("sps", "size"), [(SPS_320x180, (320, 180)), (SPS_1280x720, (1280, 720)), (SPS_160x120, (160, 120))]
)
def test_h264_picture_size_from_the_sps(sps: bytes, size: tuple[int, int]) -> None:
    assert header.h264_picture_size(rtp(sps), 12) == size
    pps = bytes.fromhex("68ce3c80")
    stap = b"\x18" + struct.pack("!H", len(sps)) + sps + struct.pack("!H", len(pps)) + pps
    assert header.h264_picture_size(rtp(stap), 12) == size


def test_h264_picture_size_gives_up_on_garbage() -> None:
    assert header.h264_picture_size(rtp(b"\x65\x88\x84"), 12) is None  # IDR slice, no SPS
    assert header.h264_picture_size(rtp(SPS_1280x720[:6]), 12) is None  # truncated
    assert header.h264_picture_size(rtp(b"\x67" + b"\x00" * 20), 12) is None  # endless exp-golomb


def test_producer_reports_size_of_the_last_key_frame_and_frame_rate() -> None:
    p = make_producer(Sink())
    assert p.stats()["width"] is None
    feed(p, vp8(1, 3000, DELTA), 0.0)
    feed(p, vp8(2, 6000, vp8_key(320, 240)), 0.0)
    feed(p, vp8(3, 6000, CONT), 0.0)
    assert (p.width, p.height) == (320, 240)
    feed(p, vp8(4, 9000, DELTA), 0.0)
    assert (p.width, p.height) == (320, 240)  # a delta frame keeps the size
    feed(p, vp8(5, 12000, vp8_key(640, 480)), 0.0)
    assert p.stats()["width"] == 640 and p.stats()["height"] == 480
    p.update_rates(1.0)
    for i in range(30):  # 30 frames of 2 packets, 1000 bytes each, in one second
        feed(p, vp8(6 + 2 * i, 15000 + 3000 * i, DELTA + bytes(983)), 1.0 + i / 30)
        feed(p, vp8(7 + 2 * i, 15000 + 3000 * i, CONT + bytes(986)), 1.0 + i / 30)
    p.update_rates(2.0)
    s = p.stats()
    assert s["frameRate"] == 30.0
    assert s["bitrate"] == 60 * 1000 * 8


def test_producer_loss_and_jitter_follow_its_receiver_report() -> None:
    p = make_producer(Sink())
    assert p.stats()["fractionLost"] is None  # nothing reported yet
    for seq in range(100, 120):
        if seq % 4 != 0:  # 5 of 20 lost
            feed(p, vp8(seq, seq * 3000), seq * 3000 / 90000)
    block = p.report_block(10.0)
    assert block is not None
    s = p.stats()
    assert s["packetsLost"] == block.packets_lost == 4  # 100 was the first: 104, 108, 112, 116
    assert s["fractionLost"] == pytest.approx(block.fraction_lost / 256, abs=1e-4)
    assert 0.15 < s["fractionLost"] < 0.25
    assert s["jitterMs"] == 0.0  # perfectly paced
    feed(p, vp8(120, 120 * 3000), 120 * 3000 / 90000 + 0.05)  # 50 ms late
    assert p.stats()["jitterMs"] == pytest.approx(50 / 16, abs=0.01)
    p.report_block(11.0)
    assert p.stats()["fractionLost"] == 0.0  # the new interval lost nothing


def test_audio_producer_stats_have_no_picture_fields() -> None:
    params = ProducerParams("a1", "audio", "audio/opus", 48000, 111, 7777)
    p = Producer(params, lambda _: None, lambda *_: None)
    for i in range(5):
        p.receive_rtp(
            rtp(b"\xfc" * 40, seq=i, ts=960 * i, pt=111, ssrc=7777), 111, i, 960 * i, 7777, i * 0.02
        )
    s = p.stats()
    assert "width" not in s and "frameRate" not in s and s["kind"] == "audio"
    assert p.frames == 0  # audio packets skip the per-frame work


def test_consumer_takes_loss_jitter_and_rtt_from_the_subscribers_rr() -> None:
    up, down = Sink(), Sink()
    p = make_producer(up)
    c = make_consumer(down, p)
    assert c.stats()["rttMs"] is None and c.stats()["fractionLost"] is None
    feed(p, vp8(1, 3000, vp8_key(320, 240)), 0.0)
    sr = rtcp.parse(c.sender_report(100.0, 1_700_000_000.0) or b"")[0]
    assert isinstance(sr, rtcp.SenderReport)
    lsr = (sr.ntp_timestamp >> 16) & 0xFFFFFFFF
    # the subscriber held the SR 0.25 s and its RR arrives 0.33 s after we sent the SR: RTT 80 ms
    rr = rtcp.build_rr(
        99,
        [
            rtcp.ReportBlock(5555, 64, 7, 1, 900, lsr, int(0.25 * 65536)),
            rtcp.ReportBlock(1, 0, 0, 0, 0, 0, 0),
        ],
    )
    item = rtcp.parse(rr)[0]
    assert isinstance(item, rtcp.ReceiverReport)
    c.receive_report(item.reports[0], 100.33)
    s = c.stats()
    assert s["fractionLost"] == 0.25 and s["packetsLost"] == 7
    assert s["jitterMs"] == 10.0  # 900 / 90 kHz
    assert s["rttMs"] == pytest.approx(80, abs=0.1)
    # an LSR we never sent (or none) leaves the RTT alone
    c.receive_report(rtcp.ReportBlock(5555, 0, 7, 2, 0, 12345, 0), 101.0)
    c.receive_report(rtcp.ReportBlock(5555, 0, 7, 2, 0, 0, 0), 101.0)
    assert c.stats()["rttMs"] == pytest.approx(80, abs=0.1) and c.stats()["fractionLost"] == 0.0


def test_consumer_bitrate_is_measured_per_interval() -> None:
    up, down = Sink(), Sink()
    p = make_producer(up)
    c = make_consumer(down, p)
    c.update_rates(1.0)
    feed(p, vp8(1, 3000, vp8_key(320, 240) + bytes(988)), 1.1)  # 1000 bytes of payload past the header
    c.update_rates(1.5)
    assert c.stats()["bitrate"] == int(c.octets * 8 / 0.5)
    c.update_rates(2.5)
    assert c.stats()["bitrate"] == 0


def test_dumps_carry_the_stats_fields() -> None:
    up, down = Sink(), Sink()
    p = make_producer(up)
    c = make_consumer(down, p)
    feed(p, vp8(1, 3000, vp8_key(320, 240)), 0.0)
    pd, cd = p.dump(), c.dump()
    assert pd["width"] == 320 and pd["height"] == 240 and "fractionLost" in pd and "bitrate" in pd
    assert "rttMs" in cd and "fractionLost" in cd and cd["producerId"] == "p1"


def test_transport_routes_report_blocks_to_the_consumer_of_the_media_ssrc_only() -> None:
    from aiortc.rtcdtlstransport import RTCCertificate

    from relayroom.media.webrtc_transport import RouterLink, TransportParams, WebRtcTransport

    up = Sink()
    p = make_producer(up)
    link = RouterLink(
        get_producer=lambda pid: p if pid == p.id else None,
        register_producer=lambda _p: None,
        unregister_producer=lambda _p: None,
        on_transport_close=lambda _t: None,
    )
    t = WebRtcTransport(
        TransportParams(
            transport_id="t1",
            certificate=RTCCertificate.generateCertificate(),
            announced_ip="127.0.0.1",
            port=40000,
            rtx_buffer_ms=1000,
            sendto=lambda _d, _a: None,
            send_rtp=lambda _d, _a: None,
            bind_tuple=lambda _t, _o, _n: None,
            notify=lambda _i, _e, _d: None,
            router=link,
            on_close=lambda _t: None,
        )
    )
    c = t.consume("c1", p.id, {"ssrc": 5555, "payloadType": 100, "rtxSsrc": 6666, "rtxPayloadType": 101})
    # an RR about the RTX SSRC is ignored; the one about the media SSRC lands (in an SR, too)
    t._receive_rtcp(rtcp.build_rr(9, [rtcp.ReportBlock(6666, 128, 50, 0, 0, 0, 0)]), 1.0)
    assert c.stats()["fractionLost"] is None
    sr = rtcp.build_sr(rtcp.SenderReport(9, 0, 0, 0, 0, [rtcp.ReportBlock(5555, 32, 3, 0, 180, 0, 0)]))
    t._receive_rtcp(sr, 1.0)
    assert (
        c.stats()["fractionLost"] == 0.125 and c.stats()["packetsLost"] == 3 and c.stats()["jitterMs"] == 2.0
    )
    assert t.stats() == {"producers": {}, "consumers": {"c1": c.stats()}}
