"""Load shedding (worker.py ``begin_turn``): a worker that finds its socket backlogged drops the video
packets of non-key frames for that loop turn, keeps audio, RTCP and key frames, counts what it shed,
and requests one key frame per producer once the backlog has drained.

The backlog is made exact: the worker process is frozen (SIGSTOP) while the publisher sends a burst
that fits in the socket's receive buffer (no kernel drop, asserted), with a low threshold so that the
turns reading it shed. Not timed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import pylibsrtp
import pytest

from relayroom.media.rtp import rtcp
from relayroom.media.types import MediaParams
from relayroom.media.worker_handle import WorkerHandle
from tests.media.loadgen import FakePeer

pytestmark = pytest.mark.timeout(60)

SUBSCRIBERS = 3
VIDEO_SSRC, AUDIO_SSRC = 1234, 5678
VIDEO_PT, AUDIO_PT = 96, 111
FRAMES = 60  # in the burst: every 10th a key frame; 3 packets per frame, one audio packet per frame
KEY_EVERY = 10
PACKETS_PER_FRAME = 3


class RecordingPeer(FakePeer):
    """A FakePeer that decrypts: forwarded packets by kind and tag, RTCP items received."""

    def __init__(self, worker_port: int) -> None:
        super().__init__(worker_port)
        self.media: list[tuple[int, bytes]] = []  # (ssrc, tag)
        self.rtcp_items: list[Any] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        b0 = data[0]
        if 127 < b0 < 192 and self.srtp is not None:
            try:
                if 192 <= data[1] <= 223:
                    self.rtcp_items += rtcp.parse(self.srtp.rx.unprotect_rtcp(data))
                    return
                plain = self.srtp.rx.unprotect(data)
            except pylibsrtp.Error:
                return
            ssrc = int.from_bytes(plain[8:12], "big")
            self.media.append((ssrc, plain[12 + 5 : 12 + 6]))
            self.received += 1
            return
        super().datagram_received(data, addr)

    def send_rtcp(self, data: bytes) -> None:
        assert self.srtp is not None
        self._send(self.srtp.tx.protect_rtcp(data))

    def plis(self) -> int:
        return sum(1 for item in self.rtcp_items if isinstance(item, rtcp.Pli))


def vp8(first: bool, key: bool, tag: bytes) -> bytes:
    """VP8 payload descriptor (S bit on a frame's first packet), key/inter frame header, our tag."""
    if first:
        head = b"\x10\x00\x9d\x01\x2a" if key else b"\x10\x01\x9d\x01\x2a"
    else:
        head = b"\x00\x00\x00\x00\x00"
    return head + tag + bytes(300)


async def open_recording_peer(worker: WorkerHandle, router_id: str) -> tuple[RecordingPeer, str]:
    loop = asyncio.get_running_loop()
    tid = secrets.token_hex(8)
    params = await worker.request("router.createWebRtcTransport", router_id, {"transportId": tid})
    _, peer = await loop.create_datagram_endpoint(
        lambda: RecordingPeer(worker.port), local_addr=("127.0.0.1", 0)
    )
    await worker.request("transport.connect", tid, {"dtlsParameters": peer.dtls_parameters()})
    await peer.connect(params)
    return peer, tid


@pytest.fixture
async def worker() -> AsyncIterator[WorkerHandle]:
    # a 4 KiB mark: any backlog of a few datagrams sheds
    params = MediaParams(workers=1, loopback_only=True, shed_queue_bytes=4096)
    w = WorkerHandle(0, params, lambda *a: None, lambda w: None)
    await w.start()
    try:
        yield w
    finally:
        await w.close()


async def room(worker: WorkerHandle) -> tuple[RecordingPeer, list[tuple[RecordingPeer, int]]]:
    router_id = secrets.token_hex(8)
    await worker.request("worker.createRouter", None, {"routerId": router_id})
    pub, pub_tid = await open_recording_peer(worker, router_id)
    for kind, mime, rate, pt, ssrc in (
        ("video", "video/VP8", 90000, VIDEO_PT, VIDEO_SSRC),
        ("audio", "audio/opus", 48000, AUDIO_PT, AUDIO_SSRC),
    ):
        await worker.request(
            "transport.produce",
            pub_tid,
            {
                "producerId": kind,
                "kind": kind,
                "mimeType": mime,
                "clockRate": rate,
                "payloadType": pt,
                "ssrc": ssrc,
                "mid": kind,
            },
        )
    subs = []
    for i in range(SUBSCRIBERS):
        sub, tid = await open_recording_peer(worker, router_id)
        for kind, ssrc, pt in (("video", 5000 + i, 100), ("audio", 6000 + i, 101)):
            await worker.request(
                "transport.consume",
                tid,
                {"consumerId": f"{kind}{i}", "producerId": kind, "ssrc": ssrc, "payloadType": pt},
            )
        subs.append((sub, i))
    return pub, subs


async def video_flowing(pub: RecordingPeer, subs: list[tuple[RecordingPeer, int]]) -> tuple[int, int]:
    """Key frames until every subscriber forwards video (consumers start at a key frame); returns the
    next sequence number and timestamp."""
    seq = ts = 0
    deadline = time.monotonic() + 10
    while not all(any(s == 5000 + i for s, _ in sub.media) for sub, i in subs):
        assert time.monotonic() < deadline, "no video reached the subscribers"
        pub.send_rtp(VIDEO_PT, seq, ts, VIDEO_SSRC, vp8(True, True, b"w"), marker=True)
        seq, ts = seq + 1, ts + 3000
        await asyncio.sleep(0.02)
    return seq, ts


async def test_a_backlog_sheds_only_non_key_video_and_asks_one_key_frame_once_drained(
    worker: WorkerHandle,
) -> None:
    pub, subs = await room(worker)
    seq, ts = await video_flowing(pub, subs)
    await asyncio.sleep(1.0)  # the key frame requests of joining consumers are all sent by now
    for sub, _ in subs:
        sub.media.clear()
    plis_before = pub.plis()
    metrics0 = await worker.request("worker.metrics")
    dump0 = await worker.request("worker.dump")

    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGSTOP)
    sent = {"key": 0, "delta": 0, "audio": 0}
    try:
        for frame in range(FRAMES):
            key = frame % KEY_EVERY == 0
            for p in range(PACKETS_PER_FRAME):
                tag = b"K" if key else b"D"
                last = p == PACKETS_PER_FRAME - 1
                pub.send_rtp(VIDEO_PT, seq, ts, VIDEO_SSRC, vp8(p == 0, key, tag), marker=last)
                seq += 1
                sent["key" if key else "delta"] += 1
            pub.send_rtp(AUDIO_PT, frame, frame * 960, AUDIO_SSRC, b"\x00" * 5 + b"A" + bytes(60))
            sent["audio"] += 1
            ts += 3000
        # RTCP in the same backlog: a receiver report from the first subscriber about its video
        sub0, _ = subs[0]
        block = rtcp.ReportBlock(5000, 0, 77, 0, 0, 0, 0)
        sub0.send_rtcp(rtcp.build_rr(0xABCDEF, [block]))
        await asyncio.sleep(0.2)
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    # the backlog drains; the next datagram finds the queue empty and triggers the key frame request
    deadline = time.monotonic() + 10
    while (await worker.request("worker.dump"))["udpRecvQueued"] > 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    for n in range(5):  # audio keeps flowing after the backlog
        pub.send_rtp(AUDIO_PT, FRAMES + n, (FRAMES + n) * 960, AUDIO_SSRC, b"\x00" * 5 + b"a" + bytes(60))
        await asyncio.sleep(0.05)
    deadline = time.monotonic() + 5
    while pub.plis() == plis_before:
        assert time.monotonic() < deadline, "no key frame requested after the backlog drained"
        await asyncio.sleep(0.05)
    # the publisher answers with a key frame, as a real one does (else the producer asks again after 1 s)
    pub.send_rtp(VIDEO_PT, seq, ts, VIDEO_SSRC, vp8(True, True, b"k"), marker=True)
    await asyncio.sleep(1.5)  # and only one

    dump = await worker.request("worker.dump")
    metrics = await worker.request("worker.metrics")
    assert dump["udpRecvDrops"] == dump0["udpRecvDrops"], "the burst must fit the buffer for this test"
    shed = metrics["shedPackets"] - metrics0["shedPackets"]
    assert shed > 0 and metrics["shedTurns"] > metrics0["shedTurns"]
    assert metrics["shedKeyframeRequests"] - metrics0["shedKeyframeRequests"] == 1
    assert pub.plis() - plis_before == 1
    for sub, i in subs:
        video = [tag for s, tag in sub.media if s == 5000 + i]
        audio = [tag for s, tag in sub.media if s == 6000 + i]
        assert audio.count(b"A") == sent["audio"]  # all audio of the backlog, none shed
        assert video.count(b"K") == sent["key"]  # whole key frames
        # what was not forwarded was shed (and counted once, at the input)
        assert sent["delta"] - video.count(b"D") == shed
    stats = await worker.request("router.stats", dump["routerIds"][0])
    consumer = next(t["consumers"]["video0"] for t in stats.values() if "video0" in t["consumers"])
    assert consumer["packetsLost"] == 77  # the RTCP in the backlog went through
    for peer in (pub, *(s for s, _ in subs)):
        assert peer.transport is not None
        peer.transport.close()


