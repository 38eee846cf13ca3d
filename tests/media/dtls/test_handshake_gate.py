"""DTLS handshakes in slices (dtls/handshake_gate.py): alone, then in a worker that many transports
join at once: never more flights per loop turn than the budget, and every transport connects."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

import pytest

from relayroom.media.dtls.handshake_gate import HandshakeGate
from relayroom.media.types import MediaParams
from relayroom.media.worker_handle import WorkerHandle
from tests.media.loadgen import FakePeer, open_peer

pytestmark = pytest.mark.timeout(90)


def appender(ran: list[int], ticket: int) -> Callable[[], None]:
    return lambda: ran.append(ticket)


async def test_flights_beyond_the_budget_wait_for_later_turns_in_order() -> None:
    gate = HandshakeGate(2)
    ran: list[int] = []
    for ticket in range(1, 6):
        gate.run(ticket, appender(ran, ticket))
    gate.run(4, lambda: ran.append(-4))  # already waiting: not queued twice
    assert ran == [1, 2] and gate.waiting == 3
    await asyncio.sleep(0)  # next turn: two more
    assert ran == [1, 2, 3, 4]
    gate.cancel(5)  # closed while waiting: never runs
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert ran == [1, 2, 3, 4] and gate.waiting == 0
    assert (gate.processed, gate.deferred, gate.peak_waiting, gate.peak_per_turn) == (4, 3, 3, 2)


async def test_a_turn_with_room_runs_the_flight_at_once_and_no_gate_runs_everything() -> None:
    gate = HandshakeGate(1)
    ran: list[int] = []
    gate.run(1, lambda: ran.append(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    gate.run(2, lambda: ran.append(2))  # a new turn: budget again
    assert ran == [1, 2] and gate.deferred == 0
    ungated = HandshakeGate(0)
    for ticket in range(50):
        ungated.run(ticket, appender(ran, ticket))
    assert len(ran) == 52 and ungated.waiting == 0


async def test_many_transports_joining_at_once_stay_within_the_budget_and_all_connect() -> None:
    params = MediaParams(workers=1, loopback_only=True, dtls_flights_per_turn=1)
    worker = WorkerHandle(0, params, lambda *a: None, lambda w: None)
    await worker.start()
    peers: list[FakePeer] = []
    try:
        router_id = secrets.token_hex(8)
        await worker.request("worker.createRouter", None, {"routerId": router_id})
        results = await asyncio.gather(*(open_peer(worker, router_id) for _ in range(24)))
        peers = [peer for peer, _ in results]
        assert all(peer.connected.is_set() for peer in peers)
        gate = (await worker.request("worker.dump"))["dtlsGate"]
        assert gate["flightsPerTurn"] == 1 and gate["peakPerTurn"] == 1
        assert gate["processed"] >= 2 * 24  # ClientHello, then the client's second flight
        assert gate["deferred"] > 0 and gate["waiting"] == 0  # the budget was reached, and held
        states = {t["dtlsState"] for t in (await worker.request("router.dump", router_id))["transports"]}
        assert states == {"connected"}
    finally:
        for peer in peers:
            if peer.transport is not None:
                peer.transport.close()
        await worker.close()
