"""``worker.metrics``: lifetime totals that survive the objects they were counted on (for /metrics)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from relayroom.media.channel import Channel
from relayroom.media.rtp import rtcp
from relayroom.media.worker import Worker
from tests.media.loadgen import FakePeer, build_room, vp8_payload
from tests.serving import eventually

pytestmark = pytest.mark.timeout(30)


class InProcess:
    def __init__(self, worker: Worker, channel: Channel) -> None:
        self.worker = worker
        self.channel = channel

    @property
    def port(self) -> int:
        return int(self.worker.port)

    async def request(
        self, method: str, handler_id: str | None = None, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = await self.channel.request(method, handler_id, data)
        return out


@pytest.fixture
async def worker() -> AsyncIterator[InProcess]:
    a, b = socket.socketpair()
    w = Worker("127.0.0.1", 0, None, loopback_only=True, rtx_buffer_ms=1000, consent_timeout_s=30.0)
    await w.start(a)
    reader, writer = await asyncio.open_unix_connection(sock=b)
    channel = Channel(reader, writer)
    yield InProcess(w, channel)
    await channel.close()
    await w.close()


def _send_rtcp(peer: FakePeer, packet: bytes) -> None:
    assert peer.srtp is not None and peer.transport is not None
    peer.transport.sendto(peer.srtp.tx.protect_rtcp(packet), peer.worker_addr)


async def test_feedback_and_traffic_totals_outlive_the_transports_they_came_from(worker: InProcess) -> None:
    before = await worker.request("worker.metrics")
    pub, [sub] = await build_room(worker, 1)
    for seq in range(20):
        pub.send_rtp(96, seq, 3000 * seq, 1234, vp8_payload(500, key=seq == 0), marker=True)
    await eventually(lambda: sub.received >= 20, within=5)
    _send_rtcp(sub, rtcp.build_nack(1, 5000, [3, 4]))
    _send_rtcp(sub, rtcp.build_pli(1, 5000))
    _send_rtcp(sub, rtcp.build_fir(1, 5000, 1))

    async def metrics() -> dict[str, Any]:
        return await worker.request("worker.metrics")

    m: dict[str, Any] = {}
    for _ in range(50):
        m = await metrics()
        if m["nacks"] and m["plis"] and m["firs"]:
            break
        await asyncio.sleep(0.05)
    assert (m["nacks"], m["plis"], m["firs"]) == (1, 1, 1)
    retransmitted = sum(
        c["retransmitted"]
        for r in (await worker.request("worker.dump"))["routers"]
        for t in r["transports"]
        for c in t["consumers"]
    )
    assert m["rtxSent"] == retransmitted
    assert m["producers"] == 1 and m["consumers"] == 1 and m["transports"] == 2 and m["routers"] == 1
    assert m["rxPackets"] - before["rxPackets"] >= 20 + 3
    assert m["txPackets"] - before["txPackets"] >= 20
    assert m["rxBytes"] > 20 * 500 and m["txBytes"] > 20 * 500
    assert m["cpuSeconds"] > 0 and m["rssBytes"] > 10_000_000
    # the room closes: sizes drop to zero, lifetime totals stay
    [router_id] = list(worker.worker.routers)
    await worker.request("router.close", router_id)
    after = await metrics()
    assert (after["routers"], after["transports"], after["producers"], after["consumers"]) == (0, 0, 0, 0)
    for key in ("nacks", "plis", "firs", "rtxSent", "rxPackets", "txPackets", "rxBytes", "txBytes"):
        assert after[key] >= m[key], key
