"""Placement and the room manager's cluster seams against the real Redis: where an entry belongs (owner,
least-loaded node, draining), the lease-backed room registry and the cluster-wide presence. Each "node"
is a ClusterRuntime on its own Redis client; their figures come from probes the test sets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from relayroom.cluster.placement import Redirect, RoomPlacement
from relayroom.cluster.redis import ClusterUnavailable, connect
from relayroom.cluster.registry import WorkerLoad
from relayroom.cluster.runtime import ClusterRuntime, ClusterTimings, build_runtime
from tests.cluster.tcpproxy import CuttableProxy

pytestmark = pytest.mark.timeout(60)

ROOM = "1400000001:n:77"


def _probe(load: float, rooms: int = 0) -> Callable[[], tuple[tuple[WorkerLoad, ...], int]]:
    return lambda: ((WorkerLoad(0, "127.0.0.1:40000", load),), rooms)


@pytest.fixture
async def nodes(redis_url: str, prefix: str, redis: aioredis.Redis) -> AsyncIterator[list[ClusterRuntime]]:
    """Three started nodes of region "eu" (node-c of region "us"), each idle."""
    made: list[ClusterRuntime] = []
    for name, region in (("node-a", "eu"), ("node-b", "eu"), ("node-c", "us")):
        rt = build_runtime(
            connect(redis_url),
            node_id=name,
            region=region,
            public_url=f"http://{name}.test",
            timings=ClusterTimings(node_ttl_s=2.0, lease_ttl_s=2.0),
            prefix=prefix,
        )
        rt.probe = _probe(0.0)
        await rt.start()
        made.append(rt)
    try:
        yield made
    finally:
        for rt in made:
            await rt.close()


async def test_an_entry_goes_to_the_node_that_owns_the_room(nodes: list[ClusterRuntime]) -> None:
    a, b, _c = nodes
    assert await a.room_registry.claim(ROOM, a.node_id) == "node-a"
    assert await RoomPlacement(a).locate(ROOM) is None  # held here: no Redis needed
    to = await RoomPlacement(b).locate(ROOM)
    assert to == Redirect("http://node-a.test", "owner", "node-a")
    # a client that was redirected once is still sent to the owner: the room runs only there
    assert await RoomPlacement(b).locate(ROOM, settled=True) == to
    # the registry answers the same; a second claim from b does not take the room
    assert await b.room_registry.host(ROOM) == "node-a"
    assert await b.room_registry.claim(ROOM, "node-b") == "node-a"
    await a.room_registry.release(ROOM, "node-a")
    assert await b.room_registry.host(ROOM) is None
    assert await RoomPlacement(b).locate(ROOM) is None  # free, and b is as idle as a: stay


async def test_a_new_room_goes_to_the_least_loaded_node_of_the_region_once(
    nodes: list[ClusterRuntime],
) -> None:
    a, b, c = nodes
    a.probe = _probe(0.8)
    b.probe = _probe(0.1)
    c.probe = _probe(0.0)  # idlest, but of another region
    await b.set_draining(False)  # a heartbeat now: a sees b's figures
    to = await RoomPlacement(a).locate(ROOM)
    assert to == Redirect("http://node-b.test", "placement", "node-b")
    # already redirected once: no second placement hop (stale figures cannot make a client bounce)
    assert await RoomPlacement(a).locate(ROOM, settled=True) is None
    # equal load: fewer rooms wins; a tie keeps the entry where it is
    a.probe, b.probe = _probe(0.1, rooms=3), _probe(0.1, rooms=1)
    await b.set_draining(False)
    assert (await RoomPlacement(a).locate(ROOM)) == Redirect("http://node-b.test", "placement", "node-b")
    a.probe = _probe(0.1, rooms=1)
    assert await RoomPlacement(a).locate(ROOM) is None


async def test_a_draining_node_sends_new_rooms_away_and_takes_none(nodes: list[ClusterRuntime]) -> None:
    a, b, _c = nodes
    await b.set_draining(True)
    assert await RoomPlacement(a).locate(ROOM) is None  # b drains: a keeps it although b is as idle
    await a.set_draining(True)
    with pytest.raises(ClusterUnavailable):  # every node of the region drains: retry later
        await RoomPlacement(a).locate(ROOM)
    await b.set_draining(False)
    assert await RoomPlacement(a).locate(ROOM, settled=True) == Redirect(
        "http://node-b.test", "drain", "node-b"
    )


async def test_an_owner_without_heartbeat_is_a_retryable_refusal(nodes: list[ClusterRuntime]) -> None:
    a, b, _c = nodes
    await a.room_registry.claim(ROOM, a.node_id)
    await a.registry.leave(a.node_id)  # as if its heartbeat had expired while the lease still runs
    with pytest.raises(ClusterUnavailable, match="does not answer"):
        await RoomPlacement(b).locate(ROOM)


async def test_presence_is_one_record_for_the_cluster(nodes: list[ClusterRuntime]) -> None:
    a, b, _c = nodes
    assert await a.room_presence.join(7, "alice", "7:n:1") is None
    assert await b.room_presence.where(7, "alice") == "7:n:1"
    # alice enters another room on b: the claim names the room she was in (on a)
    assert await b.room_presence.join(7, "alice", "7:n:2") == "7:n:1"
    assert await a.room_presence.members("7:n:1") == {"alice"}  # a's own view until its member leaves
    assert not await a.room_presence.leave(7, "alice", "7:n:1")  # the newer session is left alone
    assert await a.room_presence.members("7:n:1") == set()
    assert await a.room_presence.where(7, "alice") == "7:n:2"
    await b.room_presence.touch_all()
    assert await b.room_presence.leave(7, "alice", "7:n:2")
    assert await a.room_presence.where(7, "alice") is None


async def test_held_rooms_are_served_while_redis_is_away(
    redis_url: str, prefix: str, redis: aioredis.Redis
) -> None:
    host, port = redis_url.split("//")[1].split("/")[0].split(":")
    proxy = CuttableProxy(host, int(port))
    await proxy.start()
    rt = build_runtime(
        connect(f"redis://127.0.0.1:{proxy.port}/0"),
        node_id="node-x",
        region="eu",
        public_url="http://x.test",
        prefix=prefix,
    )
    try:
        await rt.room_registry.claim(ROOM, "node-x")
        await proxy.cut()
        assert await RoomPlacement(rt).locate(ROOM) is None  # held here: answered without Redis
        assert await rt.room_registry.host(ROOM) == "node-x"
        with pytest.raises(ClusterUnavailable):  # a room nobody here holds needs Redis: retryable
            await RoomPlacement(rt).locate("1400000001:s:other")
        # presence writes are skipped (re-claimed by the next touch), never raised into an entry
        assert await rt.room_presence.join(7, "bob", ROOM) is None
        await rt.room_registry.release(ROOM, "node-x")  # logged, not raised: the lease expires
        assert not rt.leases.holds_key(ROOM)
    finally:
        await rt.close()
        await proxy.cut()
