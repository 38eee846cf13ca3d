"""One subscriber's downlink throttled to ~300 kbit/s (a drop-tail relay between it and the worker): it
moves to the small layer and keeps decoding, the other subscriber stays on the big one, and once the
throttle is lifted it is back on big within 10 s. Python SDK clients (aiortc) against the real server:
the SDK sends transport-cc feedback (client/transport_cc.py), so B's layer follows the SFU's send-side
estimate of its downlink, and padding probes show when the big layer fits again (docs/quality.md)."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import itertools
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import av
import pytest
from aiortc import MediaStreamTrack
from aiortc.mediastreams import VIDEO_CLOCK_RATE, VIDEO_TIME_BASE

from relayroom.client import RelayRoomClient, RemoteTrack
from tests.control.rooms.fakes import SDKAPPID, usersig
from tests.control.signaling.server import RunningServer
from tests.media.peers import UdpRelay

pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]

BIG = (320, 240)
SMALL = (80, 60)
FPS = 15
NOISY_ROWS = 0.25  # a quarter of the picture is noise: big ~500 kbit/s, small ~90 kbit/s (aiortc VP8)
THROTTLE_BPS = 300_000
QUEUE_S = 0.25
_CANDIDATE = re.compile(r"a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host")


class NoisyVideoTrack(MediaStreamTrack):
    """Grey with noise in the top rows: an encoder cannot squeeze it, so the big layer needs more than
    the throttled link carries and the small one (a quarter of the width) fits."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += VIDEO_CLOCK_RATE // FPS
            wait = self._start + self._pts / VIDEO_CLOCK_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = av.VideoFrame(*BIG, "yuv420p")
        luma = frame.planes[0]
        noisy = int(luma.buffer_size * NOISY_ROWS)
        luma.update(os.urandom(noisy) + bytes([128]) * (luma.buffer_size - noisy))
        for plane in frame.planes[1:]:
            plane.update(bytes([128]) * plane.buffer_size)
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(VIDEO_TIME_BASE.numerator, VIDEO_TIME_BASE.denominator)
        return frame


class ThrottleRelay(UdpRelay):
    """What the worker sends the subscriber goes through a drop-tail bottleneck while ``throttled``:
    ``rate_bps``, and a packet that would wait more than ``queue_s`` in the queue is dropped."""

    def __init__(self, worker_addr: tuple[str, int], rate_bps: float, queue_s: float) -> None:
        super().__init__(worker_addr)
        self.rate_bps = rate_bps
        self.queue_s = queue_s
        self.throttled = False
        self._free_at = 0.0
        self.queue_drops = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.throttled or addr != self.worker_addr or self.client_addr is None:
            super().datagram_received(data, addr)
            return
        now = time.monotonic()
        start = max(now, self._free_at)
        if start - now > self.queue_s:
            self.queue_drops += 1
            return
        self._free_at = start + (len(data) + 28) * 8 / self.rate_bps  # + IPv4/UDP headers
        assert self.transport is not None
        delay = self._free_at - now
        asyncio.get_running_loop().call_later(delay, self.transport.sendto, data, self.client_addr)


@dataclass
class Timeline:
    """Decoded frames of a remote video track, sampled every 50 ms: (time, frames so far, width)."""

    samples: list[tuple[float, int, int | None]] = field(default_factory=list)

    def width_at(self, t: float) -> int | None:
        return next((w for ts, _, w in reversed(self.samples) if ts <= t), None)

    def first(self, after: float, width: int) -> float:
        return next((ts - after for ts, _, w in self.samples if ts >= after and w == width), float("inf"))

    def longest_freeze(self, start: float, end: float) -> float:
        """Longest time between two samples where the frame count grew, within [start, end]."""
        growth = [ts for (ts, n, _), (_, m, _) in zip(self.samples[1:], self.samples, strict=False) if n > m]
        times = [start] + [t for t in growth if start <= t <= end] + [end]
        return max(b - a for a, b in itertools.pairwise(times))


def _width(track: RemoteTrack) -> int | None:
    frame = track.last_frame
    return frame.width if isinstance(frame, av.VideoFrame) else None


async def _subscriber_transports(server: RunningServer) -> list[dict[str, Any]]:
    """What the worker knows of each transport with consumers (estimate, allocation, reports)."""
    dump = await server.media.dump()
    keys = ("estimateBps", "allocation", "trials", "bwe")
    return [
        {
            **{k: t.get(k) for k in keys},
            "consumers": [
                {k: c.get(k) for k in ("kind", "bitrate", "fractionLost", "rembBitrate", "spatialLayer")}
                for c in t["consumers"]
            ],
        }
        for w in dump["workers"]
        for r in w.get("routers", [])
        for t in r["transports"]
        if t["consumerIds"]
    ]


