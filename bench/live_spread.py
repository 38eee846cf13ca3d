"""`python -m bench.live_spread`: one publisher, a growing audience spread over 1 and 2 media workers.

Scenario ``live-spread``, the same synthetic peers and measurement as `python -m bench` (bench/runner.py):
one publisher (1 Mbit/s VP8 + Opus), audience 1→N, each step a fresh room. Configurations, same run:

- ``1-worker``: one worker pinned to core 1, generators on core 0 (the fan-out bench's setup);
- ``2-workers``: two workers, one per core, ``pipe_threshold`` 0 (every subscriber goes to the
  least-loaded worker: half the audience behind a pipe); the generators share both cores with them,
  so ``other %`` (CPU used on the server's cores by anything but the server) is high and is reported;
- ``pipe-latency``: at a small audience (CPU is no limit), the same serving worker (hence the same
  core, shared or not with the generators) reached directly (``direct``: the room's origin is that
  worker) and through a pipe (``pipe``: the origin is the other worker); the difference of the
  per-packet latency p50 is the pipe's added latency. Both serving workers are measured (worker 0 on
  core 1, alone; worker 1 on core 0, with the generators), the four arms alternating in each round,
  for each worker scheduler slice of ``--latency-slices`` (0: the kernel's default; media/sched.py).

Writes bench/results/<date>-live-spread.json and a PNG, prints a table with the measured per-core figure
and the projections from it (projected: subscribers per core × cores; not measured).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from bench.genpool import GenPool
from bench.runner import StepContext, run_step, server_rss
from bench.scenarios import Participant, Step
from bench.servers import RelayRoomServer, Room, pin
from relayroom.media.service import MediaService
from relayroom.media.service_state import RouterState

RESULTS = Path(__file__).resolve().parent / "results"


def live_spread(n: int) -> Step:
    """1 publisher (audio + video) → an audience of n."""
    pub = Participant("p0", audio=True, video=True)
    subs = tuple(Participant(f"v{i}", subscribes=("p0",)) for i in range(n))
    return Step("live-spread", n, (pub, *subs), f"1→{n}")


class _Placed(MediaService):
    """MediaService whose recv transports all go to worker ``serve`` (bench only: the latency A/B)."""

    serve: int = 0

    def _place_recv(self, state: RouterState, audience: bool) -> int:
        return self.serve


class SpreadServer(RelayRoomServer):
    """RelayRoom with ``workers`` worker processes, worker i pinned to ``cores[i]``; with ``placed``
    (origin worker, serving worker) every room starts on the first and every subscriber is served by
    the second (through a pipe when they differ)."""

    def __init__(
        self, label: str, cores: list[int], pipe_threshold: float, placed: tuple[int, int] | None = None
    ) -> None:
        super().__init__(set(cores), workers=len(cores))
        self.label = label
        self.cores = cores
        self.params = dataclasses.replace(self.params, pipe_threshold=pipe_threshold)
        self.placed = placed
        self.slice_ns: int | None = None  # the workers' scheduler slice; None: MediaService's default

    async def start(self) -> None:
        ms = _Placed(self.params) if self.placed else MediaService(self.params)
        if self.slice_ns is not None:
            ms.worker_slice_ns = self.slice_ns
        if isinstance(ms, _Placed) and self.placed is not None:
            ms.serve = self.placed[1]
        self.ms = ms
        await ms.start()
        for pid, core in zip(ms.worker_pids(), self.cores, strict=True):
            if pid is not None:
                pin(pid, {core})
        from importlib.metadata import version

        self.version = version("relayroom")

    async def create_room(self, name: str) -> Room:
        assert self.ms is not None
        return Room(await self.ms.create_router(name, self.placed[0] if self.placed else None))

    async def placement_counts(self) -> dict[str, int]:
        """Subscribers per worker in the live rooms (a check that the configuration spread them)."""
        out: dict[str, int] = {}
        if self.ms is None:
            return out
        for rid in list(self.ms._routers):
            for pid, w in self.ms.placement(rid).items():
                if pid.startswith("v"):
                    out[str(w)] = out.get(str(w), 0) + 1
        return out


async def _run_config(
    server: SpreadServer, gen_cpus: set[int], steps: list[Step], args: argparse.Namespace, log: Any
) -> list[dict[str, Any]]:
    gens = GenPool(args.generators, gen_cpus, args.kbps, False, max_seconds=1800)
    results: list[dict[str, Any]] = []
    try:
        await server.start()
        await gens.start()
        await asyncio.sleep(0.5)
        base_rss = server_rss(server.pids())
        for step in steps:
            placed: dict[str, int] = {}

            async def before_window(placed: dict[str, int] = placed) -> None:
                placed.update(await server.placement_counts())

            ctx = StepContext(
                server,
                gens,
                args.window,
                log,
                server_cpus=set(server.cores),
                retries=args.retries,
                max_foreign_pct=args.max_foreign,
                base_rss=base_rss,
                before_window=before_window,
            )
            try:
                res = await run_step(ctx, step)
            except Exception as exc:
                res = {
                    "scenario": step.scenario,
                    "load": step.load,
                    "error": f"{exc.__class__.__name__}: {exc}",
                }
            res["server"] = server.label
            res["workers"] = len(server.cores)
            res["audience_per_worker"] = placed
            results.append(res)
            if "error" in res:
                log(f"{server.label} {step.label}: {res['error']}")
                break
            log(
                f"{server.label:13} {step.label:7} out {res['out_pps']:8.0f} pps  deliv "
                f"{100 * res['delivery']:5.1f}%  server cpu {res['cpu_pct']:5.0f}%  other "
                f"{res['foreign_pct']:4.0f}%  p50 {res['lat_p50_us']} µs  per worker {placed}"
            )
            if res["delivery"] < args.stop_below:
                break
    finally:
        await gens.stop()
        await server.stop()
    return results


def _per_core(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Subscribers one core carries, from the 1-worker steps delivering ≥ 99 %: the core's packet rate
    (1e6 / µs per forwarded packet) over one subscriber's packet rate (the publisher's input rate)."""
    good = [
        r
        for r in rows
        if r.get("server") == "1-worker" and r.get("delivery", 0) >= 0.99 and r.get("us_per_pkt")
    ]
    if not good:
        return None
    best = max(good, key=lambda r: r["load"])
    pps_per_sub = best["in_pps"]
    core_pps = 1e6 / best["us_per_pkt"]
    subs = core_pps / pps_per_sub if pps_per_sub else 0.0
    return {
        "from_step": best["load"],
        "us_per_pkt": best["us_per_pkt"],
        "pps_per_subscriber": pps_per_sub,
        "subscribers_per_core": subs,
        "projected_16_core_node": subs * 16,
        "projected_10_nodes_of_16_cores": subs * 160,
    }


