"""Soak run: a real `relayroom serve` with rooms churning for SOAK_MINUTES, sampled for leaks.

    python -m tests.soak.run --minutes 30 --out soak-out/     # make soak (SOAK_MINUTES, SOAK_OUT)

The server runs as its own process (2 media workers, SQLite in a temporary data dir, loopback only)
with ``debug_introspection`` on: every ``--sample-seconds`` the driver reads GET /debug/introspect
(control-plane RSS, fds, asyncio tasks, objects by type, tracemalloc diff, DB pool, each worker's RSS,
fds and object counts). Room cycles run in ``--lanes`` parallel lanes; one cycle is a room's whole life:

1. an anchor enters (fresh signalling connection) and publishes audio + 160x120 video;
2. a second member enters (every other cycle: a live room, as audience) and waits for the anchor's
   video frames;
3. the anchor unpublishes and publishes audio only again;
4. the room ends: both leave (even cycles) or an admin dismisses it through the console API (odd
   cycles: the members get ``kicked-out``).

After the last cycle the driver waits for the server to be idle and takes a final sample: no room,
no member, every worker's routers/transports/producers/consumers/tuples/ufrags at zero, timers and
tasks back to what the idle server had. The verdict (tests/soak/analysis.py) fails on an RSS slope over
1 MB per 1,000 cycles after warm-up, growing fds, objects left after close, or > 5 % failed cycles.
Writes ``soak.json`` (every sample, slopes, verdict) and ``soak.png`` (trends) to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack
from tests.soak import analysis

ROOT = Path(__file__).resolve().parent.parent.parent
CYCLE_TIMEOUT_S = 60.0
MAX_FAILED_FRACTION = 0.05
ZERO_AFTER_CLOSE = (
    *("routers", "transports", "producers", "transportProducers", "consumers"),
    *("producerConsumers", "tuples", "ufrags", "pipes", "tcpBoundTransports"),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """`python -m relayroom serve` in its own process, its first-start credentials read back."""

    def __init__(self, data_dir: Path, workers: int, log: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"ws://127.0.0.1:{self.port}/signal"
        self.workers = workers
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.sdkappid = 0
        self.secret_key = ""
        self.username = ""
        self.password = ""

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        env = {
            **os.environ,
            "RELAYROOM_DEBUG_INTROSPECTION": "true",
            "RELAYROOM_MEDIA__WORKERS": str(self.workers),
            "RELAYROOM_MEDIA__PORTS": json.dumps([0] * self.workers),
            "RELAYROOM_MEDIA__TCP_PORTS": json.dumps([0] * self.workers),
            "RELAYROOM_MEDIA__LOOPBACK_ONLY": "true",
            **(extra_env or {}),
        }
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "relayroom", "serve", "--data-dir", str(self.data_dir)),
                    *("--port", str(self.port), "--log-level", "warning"),
                ],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.base, timeout=5) as http:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
            else:
                raise TimeoutError("server not ready")
        if not self.sdkappid:
            self._read_first_start()

    def _read_first_start(self) -> None:
        text = (self.data_dir / "first-start.txt").read_text()
        self.username, self.password = re.search(r"username: (\S+)\s+password: (\S+)", text).groups()  # type: ignore[union-attr]
        self.sdkappid = int(re.search(r"SDKAppID: (\d+)", text).group(1))  # type: ignore[union-attr]
        self.secret_key = re.search(r"SDKSecretKey: (\S+)", text).group(1)  # type: ignore[union-attr]

    def usersig(self, user: str) -> str:
        return str(gen_usersig(self.sdkappid, self.secret_key, user))

    def stop(self, sig: int = signal.SIGTERM, within: float = 30.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(within)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Console:
    """The console API as the first-start admin (room list and dismissal)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = httpx.AsyncClient(base_url=server.base, timeout=30)
        self.token = ""

    async def login(self) -> None:
        r = await self.http.post(
            "/api/v1/auth/login", json={"username": self.server.username, "password": self.server.password}
        )
        r.raise_for_status()
        self.token = r.json()["token"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def dismiss(self, room_id: int) -> bool:
        sdkappid = self.server.sdkappid
        r = await self.http.get(f"/api/v1/applications/{sdkappid}/rooms", headers=self.headers)
        if r.status_code == 401:
            await self.login()
            r = await self.http.get(f"/api/v1/applications/{sdkappid}/rooms", headers=self.headers)
        r.raise_for_status()
        rooms = r.json()
        rooms = rooms.get("rooms", rooms) if isinstance(rooms, dict) else rooms
        for room in rooms:
            if str(room.get("roomId")) == str(room_id):
                d = await self.http.post(
                    f"/api/v1/applications/{sdkappid}/rooms/{room['roomKey']}/dismiss", headers=self.headers
                )
                d.raise_for_status()
                return True
        return False

    async def introspect(self, **flags: bool) -> dict[str, Any]:
        # generous: a full collection or a tracemalloc diff of a long run takes tens of seconds when
        # the machine is loaded
        r = await self.http.get(
            "/debug/introspect", params={k: str(v).lower() for k, v in flags.items()}, timeout=180
        )
        r.raise_for_status()
        out: dict[str, Any] = r.json()
        return out

    async def close(self) -> None:
        await self.http.aclose()


async def room_cycle(server: Server, console: Console, n: int, room_id: int) -> None:
    """One room's whole life (see the module docstring)."""
    live = n % 2 == 1
    scene = "live" if live else "rtc"
    anchor_id, member_id = f"a{n}", f"m{n}"
    async with RelayRoomClient(server.url) as anchor, RelayRoomClient(server.url) as member:
        await anchor.enter_room(
            sdk_app_id=server.sdkappid,
            user_id=anchor_id,
            user_sig=server.usersig(anchor_id),
            room_id=room_id,
            scene=scene,
            role="anchor",
        )
        await anchor.publish(audio_track=SineAudioTrack(440), video_track=TestPatternVideoTrack())
        await member.enter_room(
            sdk_app_id=server.sdkappid,
            user_id=member_id,
            user_sig=server.usersig(member_id),
            room_id=room_id,
            scene=scene,
            role="audience" if live else "anchor",
            auto_receive_video=True,
        )
        track = await member.wait_remote_track(anchor_id, "video", within=20)
        await track.wait_frames(3, within=20)
        await anchor.unpublish()
        await anchor.publish(audio_track=SineAudioTrack(330))
        await member.wait_remote_track(anchor_id, "audio", within=20)
        if n % 2 == 0:
            await member.exit_room()
            await anchor.exit_room()
        else:
            if not await console.dismiss(room_id):
                raise RuntimeError(f"room {room_id} not listed for dismissal")
            await member.wait_for_event("kicked-out", within=15)


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.cycles = 0
        self.failed: list[str] = []
        self.samples: list[dict[str, Any]] = []
        self.missed_samples: list[str] = []
        self.started = time.monotonic()
        self.out: Path = args.out

    async def lane(self, server: Server, console: Console, lane: int, stop_at: float) -> None:
        n = lane
        while time.monotonic() < stop_at:
            room_id = 1_000_000 + n
            try:
                async with asyncio.timeout(CYCLE_TIMEOUT_S):
                    await room_cycle(server, console, n, room_id)
            except Exception as exc:  # a failed cycle is counted and reported, the soak goes on
                self.failed.append(f"cycle {n} (room {room_id}): {exc.__class__.__name__}: {exc}"[:300])
                await asyncio.sleep(1)
            self.cycles += 1
            n += self.args.lanes
            await asyncio.sleep(self.args.pause)

    async def sampler(self, console: Console, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.args.sample_seconds)
            if stop.is_set():
                break
            n += 1
            # objects by type (a full collection) every 10th sample: it stalls the server's loop a little
            try:
                await self.sample(console, objects=n % 10 == 0)
            except httpx.HTTPError as exc:  # a missed sample is noted, the soak goes on
                self.missed_samples.append(f"{time.monotonic() - self.started:.0f} s: {exc!r}"[:200])

    async def sample(self, console: Console, **kw: Any) -> dict[str, Any]:
        cp = await console.introspect(**kw)
        s = {
            "t": round(time.monotonic() - self.started, 1),
            "cycles": self.cycles,
            "failed": len(self.failed),
            "control_plane": cp,
        }
        self.samples.append(s)
        with (self.out / "samples.jsonl").open("a") as f:  # kept even if the run dies before the end
            f.write(json.dumps(s, sort_keys=True) + "\n")
        return s

    async def run(self) -> dict[str, Any]:
        args = self.args
        out: Path = args.out
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="relayroom-soak-") as tmp:
            server = Server(Path(tmp) / "data", args.workers, out / "server.log")
            server.start()
            console = Console(server)
            try:
                await server.wait_ready()
                await console.login()
                idle_before = await self.sample(console, objects=True, baseline=True)
                stop_at = time.monotonic() + args.minutes * 60
                stop = asyncio.Event()
                sampler = asyncio.create_task(self.sampler(console, stop))
                await asyncio.gather(*(self.lane(server, console, i, stop_at) for i in range(args.lanes)))
                stop.set()
                await sampler
                idle_after = await self._idle(console, idle_before["control_plane"])
            finally:
                await console.close()
                rc = server.stop()
        verdict = analysis.judge(self.samples)
        leaks = leftovers(idle_before["control_plane"], idle_after["control_plane"])
        failures = list(verdict.failures) + leaks
        if self.cycles and len(self.failed) / self.cycles > MAX_FAILED_FRACTION:
            failures.append(f"{len(self.failed)} of {self.cycles} room cycles failed")
        if rc not in (0, -signal.SIGTERM):
            failures.append(f"server exited with {rc} on SIGTERM")
        result = {
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "minutes": args.minutes,
            "lanes": args.lanes,
            "workers": args.workers,
            "cycles": self.cycles,
            "failed_cycles": len(self.failed),
            "failed_examples": self.failed[:20],
            "missed_samples": self.missed_samples,
            "warmup_cycles": verdict.warmup_cycles,
            "slopes_per_1k_cycles": verdict.slopes_per_1k_cycles,
            "thresholds": {
                "rss_mb_per_1k_cycles": analysis.RSS_MB_PER_1K_CYCLES,
                "fds_per_1k_cycles": analysis.FDS_PER_1K_CYCLES,
                "max_failed_fraction": MAX_FAILED_FRACTION,
            },
            "idle_before": idle_before["control_plane"],
            "idle_after": idle_after["control_plane"],
            "ok": not failures,
            "failures": failures,
            "commit": git_commit(),
            "machine": {"cores": os.cpu_count(), "nice": os.nice(0)},
            "samples": self.samples,
        }
        (out / "soak.json").write_text(json.dumps(result, indent=1, sort_keys=True))
        analysis.chart(
            self.samples, out / "soak.png", f"soak: {self.cycles} room cycles in {args.minutes} min"
        )
        return result

    async def _idle(self, console: Console, before: dict[str, Any], within: float = 150.0) -> dict[str, Any]:
        """The first sample with nothing left over (or the last one tried). ``within`` covers the
        rooms' idle timeout (90 s): a member whose client gave up during a failed cycle is removed
        only by that timeout."""
        deadline = time.monotonic() + within
        while True:
            try:
                s = await self.sample(console, objects=True, diff=True)
            except httpx.HTTPError:
                s = await self.sample(console)
            if not leftovers(before, s["control_plane"]) or time.monotonic() > deadline:
                return s
            await asyncio.sleep(2)


