"""Transport-cc towards a subscriber, through the worker's objects in simulated time: every packet the
subscriber transport sends carries our transport-wide sequence number; a drop-tail bottleneck delivers
them; a receiver (the real TwccRecorder) answers with transport-cc feedback, and the transport's
send-side estimator moves the subscriber's simulcast layer: big while the link carries it, small
within 2 s of a drop to 300 kbit/s, video paused (audio kept) when not even the small layer fits,
big again within 10 s once the link recovers (padding probes on the RTX stream show the room).

The subscriber offer and the answers of Chromium-like and aiortc subscribers: transport-cc is
enabled only when the answer keeps it."""

from __future__ import annotations

import heapq
import itertools
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription

from relayroom.media import sdp
from relayroom.media.rtp import rtcp
from relayroom.media.rtp.header import EXT_TRANSPORT_CC
from relayroom.media.rtp.twcc import TWCC_URI, TwccRecorder, find_extension
from relayroom.media.simulcast_consumer import SimulcastConsumer
from relayroom.media.webrtc_transport import WebRtcTransport
from tests.media.test_simulcast import Room, rtcp_of, vp8_packet_sized, with_extensions

PUB_TWCC = 3  # the publisher's own transport-cc id (remapped to ours by the producer)
SMALL, BIG, AUDIO = 1000, 1001, 3000
VIDEO_OUT, RTX_OUT, AUDIO_OUT = 5555, 5556, 6666


@dataclass
class Link:
    """A drop-tail bottleneck: capacity (bit/s) by time, one-way delay, queue limit."""

    capacity: Callable[[float], float]
    one_way_s: float = 0.02
    queue_s: float = 0.25
    free_at: float = 0.0
    arrivals: list[tuple[float, int, int, int]] = field(default_factory=list)  # (t, twcc seq, ssrc, len)
    dropped: int = 0
    origin: float = 0.0  # capacity(t) counts from here

    def send(self, now: float, packet: bytes) -> None:
        pos = find_extension(packet, EXT_TRANSPORT_CC)
        assert pos > 0, "every packet to the subscriber carries transport-cc"
        seq = (packet[pos] << 8) | packet[pos + 1]
        start = max(now, self.free_at)
        if start - now > self.queue_s:
            self.dropped += 1
            return
        self.free_at = start + len(packet) * 8 / self.capacity(now - self.origin)
        ssrc = int.from_bytes(packet[8:12], "big")
        heapq.heappush(self.arrivals, (self.free_at + self.one_way_s, seq, ssrc, len(packet)))


class Clock:
    """Simulated time and the transport's timer (probe pacing)."""

    def __init__(self, now: float) -> None:
        self.now = now
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._tiebreak = itertools.count()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Any:
        entry = (self.now + delay, next(self._tiebreak), callback)
        heapq.heappush(self._timers, entry)
        return _Handle(self._timers, entry)

    def run_due(self) -> None:
        while self._timers and self._timers[0][0] <= self.now:
            heapq.heappop(self._timers)[2]()


class _Handle:
    def __init__(self, timers: list[Any], entry: Any) -> None:
        self._timers, self._entry = timers, entry

    def cancel(self) -> None:
        if self._entry in self._timers:
            self._timers.remove(self._entry)
            heapq.heapify(self._timers)


def _publisher_packet(data: bytes, twcc_seq: int) -> bytes:
    return with_extensions(data, [(PUB_TWCC, struct.pack("!H", twcc_seq & 0xFFFF))])


def _audio(seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 111, seq & 0xFFFF, (seq * 960) & 0xFFFFFFFF, AUDIO) + bytes(100)


def _room() -> tuple[WebRtcTransport, WebRtcTransport, SimulcastConsumer, list[bytes], Clock, list[bytes]]:
    room = Room()
    pub = room.transport("pub")
    sub = room.transport("sub")
    ext = {"headerExtensions": [[PUB_TWCC, TWCC_URI]]}
    video = {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000, "payloadType": 96, "mid": "1"}
    pub.produce("v", {**video, **ext, "ssrc": BIG, "encodings": [{"ssrc": SMALL}, {"ssrc": BIG}]})
    audio = {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "payloadType": 111, "mid": "0"}
    pub.produce("a", {**audio, **ext, "ssrc": AUDIO})
    # Simulated time starts at the real monotonic clock: the producer stamps consumers' key frame
    # requests with it (its 500 ms window), and its deferred requests go out on our ticks.
    clock = Clock(time.monotonic())
    sub.clock = lambda: clock.now
    sub.call_later = clock.call_later
    sub.enable_transport_cc(EXT_TRANSPORT_CC)
    consumer = sub.consume(
        "c",
        "v",
        {"ssrc": VIDEO_OUT, "payloadType": 100, "rtxSsrc": RTX_OUT, "rtxPayloadType": 101},
    )
    sub.consume("h", "a", {"ssrc": AUDIO_OUT, "payloadType": 111})
    assert isinstance(consumer, SimulcastConsumer)
    return pub, sub, consumer, room.sent["sub"], clock, room.sent["pub"]


