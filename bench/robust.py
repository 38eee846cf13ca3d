"""`python -m bench.robust {mass-join,starved}`: how the worker degrades (issue 21, docs/performance.md).

``mass-join``: 1→``--subs`` (default 100) is flowing; ``--joiners`` (300) more subscribers join within
``--join-span`` (2 s). Reported: delivery and latency of the existing subscribers over a window that
covers the join, the joiners' connect and first-packet times, server CPU, the worker's counters. Run
against ``relayroom`` (DTLS handshakes in slices, the default) and ``relayroom-nocap``
(``dtls_flights_per_turn=0``). The joiners' signalling (offer, answer, transport and consumers on the
worker) is done before the window, 16 at a time: MediaService negotiates one room at a time, and on a
loaded worker 300 negotiations take minutes. What happens within the 2 s is what a joining client
does to the worker: ICE checks every 50 ms until answered, a DTLS handshake, then media to it (key
frame requests included).

``starved``: 1→``--subs`` (default 200) is flowing; a busy loop pinned to the server core at the
server's niceness takes half of it for ``--load-s`` (6 s). Reported: audio and video delivery and
latency while it runs, and when video is back on time after it stops (``resume_s``: from the end of the
load to the first 100 ms bin from which every later bin has ≥ 90 % of its video packets delivered
within 100 ms). Run against ``relayroom`` (load shedding on) and ``relayroom-noshed`` (off).

Same machinery as ``python -m bench``: the server on ``--server-cpu``, generators and this coordinator
on ``--gen-cpu``, latency from the kernel's receive timestamps, delivery by the send stamp inside each
packet. The bench counts packets, not decodable frames.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.genpool import GenPool
from bench.peer import HIST_BINS
from bench.runner import JOIN_CONCURRENCY, _bounded, _core_busy, _pct, _percentile, _server_cpu
from bench.servers import RelayRoomServer, Room

RESULTS = Path(__file__).resolve().parent / "results"
BIN_S = 0.1


def make_server(label: str, cpus: set[int]) -> RelayRoomServer:
    if label == "relayroom":
        return RelayRoomServer(cpus)
    if label == "relayroom-nocap":
        return RelayRoomServer(cpus, label=label, dtls_flights_per_turn=0)
    if label == "relayroom-noshed":
        return RelayRoomServer(cpus, label=label, load_shedding=False)
    raise SystemExit(f"unknown server {label}")


async def worker_counters(server: RelayRoomServer) -> dict[str, int]:
    out = await server.counters()
    assert server.ms is not None
    for w in server.ms._workers:
        if w is not None and not w.closed:
            m = await w.request("worker.metrics")
            out["dtlsFlightsDeferred"] = out.get("dtlsFlightsDeferred", 0) + int(
                m.get("dtlsFlightsDeferred", 0)
            )
    return out


async def open_room(server: RelayRoomServer, gens: GenPool, subs: int) -> Room:
    """1 publisher (audio + video) → ``subs`` subscribers, all connected."""
    room = await server.create_room(f"robust-{time.monotonic_ns()}")
    g = gens.assign("p0.pub")
    offer = await g.call("pub_offer", name="p0.pub", stream_id=0, audio=True, video=True)
    answer = await server.publish(room, "p0", offer["sdp"])
    await g.call("pub_answer", name="p0.pub", sdp=answer)
    failed, _ = await gens.wait_connected(["p0.pub"], 15)
    if failed:
        raise RuntimeError(f"publisher failed: {failed}")
    await asyncio.sleep(0.3)
    names = [f"s{i}" for i in range(subs)]
    await _bounded([subscribe(server, gens, room, n) for n in names], JOIN_CONCURRENCY)
    failed, _ = await gens.wait_connected([f"{n}.sub" for n in names], 45)
    if failed:
        raise RuntimeError(f"{len(failed)} subscribers failed to connect")
    await asyncio.sleep(1.0)
    return room


async def subscribe(
    server: RelayRoomServer, gens: GenPool, room: Room, name: str, count: bool = True, defer: bool = False
) -> None:
    g = gens.assign(f"{name}.sub")
    start_ns = time.time_ns()
    offer = await server.subscribe(room, name, ["p0"])
    ans = await g.call(
        "sub_answer", name=f"{name}.sub", sdp=offer, start_ns=start_ns, count=count, defer=defer
    )
    await server.answer(room, name, ans["sdp"])


async def finish(server: RelayRoomServer, gens: GenPool, room: Room) -> tuple[dict[str, Any], dict[str, int]]:
    """The generators' merged reports and the worker's counters, then the room closed."""
    m = merge(await gens.broadcast("collect"))
    counters = await worker_counters(server)
    with contextlib.suppress(Exception):
        await server.close_room(room)
    with contextlib.suppress(Exception):
        await gens.close_all()
    return m, counters


def merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    hist = [0] * HIST_BINS
    sent: dict[str, int] = {}
    kinds = [0, 0]
    sent_bins: list[list[int]] = []
    ontime: list[list[int]] = []
    joins: list[dict[str, Any]] = []
    for r in reports:
        for i, c in r["hist"].items():
            hist[int(i)] += c
        for k, v in r["sent"].items():
            sent[k] = sent.get(k, 0) + v
        kinds = [a + b for a, b in zip(kinds, r["received_kind"], strict=True)]
        if not sent_bins:
            sent_bins, ontime = r["sent_bins"], r["ontime_bins"]
        else:
            sent_bins = [
                [a + b for a, b in zip(x, y, strict=True)]
                for x, y in zip(sent_bins, r["sent_bins"], strict=True)
            ]
            ontime = [
                [a + b for a, b in zip(x, y, strict=True)]
                for x, y in zip(ontime, r["ontime_bins"], strict=True)
            ]
        joins += r["joins"]
    return {
        "hist": hist,
        "sent_audio": sent.get("0:0", 0),
        "sent_video": sent.get("0:1", 0),
        "received_audio": kinds[0],
        "received_video": kinds[1],
        "sent_bins": sent_bins,
        "ontime_bins": ontime,
        "joins": joins,
        "socket_drops": sum(r.get("socket_drops", 0) for r in reports),
    }


def delivery_stats(m: dict[str, Any], subs: int) -> dict[str, Any]:
    exp_a, exp_v = m["sent_audio"] * subs, m["sent_video"] * subs
    return {
        "delivery": (m["received_audio"] + m["received_video"]) / max(1, exp_a + exp_v),
        "delivery_audio": m["received_audio"] / max(1, exp_a),
        "delivery_video": m["received_video"] / max(1, exp_v),
        "lat_p50_ms": (_percentile(m["hist"], 0.5) or 0) / 1000,
        "lat_p99_ms": (_percentile(m["hist"], 0.99) or 0) / 1000,
    }


def video_series(m: dict[str, Any], subs: int) -> list[float | None]:
    """On-time video delivery per bin (None where nothing was sent)."""
    return [
        (o / (s * subs) if s else None) for s, o in zip(m["sent_bins"][1], m["ontime_bins"][1], strict=True)
    ]


async def window(server: RelayRoomServer, gens: GenPool, cpus: set[int], t0: int, t1: int) -> dict[str, Any]:
    """Arms the generators for [t0, t1) and returns CPU figures once it has passed (not the reports)."""
    pids = server.pids()
    await gens.broadcast("arm", t0=t0, t1=t1)
    await asyncio.sleep(max(0.0, (t0 - time.time_ns()) / 1e9))
    cpu0, busy0, w0 = _server_cpu(pids), _core_busy(cpus), time.monotonic()
    await asyncio.sleep(max(0.0, (t1 - time.time_ns()) / 1e9))
    cpu1, busy1, w1 = _server_cpu(pids), _core_busy(cpus), time.monotonic()
    cpu_pct = 100 * (cpu1 - cpu0) / (w1 - w0)
    return {"cpu_pct": cpu_pct, "core_busy_pct": 100 * (busy1 - busy0) / (w1 - w0)}


async def mass_join(server: RelayRoomServer, gens: GenPool, args: argparse.Namespace) -> dict[str, Any]:
    cpus = {int(c) for c in args.server_cpu.split(",")}
    room = await open_room(server, gens, args.subs)
    names = [f"j{i}" for i in range(args.joiners)]
    await _bounded(
        [subscribe(server, gens, room, n, count=False, defer=True) for n in names], JOIN_CONCURRENCY
    )
    await asyncio.sleep(1.0)
    c0 = await worker_counters(server)
    lead, span, tail = 1.0, args.join_span, 3.0
    t0 = time.time_ns() + 300_000_000
    t1 = t0 + int((lead + span + tail) * 1e9)
    n_bins = int((lead + span + tail) / BIN_S)
    await gens.broadcast("arm_bins", t0=t0, bin_ns=int(BIN_S * 1e9), n=n_bins)

    async def joins() -> None:
        """Every 20 ms, the joiners due by then start ICE + DTLS (one call per generator)."""
        started = 0
        while started < len(names):
            due = min(len(names), int(len(names) * ((time.time_ns() - t0) / 1e9 - lead) / span) + 1)
            if due > started:
                by_gen: dict[Any, list[str]] = {}
                for n in names[started:due]:
                    by_gen.setdefault(gens.owner[f"{n}.sub"], []).append(f"{n}.sub")
                await asyncio.gather(*(g.call("sub_start", names=ns) for g, ns in by_gen.items()))
                started = due
            await asyncio.sleep(0.02)

    async def start_joins() -> float:
        await asyncio.sleep(max(0.0, t0 / 1e9 + lead - time.time_ns() / 1e9))
        await joins()
        return (time.time_ns() - t0) / 1e9 - lead

    joining = asyncio.create_task(start_joins())
    cpu = await window(server, gens, cpus, t0, t1)
    issued_s = await joining  # when the last joiner was started
    await asyncio.sleep(0.5)
    failed, _ = await gens.wait_connected([f"j{i}.sub" for i in range(args.joiners)], 45)
    await asyncio.sleep(1.0)
    m, c1 = await finish(server, gens, room)
    joiners = [j for j in m["joins"] if j["name"].startswith("j")]
    series = video_series(m, args.subs)
    return {
        "scenario": "mass-join",
        "server": server.label,
        "subs": args.subs,
        "joiners": args.joiners,
        "join_span_s": span,
        "joins_done_s": round(issued_s, 2),
        **delivery_stats(m, args.subs),
        "min_bin_video_ontime": min((v for v in series if v is not None), default=None),
        "joiners_failed": len(failed),
        "joiner_connect_p50_ms": _pct([j["connect_ms"] for j in joiners if j["connect_ms"]], 0.5),
        "joiner_connect_p95_ms": _pct([j["connect_ms"] for j in joiners if j["connect_ms"]], 0.95),
        "joiner_first_p50_ms": _pct([j["first_ms"] for j in joiners], 0.5),
        "joiner_first_p95_ms": _pct([j["first_ms"] for j in joiners], 0.95),
        **cpu,
        "gen_socket_drops": m["socket_drops"],
        "counters": {k: c1.get(k, 0) - c0.get(k, 0) for k in c1},
        "video_ontime_series": series,
    }


def mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


RESUME_BINS = 5  # video is back when 500 ms in a row have >= 90 % of their video packets on time


def resume_after(series: list[float | None], end_bin: int, load_end_s: float) -> float | None:
    """Seconds from the end of the load to the first 500 ms whose video is >= 90 % on time (None:
    not within the recording; its last two bins are cut short by the collect)."""
    usable = series[:-2]
    for i in range(end_bin, len(usable) - RESUME_BINS + 1):
        m = mean(usable[i : i + RESUME_BINS])
        if m is not None and m >= 0.9:
            return round(max(0.0, i * BIN_S - load_end_s), 2)
    return None


def busy_loop(cpus: set[int]) -> subprocess.Popen[bytes]:
    """A spinning process on the server core, at our niceness (the server's): CFS gives each half."""
    cpu = ",".join(str(c) for c in sorted(cpus))
    return subprocess.Popen(["taskset", "-c", cpu, sys.executable, "-c", "while True: pass"])


async def starved(server: RelayRoomServer, gens: GenPool, args: argparse.Namespace) -> dict[str, Any]:
    cpus = {int(c) for c in args.server_cpu.split(",")}
    room = await open_room(server, gens, args.subs)
    base, load, recovery = 2.0, args.load_s, 4.0
    start = time.time_ns() + 300_000_000
    n_bins = int((base + load + recovery) / BIN_S)
    await gens.broadcast("arm_bins", t0=start, bin_ns=int(BIN_S * 1e9), n=n_bins)
    await asyncio.sleep(max(0.0, (start - time.time_ns()) / 1e9 + base))
    c0 = await worker_counters(server)
    spinner = busy_loop(cpus)
    load_start = time.time_ns()
    try:
        cpu = await window(server, gens, cpus, load_start + 50_000_000, load_start + int(load * 1e9))
    finally:
        spinner.kill()
        spinner.wait()
    load_end = time.time_ns()
    await asyncio.sleep(max(0.0, (start - time.time_ns()) / 1e9 + base + load + recovery + 0.5))
    m, c1 = await finish(server, gens, room)
    series = video_series(m, args.subs)
    end_bin = int((load_end - start) / (BIN_S * 1e9))
    resume_s = resume_after(series, end_bin, (load_end - start) / 1e9)
    start_bin = int((load_start - start) / (BIN_S * 1e9))
    return {
        "scenario": "starved",
        "server": server.label,
        "subs": args.subs,
        "load_s": load,
        **delivery_stats(m, args.subs),
        "video_resume_s": resume_s,
        "video_ontime_before": mean(series[:start_bin]),
        "video_ontime_during": mean(series[start_bin:end_bin]),
        "video_ontime_after": mean(series[end_bin:-2]),
        **cpu,
        "gen_socket_drops": m["socket_drops"],
        "counters": {k: c1.get(k, 0) - c0.get(k, 0) for k in c1},
        "video_ontime_series": series,
        "load_bins": [int((load_start - start) / (BIN_S * 1e9)), end_bin],
    }


def row(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"| {r['scenario']} | {r['server']} | error: {r['error']} |"
    c = r["counters"]
    common = (
        f"| {r['scenario']} | {r['server']} | {100 * r['delivery_audio']:.2f} % "
        f"| {100 * r['delivery_video']:.2f} % "
        f"| {r['lat_p50_ms']:.1f} / {r['lat_p99_ms']:.1f} | {r['cpu_pct']:.0f} | "
        f"{r['core_busy_pct'] - r['cpu_pct']:.0f} | {c.get('shedPackets', 0)} | {c.get('udpRecvDrops', 0)} | "
        f"{c.get('dtlsFlightsDeferred', 0)} |"
    )
    if r["scenario"] == "mass-join":
        return common + (
            f" joins in {r['joins_done_s']} s, {r['joiners_failed']} failed, connect p50/p95 "
            f"{r['joiner_connect_p50_ms'] or 0:.0f}/{r['joiner_connect_p95_ms'] or 0:.0f} ms |"
        )
    resume = "not within 4 s" if r["video_resume_s"] is None else f"{r['video_resume_s']} s"
    on_time = "/".join(
        "–" if r[k] is None else f"{100 * r[k]:.0f}"
        for k in ("video_ontime_before", "video_ontime_during", "video_ontime_after")
    )
    return common + f" video on time before/during/after {on_time} %, back {resume} after the load |"


HEADER = (
    "| scenario | server | audio delivery | video delivery | latency p50 / p99 ms | server CPU % | other % "
    "| shed packets | kernel drops | DTLS deferred | |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    server_cpus = {int(c) for c in args.server_cpu.split(",")}
    gen_cpus = {int(c) for c in args.gen_cpu.split(",")}
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, gen_cpus)
    if args.nice:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    default = "relayroom,relayroom-nocap" if args.scenario == "mass-join" else "relayroom,relayroom-noshed"
    results = []
    for _ in range(args.runs):
        for label in (args.servers or default).split(","):
            server = make_server(label, server_cpus)
            gens = GenPool(args.generators, gen_cpus, args.kbps, False, max_seconds=1800)
            try:
                await server.start()
                await gens.start()
                await asyncio.sleep(0.5)
                body = mass_join if args.scenario == "mass-join" else starved
                res = await body(server, gens, args)
            except Exception as exc:
                res = {
                    "scenario": args.scenario,
                    "server": label,
                    "error": f"{exc.__class__.__name__}: {exc}",
                }
            finally:
                await gens.stop()
                await server.stop()
            print(row(res), flush=True)
            results.append(res)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.robust", description=__doc__)
    ap.add_argument("scenario", choices=["mass-join", "starved"])
    ap.add_argument("--servers", default="", help="relayroom, relayroom-nocap, relayroom-noshed")
    ap.add_argument("--subs", type=int, default=0, help="existing subscribers (100 mass-join, 200 starved)")
    ap.add_argument("--joiners", type=int, default=300)
    ap.add_argument("--join-span", type=float, default=2.0)
    ap.add_argument("--load-s", type=float, default=6.0)
    ap.add_argument("--runs", type=int, default=1, help="repeat the server list this many times")
    ap.add_argument("--generators", type=int, default=3)
    ap.add_argument("--kbps", type=int, default=1000)
    ap.add_argument("--server-cpu", default="1")
    ap.add_argument("--gen-cpu", default="0")
    ap.add_argument("--nice", type=int, default=-10)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    args.subs = args.subs or (100 if args.scenario == "mass-join" else 200)
    import uvloop

    print(HEADER, flush=True)
    t0 = time.monotonic()
    results = uvloop.run(run(args))
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%MZ")
    out = Path(args.out) if args.out else RESULTS / f"{stamp}-{args.scenario}.json"
    meta = {
        "argv": sys.argv[1:],
        "load_average": os.getloadavg(),
        "duration_s": round(time.monotonic() - t0, 1),
    }
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
