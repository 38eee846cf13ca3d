"""Worker processes belong to the MediaService: signals sent to the whole process group do not kill
them, a shutting-down service respawns nothing, and no worker outlives its control plane."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from relayroom.media.service import MediaService
from relayroom.media.types import MediaEvent, MediaEventType, MediaParams
from tests.client.crowd_server import crowd_server
from tests.serving import eventually

pytestmark = pytest.mark.timeout(60)


def worker_children(parent: int) -> set[int]:
    """Pids of media worker processes whose parent is ``parent`` (from /proc)."""
    out: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"relayroom.media.worker" in cmdline:
            out.add(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


async def test_workers_run_in_their_own_session_and_outlive_group_sigint_and_sigterm() -> None:
    svc = MediaService(MediaParams(workers=2, loopback_only=True))
    events: list[MediaEvent] = []
    svc.on_event(events.append)
    await svc.start()
    try:
        pids = [pid for pid in svc.worker_pids() if pid is not None]
        assert len(pids) == 2
        for pid in pids:
            assert os.getsid(pid) != os.getsid(0)  # Ctrl-C in our terminal does not reach it
            os.kill(pid, signal.SIGINT)  # as a signal to the whole group would
            os.kill(pid, signal.SIGTERM)
        await asyncio.sleep(1.0)
        assert all(alive(pid) for pid in pids)
        assert svc.worker_pids() == pids and not [e for e in events if e.type is MediaEventType.WORKER_DIED]
        router_id = await svc.create_router("still-working")
        assert router_id in (await svc.dump())["routers"]
    finally:
        await svc.close()
    assert not any(alive(pid) for pid in pids)


async def test_a_worker_dying_while_the_service_closes_is_not_respawned() -> None:
    svc = MediaService(MediaParams(workers=2, loopback_only=True))
    events: list[MediaEvent] = []
    svc.on_event(events.append)
    await svc.start()
    first = svc.worker_pids()
    handle = svc.worker_for_router(await svc.create_router("r"))
    closing = asyncio.get_running_loop().create_task(svc.close())
    handle.kill()  # dies while the service is shutting down
    await closing
    await asyncio.sleep(0.5)
    assert not [e for e in events if e.type is MediaEventType.WORKER_RESTARTED]
    assert worker_children(os.getpid()) == set()
    assert not any(pid is not None and alive(pid) for pid in first)


async def test_a_restart_in_flight_when_the_service_closes_leaves_no_worker_process() -> None:
    svc = MediaService(MediaParams(workers=1, loopback_only=True))
    events: list[MediaEvent] = []
    svc.on_event(events.append)
    await svc.start()
    svc.worker_for_router(await svc.create_router("r")).kill()
    await eventually(lambda: any(e.type is MediaEventType.WORKER_DIED for e in events), within=10)
    await svc.close()  # the respawn has begun (or is about to): it must not leave a process behind
    await eventually(lambda: worker_children(os.getpid()) == set(), within=10)


async def test_workers_exit_when_their_control_plane_is_killed() -> None:
    async with crowd_server(workers=2) as server:
        pid = server.process.pid
        await eventually(lambda: len(worker_children(pid)) == 2, within=20)
        workers = worker_children(pid)
        server.process.kill()
        await server.process.wait()
        await eventually(lambda: not any(alive(w) for w in workers), within=20)


async def test_ctrl_c_to_the_control_planes_group_stops_it_cleanly_and_no_worker_dies_or_respawns() -> None:
    async with crowd_server(workers=2) as server:
        pid = server.process.pid
        await eventually(lambda: len(worker_children(pid)) == 2, within=20)
        workers = worker_children(pid)
        os.killpg(os.getpgid(pid), signal.SIGINT)  # what Ctrl-C in the terminal of `make run` does
        async with asyncio.timeout(30):
            await server.process.wait()
        await eventually(lambda: not any(alive(w) for w in workers), within=20)  # stopped by their channel
    noise = [line for line in server.stderr if any(w in line for w in ("Traceback", "died", "restart"))]
    assert noise == [], "\n".join(server.stderr)
