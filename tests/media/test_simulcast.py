"""Simulcast through the worker's objects: rid offers in the SDP, encodings learned from the rid header
extension, and a consumer that switches between them (one SSRC, continuous numbering, PLI to the
target encoding). In-memory transports: SRTP is replaced by the identity, no sockets."""

from __future__ import annotations

import itertools
import random
import struct
from types import SimpleNamespace
from typing import Any

import pytest
from aiortc.rtcdtlstransport import RTCCertificate

from relayroom.media import sdp
from relayroom.media.codecs.vp8 import parse_descriptor
from relayroom.media.router import Router, RouterParams
from relayroom.media.rtp import rtcp
from relayroom.media.rtp.header import header_length, rewritten
from relayroom.media.service import produce_params
from relayroom.media.simulcast_consumer import SimulcastConsumer
from relayroom.media.webrtc_transport import RouterLink, TransportParams, WebRtcTransport
from tests.media.simulcast_streams import layer_bases, simulcast_packets

MID_EXT, RID_EXT, RRID_EXT = 4, 10, 11

OFFER = """v=0
o=- 1 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
m=video 9 UDP/TLS/RTP/SAVPF 96 97
c=IN IP4 0.0.0.0
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuvwxyz
a=fingerprint:sha-256 {fp}
a=setup:actpass
a=mid:0
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id
a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id
a=sendonly
a=msid:s1 t1
a=rtcp-mux
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
{rids}"""
FP = ":".join(["AB"] * 32)
RIDS3 = "a=rid:q send\na=rid:h send\na=rid:f send\na=simulcast:send q;h;f\n"


def offer(rids: str = RIDS3) -> str:
    return OFFER.format(fp=FP, rids=rids).replace("\n", "\r\n")


def test_rid_offer_gives_encodings_lowest_first_and_the_answer_mirrors_them() -> None:
    parsed = sdp.parse_offer(offer("a=rid:f send\na=rid:q send\na=rid:h send\na=simulcast:send q;~h;f\n"))
    m = parsed.media[0]
    assert [e.rid for e in m.encodings] == ["q", "h", "f"]
    assert m.ssrc is None
    local = sdp.LocalTransport("ufrag", "p" * 24, FP, "127.0.0.1", 4000)
    answer = sdp.build_answer(parsed, local, {"0"}, 1)
    assert "a=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\na=simulcast:recv q;h;f\r\n" in answer
    assert f"a=extmap:{RID_EXT} {sdp.EXT_URI_RID}" in answer
    params = produce_params("p1", m)
    assert [e["rid"] for e in params["encodings"]] == ["q", "h", "f"]


