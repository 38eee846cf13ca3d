"""Cluster scenario (`python -m bench --scenarios cluster`): three real `relayroom serve` nodes on this
machine, one PostgreSQL database, the local Redis.

* **Join time, direct vs through a redirect.** A room is created on some node (its owner); then one
  client enters through the owner (direct) and one through another node, which answers with a redirect
  the SDK follows (reconnect to the owner, enter again). Timed from the start of ``enter_room``
  (signalling connect included) to its answer, both alike, in alternating order, ``--trials`` times.
* **Failover time.** A publisher and a viewer (the SDK's reconnection on, every node's URL as an
  alternate) are in a room; its owner is SIGKILLed. Timed from the kill to the viewer being in the room
  again (``RECONNECTED``) and to the first audio frame of the publisher after that (media flowing). The
  killed node is restarted before the next trial, so every trial has three nodes.

Needs PostgreSQL (``RELAYROOM_TEST_PG``, default postgresql://postgres@127.0.0.1:5432/postgres: a
database is created for the run and dropped after) and Redis (``RELAYROOM_TEST_REDIS``, default
redis://127.0.0.1:6379/0, keys under a prefix of the run, deleted after). Nothing here is asserted: the
numbers are for docs/performance.md, with their spread; they depend on the lease TTL (``--lease-ttl``)
and on how loaded the machine is (the load average is recorded).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from tests.cluster.processes import Cluster, Node, cluster

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, SineAudioTrack

PG_ADMIN_DSN = os.environ.get("RELAYROOM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("RELAYROOM_TEST_REDIS", "redis://127.0.0.1:6379/0")


def stats(values: list[float]) -> dict[str, Any]:
    """Median, p90, min, max, mean and standard deviation (seconds, 4 decimals); n."""
    if not values:
        return {"n": 0}
    v = sorted(values)
    p90 = v[min(len(v) - 1, round(0.9 * (len(v) - 1)))]
    return {
        "n": len(v),
        "p50": round(statistics.median(v), 4),
        "p90": round(p90, 4),
        "min": round(v[0], 4),
        "max": round(v[-1], 4),
        "mean": round(statistics.fmean(v), 4),
        "stdev": round(statistics.stdev(v), 4) if len(v) > 1 else 0.0,
    }


class Bench:
    def __init__(self, c: Cluster) -> None:
        self.c = c
        self.app = c.first.sdkappid
        self.key = c.first.secret_key

    def client(self, via: Node, *, reconnect: bool = False) -> RelayRoomClient:
        if reconnect:
            others = [n.url for n in self.c.nodes if n is not via]
            return RelayRoomClient(via.signal_url, reconnect_urls=others)
        return RelayRoomClient(via.signal_url)

    async def enter(self, client: RelayRoomClient, user: str, room: int) -> float:
        """Seconds ``enter_room`` took (connect, enter, any redirect followed)."""
        t0 = time.perf_counter()
        await client.enter_room(
            sdk_app_id=self.app,
            user_id=user,
            user_sig=gen_usersig(self.app, self.key, user, 3600),
            room_id=room,
            auto_receive_video=False,
        )
        return time.perf_counter() - t0

    async def join_trial(self, i: int) -> tuple[float, float]:
        """(direct, redirected) join seconds in a fresh room."""
        room = 700_000 + i
        holder = self.client(self.c.nodes[i % len(self.c.nodes)])
        direct_c: RelayRoomClient | None = None
        redirect_c: RelayRoomClient | None = None
        try:
            await self.enter(holder, f"holder{i}", room)
            owner = self.c.of_url(holder.url)
            other = next(n for n in self.c.nodes if n is not owner)
            direct_c, redirect_c = self.client(owner), self.client(other)
            if i % 2:
                redirected = await self.enter(redirect_c, f"r{i}", room)
                direct = await self.enter(direct_c, f"d{i}", room)
            else:
                direct = await self.enter(direct_c, f"d{i}", room)
                redirected = await self.enter(redirect_c, f"r{i}", room)
            if not redirect_c.redirected_from or direct_c.redirected_from:
                raise RuntimeError(
                    "the entry through another node was not redirected (or the direct one was)"
                )
            return direct, redirected
        finally:
            for cl in (holder, direct_c, redirect_c):
                if cl is not None:
                    await cl.close()

    async def failover_trial(self, i: int) -> dict[str, Any]:
        """Seconds from SIGKILL of the room's owner to the viewer re-entered and to media again."""
        room = 800_000 + i
        via = self.c.nodes[i % len(self.c.nodes)]
        pub, viewer = self.client(via, reconnect=True), self.client(via, reconnect=True)
        try:
            await self.enter(pub, f"p{i}", room)
            await pub.publish(SineAudioTrack(440.0))
            await self.enter(viewer, f"v{i}", room)
            track = await viewer.wait_remote_track(f"p{i}", "audio", within=30)
            await track.wait_frames(5, within=30)
            owner = self.c.of_url(pub.url)
            back = asyncio.Event()
            back_at: list[float] = []

            def on_state(e: Any) -> None:
                if e.data.get("state") == "RECONNECTED" and not back.is_set():
                    back_at.append(time.monotonic())
                    back.set()

            viewer.on("connection-state-changed", on_state)
            t0 = time.monotonic()
            await asyncio.to_thread(self.c.kill, owner)
            await asyncio.wait_for(back.wait(), 60)
            deadline = t0 + 60
            while True:  # the publisher's track as received after the re-entry
                fresh = viewer.remote_track(f"p{i}", "audio")
                if fresh is not None and fresh is not track and fresh.first_frame_at is not None:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("no audio from the publisher after the failover")
                await asyncio.sleep(0.02)
            out = {
                "reentered_s": back_at[0] - t0,
                "media_s": fresh.first_frame_at - t0,
                "new_owner": self.c.nodes.index(self.c.of_url(pub.url)),
            }
        finally:
            await asyncio.gather(pub.close(), viewer.close(), return_exceptions=True)
            t1 = time.monotonic()
            for n in self.c.nodes:  # the killed node comes back (same id and data dir) for the next trial
                if not n.alive:
                    self.c.start(n)
                    await asyncio.to_thread(self.c.wait, n)
        out["restart_s"] = time.monotonic() - t1
        return out


