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

from tests.processes import served_call

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow, pytest.mark.chaos_long]


async def test_disk_full_fails_writes_cleanly_media_flows_and_writes_recover(tmp_path: Path) -> None:
    async with served_call(tmp_path, room_id=8) as call:
        server, console, track = call.server, call.console, call.track
        assert server.proc is not None
        pid = server.proc.pid

        async def create_app(name: str) -> httpx.Response:
            return await console.http.post(call.apps_url, json={"name": name}, headers=console.headers)

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
        apps = (await console.http.get(call.apps_url, headers=console.headers)).json()
        names = {a["name"] for a in apps}
        assert "after-the-fault" in names and "during-the-fault" not in names
        metrics = (await console.http.get("/metrics")).text
        assert "relayroom_oplog_chain_ok 1.0" in metrics
        assert (await console.http.get("/readyz")).status_code == 200
