"""SDK features against the real server and MediaService: events API, mute, custom messages, roles,
session resume and worker death."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from relayroom.client import (
    ClientEvent,
    RelayRoomClient,
    RelayRoomError,
    SineAudioTrack,
    TestPatternVideoTrack,
    colour_close,
)
from relayroom.control.rooms.manager import RoomLimits, RoomManager, RoomManagerParams
from relayroom.media.service import MediaService
from relayroom.media.types import MediaEventType, MediaParams
from tests.control.rooms.fakes import REGION, SDKAPPID, FakeDirectory, usersig
from tests.control.signaling.server import RunningServer, serve

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]

RED = (220, 30, 30)


@contextlib.asynccontextmanager
async def client(
    server: RunningServer, user: str, room_id: int = 77, auto_reconnect: bool = True, **kw: object
) -> AsyncIterator[RelayRoomClient]:
    c = RelayRoomClient(server.url, auto_reconnect=auto_reconnect)
    try:
        await c.enter_room(
            sdk_app_id=SDKAPPID,
            user_id=user,
            user_sig=usersig(user),
            room_id=room_id,
            auto_receive_video=True,
            **kw,  # type: ignore[arg-type]
        )
        yield c
    finally:
        await c.close()


async def test_events_arrive_in_order_through_the_async_iterator_and_callbacks(server: RunningServer) -> None:
    async with client(server, "alice") as alice:
        seen_by_callback: list[str] = []
        alice.on("*", lambda ev: seen_by_callback.append(ev.name))
        seen_by_iterator: list[ClientEvent] = []

        async def collect() -> None:
            async for ev in alice.events():
                seen_by_iterator.append(ev)
                if ev.name == "remote-user-exit":
                    return

        task = asyncio.create_task(collect())
        await asyncio.sleep(0)
        async with client(server, "bob") as bob:
            await bob.publish(audio_track=SineAudioTrack(), video_track=TestPatternVideoTrack(RED))
            await alice.wait_remote_track("bob", "video")
        await asyncio.wait_for(task, 10)
        names = [e.name for e in seen_by_iterator if e.name != "track"]
        assert names[0] == "remote-user-enter"
        assert set(names[1:3]) == {"remote-audio-available", "remote-video-available"}
        assert names[-3:] == ["remote-audio-unavailable", "remote-video-unavailable", "remote-user-exit"]
        assert [n for n in seen_by_callback if n != "track"] == names


async def test_mute_video_tells_the_room_and_unmute_brings_the_picture_back(server: RunningServer) -> None:
    async with client(server, "alice") as alice, client(server, "bob") as bob:
        await alice.publish(video_track=TestPatternVideoTrack(RED))
        track = await bob.wait_remote_track("alice", "video")
        await track.wait_frames(5)
        await alice.mute_local_video(True)
        ev = await bob.wait_for_event("remote-video-unavailable")
        assert ev.data == {"userId": "alice", "streamType": "main", "reason": "mute"}
        await asyncio.sleep(0.3)
        frozen = track.frames
        await asyncio.sleep(0.5)
        assert track.frames <= frozen + 1  # paused at the SFU
        await alice.mute_local_video(False)
        await bob.wait_for_event("remote-video-available", lambda d: d.get("reason") == "mute")
        await track.wait_frames(frozen + 5, within=5)
        colour = track.colour()
        assert colour is not None and colour_close(colour, RED)


async def test_custom_messages_reach_the_other_members_and_audience_cannot_send(
    server: RunningServer,
) -> None:
    async with (
        client(server, "host", scene="live", role="anchor") as host,
        client(server, "viewer", scene="live", role="audience") as viewer,
    ):
        assert await host.send_custom_message(2, b"\x00hello") == 1
        ev = await viewer.wait_for_event("custom-message")
        assert ev.data["userId"] == "host" and ev.data["cmdId"] == 2 and ev.data["seq"] == 1
        with pytest.raises(RelayRoomError) as exc:
            await viewer.send_custom_message(2, b"no")
        assert exc.value.code == 5100


async def test_audience_cannot_publish_until_it_switches_to_anchor(server: RunningServer) -> None:
    async with (
        client(server, "host", scene="live", role="anchor") as host,
        client(server, "viewer", scene="live", role="audience") as viewer,
    ):
        with pytest.raises(RelayRoomError) as exc:
            await viewer.publish(audio_track=SineAudioTrack())
        assert exc.value.code == -100204
        assert await viewer.switch_role("anchor") == "anchor"
        await host.wait_for_event("remote-user-enter", lambda d: d["userId"] == "viewer")
        await viewer.publish(video_track=TestPatternVideoTrack(RED))
        track = await host.wait_remote_track("viewer", "video")
        await track.wait_frames(3)
        assert await viewer.switch_role("audience") == "audience"
        ev = await host.wait_for_event("remote-user-exit", lambda d: d["userId"] == "viewer")
        assert ev.data["reason"] == 3


async def test_a_dropped_socket_resumes_with_its_token_and_media_keeps_flowing(server: RunningServer) -> None:
    async with client(server, "alice") as alice, client(server, "bob") as bob:
        await alice.publish(video_track=TestPatternVideoTrack(RED))
        track = await bob.wait_remote_track("alice", "video")
        await track.wait_frames(3)
        assert bob.room is not None
        token = bob.room["resumeToken"]
        await bob.drop_connection()
        before = track.frames
        await asyncio.sleep(0.5)
        assert track.frames > before  # media does not depend on the signalling socket
        resumed = await bob.resume(token)
        assert resumed["members"][0]["userId"] == "alice"
        assert not [e for e in alice.event_log if e.name == "remote-user-exit"]


async def kill_the_rooms_worker(server: RunningServer, room_id: int = 77) -> None:
    room = server.manager.get_room(f"{SDKAPPID}:n:{room_id}")
    assert room is not None
    server.media.worker_for_router(room.router_id).kill()


async def test_worker_death_members_enter_again_by_themselves_with_media_flowing(
    server: RunningServer,
) -> None:
    async with client(server, "alice") as alice, client(server, "bob") as bob:
        await alice.publish(video_track=TestPatternVideoTrack(RED))
        old = await bob.wait_remote_track("alice", "video")
        await old.wait_frames(3)
        await kill_the_rooms_worker(server)
        for c in (alice, bob):
            ev = await c.wait_for_event("reconnect", within=10)
            assert ev.data == {"reason": "worker_died"}
        for c in (alice, bob):
            await c.wait_for_event("connection-state-changed", lambda d: d["state"] == "RECONNECTED", 30)
        # the application did nothing: alice published again, bob received again
        assert old.ended
        track = await bob.wait_remote_track("alice", "video", within=30)
        await track.wait_frames(5, within=30)
        colour = track.colour()
        assert colour is not None and colour_close(colour, RED), colour
        room = server.manager.get_room(f"{SDKAPPID}:n:77")
        assert room is not None and set(room.participants) == {"alice", "bob"}
        for c in (alice, bob):
            states = [e.data["state"] for e in c.event_log if e.name == "connection-state-changed"]
            assert states[-3:] == ["RECONNECTING", "RECONNECTED", "CONNECTED"]
            assert not [e for e in c.event_log if e.name == "error"]


async def test_worker_death_without_auto_reconnect_leaves_entering_again_to_the_app(
    server: RunningServer,
) -> None:
    events: list[MediaEventType] = []
    server.media.on_event(lambda e: events.append(e.type))
    async with (
        client(server, "alice", auto_reconnect=False) as alice,
        client(server, "bob", auto_reconnect=False) as bob,
    ):
        await alice.publish(video_track=TestPatternVideoTrack(RED))
        await (await bob.wait_remote_track("alice", "video")).wait_frames(3)
        await kill_the_rooms_worker(server)
        for c in (alice, bob):
            ev = await c.wait_for_event("reconnect", within=10)
            assert ev.data == {"reason": "worker_died"}
            await c.wait_for_event("connection-state-changed", lambda d: d["state"] == "DISCONNECTED", 10)
            assert c.room is None
        async with asyncio.timeout(20):
            while MediaEventType.WORKER_RESTARTED not in events:
                await asyncio.sleep(0.05)
        for c in (alice, bob):
            await c.exit_room()  # drops the dead peer connections; the server already forgot the member
        async with client(server, "alice") as alice2, client(server, "bob") as bob2:
            await alice2.publish(video_track=TestPatternVideoTrack(RED))
            track = await bob2.wait_remote_track("alice", "video")
            await track.wait_frames(3)


async def test_unpublish_then_publish_again_is_received_again(server: RunningServer) -> None:
    blue = (30, 30, 220)
    async with client(server, "alice") as alice, client(server, "bob") as bob:
        await alice.publish(audio_track=SineAudioTrack(), video_track=TestPatternVideoTrack(RED))
        first = await bob.wait_remote_track("alice", "video")
        await first.wait_frames(3)
        await alice.unpublish()
        await bob.wait_for_event("remote-video-unavailable")
        assert first.ended
        await alice.publish(audio_track=SineAudioTrack(), video_track=TestPatternVideoTrack(blue))
        second = await bob.wait_remote_track("alice", "video")
        assert second is not first
        await second.wait_frames(5)
        colour = second.colour()
        assert colour is not None and colour_close(colour, blue), colour
        audio = await bob.wait_remote_track("alice", "audio")
        await audio.wait_frames(10)


async def test_screen_share_is_published_and_received_as_the_sub_stream(server: RunningServer) -> None:
    green = (30, 200, 30)
    async with client(server, "alice") as alice, client(server, "bob") as bob:
        producers = await alice.publish(
            video_track=TestPatternVideoTrack(RED), screen_track=TestPatternVideoTrack(green)
        )
        assert sorted(p["streamType"] for p in producers) == ["main", "sub"]
        await bob.wait_for_event("remote-video-available", lambda d: d["streamType"] == "sub")
        main = await bob.wait_remote_track("alice", "video", "main")
        sub = await bob.wait_remote_track("alice", "video", "sub")
        await main.wait_frames(3)
        await sub.wait_frames(3)
        main_colour, sub_colour = main.colour(), sub.colour()
        assert main_colour is not None and colour_close(main_colour, RED), main_colour
        assert sub_colour is not None and colour_close(sub_colour, green), sub_colour


async def test_live_audience_receives_the_anchors_and_is_invisible_to_them(server: RunningServer) -> None:
    async with (
        client(server, "host", scene="live", role="anchor") as host,
        client(server, "viewer", scene="live", role="audience") as viewer,
        client(server, "viewer2", scene="live", role="audience") as viewer2,
    ):
        await host.publish(audio_track=SineAudioTrack(), video_track=TestPatternVideoTrack(RED))
        for v in (viewer, viewer2):
            video = await v.wait_remote_track("host", "video")
            audio = await v.wait_remote_track("host", "audio")
            await video.wait_frames(5)
            await audio.wait_frames(10)
            colour = video.colour()
            assert colour is not None and colour_close(colour, RED)
        assert not [e for e in host.event_log if e.name == "remote-user-enter"]
        assert not [e for e in viewer.event_log if e.data.get("userId") == "viewer2"]


async def test_trtc_named_remote_controls_start_and_stop_receiving(server: RunningServer) -> None:
    async with client(server, "alice") as alice:
        bob = RelayRoomClient(server.url)
        try:
            await bob.enter_room(sdk_app_id=SDKAPPID, user_id="bob", user_sig=usersig("bob"), room_id=77)
            await alice.publish(audio_track=SineAudioTrack(), video_track=TestPatternVideoTrack(RED))
            audio = await bob.wait_remote_track("alice", "audio")  # autoReceiveAudio defaults to on
            await audio.wait_frames(5)
            assert bob.remote_track("alice", "video") is None  # autoReceiveVideo defaults to off (TRTC)
            await bob.start_remote_video("alice")
            video = await bob.wait_remote_track("alice", "video")
            await video.wait_frames(3)
            await bob.stop_remote_video("alice")
            await bob.mute_remote_audio("alice", True)
            await asyncio.sleep(0.5)
            v, a = video.frames, audio.frames
            await asyncio.sleep(0.5)
            assert video.frames <= v + 1 and audio.frames <= a + 2  # inactive m-lines carry nothing
        finally:
            await bob.close()


async def test_killing_one_worker_resets_only_its_room_while_the_other_room_keeps_flowing() -> None:
    media = MediaService(MediaParams(workers=2, loopback_only=True))
    await media.start()
    manager = RoomManager(
        RoomManagerParams(media=media, directory=FakeDirectory(), node_region=REGION, limits=RoomLimits())
    )
    try:
        async with serve(manager, media) as srv:
            async with (
                client(srv, "a1", room_id=1) as a1,
                client(srv, "a2", room_id=1) as a2,
                client(srv, "b1", room_id=2) as b1,
                client(srv, "b2", room_id=2) as b2,
            ):
                await a1.publish(video_track=TestPatternVideoTrack(RED))
                await b1.publish(video_track=TestPatternVideoTrack(RED))
                await (await a2.wait_remote_track("a1", "video")).wait_frames(3)
                b_track = await b2.wait_remote_track("b1", "video")
                await b_track.wait_frames(3)
                room_a = manager.get_room(f"{SDKAPPID}:n:1")
                room_b = manager.get_room(f"{SDKAPPID}:n:2")
                assert room_a is not None and room_b is not None
                worker_a = media.worker_for_router(room_a.router_id)
                assert worker_a is not media.worker_for_router(room_b.router_id)
                worker_a.kill()
                for c in (a1, a2):
                    assert (await c.wait_for_event("reconnect", within=10)).data == {"reason": "worker_died"}
                before = b_track.frames
                await b_track.wait_frames(before + 10, within=5)
                assert not [
                    e for e in b1.event_log + b2.event_log if e.name in ("reconnect", "remote-user-exit")
                ]
                assert manager.get_room(f"{SDKAPPID}:n:2") is room_b
                # room 1's members enter again by themselves: a new room, media flowing again
                for c in (a1, a2):
                    await c.wait_for_event(
                        "connection-state-changed", lambda d: d["state"] == "RECONNECTED", 30
                    )
                await (await a2.wait_remote_track("a1", "video", within=30)).wait_frames(3, within=30)
                again = manager.get_room(f"{SDKAPPID}:n:1")
                assert again is not None and again is not room_a
    finally:
        await media.close()
