"""The SDK against the whole control plane (create_app: database, app directory, consent hook,
media workers), served by uvicorn on 127.0.0.1: the wiring the app factory does."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, RelayRoomError, TestPatternVideoTrack, colour_close
from relayroom.config import Settings
from relayroom.control.app import create_app
from relayroom.control.bootstrap import FirstStart
from tests.serving import served

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

GREEN = (30, 200, 30)


@contextlib.asynccontextmanager
async def full_server(tmp_path: Path) -> AsyncIterator[tuple[str, FirstStart]]:
    settings = Settings(
        data_dir=tmp_path / "data",
        media={"workers": 1, "ports": [0], "loopback_only": True},
    )
    first: list[FirstStart] = []
    app = create_app(settings, on_first_start=first.append)
    async with served(app) as port:
        yield f"ws://127.0.0.1:{port}/signal", first[-1]


async def test_sdk_clients_meet_through_the_real_control_plane(tmp_path: Path) -> None:
    async with full_server(tmp_path) as (url, first):
        sdkappid, key = first.sdkappid, first.secret_key
        async with RelayRoomClient(url) as alice, RelayRoomClient(url) as bob:
            await alice.enter_room(
                sdk_app_id=sdkappid, user_id="alice", user_sig=gen_usersig(sdkappid, key, "alice"), room_id=9
            )
            await bob.enter_room(
                sdk_app_id=sdkappid,
                user_id="bob",
                user_sig=gen_usersig(sdkappid, key, "bob"),
                room_id=9,
                auto_receive_video=True,
            )
            await alice.publish(video_track=TestPatternVideoTrack(GREEN))
            track = await bob.wait_remote_track("alice", "video", within=20)
            await track.wait_frames(5, within=20)
            colour = track.colour()
            assert colour is not None and colour_close(colour, GREEN)
            # A UserSig signed with another key is refused by the database-backed directory.
            async with RelayRoomClient(url) as mallory:
                with pytest.raises(RelayRoomError) as exc:
                    await mallory.enter_room(
                        sdk_app_id=sdkappid,
                        user_id="mallory",
                        user_sig=gen_usersig(sdkappid, "0" * 64, "mallory"),
                        room_id=9,
                    )
                assert exc.value.code == -100018
