"""Real aiortc peers for media integration tests (loopback only, no numpy)."""

from __future__ import annotations

import array
import asyncio
import contextlib
import fractions
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import AUDIO_PTIME, VIDEO_CLOCK_RATE, VIDEO_TIME_BASE

from relayroom.media.service import MediaService

# YUV of the colours we paint (BT.601 limited range): red, green, blue-ish.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (81, 90, 240),
    "green": (145, 54, 34),
    "blue": (41, 240, 110),
    "yellow": (210, 16, 146),
}


def client_config() -> RTCConfiguration:
    """No STUN servers (offline), and max-bundle.

    aiortc's default BALANCED policy mis-bundles a server offer with two m-lines of one kind when the
    first of that kind is not the first m-line: the second one stays on a discarded transport and
    never receives. MAX_BUNDLE puts every new transceiver on the first transceiver's transport.
    """
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


@contextlib.contextmanager
def loopback_ice() -> Iterator[None]:
    """aioice excludes 127.0.0.1 from host candidates: make aiortc gather on loopback only."""
    with mock.patch("aioice.ice.get_host_addresses", return_value=["127.0.0.1"]):
        yield


class ColourVideoTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, colour: str, width: int = 160, height: int = 120, fps: int = 15) -> None:
        super().__init__()
        self._y, self._u, self._v = COLOURS[colour]
        self._w, self._h = width, height
        self._fps = fps
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.time()
        else:
            self._pts += int(VIDEO_CLOCK_RATE / self._fps)
            wait = self._start + self._pts / VIDEO_CLOCK_RATE - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = av.VideoFrame(self._w, self._h, "yuv420p")
        for plane, value in zip(frame.planes, (self._y, self._u, self._v), strict=True):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts = self._pts
        frame.time_base = VIDEO_TIME_BASE
        return frame


class SineAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, freq: float = 440.0) -> None:
        super().__init__()
        self._freq = freq
        self._start: float | None = None
        self._pts = 0
        self._rate = 48000
        self._samples = int(AUDIO_PTIME * self._rate)

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.time()
        else:
            self._pts += self._samples
            wait = self._start + self._pts / self._rate - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        samples = array.array(
            "h",
            (
                int(8000 * math.sin(2 * math.pi * self._freq * (self._pts + i) / self._rate))
                for i in range(self._samples)
            ),
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=self._samples)
        frame.planes[0].update(samples.tobytes())
        frame.pts = self._pts
        frame.sample_rate = self._rate
        frame.time_base = fractions.Fraction(1, self._rate)
        return frame


