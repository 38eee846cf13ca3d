"""End-to-end encrypted rooms with the Python SDK against the real server and a real media worker:
members with the key decode each other, what the SFU relays cannot be decoded without it, a member with
another key gets e2ee-error and no frames, and key changes during a call keep the picture going."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator

import pytest

from relayroom.client import (
    RelayRoomClient,
    RelayRoomError,
    RemoteTrack,
    SineAudioTrack,
    TestPatternVideoTrack,
    colour_close,
)
from relayroom.client.e2ee import E2EEKey
from tests.control.rooms.fakes import SDKAPPID, usersig
from tests.control.signaling.server import RunningServer
from tests.serving import eventually

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

RED = (220, 30, 30)
BLUE = (30, 30, 220)
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
TONE = 440.0


@contextlib.asynccontextmanager
async def member(
    server: RunningServer, user: str, key: E2EEKey | None, room_id: int = 4242
) -> AsyncIterator[RelayRoomClient]:
    c = RelayRoomClient(server.url)
    try:
        await c.enter_room(
            sdk_app_id=SDKAPPID,
            user_id=user,
            user_sig=usersig(user),
            room_id=room_id,
            auto_receive_video=True,
            e2ee_key=key,
        )
        yield c
    finally:
        await c.close()


def tone_of(track: RemoteTrack) -> bool:
    return abs(track.last_frequency - TONE) < 40 and track.last_rms > 500


async def decodes(track: RemoteTrack, rgb: tuple[int, int, int] | None, more: int = 5) -> None:
    """``track`` decodes ``more`` new frames (of colour ``rgb`` for video)."""
    start = track.frames
    await track.wait_frames(start + more, within=20)
    if rgb is not None:
        colour = track.colour()
        assert colour is not None and colour_close(colour, rgb), colour


async def test_members_with_the_same_key_see_and_hear_each_other(server: RunningServer) -> None:
    async with (
        member(server, "alice", "a shared passphrase") as alice,
        member(server, "bob", "a shared passphrase") as bob,
    ):
        assert alice.room is not None and alice.room["e2ee"] is True
        await alice.publish(audio_track=SineAudioTrack(TONE), video_track=TestPatternVideoTrack(RED))
        await bob.publish(audio_track=SineAudioTrack(TONE), video_track=TestPatternVideoTrack(BLUE))
        await decodes(await bob.wait_remote_track("alice", "video", within=20), RED)
        await decodes(await alice.wait_remote_track("bob", "video", within=20), BLUE)
        for listener, speaker in ((bob, "alice"), (alice, "bob")):
            audio = await listener.wait_remote_track(speaker, "audio", within=20)
            await eventually(functools.partial(tone_of, audio), what=f"{speaker}'s tone")
        assert bob.e2ee is not None and sum(d.decrypted for d in bob.e2ee.decryptors.values()) > 10
        assert not [e for e in alice.event_log + bob.event_log if e.name == "e2ee-error"]


async def test_a_member_without_e2ee_is_refused_from_an_encrypted_room(server: RunningServer) -> None:
    async with member(server, "alice", KEY):
        with pytest.raises(RelayRoomError) as refused:
            async with member(server, "bob", None):
                pass
        assert refused.value.code == -100210


async def test_a_member_with_another_key_gets_e2ee_error_and_no_frames(server: RunningServer) -> None:
    async with member(server, "alice", KEY) as alice, member(server, "mallory", OTHER_KEY) as mallory:
        await alice.publish(audio_track=SineAudioTrack(TONE), video_track=TestPatternVideoTrack(RED))
        ev = await mallory.wait_for_event("e2ee-error", within=20)
        assert ev.data["userId"] == "alice" and ev.data["reason"] == "no-key"
        video = await mallory.wait_remote_track("alice", "video", within=20)
        audio = await mallory.wait_remote_track("alice", "audio", within=20)
        e2ee = mallory.e2ee
        assert e2ee is not None
        await eventually(
            lambda: sum(d.failed for d in e2ee.decryptors.values()) > 30,
            what="frames that failed to decrypt",
        )
        assert video.frames == 0 and audio.frames == 0  # dropped before the decoder: no garbage
        errors = [e for e in mallory.event_log if e.name == "e2ee-error"]
        assert len(errors) <= 4  # one per stream as it starts failing, not one per frame


async def test_what_the_sfu_relays_cannot_be_decoded_without_the_key_but_a_clear_call_can(
    server: RunningServer,
) -> None:
    """An eavesdropper inside the SFU's view: a member that declares E2EE (so the room admits it) but
    hands what the SFU forwards straight to its VP8 and Opus decoders."""

    async def eavesdrop(key: E2EEKey | None, room_id: int) -> tuple[RemoteTrack, RemoteTrack, int]:
        async with member(server, "alice", key, room_id) as alice:
            eve = RelayRoomClient(server.url)
            try:
                await eve.enter_room(
                    sdk_app_id=SDKAPPID,
                    user_id="eve",
                    user_sig=usersig("eve"),
                    room_id=room_id,
                    auto_receive_video=True,
                    e2ee_key=OTHER_KEY if key is not None else None,
                )
                eve.e2ee = None  # no decryption: the payloads go to the decoders as relayed
                await alice.publish(audio_track=SineAudioTrack(TONE), video_track=TestPatternVideoTrack(RED))
                video = await eve.wait_remote_track("alice", "video", within=20)
                audio = await eve.wait_remote_track("alice", "audio", within=20)
                await asyncio.sleep(4)  # a few seconds of media, key frames included
                assert eve._recv_pc is not None
                stats = await eve._recv_pc.getStats()
                packets = sum(
                    getattr(s, "packetsReceived", 0) for s in stats.values() if s.type == "inbound-rtp"
                )
                return video, audio, packets
            finally:
                await eve.close()

    video, audio, packets = await eavesdrop(None, 5001)
    assert packets > 100
    colour = video.colour()
    assert colour is not None and colour_close(colour, RED), colour
    assert tone_of(audio)

    video, audio, packets = await eavesdrop(KEY, 5002)
    assert packets > 100  # the media did arrive...
    colour = video.colour()
    assert colour is None or not colour_close(colour, RED), colour  # ...and no picture came out of it
    assert not tone_of(audio)  # nor the sound (Opus decodes noise at best)


async def test_key_changes_during_a_call_keep_frames_decoding(server: RunningServer) -> None:
    async with member(server, "alice", KEY) as alice, member(server, "bob", KEY) as bob:
        await alice.publish(video_track=TestPatternVideoTrack(RED))
        track = await bob.wait_remote_track("alice", "video", within=20)
        await decodes(track, RED)

        # A ratchet: bob is told nothing and follows within the window.
        for _ in range(3):
            alice.ratchet_e2ee_key()
            await decodes(track, RED, more=3)
        assert not [e for e in bob.event_log if e.name == "e2ee-error"]

        # A new key from the application: bob keeps the old one for late frames, takes the new one at
        # once, and the picture goes on once both have it.
        await bob.set_e2ee_key(b"the next key, 32 bytes long....!")
        await decodes(track, RED, more=3)  # alice still sends with the old (ratcheted) key
        await alice.set_e2ee_key(b"the next key, 32 bytes long....!")
        await decodes(track, RED, more=10)
        assert not [e for e in bob.event_log if e.name == "e2ee-error"]


async def test_e2ee_calls_outside_an_encrypted_room_are_refused(server: RunningServer) -> None:
    async with member(server, "alice", None) as alice:
        with pytest.raises(RelayRoomError) as refused:
            await alice.set_e2ee_key(KEY)
        assert refused.value.code == 5100
        with pytest.raises(RelayRoomError):
            alice.ratchet_e2ee_key()