@dataclass
class Seen:
    t: float
    allowed: int
    current: int
    estimate: float


def _run(
    capacity: Callable[[float], float], duration_s: float
) -> tuple[list[Seen], dict[int, list[float]], WebRtcTransport]:
    pub, sub, consumer, out, clock, to_publisher = _room()
    link = Link(capacity, origin=clock.now)
    keyframe_asked = [False, False]
    pli_scanned = 0
    recorder = TwccRecorder()
    feedback: list[tuple[float, int, bytes]] = []
    fb_order = itertools.count()
    received: dict[int, list[float]] = {VIDEO_OUT: [], RTX_OUT: [], AUDIO_OUT: []}
    seen: list[Seen] = []
    seq = [0, 0, 0]
    pub_twcc = 0
    scanned = 0
    start = clock.now
    frame = 0
    ms = 0
    while ms < duration_s * 1000:
        now = clock.now = start + ms / 1000
        t = now - start
        for item in rtcp_of(to_publisher[pli_scanned:]):  # the publisher answers PLI with a key frame
            if isinstance(item, rtcp.Pli) and item.media_ssrc in (SMALL, BIG):
                keyframe_asked[item.media_ssrc - SMALL] = True
        pli_scanned = len(to_publisher)
        if ms % 33 == 0:  # 30 fps: small 1 x 600 B (~150 kbit/s), big 5 x 1000 B (~1.2 Mbit/s)
            for layer, (count, size) in enumerate(((1, 600), (5, 1000))):
                key = frame % 90 == 45 * layer or keyframe_asked[layer]  # every 3 s, or when asked
                keyframe_asked[layer] = False
                for i in range(count):
                    data = vp8_packet_sized(SMALL + layer, seq[layer], frame, i == 0, key and i == 0, size)
                    pub.receive_srtp(_publisher_packet(data, pub_twcc), now)
                    pub_twcc += 1
                    seq[layer] += 1
            frame += 1
        if ms % 20 == 0:  # 50 audio packets a second
            pub.receive_srtp(_publisher_packet(_audio(seq[2]), pub_twcc), now)
            pub_twcc += 1
            seq[2] += 1
        clock.run_due()  # probe steps
        for packet in out[scanned:]:
            if not 192 <= packet[1] <= 223:  # RTP (RTCP is not stamped)
                link.send(now, packet)
        scanned = len(out)
        while link.arrivals and link.arrivals[0][0] <= now:
            arrival, twcc_seq, ssrc, _size = heapq.heappop(link.arrivals)
            recorder.record(twcc_seq, int(arrival * 1_000_000))
            received.setdefault(ssrc, []).append(t)
        if ms % 50 == 0:
            for fb in recorder.feedback(9, VIDEO_OUT):
                heapq.heappush(feedback, (now + link.one_way_s, next(fb_order), fb))
        while feedback and feedback[0][0] <= now:
            sub.receive_srtp(heapq.heappop(feedback)[2], now)
        if ms % 100 == 0:
            pub.on_tick(now)
            sub.on_tick(now)
            seen.append(
                Seen(t, sub.allocation.get("c", 99), consumer.rewriter.current_spatial, sub.bwe.target_bps)  # type: ignore[union-attr]
            )
        if ms % 1000 == 0:
            pub.update_rates(now)
            sub.update_rates(now)
        ms += 1
    return seen, received, sub


def step(*points: tuple[float, float]) -> Callable[[float], float]:
    def capacity(t: float) -> float:
        bps = points[0][1]
        for start, value in points:
            if t >= start:
                bps = value
        return bps

    return capacity


def _first(seen: list[Seen], after: float, cond: Callable[[Seen], bool]) -> float:
    return next((s.t - after for s in seen if s.t >= after and cond(s)), float("inf"))


