"""Live rooms in the console API against the real server: list members and tracks, remove, dismiss."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack
from relayroom.config import Settings
from relayroom.control.app import create_app
from relayroom.control.bootstrap import FirstStart
from tests.serving import served

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[str, FirstStart]]:
    seen: list[FirstStart] = []
    settings = Settings(data_dir=tmp_path / "data", media={"workers": 1, "ports": [0], "loopback_only": True})
    async with served(create_app(settings, on_first_start=seen.append)) as port:
        yield f"127.0.0.1:{port}", seen[0]


async def test_console_lists_removes_and_dismisses_live_rooms(
    server: tuple[str, FirstStart], tmp_path: Path
) -> None:
    host, first = server
    base = f"http://{host}"
    sdk, key = first.sdkappid, first.secret_key
    clients: list[RelayRoomClient] = []
    try:
        for user in ("alice", "bob"):
            c = RelayRoomClient(f"ws://{host}/signal")
            clients.append(c)
            await c.enter_room(
                sdk_app_id=sdk,
                user_id=user,
                user_sig=gen_usersig(sdk, key, user, 600, now=int(time.time())),
                room_id=31,
            )
        await clients[0].publish(audio_track=SineAudioTrack(440), video_track=TestPatternVideoTrack())
        await clients[1].subscribe("alice", "video")
        async with httpx.AsyncClient(base_url=base) as http:
            tok = (
                await http.post("/api/v1/auth/login", json={"username": "admin", "password": first.password})
            ).json()
            h = {"Authorization": f"Bearer {tok['token']}"}
            rooms = (await http.get(f"/api/v1/applications/{sdk}/rooms", headers=h)).json()
            assert len(rooms) == 1 and rooms[0]["roomId"] == 31
            members = {m["userId"]: m for m in rooms[0]["members"]}
            assert set(members) == {"alice", "bob"} and members["alice"]["role"] == "anchor"
            assert sorted(t["kind"] for t in members["alice"]["tracks"]) == ["audio", "video"]
            # where each member is served: this node (its node id, as in call history), its only worker
            node_id = (tmp_path / "data" / "node-id").read_text().strip()
            assert {(m["node"], m["worker"]) for m in members.values()} == {(node_id, 0)}
            # live quality from the media workers: uplink per track, downlink per member
            deadline = time.monotonic() + 30
            while True:
                rooms = (await http.get(f"/api/v1/applications/{sdk}/rooms", headers=h)).json()
                members = {m["userId"]: m for m in rooms[0]["members"]}
                tracks = {t["kind"]: t for t in members["alice"]["tracks"]}
                down = members["bob"]["downlink"]
                if (
                    (tracks["video"]["width"], tracks["video"]["height"]) == (160, 120)
                    and all((t["bitrate"] or 0) > 0 for t in tracks.values())
                    and down is not None
                    and down["rttMs"] is not None
                    and down["bitrate"] > 0
                ) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert (tracks["video"]["width"], tracks["video"]["height"]) == (160, 120), tracks
            assert tracks["audio"]["fractionLost"] == 0.0 and "width" not in tracks["audio"]
            assert all(t["bitrate"] > 0 for t in tracks.values()), tracks
            assert down is not None and down["rttMs"] is not None and down["bitrate"] > 0, down
            assert down["fractionLost"] is not None
            assert members["alice"]["downlink"] is None  # alice receives nothing
            key_ = rooms[0]["roomKey"]

            r = await http.post(
                f"/api/v1/applications/{sdk}/rooms/{key_}/remove-users", headers=h, json={"user_ids": ["bob"]}
            )
            assert r.json() == {"removed": ["bob"]}
            kicked = await clients[1].wait_for_event("kicked-out", within=5)
            assert kicked.data["reason"] == "banned"

            r = await http.post(f"/api/v1/applications/{sdk}/rooms/{key_}/dismiss", headers=h)
            assert r.status_code == 200
            disband = await clients[0].wait_for_event("kicked-out", within=5)
            assert disband.data["reason"] == "room_disband"
            assert (await http.get(f"/api/v1/applications/{sdk}/rooms", headers=h)).json() == []
            r = await http.post(f"/api/v1/applications/{sdk}/rooms/{key_}/dismiss", headers=h)
            assert r.status_code == 404
            log = (
                await http.get(f"/api/v1/accounts/{first.account_id}/oplog?action=room.", headers=h)
            ).json()
            assert [e["action"] for e in log] == ["room.dismiss", "room.remove_users"]
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