def leftovers_counts(cp: dict[str, Any]) -> list[str]:
    left = []
    rooms = cp.get("rooms") or {}
    if rooms.get("rooms") or rooms.get("members"):
        left.append(f"rooms still open: {rooms}")
    media = cp.get("media") or {}
    for key in ("routers", "participants", "producers"):
        if media.get(key):
            left.append(f"media service still holds {media[key]} {key}")
    for w in media.get("workers", []):
        for key in ZERO_AFTER_CLOSE:
            if w.get(key):
                left.append(f"worker {w['index']} still holds {w[key]} {key}")
    return left


def leftovers(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Objects left once every room closed, against the idle server at the start."""
    left = leftovers_counts(after)
    wb = {w["index"]: w for w in (before.get("media") or {}).get("workers", [])}
    for w in (after.get("media") or {}).get("workers", []):
        b = wb.get(w["index"])
        if b is None:
            left.append(f"worker {w['index']} was restarted during the soak")
            continue
        for key in ("timers", "tasks"):
            if w.get(key, 0) > b.get(key, 0):
                left.append(f"worker {w['index']}: {key} {b.get(key)} idle before, {w.get(key)} after")
    # the control plane's own tasks: a few may come and go (sessions, timers); a leak grows with cycles
    if after["asyncio_tasks"] > before["asyncio_tasks"] + 5:
        left.append(f"control-plane asyncio tasks {before['asyncio_tasks']} -> {after['asyncio_tasks']}")
    if (after.get("signal_connections") or 0) > 0:
        left.append(f"{after['signal_connections']} signalling connections still open")
    return left


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.soak.run", description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 30)))
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("SOAK_OUT", "soak-out")))
    ap.add_argument("--lanes", type=int, default=1, help="rooms churning at the same time")
    ap.add_argument("--workers", type=int, default=2, help="media workers of the server")
    ap.add_argument("--sample-seconds", type=float, default=30.0)
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between a lane's cycles")
    args = ap.parse_args(argv)
    result = asyncio.run(Soak(args).run())
    slopes = result["slopes_per_1k_cycles"]
    print(
        f"soak: {result['cycles']} cycles ({result['failed_cycles']} failed) in {args.minutes} min; "
        f"slopes per 1,000 cycles: {json.dumps(slopes)}"
    )
    for f in result["failures"]:
        print(f"FAIL: {f}")
    print(f"{'ok' if result['ok'] else 'FAILED'}: {args.out / 'soak.json'}, {args.out / 'soak.png'}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
