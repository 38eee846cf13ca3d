"""The SDK reconnects by itself (client/reconnect.py): the signalling socket cut under it (a TCP proxy
in front of the real server drops every connection, no close frame), or the server replaced by another
that does not know the membership. Real server, real media workers, real sockets."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from relayroom.client import RelayRoomClient, TestPatternVideoTrack
from relayroom.client.client import RelayRoomError, signal_url
from relayroom.client.reconnect import candidates, deadline_s, is_final
from relayroom.control.rooms.manager import RoomLimits
from relayroom.media.service import MediaService
from relayroom.media.types import MediaParams
from tests.client.crowd_server import room_manager
from tests.cluster.tcpproxy import CuttableProxy
from tests.control.rooms.fakes import SDKAPPID, usersig
from tests.control.signaling.server import RunningServer, serve
from tests.serving import eventually

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

RED = (220, 30, 30)
LIMITS = RoomLimits(idle_timeout_s=20.0, heartbeat_interval_s=1.0, sweep_interval_s=0.2)


class MovableProxy(CuttableProxy):
    """The cuttable proxy, pointed at another upstream while cut (a server replaced behind one URL)."""

    def point_to(self, url: str) -> None:
        host_port = url.split("//", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        self._up = (host, int(port))


@contextlib.asynccontextmanager
async def signalling_server(media: MediaService) -> AsyncIterator[RunningServer]:
    async with serve(room_manager(media, LIMITS), media) as running:
        yield running


@contextlib.asynccontextmanager
async def media_service() -> AsyncIterator[MediaService]:
    media = MediaService(MediaParams(workers=1, loopback_only=True))
    await media.start()
    try:
        yield media
    finally:
        await media.close()


async def enter(url: str, user: str) -> RelayRoomClient:
    c = RelayRoomClient(url)
    await c.enter_room(sdk_app_id=SDKAPPID, user_id=user, user_sig=usersig(user), room_id=88)
    return c


def states(c: RelayRoomClient) -> list[str]:
    return [e.data["state"] for e in c.event_log if e.name == "connection-state-changed"]


async def test_a_cut_socket_is_resumed_by_the_sdk_and_media_never_stops() -> None:
    async with media_service() as media, signalling_server(media) as server:
        proxy = MovableProxy("127.0.0.1", int(server.url.rsplit(":", 1)[1].split("/")[0]))
        await proxy.start()
        alice = await enter(server.url, "alice")
        bob = await enter(f"ws://127.0.0.1:{proxy.port}/signal", "bob")
        try:
            await bob.subscribe("alice", "video")
            await alice.publish(video_track=TestPatternVideoTrack(RED))
            track = await bob.wait_remote_track("alice", "video", within=30)
            await track.wait_frames(3, within=30)
            participant = bob.room["participantId"] if bob.room else None

            await proxy.cut()
            await bob.wait_for_event("connection-state-changed", lambda d: d["state"] == "RECONNECTING")
            before = track.frames
            await track.wait_frames(before + 5, within=20)  # media does not need the signalling socket
            await proxy.restore()
            await bob.wait_for_event("connection-state-changed", lambda d: d["state"] == "RECONNECTED", 30)

            assert states(bob)[-3:] == ["RECONNECTING", "RECONNECTED", "CONNECTED"]
            assert bob.room is not None and bob.room["participantId"] == participant  # resumed, same member
            assert bob.remote_track("alice", "video") is track and not track.ended
            assert not [e for e in alice.event_log if e.name == "remote-user-exit"]
            await track.wait_frames(track.frames + 5, within=20)
            assert (await bob.request("heartbeat"))["inRoom"] is True
        finally:
            await bob.close()
            await alice.close()
            await proxy.cut()


async def test_a_replaced_server_is_entered_again_tracks_republished_and_subscriptions_replayed() -> None:
    async with media_service() as media:
        proxy = MovableProxy("127.0.0.1", 1)
        async with signalling_server(media) as first:
            proxy.point_to(first.url)
            await proxy.start()
            url = f"ws://127.0.0.1:{proxy.port}/signal"
            alice = await enter(url, "alice")
            bob = await enter(url, "bob")
            await alice.publish(video_track=TestPatternVideoTrack(RED))
            await bob.subscribe("alice", "video")  # autoReceiveVideo is off: an explicit subscription
            old = await bob.wait_remote_track("alice", "video", within=30)
            await old.wait_frames(3, within=30)
            await proxy.cut()  # the control plane "dies": sockets drop without a close frame
        try:
            # the first server and its rooms are gone; another one answers behind the same URL
            async with signalling_server(media) as second:
                proxy.point_to(second.url)
                await proxy.restore()
                for c in (alice, bob):
                    await c.wait_for_event(
                        "connection-state-changed", lambda d: d["state"] == "RECONNECTED", within=60
                    )
                assert old.ended
                track = await bob.wait_remote_track("alice", "video", within=30)
                await track.wait_frames(5, within=30)  # republished by alice, resubscribed by bob
                room = second.manager.get_room(f"{SDKAPPID}:n:88")
                assert room is not None and set(room.participants) == {"alice", "bob"}
                for c in (alice, bob):
                    assert states(c)[-3:] == ["RECONNECTING", "RECONNECTED", "CONNECTED"]
                    assert not [e for e in c.event_log if e.name == "error"]
                await alice.close()
                await bob.close()
                await eventually(lambda: second.manager.get_room(f"{SDKAPPID}:n:88") is None, 20)
        finally:
            await alice.close()
            await bob.close()
            await proxy.cut()


async def test_an_entry_refused_for_good_stops_reconnecting_with_an_error_event() -> None:
    async with media_service() as media:
        async with signalling_server(media) as first:
            proxy = MovableProxy("127.0.0.1", 1)
            proxy.point_to(first.url)
            await proxy.start()
            bob = await enter(f"ws://127.0.0.1:{proxy.port}/signal", "bob")
            await proxy.cut()
        try:
            async with signalling_server(media) as second:
                assert bob._entry is not None
                bob._entry["userSig"] = "not-a-usersig"  # e.g. expired while we were away
                proxy.point_to(second.url)
                await proxy.restore()
                ev = await bob.wait_for_event("error", lambda d: d.get("reason") == "reconnect_failed", 30)
                assert ev.data["serverCode"] == -100018 and ev.data["extraCode"] == 5501
                assert bob.connection_state == "DISCONNECTED" and bob.room is None
        finally:
            await bob.close()
            await proxy.cut()


def test_policy_helpers() -> None:
    assert signal_url("http://10.0.0.2:8080") == "ws://10.0.0.2:8080/signal"
    assert signal_url("https://rr.example/") == "wss://rr.example/signal"
    assert signal_url("wss://rr.example/signal") == "wss://rr.example/signal"
    assert signal_url("http://10.0.0.2:8080/rr") == "ws://10.0.0.2:8080/rr/signal"
    with pytest.raises(RelayRoomError):
        signal_url("ftp://x")
    assert candidates("ws://b/signal", "ws://a/signal", ["ws://a/signal", "ws://c/signal"]) == [
        "ws://b/signal",
        "ws://a/signal",
        "ws://c/signal",
    ]
    assert deadline_s(5) == 10.0 and deadline_s(90) == 90.0 and deadline_s(None) == 90.0
    assert deadline_s(90, 3.0) == 3.0
    assert is_final(-100018) and not is_final(-100202) and not is_final(5998) and not is_final(-100212)
