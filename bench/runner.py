"""Runs the plan against each server and measures one window per step.

Per step: a fresh room; publishers connect, then subscribers (join time = subscribe call → first media
packet, by the kernel's receive timestamp); 1 s to settle; then a window of ``window_s`` during which
server CPU (utime+stime of the server's processes only, /proc), generator CPU, packets sent and
delivered (by the send stamp inside each packet), bytes and added latency are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.genpool import GenPool
from bench.peer import HIST_BINS, hist_value_us
from bench.scenarios import Step
from bench.servers import Room, Server, cpu_seconds, rss_bytes

JOIN_CONCURRENCY = 16


@dataclass
class StepContext:
    server: Server
    gens: GenPool
    window_s: float
    log: Any
    server_cpus: set[int] = field(default_factory=lambda: {1})
    retries: int = 2
    max_foreign_pct: float = 10.0
    base_rss: int = 0  # the server's RSS with no room (per-participant RSS is measured from it)
    before_window: Callable[[], Awaitable[None]] | None = None  # e.g. start a profiler


def _percentile(hist: list[int], q: float) -> float | None:
    total = sum(hist)
    if total == 0:
        return None
    target = q * total
    acc = 0
    for i, c in enumerate(hist):
        acc += c
        if acc >= target:
            return hist_value_us(i)
    return hist_value_us(len(hist) - 1)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _server_cpu(pids: list[int]) -> float:
    total = 0.0
    for p in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(p)
    return total


def server_rss(pids: list[int]) -> int:
    total = 0
    for p in pids:
        with contextlib.suppress(OSError):
            total += rss_bytes(p)
    return total


async def _bounded(coros: list[Any], limit: int) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def run(c: Any) -> Any:
        async with sem:
            return await c

    return list(await asyncio.gather(*(run(c) for c in coros)))


def _core_busy(cpus: set[int]) -> float:
    """Busy seconds (everything but idle and iowait) of the given cores, from /proc/stat."""
    total = 0
    with open("/proc/stat") as f:
        for line in f:
            name = line.split(" ", 1)[0]
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                v = [int(x) for x in line.split()[1:]]
                total += sum(v[:8]) - v[3] - v[4]
    return total / os.sysconf("SC_CLK_TCK")


async def _measure(
    ctx: StepContext, step: Step, pids: list[int], stream_ids: dict[str, int]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    gens = ctx.gens
    gen_pids = gens.pids()
    try:
        c0 = await ctx.server.counters()
    except Exception:
        c0 = {}
    t0 = time.time_ns() + 200_000_000
    t1 = t0 + int(ctx.window_s * 1e9)
    await gens.broadcast("arm", t0=t0, t1=t1)
    await asyncio.sleep(max(0.0, (t0 - time.time_ns()) / 1e9))
    cpu0, gcpu0, busy0, w0 = (
        _server_cpu(pids),
        _server_cpu(gen_pids),
        _core_busy(ctx.server_cpus),
        time.monotonic(),
    )
    await asyncio.sleep(max(0.0, (t1 - time.time_ns()) / 1e9))
    cpu1, gcpu1, busy1, w1 = (
        _server_cpu(pids),
        _server_cpu(gen_pids),
        _core_busy(ctx.server_cpus),
        time.monotonic(),
    )
    await asyncio.sleep(0.5)  # late packets of the window
    reports = await gens.broadcast("collect")
    try:
        c1 = await ctx.server.counters()
    except Exception:
        c1 = {}
    elapsed = w1 - w0
    sent: dict[str, int] = {}
    hist = [0] * HIST_BINS
    received = rbytes = bad = drops = 0
    joins: list[dict[str, Any]] = []
    no_media: list[str] = []
    for r in reports:
        received += r["received"]
        rbytes += r["bytes"]
        bad += r["bad"]
        drops += r.get("socket_drops", 0)
        for k, v in r["sent"].items():
            sent[k] = sent.get(k, 0) + v
        for i, c in r["hist"].items():
            hist[int(i)] += c
        joins += r["joins"]
        no_media += r["no_media"]
    expected = 0
    for p in step.subscribers:
        for pub in p.subscribes:
            sid = stream_ids[pub]
            video = f"{sid}:1" if p.layer is None else f"{sid}:1.{p.layer}"  # its simulcast encoding
            expected += sent.get(f"{sid}:0", 0) + sent.get(video, 0)
    in_packets = sum(sent.values())
    cpu = cpu1 - cpu0
    cpu_pct = 100 * cpu / elapsed
    m = {
        "window_s": round(elapsed, 3),
        "in_pps": in_packets / ctx.window_s,
        "out_pps": received / ctx.window_s,
        "out_mbps": rbytes * 8 / ctx.window_s / 1e6,
        "expected": expected,
        "received": received,
        "delivery": received / expected if expected else 0.0,
        "bad_packets": bad,
        "gen_socket_drops": drops,
        "cpu_pct": cpu_pct,
        "us_per_pkt": 1e6 * cpu / received if received else None,
        "gen_cpu_pct": 100 * (gcpu1 - gcpu0) / elapsed,
        "foreign_pct": max(0.0, 100 * (busy1 - busy0) / elapsed - cpu_pct),
        "lat_p50_us": _percentile(hist, 0.50),
        "lat_p99_us": _percentile(hist, 0.99),
        "lat_p999_us": _percentile(hist, 0.999),
        "no_media": len(no_media),
        "server_counters": {k: c1[k] - c0.get(k, 0) for k in c1},
    }
    return m, joins


async def run_step(ctx: StepContext, step: Step) -> dict[str, Any]:
    server, gens = ctx.server, ctx.gens
    pids = server.pids()
    rss0 = server_rss(pids)
    room: Room = await server.create_room(f"{step.scenario}-{step.load}")
    stream_ids = {p.name: i for i, p in enumerate(step.publishers)}
    result: dict[str, Any] = {
        "scenario": step.scenario,
        "load": step.load,
        "label": step.label,
        "server": server.label,
        "participants": len(step.participants),
        "publishers": len(step.publishers),
        "streams_out": sum(len(p.subscribes) for p in step.participants),
    }
    try:
        t_setup = time.monotonic()

        async def publish(p: Any) -> None:
            name = f"{p.name}.pub"
            g = gens.assign(name)
            offer = await g.call(
                "pub_offer",
                name=name,
                stream_id=stream_ids[p.name],
                audio=p.audio,
                video=p.video,
                simulcast=p.simulcast,
            )
            answer = await server.publish(room, p.name, offer["sdp"])
            await g.call("pub_answer", name=name, sdp=answer)

        await _bounded([publish(p) for p in step.publishers], JOIN_CONCURRENCY)
        pub_names = [f"{p.name}.pub" for p in step.publishers]
        failed, profiles = await gens.wait_connected(pub_names, 15)
        if failed:
            raise RuntimeError(f"publishers failed to connect: {dict(list(failed.items())[:3])}")
        # publishers are sending now; subscribers join
        await asyncio.sleep(0.3)

        async def subscribe(p: Any) -> None:
            name = f"{p.name}.sub"
            g = gens.assign(name)
            start_ns = time.time_ns()
            offer = await server.subscribe(room, p.name, list(p.subscribes))
            ans = await g.call("sub_answer", name=name, sdp=offer, start_ns=start_ns)
            await server.answer(room, p.name, ans["sdp"])
            if p.layer is not None:
                for pub in p.subscribes:
                    await server.set_layer(room, p.name, pub, p.layer)

        await _bounded([subscribe(p) for p in step.subscribers], JOIN_CONCURRENCY)
        sub_names = [f"{p.name}.sub" for p in step.subscribers]
        failed, profiles2 = await gens.wait_connected(sub_names, 45)
        result["connect_failed"] = len(failed)
        result["srtp_profiles"] = sorted(set(profiles) | set(profiles2))
        result["setup_s"] = round(time.monotonic() - t_setup, 2)
        if len(failed) > len(sub_names) // 10:
            raise RuntimeError(
                f"{len(failed)} subscribers failed to connect: {dict(list(failed.items())[:3])}"
            )
        await asyncio.sleep(1.0)
        rss1 = server_rss(pids)

        # the measurement window(s), by send time. Other work on the server's core (this machine is
        # shared) makes latency and delivery meaningless: re-measure while it exceeds max_foreign_pct.
        if ctx.before_window is not None:
            await ctx.before_window()
        best: dict[str, Any] | None = None
        joins: list[dict[str, Any]] = []
        for attempt in range(1 + ctx.retries):
            m, j = await _measure(ctx, step, pids, stream_ids)
            joins += j
            m["attempt"] = attempt + 1
            if best is None or m["foreign_pct"] < best["foreign_pct"]:
                best = m
            if m["foreign_pct"] <= ctx.max_foreign_pct:
                break
            await asyncio.sleep(0.5)
        assert best is not None
    finally:
        with contextlib.suppress(Exception):
            await server.close_room(room)
        with contextlib.suppress(Exception):
            await gens.close_all()
    first = [j["first_ms"] for j in joins]
    key = [j["key_ms"] for j in joins if j["key_ms"] is not None]
    result.update(best)
    result.update(
        {
            "join_first_p50_ms": _pct(first, 0.5),
            "join_first_p95_ms": _pct(first, 0.95),
            "join_key_p50_ms": _pct(key, 0.5),
            "join_key_p95_ms": _pct(key, 0.95),
            "rss_mb": rss1 / 2**20,
            "rss_step_delta_kb": (rss1 - rss0) / 1024,
            "rss_per_participant_kb": (rss1 - (ctx.base_rss or rss0)) / 1024 / max(1, len(step.participants)),
            "join_connect_p50_ms": _pct([j["connect_ms"] for j in joins if j["connect_ms"] is not None], 0.5),
        }
    )
    return result
