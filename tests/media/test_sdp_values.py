"""Property tests: whatever values an offer carries, parse_offer either refuses it with ValueError or
every value it accepts builds packets (PLI, FIR, NACK, RR, REMB, SR, RTX, header-extension remap) in
the worker without an exception. The values go the way production sends them: parse_offer ->
produce_params (the channel request) -> ProducerParams.from_dict -> Producer / Consumer."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayroom.media import sdp
from relayroom.media.consumer import Consumer, ConsumerParams
from relayroom.media.producer import Producer, ProducerParams
from relayroom.media.rtp import rtcp
from relayroom.media.rtp.header import extension_table, remap_extensions, rewritten
from relayroom.media.service import produce_params

FINGERPRINT = ":".join(["7F"] * 32)

# Values at and around every boundary, plus anything an int can be.
ANY_INT = st.one_of(
    st.sampled_from([-(2**32), -1, 0, 1, 14, 15, 127, 128, 255, 256, 2**31, 2**32 - 1, 2**32, 2**64]),
    st.integers(min_value=-(2**40), max_value=2**40),
)
SMALL_INT = st.one_of(st.integers(min_value=-5, max_value=300), ANY_INT)
NUMBERISH = st.one_of(ANY_INT.map(str), st.sampled_from(["", "x", "1e3", "0x10", "٣", " 7", "7 "]))


@dataclass(frozen=True)
class OfferValues:
    audio_pt: Any
    audio_ssrc: Any
    audio_clock: Any
    video_pt: Any
    rtx_pt: Any
    apt: Any
    video_clock: Any
    ssrc: Any
    rtx_ssrc: Any
    plain_ssrc: Any  # an extra a=ssrc line without the group
    ext_ids: tuple[Any, Any, Any]
    fir_only: bool
    newline: str

    def sdp(self) -> str:
        lines = [
            "v=0",
            "o=- 1 1 IN IP4 0.0.0.0",
            "s=-",
            "t=0 0",
            "a=group:BUNDLE 0 1",
            f"m=audio 9 UDP/TLS/RTP/SAVPF {self.audio_pt}",
            "c=IN IP4 0.0.0.0",
            "a=sendonly",
            "a=mid:0",
            f"a=extmap:{self.ext_ids[0]} urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            f"a=extmap:{self.ext_ids[1]} http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "a=msid:s a",
            "a=rtcp-mux",
            f"a=ssrc:{self.audio_ssrc} cname:x",
            f"a=rtpmap:{self.audio_pt} opus/{self.audio_clock}/2",
            "a=ice-ufrag:NleL",
            "a=ice-pwd:K1DEmvqVoPo3BpJ1H3wNNP",
            f"a=fingerprint:sha-256 {FINGERPRINT}",
            "a=setup:actpass",
            f"m=video 9 UDP/TLS/RTP/SAVPF {self.video_pt} {self.rtx_pt}",
            "c=IN IP4 0.0.0.0",
            "a=sendonly",
            "a=mid:1",
            f"a=extmap:{self.ext_ids[2]} http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            "a=msid:s v",
            "a=rtcp-mux",
            f"a=ssrc-group:FID {self.ssrc} {self.rtx_ssrc}",
            f"a=ssrc:{self.ssrc} cname:x",
            f"a=ssrc:{self.rtx_ssrc} cname:x",
            f"a=ssrc:{self.plain_ssrc} cname:x",
            f"a=rtpmap:{self.video_pt} VP8/{self.video_clock}",
            f"a=rtcp-fb:{self.video_pt} {'ccm fir' if self.fir_only else 'nack pli'}",
            f"a=rtcp-fb:{self.video_pt} nack",
            f"a=rtcp-fb:{self.video_pt} transport-cc",
            f"a=rtpmap:{self.rtx_pt} rtx/90000",
            f"a=fmtp:{self.rtx_pt} apt={self.apt}",
            "a=ice-ufrag:NleL",
            "a=ice-pwd:K1DEmvqVoPo3BpJ1H3wNNP",
            f"a=fingerprint:sha-256 {FINGERPRINT}",
            "a=setup:actpass",
        ]
        return self.newline.join(lines) + self.newline


@st.composite
def offer_values(draw: st.DrawFn) -> OfferValues:
    video_pt = draw(st.one_of(st.just(96), SMALL_INT))
    return OfferValues(
        audio_pt=draw(st.one_of(st.just(111), SMALL_INT)),
        audio_ssrc=draw(st.one_of(st.just(1234), ANY_INT, NUMBERISH)),
        audio_clock=draw(st.one_of(st.just(48000), ANY_INT)),
        video_pt=video_pt,
        rtx_pt=draw(st.one_of(st.just(97), SMALL_INT)),
        apt=draw(st.one_of(st.just(video_pt), SMALL_INT, NUMBERISH)),
        video_clock=draw(st.one_of(st.just(90000), ANY_INT)),
        ssrc=draw(st.one_of(st.just(5678), ANY_INT, NUMBERISH)),
        rtx_ssrc=draw(st.one_of(st.just(5679), ANY_INT, NUMBERISH)),
        plain_ssrc=draw(st.one_of(st.just(5680), ANY_INT)),
        ext_ids=(
            draw(st.one_of(st.just(1), SMALL_INT)),
            draw(st.one_of(st.just(3), SMALL_INT)),
            draw(st.one_of(st.just(5), SMALL_INT)),
        ),
        fir_only=draw(st.booleans()),
        newline=draw(st.sampled_from(["\r\n", "\n", "\r"])),
    )


def vp8_packet(pt: int, seq: int, ts: int, ssrc: int, extensions: list[tuple[int, bytes]]) -> bytes:
    """An RTP packet with one-byte header extensions (RFC 8285) and a VP8 key frame payload."""
    body = b"".join(bytes([(i << 4) | (len(v) - 1)]) + v for i, v in extensions)
    body += b"\x00" * (-len(body) % 4)
    x = 0x10 if body else 0
    header = struct.pack("!BBHII", 0x80 | x, pt, seq, ts, ssrc)
    if body:
        header += struct.pack("!HH", 0xBEDE, len(body) // 4) + body
    return header + b"\x10\x00\x9d\x01\x2a" + b"\x00" * 20


def exercise_packet_builders(params: ProducerParams) -> None:
    """Everything the worker builds from a producer's values, checked by parsing what was built."""
    sent: list[bytes] = []
    producer = Producer(params, sent.append, lambda _p, _r: None)
    forwarded: list[tuple[int, int]] = []
    consumer = Consumer(
        ConsumerParams("c", 0xFFFFFFFF, 127, 1, 100),
        producer.attach,
        send_rtp=lambda _d: None,
        send_rewritten=lambda _d, pt, seq, _ts, ssrc: forwarded.append((pt, ssrc)),
        send_rtcp=lambda _d: None,
        on_close=lambda _c, _r: None,
        on_producer_closed=lambda _c: None,
    )
    exts = [(i, b"\x01\x02\x03") for i, _ in params.header_extensions if 1 <= i <= 14]
    first = vp8_packet(params.payload_type, 100, 9000, params.ssrc, exts)
    table = extension_table(list(params.header_extensions))
    if table is not None:
        remap_extensions(bytearray(first), table)
    producer.receive_rtp(first, params.payload_type, 100, 9000, params.ssrc, 0.0)
    producer.receive_rtp(  # a gap: NACK towards the publisher (video)
        vp8_packet(params.payload_type, 105, 9000, params.ssrc, exts),
        params.payload_type,
        105,
        9000,
        params.ssrc,
        0.01,
    )
    if params.rtx_ssrc is not None and params.rtx_payload_type is not None:
        rtx = (
            struct.pack("!BBHII", 0x80, params.rtx_payload_type, 7, 9000, params.rtx_ssrc)
            + b"\x00\x65"
            + b"x"
        )
        producer.receive_rtp(rtx, params.rtx_payload_type, 7, 9000, params.rtx_ssrc, 0.02)
    producer.request_keyframe(now=10.0)  # PLI, or FIR when only "ccm fir" was offered
    block = producer.report_block(1.0)
    assert block is not None
    sent.append(rtcp.build_rr(1, [block]))
    consumer.remb_bitrate = 500_000
    sent.append(producer.aggregate_remb() or b"")
    producer.receive_sr(rtcp.SenderReport(params.ssrc, 2**63, 2**31, 1, 1), 0.5)
    sr = consumer.sender_report(1.0, 1_700_000_000.0)
    assert sr is not None and rtcp.parse(sr)
    consumer.receive_nack([0, 1, 0xFFFF], 1.0)  # retransmissions (RTX) of what the ring holds
    rewritten(first, 127, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    media_ssrcs = set()
    for packet in sent:
        for item in rtcp.parse(packet):
            if isinstance(item, rtcp.Pli | rtcp.Nack):
                media_ssrcs.add(item.media_ssrc)
            elif isinstance(item, rtcp.Fir):
                media_ssrcs.update(s for s, _ in item.entries)
    # video: the keyframe request and the NACK name the publisher's SSRC (audio sends neither)
    assert media_ssrcs == ({params.ssrc} if params.kind == "video" else set())
    assert forwarded and all(pt == 127 and ssrc == 0xFFFFFFFF for pt, ssrc in forwarded)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offer_values())
