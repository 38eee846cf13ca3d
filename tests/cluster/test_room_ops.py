"""Room operations sent to a node that does not own the room reach the owner over the real Redis command
bus: remove members, block a member's media, dismiss, list the application's live rooms, remove an
app-wide blocked user; a room whose lease names a node that is gone fails at once, retryably.

Two nodes in one process: each its own RoomManager (the fake media backend of the room tests: room
logic real, media not needed), ModerationService, CommandBus, RoomLeases and heartbeat, on one database
(the control plane of a live server) and the shared Redis. The processes-level test with the official
SDK is tests/cluster/test_cloudapi_any_node.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from relayroom.auth.usersig import gen_usersig
from relayroom.cluster.bus import CommandBus
from relayroom.cluster.commands import (
    ClusterRouting,
    OwnerGone,
    nodes_from_registry,
    owner_from_leases,
    parse_room_key,
)
from relayroom.cluster.leases import RoomLeases
from relayroom.cluster.redis import ClusterUnavailable, connect
from relayroom.cluster.registry import NodeInfo, NodeRegistry
from relayroom.control.bootstrap import FirstStart
from relayroom.control.live.ops import NO_ROOM, NO_USER, OK, Acting, LocalRoomOps, RoomOps
from relayroom.control.rooms.entry import AppEntryInfo
from relayroom.control.rooms.manager import DeclaredTrack, EnterParams, RoomManager, RoomManagerParams
from relayroom.control.rooms.moderation import ModerationService
from relayroom.control.rooms.participant import Participant
from tests.cluster.tcpproxy import CuttableProxy
from tests.control.cloudapi.server import Live, live_server, settings_for
from tests.control.oplog.entries import entries
from tests.control.rooms.fakes import FakeDirectory, FakeMedia, RecordingSink

pytestmark = pytest.mark.timeout(120)
ACTING = Acting("acc", "credential:AKIDtest", "cloud API RemoveUser", "cloud-api")


@dataclass
class Node:
    node_id: str
    rooms: RoomManager
    leases: RoomLeases
    ops: RoomOps


@asynccontextmanager
async def _node(
    live: Live, redis: aioredis.Redis, prefix: str, node_id: str, first: FirstStart
) -> AsyncIterator[Node]:
    c = live.container
    directory = FakeDirectory(AppEntryInfo(first.sdkappid, "enabled", "local", (first.secret_key,)))
    rooms = RoomManager(RoomManagerParams(media=FakeMedia(), directory=directory, node_region="local"))
    leases = RoomLeases(redis, node_id, prefix=prefix)
    registry = NodeRegistry(redis, prefix=prefix)
    bus = CommandBus(redis, node_id, prefix=prefix)
    routing = ClusterRouting(bus, owner_from_leases(leases), nodes_from_registry(registry), timeout_s=2.0)
    moderation = ModerationService(c.ctx, c.oplog, rooms)
    ops = RoomOps(LocalRoomOps(rooms, moderation, node=node_id), routing)
    await rooms.start()
    await bus.start()
    await registry.heartbeat(NodeInfo(node_id, "local", f"http://{node_id}.invalid"))
    try:
        yield Node(node_id, rooms, leases, ops)
    finally:
        await bus.close()
        await rooms.close()
        await leases.close()
        await registry.leave(node_id)


async def _enter(node: Node, first: FirstStart, user: str, room: int) -> tuple[Participant, RecordingSink]:
    sink = RecordingSink()
    sig = gen_usersig(first.sdkappid, first.secret_key, user, 3600)
    p = await node.rooms.enter(
        EnterParams(sdkappid=first.sdkappid, user_id=user, user_sig=sig, room_id=room), sink
    )
    await node.leases.acquire(first.sdkappid, room)  # the owner's lease (what placement writes)
    return p, sink


def test_room_keys_parse_back_to_lease_ids() -> None:
    assert parse_room_key("1400000001:n:42") == (1400000001, 42)
    assert parse_room_key("1400000001:s:a:b") == (1400000001, "a:b")
    for bad in ("x:n:1", "1:q:1", "1:n:", "1"):
        with pytest.raises(ValueError):
            parse_room_key(bad)


async def test_room_operations_reach_the_owner(tmp_path: Path, redis: aioredis.Redis, prefix: str) -> None:
    async with live_server(settings_for(tmp_path / "d")) as live, AsyncExitStack() as stack:
        assert live.first is not None
        first = live.first
        a = await stack.enter_async_context(_node(live, redis, prefix, "node-a", first))
        b = await stack.enter_async_context(_node(live, redis, prefix, "node-b", first))
        _, alice = await _enter(a, first, "alice", 31)
        bob_p, bob = await _enter(a, first, "bob", 31)
        await a.rooms.publish(bob_p, "audio", [DeclaredTrack("audio", "main")])
        key = f"{first.sdkappid}:n:31"
        assert not b.ops.local.has(key)

        # the live-rooms view from B: A's room, its members served by node-a
        [room] = await b.ops.live_rooms(first.sdkappid)
        assert room["roomKey"] == key
        assert {m["userId"]: m["node"] for m in room["members"]} == {
            "alice": "node-a",
            "bob": "node-a",
        }

        # SetUserBlocked from B: done on A (the member is told), absent users and rooms say so
        ok = await b.ops.set_media_blocked(key, "bob", audio=True, video=False, acting=ACTING)
        assert ok == OK
        assert (
            "remote-audio-unavailable",
            {"userId": "bob", "streamType": "main", "reason": "mute"},
        ) in alice.events
        assert await b.ops.set_media_blocked(key, "nobody", audio=True, video=True, acting=ACTING) == NO_USER
        other = f"{first.sdkappid}:n:32"
        assert await b.ops.set_media_blocked(other, "bob", audio=True, video=True, acting=ACTING) == NO_ROOM

        # RemoveUser from B: bob is removed on A and told why; a room that is nowhere is None
        assert await b.ops.remove_users(key, ["bob", "ghost"], ACTING) == ["bob"]
        assert ("kicked-out", {"reason": "banned"}) in bob.events
        assert a.rooms.get_room(key) is not None and "bob" not in a.rooms.get_room(key).participants  # type: ignore[union-attr]
        assert await b.ops.remove_users(other, ["bob"], ACTING) is None

        # an app-wide block, applied here by the moderation service, reaches A's rooms
        _, carol = await _enter(a, first, "carol", 33)
        await b.ops.kick_blocked_elsewhere(first.sdkappid, "carol")
        assert ("kicked-out", {"reason": "banned"}) in carol.events

        # DismissRoom from B ends A's room; the next one finds no room
        assert await b.ops.dismiss(key, ACTING) is True
        assert ("kicked-out", {"reason": "room_disband"}) in alice.events
        assert a.rooms.get_room(key) is None
        await a.leases.release(first.sdkappid, 31)
        assert await b.ops.dismiss(key, ACTING) is False

        # the owner recorded what it did, with the caller's actor and path
        [blocked] = await entries(live.container.services, "room.user.media_block")
        assert blocked["after"]["audio_blocked"] is True and blocked["after"]["via"] == "cloud-api"
        [removed] = await entries(live.container.services, "room.remove_users")
        assert removed["actor"] == "credential:AKIDtest"
        dismissed = await entries(live.container.services, "room.dismiss")
        assert [d["result"] for d in dismissed] == ["ok", "not_found"]

        # the flush before a history read reaches every node and returns
        await b.ops.flush()


async def test_an_owner_that_is_gone_fails_at_once_and_retryably(
    tmp_path: Path, redis: aioredis.Redis, prefix: str
) -> None:
    async with live_server(settings_for(tmp_path / "d")) as live, AsyncExitStack() as stack:
        assert live.first is not None
        first = live.first
        b = await stack.enter_async_context(_node(live, redis, prefix, "node-b", first))
        # a lease held by a node that never listens (it was SIGKILLed; its lease has not expired yet)
        dead = RoomLeases(redis, "node-dead", prefix=prefix)
        await dead.acquire(first.sdkappid, "lobby")
        key = f"{first.sdkappid}:s:lobby"
        t0 = time.monotonic()
        with pytest.raises(OwnerGone) as gone:
            await b.ops.remove_users(key, ["x"], ACTING)
        assert time.monotonic() - t0 < 2.0  # pub/sub reports no listener: no timeout is waited for
        assert gone.value.retryable and "retry" in str(gone.value)
        # a listed node that no longer listens is left out of questions to every node
        await NodeRegistry(redis, prefix=prefix).heartbeat(NodeInfo("node-dead", "local", "http://x.invalid"))
        assert await b.ops.live_rooms(first.sdkappid) == []


async def test_during_a_redis_outage_held_rooms_answer_and_others_fail_fast(
    tmp_path: Path, redis: aioredis.Redis, redis_url: str, prefix: str
) -> None:
    host, port = "127.0.0.1", int(redis_url.rsplit(":", 1)[1].split("/")[0])
    proxy = CuttableProxy(host, port)
    await proxy.start()
    via_proxy = connect(f"redis://127.0.0.1:{proxy.port}/0")
    async with live_server(settings_for(tmp_path / "d")) as live, AsyncExitStack() as stack:
        assert live.first is not None
        first = live.first
        a = await stack.enter_async_context(_node(live, redis, prefix, "node-a", first))
        b = await stack.enter_async_context(_node(live, via_proxy, prefix, "node-b", first))
        await _enter(a, first, "alice", 41)
        _, bob = await _enter(b, first, "bob", 42)
        await proxy.cut()
        t0 = time.monotonic()
        with pytest.raises(ClusterUnavailable, match="retry"):
            await b.ops.remove_users(f"{first.sdkappid}:n:41", ["alice"], ACTING)
        assert time.monotonic() - t0 < 3.0  # a clear, retryable error, not a hang
        # the room B holds is served from B's own record
        assert await b.ops.remove_users(f"{first.sdkappid}:n:42", ["bob"], ACTING) == ["bob"]
        assert ("kicked-out", {"reason": "banned"}) in bob.events
        await b.ops.flush()  # a history read still answers (best effort across nodes)
        assert [r["roomKey"] for r in await a.ops.live_rooms(first.sdkappid)] == [f"{first.sdkappid}:n:41"]
        await proxy.restore()
    await via_proxy.aclose()
