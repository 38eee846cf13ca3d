"""A worker that falls behind drops input instead of queueing it for seconds (docs/performance.md,
"Next wins" 1), and closing a large room leaves nothing behind for the next one on the same worker.

The worker runs in its own process (WorkerHandle) so the test can freeze it with SIGSTOP: that is the
CPU starvation of the bench's stalled steps (the server core shared with another server) made exact.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from relayroom.media.types import MediaParams
from relayroom.media.worker_handle import WorkerHandle
from tests.media.loadgen import FakePeer, build_room, vp8_payload

pytestmark = pytest.mark.timeout(40)

SUBSCRIBERS = 20
BACKLOG_PACKETS = 2000  # ~2.5 MB of 1200-byte RTP, ~4.6 MB of kernel memory: fits an 8 MiB buffer
PAYLOAD = 1200


@pytest.fixture
async def worker() -> AsyncIterator[WorkerHandle]:
    w = WorkerHandle(0, MediaParams(workers=1, loopback_only=True), lambda *a: None, lambda w: None)
    await w.start()
    try:
        yield w
    finally:
        await w.close()


def _producer(dump: dict[str, Any]) -> dict[str, Any]:
    producers = [p for t in dump["transports"] for p in t["producers"]]
    assert len(producers) == 1
    producer: dict[str, Any] = producers[0]
    return producer


async def _key_frames_reach_everyone(pub: FakePeer, subs: list[FakePeer], seq: int, within: float) -> int:
    """Send a key frame every 20 ms until every subscriber got a packet after now; returns next seq."""
    base = [s.received for s in subs]
    deadline = time.monotonic() + within
    while not all(s.received > b for s, b in zip(subs, base, strict=True)):
        assert time.monotonic() < deadline, "subscribers got no fresh media"
        pub.send_rtp(96, seq, 3000 * seq, 1234, vp8_payload(PAYLOAD, key=True), marker=True)
        seq += 1
        await asyncio.sleep(0.02)
    return seq


async def test_closed_room_leaves_no_state_and_a_stalled_worker_drops_instead_of_queueing(
    worker: WorkerHandle,
) -> None:
    # A room, forwarding, then router.close: no transport, tuple or ufrag of it survives.
    pub, subs = await build_room(worker, SUBSCRIBERS)
    await _key_frames_reach_everyone(pub, subs, 0, within=5)
    (router_id,) = (await worker.request("worker.dump"))["routerIds"]
    await worker.request("router.close", router_id)
    dump = await worker.request("worker.dump")
    assert (dump["routerIds"], dump["tuples"], dump["ufrags"]) == ([], 0, 0)
    for peer in (pub, *subs):
        assert peer.transport is not None
        peer.transport.close()

    # The next room on the same worker: everyone connects quickly and gets media.
    t0 = time.monotonic()
    pub, subs = await build_room(worker, SUBSCRIBERS)
    assert time.monotonic() - t0 < 15
    seq = await _key_frames_reach_everyone(pub, subs, 0, within=5)
    dump = await worker.request("worker.dump")
    assert (dump["tuples"], dump["ufrags"]) == (SUBSCRIBERS + 1, SUBSCRIBERS + 1)
    assert 0 < dump["udpRecvBuffer"] <= 1024 * 1024
    (router_id,) = dump["routerIds"]
    before = _producer(await worker.request("router.dump", router_id))["packets"]
    drops_before = dump["udpRecvDrops"]

    # Starve the worker (no CPU at all) while the publisher keeps sending: the kernel buffers what
    # fits in the socket's receive buffer. That backlog is what the worker forwards, stale, when it
    # runs again; with the old 4 MiB (8 MiB effective) buffer it was all of it.
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        for i in range(BACKLOG_PACKETS):
            pub.send_rtp(96, seq, 3000 * seq, 1234, vp8_payload(PAYLOAD, key=False), marker=True)
            seq += 1
            if i % 100 == 99:
                await asyncio.sleep(0)
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    # Once the worker has read everything the kernel kept for it: how much of the burst got in.
    deadline = time.monotonic() + 10
    while (dump := await worker.request("worker.dump"))["udpRecvQueued"] > 0:
        assert time.monotonic() < deadline, "the worker does not drain its socket"
        await asyncio.sleep(0.05)
    accepted = _producer(await worker.request("router.dump", router_id))["packets"] - before
    assert accepted < BACKLOG_PACKETS // 4, f"{accepted} stale packets were queued for the worker"
    assert dump["udpRecvDrops"] - drops_before > BACKLOG_PACKETS // 2
    # and fresh media reaches every subscriber again
    await _key_frames_reach_everyone(pub, subs, seq, within=5)
