"""The cap on DTLS handshakes in progress (dtls/handshake_gate.py): alone, then in a worker that many
transports join at once: never more than the cap in progress, and all of them connect."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from relayroom.media.dtls.handshake_gate import HandshakeGate
from relayroom.media.types import MediaParams
from relayroom.media.worker_handle import WorkerHandle
from tests.media.loadgen import FakePeer, open_peer

pytestmark = pytest.mark.timeout(90)


async def test_the_gate_admits_up_to_its_limit_then_in_order_as_slots_free() -> None:
    gate = HandshakeGate(2)
    started: list[int] = []
    assert gate.acquire(1, lambda: started.append(1))
    assert gate.acquire(2, lambda: started.append(2))
    assert not gate.acquire(3, lambda: started.append(3))
    assert not gate.acquire(4, lambda: started.append(4))
    assert not gate.acquire(3, lambda: started.append(3))  # asking again does not queue twice
    assert (gate.active, gate.waiting) == (2, 2)
    gate.release(1)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert started == [3] and gate.active == 2
    gate.release(4)  # gave up while waiting: never started
    gate.release(2)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert started == [3] and (gate.active, gate.waiting) == (1, 0)
    assert gate.peak_active == 2 and gate.deferred == 2


async def test_a_slot_held_by_a_silent_peer_expires() -> None:
    gate = HandshakeGate(1, slot_timeout_s=0.1)
    started: list[int] = []
    assert gate.acquire(1, lambda: started.append(1))
    assert not gate.acquire(2, lambda: started.append(2))
    await asyncio.sleep(0.3)
    assert started == [2]


async def test_no_cap() -> None:
    gate = HandshakeGate(0)
    assert all(gate.acquire(i, lambda: None) for i in range(50))


async def test_many_transports_joining_at_once_stay_under_the_cap_and_all_connect() -> None:
    params = MediaParams(workers=1, loopback_only=True, dtls_handshakes=2)
    worker = WorkerHandle(0, params, lambda *a: None, lambda w: None)
    await worker.start()
    peers: list[FakePeer] = []
    try:
        router_id = secrets.token_hex(8)
        await worker.request("worker.createRouter", None, {"routerId": router_id})
        results = await asyncio.gather(*(open_peer(worker, router_id) for _ in range(24)))
        peers = [peer for peer, _ in results]
        assert all(peer.connected.is_set() for peer in peers)
        dump = await worker.request("worker.dump")
        gate = dump["dtlsHandshakes"]
        assert gate["limit"] == 2 and gate["peakActive"] <= 2
        assert gate["deferred"] > 0 and gate["peakWaiting"] > 0  # the cap was reached, and held
        assert (gate["active"], gate["waiting"]) == (0, 0)
        states = {t["dtlsState"] for t in (await worker.request("router.dump", router_id))["transports"]}
        assert states == {"connected"}
    finally:
        for peer in peers:
            if peer.transport is not None:
                peer.transport.close()
        await worker.close()