async def test_shedding_off_forwards_everything() -> None:
    params = MediaParams(workers=1, loopback_only=True, load_shedding=False, shed_queue_bytes=1)
    w = WorkerHandle(0, params, lambda *a: None, lambda w: None)
    await w.start()
    try:
        pub, subs = await room(w)
        seq, ts = await video_flowing(pub, subs)
        for sub, _ in subs:
            sub.media.clear()
        assert w.pid is not None
        os.kill(w.pid, signal.SIGSTOP)
        try:
            for _ in range(40):
                pub.send_rtp(VIDEO_PT, seq, ts, VIDEO_SSRC, vp8(True, False, b"D"), marker=True)
                seq, ts = seq + 1, ts + 3000
            await asyncio.sleep(0.2)
        finally:
            os.kill(w.pid, signal.SIGCONT)
        deadline = time.monotonic() + 10
        while not all(sum(1 for s, t in sub.media if t == b"D") == 40 for sub, _ in subs):
            assert time.monotonic() < deadline, "shedding off must forward the whole backlog"
            await asyncio.sleep(0.05)
        metrics = await w.request("worker.metrics")
        assert metrics["shedPackets"] == 0 and metrics["shedTurns"] == 0
        for peer in (pub, *(s for s, _ in subs)):
            assert peer.transport is not None
            peer.transport.close()
    finally:
        await w.close()
