"""Leak check, fast variant of the soak (tests/soak/): 500 rooms created and closed through a real worker
process (MediaService, channel requests), after which every object count is back at zero.

Each cycle is a room: a router, a publisher transport with an audio and a video producer, a subscriber
transport consuming both. Every 25th room also gets real peers (ICE, DTLS, RTP forwarded), so that
5-tuples, ufrags, SRTP sessions and the timers of live transports are created and must go too. Rooms
end in turn by ``router.close`` (the cascade) and by closing their transports first, then the router.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from relayroom.media.service import MediaService
from relayroom.media.types import MediaEvent
from tests.media.loadgen import open_peer, vp8_payload
from tests.serving import eventually

pytestmark = pytest.mark.timeout(60)

CYCLES = 500
CONNECTED_EVERY = 25
LANES = 5  # rooms in flight at once (their requests interleave on the channel, as a server's do)
ZERO = (
    "routers",
    "transports",
    "producers",
    "transportProducers",
    "consumers",
    "producerConsumers",
    "tuples",
    "ufrags",
    "pipes",
    "tcpConnections",
    "tcpBoundTransports",
)


async def _produce(worker: Any, tid: str, pid: str, kind: str, ssrc: int) -> None:
    mime, rate, pt = ("video/VP8", 90000, 96) if kind == "video" else ("audio/opus", 48000, 111)
    await worker.request(
        "transport.produce",
        tid,
        {
            "producerId": pid,
            "kind": kind,
            "mimeType": mime,
            "clockRate": rate,
            "payloadType": pt,
            "ssrc": ssrc,
            "mid": "0" if kind == "audio" else "1",
        },
    )


async def _room(media: MediaService, n: int) -> None:
    router_id = await media.create_router(f"leak-{n}")
    worker = media.worker_for_router(router_id)
    connected = n % CONNECTED_EVERY == 0
    peers = []
    tids = []
    for _ in range(2):
        if connected:
            peer, tid = await open_peer(worker, router_id)
            peers.append(peer)
        else:
            tid = secrets.token_hex(8)
            await worker.request("router.createWebRtcTransport", router_id, {"transportId": tid})
        tids.append(tid)
    pub, sub = tids
    for kind, ssrc in (("audio", 1111), ("video", 2222)):
        await _produce(worker, pub, f"p{kind}-{n}", kind, ssrc)
        await worker.request(
            "transport.consume",
            sub,
            {
                "consumerId": f"c{kind}-{n}",
                "producerId": f"p{kind}-{n}",
                "ssrc": 5000 + ssrc,
                "payloadType": 100 if kind == "video" else 111,
            },
        )
    if connected:
        for seq in range(5):
            peers[0].send_rtp(96, seq, 3000 * seq, 2222, vp8_payload(300, key=seq == 0), marker=True)
        await eventually(lambda: peers[1].received >= 1, within=5)
    if n % 2:
        for tid in tids:
            await worker.request("transport.close", tid)
    await media.close_router(router_id)
    for peer in peers:
        if peer.transport is not None:
            peer.transport.close()


async def test_500_rooms_leave_no_router_transport_producer_consumer_tuple_or_timer(
    media: tuple[MediaService, list[MediaEvent]],
) -> None:
    svc, _events = media
    idle = await svc.counts()
    [before] = idle["workers"]
    assert all(before[k] == 0 for k in ZERO), before
    for first in range(0, CYCLES, LANES):
        await asyncio.gather(*(_room(svc, n) for n in range(first, first + LANES)))
        if first == CYCLES // 2:
            mid = (await svc.counts())["workers"][0]
            assert mid["routers"] == 0 and mid["transports"] == 0  # closes are synchronous in the worker

    # transports closed by the router cascade may leave a timer for a moment (DTLS, consent): give the
    # worker's loop a few turns to run them out
    async def settled() -> dict[str, Any]:
        return dict((await svc.counts())["workers"][0])

    after = await settled()
    for _ in range(50):
        if after["timers"] <= before["timers"] and after["tasks"] <= before["tasks"]:
            break
        await asyncio.sleep(0.1)
        after = await settled()
    assert {k: after[k] for k in ZERO} == dict.fromkeys(ZERO, 0), after
    assert after["timers"] <= before["timers"], (before, after)
    assert after["tasks"] <= before["tasks"], (before, after)
    assert after["workerTasks"] <= before["workerTasks"], (before, after)
    service = await svc.counts()
    assert (service["routers"], service["participants"], service["producers"]) == (0, 0, 0)
    dump = await svc.dump()
    assert [w["errors"] for w in dump["workers"]] == [0]