async def _sample(tracks: dict[str, RemoteTrack], timelines: dict[str, Timeline]) -> None:
    while True:
        now = time.monotonic()
        for name, track in tracks.items():
            timelines[name].samples.append((now, track.frames, _width(track)))
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def client(server: RunningServer, user: str) -> AsyncIterator[RelayRoomClient]:
    c = RelayRoomClient(server.url)
    try:
        await c.enter_room(
            sdk_app_id=SDKAPPID, user_id=user, user_sig=usersig(user), room_id=82, auto_receive_video=False
        )
        yield c
    finally:
        await c.close()


def through_relay(c: RelayRoomClient, relays: list[ThrottleRelay]) -> None:
    """Point ``c``'s receive connection at a ThrottleRelay (created on the first offer, which names the
    worker's address) by rewriting the server's host candidate in every offer."""
    apply_offer = c._apply_offer

    async def via_relay(offer: dict[str, Any], session: int) -> str | None:
        if not relays:
            found = _CANDIDATE.search(offer["sdp"])
            assert found is not None, "the offer has a UDP host candidate"
            worker = (found.group(1), int(found.group(2)))
            _, relay = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: ThrottleRelay(worker, THROTTLE_BPS, QUEUE_S), local_addr=("127.0.0.1", 0)
            )
            relays.append(relay)
        return await apply_offer({**offer, "sdp": relays[0].rewrite_sdp(offer["sdp"])}, session)

    c._apply_offer = via_relay  # type: ignore[method-assign]


async def test_a_throttled_subscriber_moves_to_small_and_back_the_other_stays_on_big(
    server: RunningServer,
) -> None:
    relays: list[ThrottleRelay] = []
    async with client(server, "pub") as pub, client(server, "a") as a, client(server, "b") as b:
        through_relay(b, relays)
        # video only: aiortc's Opus takes ~120 kbit/s, which leaves the small layer little room on
        # 300 kbit/s; pausing video and keeping audio is tested in tests/media/test_transport_cc.py
        await pub.publish(video_track=NoisyVideoTrack(), small=SMALL)
        for c in (a, b):
            await c.start_remote_video("pub", small=False)
        tracks = {
            "a": await a.wait_remote_track("pub", "video"),
            "b": await b.wait_remote_track("pub", "video"),
        }
        timelines = {name: Timeline() for name in tracks}
        sampler = asyncio.get_running_loop().create_task(_sample(tracks, timelines))
        try:
            t0 = time.monotonic()
            while not all(_width(t) == BIG[0] for t in tracks.values()):
                assert time.monotonic() - t0 < 30, {n: _width(t) for n, t in tracks.items()}
                await asyncio.sleep(0.1)
            await asyncio.sleep(4)  # estimates settle on a clean link
            relay = relays[0]
            relay.throttled = True
            throttled_at = time.monotonic()
            while timelines["b"].first(throttled_at, SMALL[0]) == float("inf"):
                assert time.monotonic() - throttled_at < 20, (
                    "B never reached the small layer",
                    await _subscriber_transports(server),
                )
                await asyncio.sleep(0.1)
            await asyncio.sleep(8)  # B on the small layer through the throttle
            lifted_at = time.monotonic()
            relay.throttled = False
            while timelines["b"].first(lifted_at, BIG[0]) == float("inf"):
                assert time.monotonic() - lifted_at < 15, "B never got back to the big layer"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1)
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        b_line, a_line = timelines["b"], timelines["a"]
        to_small = b_line.first(throttled_at, SMALL[0])
        on_small = throttled_at + to_small
        freeze = b_line.longest_freeze(on_small, lifted_at)
        switch_freeze = b_line.longest_freeze(throttled_at, on_small + 0.5)
        back = b_line.first(lifted_at, BIG[0])
        a_widths = {w for ts, _, w in a_line.samples if ts >= throttled_at}
        a_freeze = a_line.longest_freeze(throttled_at, lifted_at + back)
        print(
            f"B: small {to_small:.2f} s after the throttle (longest freeze meanwhile {switch_freeze:.2f} s),"
            f" longest freeze on small {freeze:.2f} s, big again {back:.2f} s after the lift;"
            f" A widths {a_widths}, longest freeze {a_freeze:.2f} s; relay dropped {relays[0].queue_drops}"
        )
        assert a_widths == {BIG[0]}  # the other subscriber stays on big
        assert freeze <= 1.0  # B keeps decoding on the small layer
        assert back <= 10.0  # and is back on big within 10 s of the lift
        assert a_freeze <= 1.0
