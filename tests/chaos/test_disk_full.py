"""Chaos: the data dir stops taking writes during a call (disk full), then takes them again.

Simulated without root: the running control plane's RLIMIT_FSIZE is lowered to 1 byte (prlimit on its
pid), so every write to a regular file fails (EFBIG; SQLite reports an I/O error) while reads work, as
on a full disk; raising it again is the operator freeing space. (A full tmpfs or loop device needs
root; this is what a CI user can do.) Expected: API writes fail with a clear error and the process
stays up; the call in progress keeps its media; after recovery writes succeed again without a restart
and the operation log still verifies.
"""

from __future__ import annotations

import resource
from pathlib import Path

import httpx
import pytest

from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack
from tests.soak.run import Console, Server

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow, pytest.mark.chaos_long]


async def test_disk_full_fails_writes_cleanly_media_flows_and_writes_recover(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", workers=1, log=tmp_path / "server.log")
    server.start()
    console = Console(server)
    anchor, viewer = RelayRoomClient(server.url), RelayRoomClient(server.url)
    try:
        await server.wait_ready()
        await console.login()
        await anchor.enter_room(
            sdk_app_id=server.sdkappid, user_id="anchor", user_sig=server.usersig("anchor"), room_id=8
        )
        await anchor.publish(audio_track=SineAudioTrack(440), video_track=TestPatternVideoTrack())
        await viewer.enter_room(
            sdk_app_id=server.sdkappid,
            user_id="viewer",
            user_sig=server.usersig("viewer"),
            room_id=8,
            auto_receive_video=True,
        )
        track = await viewer.wait_remote_track("anchor", "video", within=30)
        await track.wait_frames(5, within=30)
        assert server.proc is not None
        pid = server.proc.pid
        account = (await console.http.get("/api/v1/me", headers=console.headers)).json()
        account_id = account.get("account_id") or account["accounts"][0]["id"]

        async def create_app(name: str) -> httpx.Response:
            return await console.http.post(
                f"/api/v1/accounts/{account_id}/applications", json={"name": name}, headers=console.headers
            )

        # the disk fills up
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
        try:
            r = await create_app("during-the-fault")
            assert 500 <= r.status_code < 600, r.text
            assert r.headers["content-type"].startswith("application/json"), r.text
            assert r.json()["error"]["code"] == "storage_unavailable", r.text
            # the call goes on: frames keep arriving
            await track.wait_frames(20, within=30)
            # reads still answer; readiness says why new rooms would be at risk? (reads work: ready)
            assert (await console.http.get("/healthz")).status_code == 200
            assert server.proc.poll() is None, "the control plane died of a full disk"
        finally:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        # space is back: writes succeed without a restart, nothing half-written shows
        r = await create_app("after-the-fault")
        assert r.status_code == 201, r.text
        apps = (
            await console.http.get(f"/api/v1/accounts/{account_id}/applications", headers=console.headers)
        ).json()
        names = {a["name"] for a in apps}
        assert "after-the-fault" in names and "during-the-fault" not in names
        metrics = (await console.http.get("/metrics")).text
        assert "relayroom_oplog_chain_ok 1.0" in metrics
        assert (await console.http.get("/readyz")).status_code == 200
    finally:
        await anchor.close()
        await viewer.close()
        await console.close()
        server.stop()