async def _trials(
    console: Console, what: str, n: int, fn: Callable[[int], Awaitable[Any]]
) -> tuple[list[Any], list[str]]:
    out: list[Any] = []
    errors: list[str] = []
    for i in range(n):
        try:
            out.append(await fn(i))
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
            console.print(f"[yellow]{what} trial {i}: {errors[-1]}")
    return out, errors


def _admin(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


async def _run(
    console: Console, trials: int, lease_ttl_s: float, root: Path, database_url: str
) -> dict[str, Any]:
    with cluster(root, database_url, REDIS_URL, nodes=3, lease_ttl_s=lease_ttl_s) as c:
        b = Bench(c)
        console.print(f"3 nodes up: {', '.join(n.url for n in c.nodes)}")
        await b.join_trial(-1)  # warm-up (imports, first routers), not counted
        joins, join_errors = await _trials(console, "join", trials, b.join_trial)
        fails, fail_errors = await _trials(console, "failover", trials, b.failover_trial)
    direct = [d for d, _ in joins]
    redirected = [r for _, r in joins]
    summary = {
        "join_direct_s": stats(direct),
        "join_redirect_s": stats(redirected),
        "join_redirect_over_direct": (
            round(statistics.median(redirected) / statistics.median(direct), 2) if joins else None
        ),
        "failover_reentered_s": stats([f["reentered_s"] for f in fails]),
        "failover_media_s": stats([f["media_s"] for f in fails]),
        "node_restart_s": stats([f["restart_s"] for f in fails]),
    }
    return {
        "trials": trials,
        "join": [{"direct_s": round(d, 4), "redirect_s": round(r, 4)} for d, r in joins],
        "failover": [{k: round(v, 4) if isinstance(v, float) else v for k, v in f.items()} for f in fails],
        "errors": {"join": join_errors, "failover": fail_errors},
        "summary": summary,
    }


def _table(console: Console, data: dict[str, Any]) -> None:
    t = Table(title=f"cluster: 3 nodes, lease TTL {data['meta']['lease_ttl_s']} s, {data['trials']} trials")
    for col in ("measure", "n", "p50 (s)", "p90 (s)", "min (s)", "max (s)", "stdev (s)"):
        t.add_column(col)
    for key, label in (
        ("join_direct_s", "join, direct"),
        ("join_redirect_s", "join, through a redirect"),
        ("failover_reentered_s", "failover: back in the room"),
        ("failover_media_s", "failover: media again"),
        ("node_restart_s", "killed node restarted (ready)"),
    ):
        s = data["summary"][key]
        t.add_row(label, str(s["n"]), *(str(s.get(k, "-")) for k in ("p50", "p90", "min", "max", "stdev")))
    console.print(t)
    console.print(f"redirect / direct (medians): {data['summary']['join_redirect_over_direct']}")


def run_cluster(trials: int = 20, lease_ttl_s: float = 5.0, out: str = "") -> int:
    """The cluster scenario; writes bench/results/<date>-cluster.json. Returns an exit status."""
    console = Console(width=None if sys.stdout.isatty() else 160)
    name = f"relayroom_bench_{uuid.uuid4().hex[:10]}"
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        console.print(f"[red]PostgreSQL is needed at {PG_ADMIN_DSN}: {type(exc).__name__}: {exc}")
        return 2
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    t0 = time.monotonic()
    load_before = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory(prefix="relayroom-bench-cluster-") as tmp:
            data = asyncio.run(_run(console, trials, lease_ttl_s, Path(tmp), f"{base}/{name}"))
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    data["meta"] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scenario": "cluster",
        "nodes": 3,
        "lease_ttl_s": lease_ttl_s,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
        },
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "duration_s": round(time.monotonic() - t0, 1),
    }
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%MZ")
    path = Path(out) if out else results / f"{stamp}-cluster.json"
    path.write_text(json.dumps(data, indent=1))
    _table(console, data)
    console.print(f"results: {path}  ({data['meta']['duration_s']} s)")
    return 0