@pytest.mark.parametrize(
    ("rids", "reason"),
    [
        ("a=rid:a send\na=rid:b send\na=rid:c send\na=rid:d send\n", "at most 3"),
        ("a=rid:a send\na=simulcast:send a;b\n", "without an a=rid"),
        ("a=rid:a%b send\n", "a=rid must be"),
        ("a=rid:a send\na=rid:a send\n", "declared twice"),
    ],
)
def test_bad_rid_offers_are_refused_with_a_reason(rids: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        sdp.parse_offer(offer(rids))


def test_rid_offer_without_the_rid_extension_is_refused() -> None:
    text = offer().replace("a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n", "")
    with pytest.raises(ValueError, match="rtp-stream-id"):
        sdp.parse_offer(text)


def test_ssrc_group_sim_gives_encodings_with_their_rtx() -> None:
    lines = (
        "a=ssrc-group:SIM 11 22\na=ssrc-group:FID 11 12\na=ssrc-group:FID 22 23\n"
        "a=ssrc:11 cname:x\na=ssrc:12 cname:x\na=ssrc:22 cname:x\na=ssrc:23 cname:x\n"
    )
    m = sdp.parse_offer(offer(lines)).media[0]
    assert [(e.ssrc, e.rtx_ssrc) for e in m.encodings] == [(11, 12), (22, 23)]
    assert (m.ssrc, m.rtx_ssrc) == (22, 23)


# -- worker objects ---------------------------------------------------------------------------------


class IdentitySrtp:
    """Stands in for SrtpPair: packets pass in the clear (the tests look at them)."""

    def __init__(self) -> None:
        identity = lambda data: bytes(data)  # noqa: E731
        self.rx = SimpleNamespace(unprotect=identity, unprotect_rtcp=identity)
        self.tx = SimpleNamespace(protect=identity, protect_rtcp=identity)
        self.profile_name = "identity"

    def protect_rewritten(self, data: bytes, pt: int, seq: int, ts: int, ssrc: int) -> bytes:
        return bytes(rewritten(data, pt, seq, ts, ssrc))


class Room:
    def __init__(self) -> None:
        self.sent: dict[str, list[bytes]] = {}
        self.notes: list[tuple[str, str, dict[str, Any]]] = []
        cert = RTCCertificate.generateCertificate()

        def make(tid: str, link: RouterLink) -> TransportParams:
            out = self.sent.setdefault(tid, [])
            return TransportParams(
                transport_id=tid,
                certificate=cert,
                announced_ip="127.0.0.1",
                port=1,
                rtx_buffer_ms=2000,
                sendto=lambda data, addr: out.append(data),
                send_rtp=lambda data, addr: out.append(data),
                bind_tuple=lambda t, old, new: None,
                notify=lambda target, event, data: self.notes.append((target, event, data)),
                router=link,
                on_close=lambda t: link.on_transport_close(t),
            )

        self.router = Router(RouterParams("r", make, lambda t: None, lambda r: None))

    def transport(self, tid: str) -> WebRtcTransport:
        t = self.router.create_webrtc_transport(tid)
        t.srtp = IdentitySrtp()  # type: ignore[assignment,unused-ignore]
        t.tuple = ("127.0.0.1", 9)
        return t


def with_extensions(data: bytes, elements: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(bytes([(i << 4) | (len(v) - 1)]) + v for i, v in elements)
    body += bytes(-len(body) % 4)
    return (
        bytes([data[0] | 0x10]) + data[1:12] + struct.pack("!HH", 0xBEDE, len(body) // 4) + body + data[12:]
    )


def rtcp_of(packets: list[bytes]) -> list[Any]:
    return [item for p in packets if 192 <= p[1] <= 223 for item in rtcp.parse(p)]


def test_rid_encodings_learn_their_ssrcs_and_a_consumer_switches_between_them() -> None:
    room = Room()
    pub = room.transport("pub")
    sub = room.transport("sub")
    m = sdp.parse_offer(offer()).media[0]
    top = pub.produce("v", produce_params("v", m))
    assert [p.params.rid for p in top.layers] == ["q", "h", "f"]
    assert all(p.params.ssrc == 0 for p in top.layers)
    consumer = sub.consume("c", "v", {"consumerId": "c", "ssrc": 5555, "payloadType": 100, "spatialLayer": 0})
    assert isinstance(consumer, SimulcastConsumer)

    rnd = random.Random(7)
    bases = layer_bases(rnd)
    # every encoding sends a key frame every 30 pictures, offset so they never coincide
    keyframes = [set(range(10 * i + 5, 400, 30)) for i in range(3)]
    packets = simulcast_packets(300, keyframes, bases)
    rids = [b"q", b"h", b"f"]
    now = 1000.0
    out = room.sent["sub"]
    switch_at = {100: 2, 200: 0}
    for pkt in packets:
        if pkt.layer == 0 and pkt.frame in switch_at:
            consumer.set_preferred_layers(switch_at.pop(pkt.frame))
        data = pkt.data
        if pkt.frame < 3:  # browsers tag the first packets with mid and rid
            data = with_extensions(data, [(MID_EXT, b"0"), (RID_EXT, rids[pkt.layer])])
        now += 0.011
        pub.receive_srtp(data, now)
    # SSRCs learned from the rid extension
    assert [p.params.ssrc for p in top.layers] == [b.ssrc for b in bases]
    media = [p for p in out if not 192 <= p[1] <= 223]
    assert {int.from_bytes(p[8:12], "big") for p in media} == {5555}
    seqs = [int.from_bytes(p[2:4], "big") for p in media]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs)), "gap or jump"
    tss = [int.from_bytes(p[4:8], "big") for p in media]
    assert all(((b - a) & 0xFFFFFFFF) < 0x80000000 for a, b in itertools.pairwise(tss))
    pids: list[int] = []
    for p in media:
        d = parse_descriptor(p, header_length(p))
        if not pids or pids[-1] != d.picture_id:
            pids.append(d.picture_id)
    assert all((b - a) & 0x7FFF == 1 for a, b in itertools.pairwise(pids))
    # small first, big from the next big key frame after frame 100, small again after frame 200
    assert consumer.rewriter.switches == 2
    assert consumer.rewriter.current_spatial == 0
    # the switch asked the big encoding for a key frame (PLI to its SSRC)
    plis = [i for i in rtcp_of(room.sent["pub"]) if isinstance(i, rtcp.Pli)]
    assert bases[2].ssrc in {p.media_ssrc for p in plis}
    # the producer's stats list the layers; the lower layers are not separate producers outside
    stats = pub.stats()["producers"]
    assert list(stats) == ["v"] and len(stats["v"]["layers"]) == 3


def test_consumer_of_a_simulcast_producer_falls_back_to_an_encoding_that_arrives() -> None:
    room = Room()
    pub = room.transport("pub")
    sub = room.transport("sub")
    encodings = [{"ssrc": 1000 + i, "rid": None} for i in range(2)]
    params = {
        "producerId": "v",
        "kind": "video",
        "mimeType": "video/VP8",
        "clockRate": 90000,
        "payloadType": 96,
        "ssrc": 1001,
        "mid": "0",
        "encodings": encodings,
    }
    top = pub.produce("v", params)
    assert len(top.layers) == 2
    small = sub.consume("s", "v", {"consumerId": "s", "ssrc": 7, "payloadType": 100, "spatialLayer": 0})
    big = sub.consume("b", "v", {"consumerId": "b", "ssrc": 8, "payloadType": 100})
    bases = layer_bases(random.Random(3), 2)
    bases = [b.__class__(1000 + i, b.seq, b.ts, b.picture_id, b.tl0) for i, b in enumerate(bases)]
    now = 10.0
    # only the big encoding arrives (the publisher's browser stopped the small one)
    for pkt in simulcast_packets(120, [set(), set(range(0, 120, 20))], bases, (1, 2)):
        if pkt.layer == 1:
            now += 0.033
            pub.receive_srtp(pkt.data, now)
    assert isinstance(small, SimulcastConsumer) and isinstance(big, SimulcastConsumer)
    assert big.rewriter.current_spatial == 1
    assert small.rewriter.current_spatial == 1  # TRTC: small falls back to big
    # closing the track closes its layers and tells the control plane once
    top.close()
    assert [n for n in room.notes if n[1] == "producerclose" and n[0].startswith("v")] == [
        ("v", "producerclose", {"reason": "closed"})
    ]
    assert not pub.producers


# -- layers within the subscriber's estimate --------------------------------------------------------


def _audio_packet(seq: int, ts: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 111, seq & 0xFFFF, ts & 0xFFFFFFFF, 3000) + bytes(100)


def test_the_subscriber_estimate_moves_a_consumer_down_pauses_video_keeps_audio_and_climbs_back() -> None:
    room = Room()
    pub = room.transport("pub")
    sub = room.transport("sub")
    base = {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000, "payloadType": 96, "mid": "1"}
    pub.produce("v", {**base, "ssrc": 1001, "encodings": [{"ssrc": 1000}, {"ssrc": 1001}]})
    audio = {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "payloadType": 111, "ssrc": 3000}
    pub.produce("a", {**audio, "mid": "0"})
    video = sub.consume("c", "v", {"consumerId": "c", "ssrc": 5555, "payloadType": 100})
    heard = sub.consume("h", "a", {"consumerId": "h", "ssrc": 6666, "payloadType": 111})
    assert isinstance(video, SimulcastConsumer)
    out = room.sent["sub"]

    def link_model(capacity: float) -> int:
        """What a receiver's REMB says: at most 1.5x what it gets, at most the link's capacity (its
        receiver reports show the loss of what goes beyond the capacity)."""
        return int(min(capacity, 1.5 * (video.bitrate + heard.bitrate) + 10_000))

    capacity = 2_000_000.0
    seq = [0, 0, 0]
    frame = 0
    now = 100.0
    seen: list[tuple[float, int, int]] = []  # (time, allowed layer, current layer)
    audio_during_pause = 0
    scanned = 0
    step = 0
    while now < 160.0:
        # 30 fps video: small 1 x 200 B (~50 kbit/s), big 3 x 1000 B (~720 kbit/s); key frames every 1 s
        for layer, (count, size) in enumerate(((1, 200), (3, 1000))):
            for i in range(count):
                data = vp8_packet_sized(
                    1000 + layer, seq[layer], frame, i == 0, frame % 30 == 15 * layer, size
                )
                pub.receive_srtp(data, now)
                seq[layer] += 1
        if frame % 3 == 0:
            for k in range(2):  # 50 audio packets a second
                pub.receive_srtp(_audio_packet(seq[2], seq[2] * 960), now)
                seq[2] += 1
                del k
        frame += 1
        now += 1 / 30
        step += 1
        if step % 3 == 0:
            pub.on_tick(now)
            sub.on_tick(now)
        if step % 30 == 0:
            pub.update_rates(now)
            sub.update_rates(now)
        if step % 15 == 0:
            sent = video.bitrate + heard.bitrate
            lost = max(0.0, 1 - capacity / sent) if sent else 0.0
            block = rtcp.ReportBlock(5555, min(255, int(lost * 256)), 0, 0, 0, 0, 0)
            sub.receive_srtp(
                rtcp.build_rr(9, [block]) + rtcp.build_remb(9, link_model(capacity), [5555]), now
            )
            seen.append((now, sub.allocation.get("c", 99), video.rewriter.current_spatial))
            fresh = [p for p in out[scanned:] if p[1] < 192]
            scanned = len(out)
            if seen[-1][1] == -1:
                audio_during_pause += sum(1 for p in fresh if int.from_bytes(p[8:12], "big") == 6666)
                assert not any(int.from_bytes(p[8:12], "big") == 5555 for p in fresh[-5:])
        if 115.0 <= now < 125.0:
            capacity = 300_000.0
        elif 125.0 <= now < 135.0:
            capacity = 60_000.0  # not even the small layer fits
        elif now >= 135.0:
            capacity = 2_000_000.0

    def at(t: float) -> tuple[int, int]:
        return next((a, c) for time_, a, c in seen if time_ >= t)

    assert at(114.0) == (1, 1)  # big while the link carries it
    assert at(117.0)[0] == 0  # small within 2 s of the drop
    assert at(118.0)[1] == 0
    assert at(126.5)[0] == -1, [
        (round(s[0], 1), s[1], s[2]) for s in seen if 126 < s[0] < 150
    ]  # nothing fits
    assert at(145.0) == (1, 1), [
        (round(s[0]), s[1], s[2]) for s in seen if s[0] > 134
    ]  # back on big within 10 s of the recovery (a trial upgrade)
    assert sub.trials >= 1
    # audio kept flowing through the pause (20 packets a second)
    paused_for = 0.5 * sum(1 for _, a, _ in seen if a == -1)
    assert paused_for >= 2 and audio_during_pause >= 15 * paused_for


def vp8_packet_sized(ssrc: int, seq: int, frame: int, start: bool, key: bool, size: int) -> bytes:
    from tests.media.simulcast_streams import vp8_packet

    return vp8_packet(
        ssrc, seq, frame * 3000, frame & 0x7FFF, frame // 4, 0, False, start, key, True, size=size
    )


def test_a_low_estimate_without_loss_takes_no_layer_away() -> None:
    """A receive-side estimate below what arrives (aiortc's is, on a clean link) changes nothing while
    the subscriber's receiver reports show no loss; with loss it does."""
    room = Room()
    pub = room.transport("pub")
    sub = room.transport("sub")
    base = {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000, "payloadType": 96, "mid": "1"}
    pub.produce("v", {**base, "ssrc": 1001, "encodings": [{"ssrc": 1000}, {"ssrc": 1001}]})
    video = sub.consume("c", "v", {"consumerId": "c", "ssrc": 5555, "payloadType": 100})
    seq = [0, 0]
    now = 10.0
    lossy = False
    layers: list[int] = []
    for frame in range(30 * 12):
        for layer, (count, size) in enumerate(((1, 200), (3, 1000))):
            for i in range(count):
                data = vp8_packet_sized(
                    1000 + layer, seq[layer], frame, i == 0, frame % 30 == 15 * layer, size
                )
                pub.receive_srtp(data, now)
                seq[layer] += 1
        now += 1 / 30
        if frame % 3 == 0:
            pub.on_tick(now)
            sub.on_tick(now)
        if frame % 30 == 0:
            pub.update_rates(now)
            sub.update_rates(now)
        if frame % 15 == 0:
            lossy = frame >= 30 * 8
            block = rtcp.ReportBlock(5555, 40 if lossy else 0, 0, 0, 0, 0, 0)
            sub.receive_srtp(rtcp.build_rr(9, [block]) + rtcp.build_remb(9, 200_000, [5555]), now)
            layers.append(sub.allocation.get("c", 1))
    assert isinstance(video, SimulcastConsumer)
    assert set(layers[: 2 * 8 - 1]) == {1}  # 8 s at an estimate of 200 kbit/s below a 720 kbit/s layer
    assert layers[-1] == 0  # with loss reported, the estimate counts