def _plot(data: dict[str, Any], path: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in data["results"] if r.get("scenario") == "live-spread" and "error" not in r]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.4))
    for label, color in (("1-worker", "tab:blue"), ("2-workers", "tab:green")):
        rs = sorted((r for r in rows if r["server"] == label), key=lambda r: r["load"])
        ax1.plot([r["load"] for r in rs], [r["out_pps"] for r in rs], marker="o", color=color, label=label)
        ax2.plot(
            [r["load"] for r in rs], [100 * r["delivery"] for r in rs], marker="o", color=color, label=label
        )
    ax1.set_title("delivered packets per second")
    ax2.set_title("delivery %")
    ax2.axhline(99, color="gray", lw=0.5, ls="--")
    for ax in (ax1, ax2):
        ax.set_xlabel("audience of 1 publisher (1 Mbit/s VP8 + Opus)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"live-spread on {data['meta']['machine']['cpus']} cores (shared machine) — {data['meta']['date']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {0})
    audience = [int(n) for n in args.audience.split(",")]
    steps = [live_spread(n) for n in audience]
    results: list[dict[str, Any]] = []
    if "spread" in args.parts:
        results += await _run_config(SpreadServer("1-worker", [1], 1.0), {0}, steps, args, print)
        results += await _run_config(SpreadServer("2-workers", [0, 1], 0.0), {0, 1}, steps, args, print)
    rounds: list[dict[str, Any]] = []
    if "latency" in args.parts:
        # A/B in alternation (the machine's load drifts): each round measures, for each serving worker,
        # its subscribers served directly and through a pipe from the other worker
        lat_steps = [live_spread(args.latency_audience)]
        slices = [int(v) for v in args.latency_slices.split(",")]
        for _ in range(args.latency_rounds):
            arms: dict[tuple[int, int, int], dict[str, Any]] = {}
            for slice_us in slices:
                for origin, serve in ((0, 0), (1, 0), (1, 1), (0, 1)):
                    label = f"{'pipe' if origin != serve else 'direct'} w{serve} s{slice_us}"
                    server = SpreadServer(label, [1, 0], 0.0, (origin, serve))
                    server.slice_ns = slice_us * 1000
                    rows = await _run_config(server, {0}, lat_steps, args, print)
                    results += rows
                    if rows and "error" not in rows[0]:
                        arms[(slice_us, origin, serve)] = rows[0]
            for (slice_us, origin, serve), b in arms.items():
                a = arms.get((slice_us, serve, serve))
                if origin == serve or a is None:
                    continue
                rounds.append(
                    {
                        "worker_slice_us": slice_us,
                        "serving_worker": serve,
                        "serving_core": [1, 0][serve],
                        "direct_p50_us": a["lat_p50_us"],
                        "pipe_p50_us": b["lat_p50_us"],
                        "added_p50_us": (b["lat_p50_us"] or 0) - (a["lat_p50_us"] or 0),
                        "direct_p99_us": a["lat_p99_us"],
                        "pipe_p99_us": b["lat_p99_us"],
                        "other_pct": [round(a["foreign_pct"]), round(b["foreign_pct"])],
                    }
                )
    pipe_latency = None
    if rounds:
        by_slice: dict[str, Any] = {}
        for slice_us in sorted({r["worker_slice_us"] for r in rounds}):
            added = sorted(r["added_p50_us"] for r in rounds if r["worker_slice_us"] == slice_us)
            by_slice[str(slice_us)] = {
                "added_p50_us_median": added[len(added) // 2],
                "added_p50_us_range": [added[0], added[-1]],
            }
        pipe_latency = {"audience": args.latency_audience, "rounds": rounds, "by_worker_slice_us": by_slice}
    return {
        "meta": {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": sys.version.split()[0],
            },
            "loadavg_start": os.getloadavg(),
            "window_s": args.window,
            "video_kbps": args.kbps,
            "generators": args.generators,
        },
        "results": results,
        "per_core": _per_core(results),
        "pipe_latency": pipe_latency,
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.live_spread", description=__doc__)
    ap.add_argument("--audience", default="10,50,100,200,300", help="audience sizes (steps)")
    ap.add_argument("--parts", default="spread,latency", help="spread, latency")
    ap.add_argument("--latency-audience", type=int, default=10)
    ap.add_argument("--latency-rounds", type=int, default=3, help="rounds of the four direct/pipe arms")
    ap.add_argument(
        "--latency-slices", default="0,100", help="worker scheduler slices (µs; 0: the kernel's default)"
    )
    ap.add_argument("--window", type=float, default=3.0)
    ap.add_argument("--generators", type=int, default=2)
    ap.add_argument("--kbps", type=int, default=1000)
    ap.add_argument("--retries", type=int, default=1)
    ap.add_argument("--max-foreign", type=float, default=10.0)
    ap.add_argument("--stop-below", type=float, default=0.90)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    import uvloop

    data = uvloop.run(_main(args))
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%MZ")
    out = Path(args.out) if args.out else RESULTS / f"{stamp}-live-spread.json"
    out.write_text(json.dumps(data, indent=1))
    with contextlib.suppress(ImportError):
        print("plot:", _plot(data, out.with_suffix("").as_posix() + ".png"))
    print("per core (measured, 1 worker):", json.dumps(data["per_core"], indent=1))
    print("pipe latency:", json.dumps(data["pipe_latency"], indent=1))
    print("results:", out)


if __name__ == "__main__":
    main()
