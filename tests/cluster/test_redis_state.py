"""The Redis building blocks against the real Redis at 127.0.0.1:6379: node registry, room leases,
command bus and the shared limits/presence/blocks, two "nodes" being two clients; outages through a
proxy the test cuts, or a closed port (the shared Redis server is never stopped or flushed)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
import redis.asyncio as aioredis

from relayroom.cluster.bus import CommandBus, CommandFailed, CommandTimeout, NodeUnreachable
from relayroom.cluster.leases import RoomLeases, room_key
from relayroom.cluster.redis import ClusterUnavailable, connect
from relayroom.cluster.registry import NodeInfo, NodeRegistry, WorkerLoad
from relayroom.cluster.shared import (
    RedisBlocks,
    RedisPresence,
    RedisRateLimiter,
    RedisReplayCache,
    RedisThrottleStore,
)
from relayroom.control.accounts.throttle import ThrottleState
from tests.cluster.tcpproxy import CuttableProxy

pytestmark = pytest.mark.timeout(60)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: nothing listens there


@asynccontextmanager
async def _client(url: str) -> AsyncIterator[aioredis.Redis]:
    c = connect(url)
    try:
        yield c
    finally:
        await c.aclose()


def _node(node_id: str, region: str = "eu", loads: tuple[float, ...] = (0.5,), **kw: Any) -> NodeInfo:
    workers = tuple(WorkerLoad(i, f"127.0.0.1:{40000 + i}", x) for i, x in enumerate(loads))
    return NodeInfo(node_id, region, f"http://127.0.0.1:{8000 + len(node_id)}", workers, **kw)


# --- node registry ------------------------------------------------------------------------------
async def test_registry_lists_live_nodes_and_picks_the_least_loaded_of_a_region(
    redis: aioredis.Redis, prefix: str
) -> None:
    reg = NodeRegistry(redis, prefix=prefix, ttl_s=5)
    await reg.heartbeat(_node("a", loads=(0.9, 0.7)))
    await reg.heartbeat(_node("b", loads=(0.2,)))
    await reg.heartbeat(_node("c", loads=(0.0,), draining=True))
    await reg.heartbeat(_node("d", region="us", loads=(0.1,)))
    live = await reg.live_nodes()
    assert [n.node_id for n in live] == ["a", "b", "c", "d"]
    assert live[0] == _node("a", loads=(0.9, 0.7))  # every field round-trips
    assert (await reg.least_loaded("eu")) == _node("b", loads=(0.2,))  # c is draining
    assert (await reg.least_loaded("us")) is not None
    assert await reg.least_loaded("ap") is None
    await reg.leave("b")
    least = await reg.least_loaded("eu")
    assert least is not None and least.node_id == "a"


async def test_a_node_that_stops_heartbeating_drops_out(redis: aioredis.Redis, prefix: str) -> None:
    reg = NodeRegistry(redis, prefix=prefix, ttl_s=0.3)
    await reg.heartbeat(_node("a"))
    await reg.heartbeat(_node("b"))
    for _ in range(3):
        await asyncio.sleep(0.15)
        await reg.heartbeat(_node("b"))  # b keeps beating, a has died
    assert [n.node_id for n in await reg.live_nodes()] == ["b"]
    assert await reg.get("a") is None
    assert await redis.smembers(f"{prefix}nodes") == {"b"}  # the index was pruned


# --- room leases --------------------------------------------------------------------------------
async def test_one_owner_per_room_numeric_and_string_ids_apart(redis: aioredis.Redis, prefix: str) -> None:
    a = RoomLeases(redis, "node-a", prefix=prefix, ttl_s=5)
    b = RoomLeases(redis, "node-b", prefix=prefix, ttl_s=5)
    results = await asyncio.gather(a.acquire(1400000001, 123), b.acquire(1400000001, 123))
    assert results[0] == results[1] and results[0] in ("node-a", "node-b")  # one winner, both agree
    winner, loser = (a, b) if results[0] == "node-a" else (b, a)
    assert winner.holds(1400000001, 123) and not loser.holds(1400000001, 123)
    assert await loser.acquire(1400000001, "123") == loser.node_id  # the string room is another room
    assert await loser.acquire(1400000002, 123) == loser.node_id  # and so is another app's
    assert room_key(1400000001, 123) != room_key(1400000001, "123")
    await winner.release(1400000001, 123)
    assert await loser.owner(1400000001, 123) is None
    assert await loser.acquire(1400000001, 123) == loser.node_id
    await winner.release(1400000001, 123)  # not its lease any more: left alone
    assert await winner.owner(1400000001, 123) == loser.node_id


async def test_a_dead_owners_lease_expires_and_another_node_takes_the_room(
    redis: aioredis.Redis, prefix: str
) -> None:
    lost: list[str] = []
    a = RoomLeases(redis, "node-a", prefix=prefix, ttl_s=0.3, on_lost=lost.append)
    b = RoomLeases(redis, "node-b", prefix=prefix, ttl_s=5)
    assert await a.acquire(7, 1) == "node-a"
    a.start()  # the keeper renews every ttl/3
    await asyncio.sleep(0.6)
    assert await b.acquire(7, 1) == "node-a"  # renewed past its TTL: still a's
    await a.close(release=False)  # a dies (no release, no renewals)
    assert a.holds(7, 1)  # what a believes (it died without releasing)
    await asyncio.sleep(0.4)
    assert await b.acquire(7, 1) == "node-b"
    assert await a.refresh() == [room_key(7, 1)] and lost == [room_key(7, 1)]  # a learns it lost it


async def test_leases_are_reasserted_after_a_redis_outage(redis_url: str, prefix: str) -> None:
    """Through a proxy the test cuts: calls fail fast and clearly, the held room stays held locally,
    and when Redis answers again the keeper re-asserts the lease (which had expired meanwhile)."""
    host, port = "127.0.0.1", int(redis_url.rsplit(":", 1)[1].split("/")[0])
    proxy = CuttableProxy(host, port)
    await proxy.start()
    async with _client(f"redis://127.0.0.1:{proxy.port}/0") as via_proxy, _client(redis_url) as direct:
        a = RoomLeases(via_proxy, "node-a", prefix=prefix, ttl_s=0.6)
        try:
            assert await a.acquire(9, "lobby") == "node-a"
            a.start()
            await proxy.cut()
            t0 = time.monotonic()
            with pytest.raises(ClusterUnavailable, match="retry"):
                await a.acquire(9, "other")
            assert time.monotonic() - t0 < 3.0  # a clear error, not a hang
            assert a.holds(9, "lobby")  # the room this node serves is still its own
            await asyncio.sleep(1.0)  # longer than the TTL: the lease is gone in Redis
            assert await direct.get(f"{prefix}room:{room_key(9, 'lobby')}") is None
            assert not a.redis_ok
            await proxy.restore()
            deadline = time.monotonic() + 5
            while await direct.get(f"{prefix}room:{room_key(9, 'lobby')}") != "node-a":
                assert time.monotonic() < deadline, "lease not re-asserted"
                await asyncio.sleep(0.05)
            assert a.redis_ok
        finally:
            await a.close()
            await proxy.cut()
        assert await direct.get(f"{prefix}room:{room_key(9, 'lobby')}") is None  # released on close


# --- command bus --------------------------------------------------------------------------------
async def test_commands_reach_the_owner_and_answers_come_back(redis_url: str, prefix: str) -> None:
    async with _client(redis_url) as ra, _client(redis_url) as rb:
        a = CommandBus(ra, "node-a", prefix=prefix)
        b = CommandBus(rb, "node-b", prefix=prefix)
        seen: list[dict[str, Any]] = []

        async def room_info(args: dict[str, Any]) -> dict[str, Any]:
            seen.append(args)
            return {"roomId": args["roomId"], "members": ["alice", "bob"]}

        async def refuse(args: dict[str, Any]) -> None:
            raise CommandFailed("no such room", code="room_not_found")

        async def crash(args: dict[str, Any]) -> None:
            raise RuntimeError("boom")

        async def slow(args: dict[str, Any]) -> None:
            await asyncio.sleep(5)

        for name, fn in (("room_info", room_info), ("refuse", refuse), ("crash", crash), ("slow", slow)):
            b.handle(name, fn)
        await a.start()
        await b.start()
        try:
            got = await asyncio.gather(*(a.request("node-b", "room_info", {"roomId": i}) for i in range(20)))
            assert got == [{"roomId": i, "members": ["alice", "bob"]} for i in range(20)]
            assert sorted(x["roomId"] for x in seen) == list(range(20))
            with pytest.raises(CommandFailed) as err:
                await a.request("node-b", "refuse", {})
            assert err.value.code == "room_not_found" and not err.value.retryable
            with pytest.raises(CommandFailed, match="RuntimeError"):
                await a.request("node-b", "crash", {})
            with pytest.raises(CommandFailed) as err:
                await a.request("node-b", "nope", {})
            assert err.value.code == "unknown_command"
            t0 = time.monotonic()
            with pytest.raises(CommandTimeout):
                await a.request("node-b", "slow", {}, timeout_s=0.3)
            with pytest.raises(NodeUnreachable):  # nobody listens there: at once, not after a timeout
                await a.request("node-gone", "room_info", {"roomId": 1}, timeout_s=30)
            assert time.monotonic() - t0 < 2.0
            with pytest.raises(CommandFailed) as err:  # and back: a has no handler of that name
                await b.request("node-a", "room_info", {})
            assert err.value.code == "unknown_command"
        finally:
            await a.close()
            await b.close()


# --- shared limits, replay protection, throttle, presence, blocks -------------------------------
async def test_rate_limit_is_one_window_for_all_nodes(redis_url: str, prefix: str) -> None:
    async with _client(redis_url) as ra, _client(redis_url) as rb:
        nodes = [RedisRateLimiter(ra, prefix=prefix), RedisRateLimiter(rb, prefix=prefix)]
        allowed = await asyncio.gather(*(nodes[i % 2].allow("AKID1", "room", 20) for i in range(60)))
        assert sum(allowed) == 20  # 20 QPS for the credential, whichever node it calls
        assert await nodes[0].allow("AKID2", "room", 20)  # another credential has its own window
        assert await nodes[1].allow("AKID1", "usage", 5)  # and another limit class
        await asyncio.sleep(1.05)
        assert await nodes[1].allow("AKID1", "room", 20)  # the window slid


async def test_a_signature_is_accepted_once_across_nodes(redis_url: str, prefix: str) -> None:
    async with _client(redis_url) as ra, _client(redis_url) as rb:
        a, b = RedisReplayCache(ra, prefix=prefix), RedisReplayCache(rb, prefix=prefix)
        firsts = await asyncio.gather(*((a if i % 2 else b).add("sig-1", 0.5) for i in range(10)))
        assert sum(firsts) == 1
        assert await a.add("sig-2", 0.5)
        await asyncio.sleep(0.6)
        assert await b.add("sig-1", 0.5)  # its timestamp window is over: remembered no longer


async def test_throttle_updates_are_atomic_across_nodes(redis_url: str, prefix: str) -> None:
    async with _client(redis_url) as ra, _client(redis_url) as rb:
        stores = [RedisThrottleStore(ra, prefix=prefix), RedisThrottleStore(rb, prefix=prefix)]

        def bump(state: ThrottleState | None) -> ThrottleState:
            s = state or ThrottleState(attempts=0, last=0.0)
            return replace(s, attempts=s.attempts + 1, last=time.time())

        await asyncio.gather(*(stores[i % 2].update("login:user:x", bump, 60) for i in range(30)))
        final = await stores[0].update("login:user:x", lambda s: s, 60)
        assert final is not None and final.attempts == 30  # no update lost to a concurrent one
        assert await stores[1].update("login:user:x", lambda s: None, 60) is None
        assert await stores[0].update("login:user:x", lambda s: s, 60) is None  # deleted for both


async def test_one_room_per_user_across_nodes(redis_url: str, prefix: str) -> None:
    async with _client(redis_url) as ra, _client(redis_url) as rb:
        a, b = RedisPresence(ra, prefix=prefix), RedisPresence(rb, prefix=prefix)
        assert await a.claim(1400000001, "alice", "node-a/room-1") is None
        assert await b.claim(1400000001, "alice", "node-b/room-2") == "node-a/room-1"  # kick that one
        assert await a.claim(1400000002, "alice", "node-a/room-1") is None  # another app's alice
        assert not await a.release(1400000001, "alice", "node-a/room-1")  # the old session leaving
        assert await a.where(1400000001, "alice") == "node-b/room-2"  # does not erase the new one
        assert not await a.touch(1400000001, "alice", "node-a/room-1")
        assert await b.touch(1400000001, "alice", "node-b/room-2")
        assert await b.release(1400000001, "alice", "node-b/room-2")
        assert await a.where(1400000001, "alice") is None


async def test_blocks_are_app_wide_across_nodes(redis_url: str, prefix: str) -> None:
    async with _client(redis_url) as ra, _client(redis_url) as rb:
        a, b = RedisBlocks(ra, prefix=prefix), RedisBlocks(rb, prefix=prefix)
        await a.set_user_blocked(1400000001, "mallory", True)
        assert await b.is_blocked(1400000001, "mallory")
        assert not await b.is_blocked(1400000002, "mallory")
        await b.set_user_blocked(1400000001, "mallory", False)
        assert not await a.is_blocked(1400000001, "mallory")


# --- Redis unreachable: every piece fails fast with the retryable error ------------------------
async def test_every_piece_fails_fast_and_retryably_without_redis(prefix: str) -> None:
    async with _client(f"redis://127.0.0.1:{_closed_port()}/0") as r:
        calls = [
            NodeRegistry(r, prefix=prefix).heartbeat(_node("a")),
            NodeRegistry(r, prefix=prefix).live_nodes(),
            RoomLeases(r, "a", prefix=prefix).acquire(1, 1),
            RoomLeases(r, "a", prefix=prefix).owner(1, 1),
            CommandBus(r, "a", prefix=prefix).request("b", "room_info", {}, timeout_s=30),
            RedisRateLimiter(r, prefix=prefix).allow("AKID", "room", 20),
            RedisReplayCache(r, prefix=prefix).add("sig", 300),
            RedisThrottleStore(r, prefix=prefix).update("k", lambda s: s, 60),
            RedisPresence(r, prefix=prefix).claim(1, "alice", "x"),
            RedisBlocks(r, prefix=prefix).is_blocked(1, "alice"),
        ]
        for call in calls:
            t0 = time.monotonic()
            with pytest.raises(ClusterUnavailable) as err:
                await call
            assert err.value.retryable and "retry" in str(err.value)
            assert "127.0.0.1" not in str(err.value)  # no address in what a client may be shown
            assert time.monotonic() - t0 < 3.0