def test_any_offer_is_refused_with_value_error_or_every_accepted_value_builds_packets(
    values: OfferValues,
) -> None:
    try:
        offer = sdp.parse_offer(values.sdp())
    except ValueError:
        return
    for m in offer.media:
        if not m.sending or m.codec is None:
            continue
        params = ProducerParams.from_dict("p", produce_params("p", m), 1000)
        assert 1 <= params.ssrc <= 0xFFFFFFFF and 0 <= params.payload_type <= 127
        exercise_packet_builders(params)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["ssrc", "rtx_ssrc", "plain_ssrc", "audio_ssrc"]),
    st.sampled_from([0, -1, -(2**31), 2**32, 2**32 + 5, 2**64]),
)
def test_an_offer_with_any_ssrc_out_of_range_is_refused_naming_it(field: str, bad: int) -> None:
    good = OfferValues(111, 1234, 48000, 96, 97, 96, 90000, 5678, 5679, 5680, (1, 3, 5), False, "\r\n")
    text = OfferValues(**{**good.__dict__, field: bad}).sdp()
    try:
        sdp.parse_offer(text)
    except ValueError as exc:
        assert "ssrc" in str(exc) and "out of range" in str(exc)
    else:
        raise AssertionError(f"{field}={bad} accepted")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.sampled_from(["\r\n", "\n", "\r", "\x0b", "\u2028"]))
def test_garbage_is_refused_only_with_value_error(text: str, newline: str) -> None:
    for candidate in (text, newline.join(["v=0", text, "m=audio 9 UDP/TLS/RTP/SAVPF 111", text])):
        try:
            sdp.parse_offer(candidate)
        except ValueError:
            pass
        try:
            sdp.parse_answer(candidate)
        except ValueError:
            pass


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["\r\n", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028"]))
def test_the_media_section_cap_counts_every_line_break_the_parser_splits_on(newline: str) -> None:
    lines = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0"]
    lines += ["m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=inactive"] * (sdp.MAX_MEDIA_SECTIONS + 1)
    try:
        sdp.parse_offer(newline.join(lines))
    except ValueError as exc:
        assert "media sections" in str(exc)
    else:
        raise AssertionError("cap bypassed")