def frame_yuv(frame: av.VideoFrame) -> tuple[int, int, int]:
    """Median-ish sample of each plane of a decoded frame."""
    out = []
    for plane in frame.planes[:3]:
        data = bytes(plane)
        sample = sorted(data[:: max(1, len(data) // 64)])
        out.append(sample[len(sample) // 2])
    return out[0], out[1], out[2]


def audio_energy(frame: av.AudioFrame) -> float:
    data = array.array("h", bytes(frame.planes[0]))
    if not data:
        return 0.0
    return sum(abs(s) for s in data) / len(data)


def close_colour(yuv: tuple[int, int, int], colour: str, tol: int = 20) -> bool:
    ref = COLOURS[colour]
    return all(abs(a - b) <= tol for a, b in zip(yuv, ref, strict=True))


async def publish(
    svc: MediaService, router_id: str, user: str, colour: str | None = "red", audio: bool = True
) -> tuple[RTCPeerConnection, list[str]]:
    pc = RTCPeerConnection(client_config())
    if audio:
        pc.addTransceiver(SineAudioTrack(), direction="sendonly")
    if colour:
        pc.addTransceiver(ColourVideoTrack(colour), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    result = await svc.publish(router_id, user, pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(result.answer_sdp, "answer"))
    return pc, [p.producer_id for p in result.producers]


@dataclass
class Subscriber:
    user: str
    pc: RTCPeerConnection
    video_frames: list[tuple[float, str, tuple[int, int, int]]] = field(default_factory=list)
    audio_frames: list[tuple[float, str, float]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    first_frame: dict[str, float] = field(default_factory=dict)

    def on_track(self, track: MediaStreamTrack) -> None:
        self.tasks.append(asyncio.get_running_loop().create_task(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(Exception):
            while True:
                frame: Any = await track.recv()
                now = time.monotonic()
                self.first_frame.setdefault(track.id, now)
                if track.kind == "video":
                    self.video_frames.append((now, track.id, frame_yuv(frame)))
                else:
                    self.audio_frames.append((now, track.id, audio_energy(frame)))

    def colours_since(self, t0: float) -> list[tuple[int, int, int]]:
        return [c for t, _, c in self.video_frames if t >= t0]

    async def close(self) -> None:
        await self.pc.close()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def subscribe(
    svc: MediaService, router_id: str, user: str, producer_ids: list[str], sub: Subscriber | None = None
) -> Subscriber:
    if sub is None:
        sub = Subscriber(user, RTCPeerConnection(client_config()))
        sub.pc.on("track", sub.on_track)
    offer = (await svc.subscribe(router_id, user, producer_ids)).offer_sdp
    await apply_offer(svc, router_id, sub, offer)
    return sub


async def apply_offer(svc: MediaService, router_id: str, sub: Subscriber, offer: str) -> None:
    await sub.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    await sub.pc.setLocalDescription(await sub.pc.createAnswer())
    await svc.set_subscriber_answer(router_id, sub.user, sub.pc.localDescription.sdp)


class UdpRelay(asyncio.DatagramProtocol):
    """A 127.0.0.1 UDP relay between one client and the worker, with optional loss and injection.

    The client is pointed at the relay by rewriting the candidate port in the SDP it receives; the
    worker then sees the relay's address as the client's 5-tuple.
    """

    def __init__(self, worker_addr: tuple[str, int], drop_every: int = 0, min_drop_size: int = 0) -> None:
        self.worker_addr = worker_addr
        self.drop_every = drop_every  # drop 1 in N worker->client SRTP packets larger than min_drop_size
        self.min_drop_size = min_drop_size
        self.blackhole = False
        self.client_addr: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.dropped = 0
        self._count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        if self.blackhole:
            return
        if addr == self.worker_addr:
            if self.client_addr is None:
                return
            is_rtp = 127 < data[0] < 192 and not 192 <= data[1] <= 223
            if self.drop_every and is_rtp and len(data) > self.min_drop_size:
                self._count += 1
                if self._count % self.drop_every == 0:
                    self.dropped += 1
                    return
            self.transport.sendto(data, self.client_addr)
        else:
            self.client_addr = addr
            self.transport.sendto(data, self.worker_addr)

    def inject(self, data: bytes) -> None:
        """Send bytes to the worker from the client's bound 5-tuple."""
        assert self.transport is not None
        self.transport.sendto(data, self.worker_addr)

    def rewrite_sdp(self, sdp: str) -> str:
        host, port = self.worker_addr
        return sdp.replace(f" {host} {port} typ host", f" 127.0.0.1 {self.port} typ host")


async def start_relay(worker_port: int, drop_every: int = 0) -> UdpRelay:
    loop = asyncio.get_running_loop()
    _, relay = await loop.create_datagram_endpoint(
        lambda: UdpRelay(("127.0.0.1", worker_port), drop_every), local_addr=("127.0.0.1", 0)
    )
    return relay


async def subscribe_via_relay(
    svc: MediaService, router_id: str, user: str, producer_ids: list[str], relay: UdpRelay
) -> Subscriber:
    sub = Subscriber(user, RTCPeerConnection(client_config()))
    sub.pc.on("track", sub.on_track)
    offer = (await svc.subscribe(router_id, user, producer_ids)).offer_sdp
    await apply_offer(svc, router_id, sub, relay.rewrite_sdp(offer))
    return sub