def test_the_send_side_estimate_moves_a_subscriber_down_a_layer_pauses_video_and_climbs_back() -> None:
    seen, received, sub = _run(
        step((0, 2_000_000), (10, 300_000), (20, 60_000), (26, 2_000_000)), duration_s=38.0
    )
    trace = [(round(s.t, 1), s.allowed, s.current, int(s.estimate)) for s in seen]
    assert all(s.current == 1 for s in seen if 4 <= s.t < 10), trace  # big while the link carries it
    assert _first(seen, 10, lambda s: s.current == 0) <= 2.0, trace  # small within 2 s of the drop
    assert all(s.current == 0 for s in seen if 12.5 <= s.t < 20), trace  # and stays: never paused
    assert _first(seen, 20, lambda s: s.allowed == -1) <= 2.0, trace  # nothing fits: video paused
    # audio kept through the pause (50 packets a second), video stopped
    paused = [s.t for s in seen if s.allowed == -1]
    assert len(paused) >= 20
    mid = (paused[0] + 1, paused[-1])
    assert sum(1 for t in received[AUDIO_OUT] if mid[0] <= t < mid[1]) >= 40 * (mid[1] - mid[0])
    assert not [t for t in received[VIDEO_OUT] if mid[0] + 0.5 <= t < mid[1]]
    assert _first(seen, 26, lambda s: s.current == 1) <= 10.0, trace  # big again within 10 s
    dump = sub.dump()["bwe"]
    assert dump["probeResults"] >= 2 and dump["probesSent"] >= 2 and dump["feedbackErrors"] == 0
    assert received[RTX_OUT], "probes are padding on the RTX stream"


def test_every_packet_to_the_subscriber_gets_the_next_transport_wide_sequence_number() -> None:
    pub, _sub, _consumer, out, clock, _ = _room()
    numbers: list[int] = []
    for i in range(200):
        clock.now = 100.0 + i / 100
        pub.receive_srtp(_publisher_packet(_audio(i), 40000 + 7 * i), clock.now)
    for packet in out:
        if not 192 <= packet[1] <= 223:
            pos = find_extension(packet, EXT_TRANSPORT_CC)
            numbers.append((packet[pos] << 8) | packet[pos + 1])
    assert numbers == list(range(len(numbers))) and len(numbers) == 200  # ours, not the publisher's


ANSWER_FROM_OFFER = {"a=sendonly": "a=recvonly", "a=setup:actpass": "a=setup:active"}


def _subscriber_offer() -> str:
    codec_v = sdp.CodecInfo("video/VP8", 90000, None, 96, 97)
    codec_a = sdp.CodecInfo("audio/opus", 48000, 2, 111, None)
    local = sdp.LocalTransport("srvufrag", "srvpassword0123456789abcdef", "AB:" * 31 + "CD", "127.0.0.1", 4)
    mlines = [
        sdp.SubscriberMLine("0", "audio", codec_a, 111, None, 11, None, "alice", "a"),
        sdp.SubscriberMLine("1", "video", codec_v, 96, 97, 12, 13, "alice", "v"),
    ]
    return sdp.build_subscriber_offer(mlines, local, 9, 1)


def test_the_subscriber_offer_carries_transport_cc_and_an_answer_that_keeps_it_enables_it() -> None:
    offer = _subscriber_offer()
    assert offer.count(f"a=extmap:{EXT_TRANSPORT_CC} {TWCC_URI}") == 2
    assert "a=rtcp-fb:96 transport-cc" in offer and "a=rtcp-fb:111 transport-cc" in offer
    assert "a=rtcp-fb:96 goog-remb" in offer  # for subscribers without transport-cc
    answer = offer
    for old, new in ANSWER_FROM_OFFER.items():
        answer = answer.replace(old, new)
    assert sdp.parse_answer(answer).transport_cc_ext == EXT_TRANSPORT_CC
    without = answer.replace(f"a=extmap:{EXT_TRANSPORT_CC} {TWCC_URI}\r\n", "")
    assert sdp.parse_answer(without).transport_cc_ext == 0


async def test_aiortc_answers_without_transport_cc_so_its_remb_keeps_steering() -> None:
    pc = RTCPeerConnection()
    try:
        await pc.setRemoteDescription(RTCSessionDescription(_subscriber_offer(), "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        assert sdp.parse_answer(pc.localDescription.sdp).transport_cc_ext == 0
    finally:
        await pc.close()
