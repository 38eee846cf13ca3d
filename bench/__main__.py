"""`python -m bench [--quick]`: RelayRoom against Janus VideoRoom with identical synthetic load.

The SFU under test is pinned to one core (``--server-cpu``, default 1); the coordinator and the
generator processes to the other (``--gen-cpu``, default 0). Writes bench/results/<date>.json and
bench/results/<date>-fanout.png, and prints a table. `python -m bench --profile` runs py-spy on the
RelayRoom worker under a fan-out load instead. `python -m bench --scenarios cluster` runs the cluster
scenario (bench/cluster.py: join time direct vs through a redirect, failover time; three nodes on the
local PostgreSQL and Redis) and writes bench/results/<date>-cluster.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.genpool import GenPool
from bench.report import print_tables, summarize
from bench.runner import StepContext, run_step, server_rss
from bench.scenarios import Plan, fanout, full_plan, quick_plan, simulcast
from bench.servers import JanusServer, RelayRoomServer, Server, ensure_janus

RESULTS = Path(__file__).resolve().parent / "results"


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fan-out 1→10/20/30 only (under 2 minutes)")
    ap.add_argument(
        "--servers",
        default="relayroom,relayroom-py,janus-el1,janus",
        help="comma list: relayroom (native fan-out), relayroom-py (pure-Python forwarding), "
        "relayroom-nogso, relayroom-py-nogso, janus-el1 (event_loops=1), janus (default threading)",
    )
    ap.add_argument(
        "--scenarios",
        default="",
        help="comma list to keep: fanout,meeting,audio,live,simulcast; cluster (its own run)",
    )
    ap.add_argument("--trials", type=int, default=20, help="cluster: trials per measure")
    ap.add_argument("--lease-ttl", type=float, default=5.0, help="cluster: room lease / node TTL (s)")
    ap.add_argument("--fanout", default="", help="override fan-out steps, e.g. 10,50,100")
    ap.add_argument("--simulcast", default="", help="override simulcast steps (subscribers), e.g. 30,90")
    ap.add_argument("--window", type=float, default=0.0, help="measurement window per step (s)")
    ap.add_argument("--generators", type=int, default=0, help="generator processes (default 2 quick, 3 full)")
    ap.add_argument("--kbps", type=int, default=1000, help="video bitrate per publisher")
    ap.add_argument("--burst", action="store_true", help="send each frame's packets back to back (no pacer)")
    ap.add_argument("--server-cpu", default="1")
    ap.add_argument("--gen-cpu", default="0")
    ap.add_argument(
        "--stop-below",
        type=float,
        default=0.90,
        help="skip a scenario's larger steps once delivery falls below this",
    )
    ap.add_argument(
        "--max-foreign",
        type=float,
        default=10.0,
        help="re-measure a window while other processes use more than this %% of the server core",
    )
    ap.add_argument(
        "--retries",
        type=int,
        default=-1,
        help="extra windows when the core was busy (default 1 quick, 2 full)",
    )
    ap.add_argument(
        "--nice",
        type=int,
        default=-10,
        help="niceness of servers and generators (needs root; 0 = leave as is)",
    )
    ap.add_argument("--out", default="", help="results JSON path (default bench/results/<date>.json)")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--profile", action="store_true", help="py-spy the RelayRoom worker under fan-out load")
    ap.add_argument("--profile-subs", type=int, default=150)
    ap.add_argument("--profile-seconds", type=float, default=15.0)
    ap.add_argument(
        "--profile-native", action="store_true", help="py-spy --native (C frames: libsrtp, syscalls)"
    )
    ap.add_argument("--profile-perf", action="store_true", help="Linux perf instead of py-spy (all frames)")
    ap.add_argument("--profile-python", action="store_true", help="profile the pure-Python forwarding path")
    return ap.parse_args()


def _save(path: Path, data: dict[str, Any]) -> None:
    """Steps done so far (a crash or ^C keeps them)."""
    path.write_text(json.dumps(data, indent=1))


def _git_state() -> dict[str, Any]:
    """HEAD and the uncommitted media files the run measured (the working tree is what runs)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--short", "--", "src/relayroom/media"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"head": head, "media_uncommitted": [d.strip() for d in dirty if d.strip()]}


def _cpus(s: str) -> set[int]:
    return {int(x) for x in s.split(",") if x.strip()}


def _make_server(label: str, cpus: set[int]) -> Server:
    if label.startswith("relayroom") and label.removeprefix("relayroom") in (
        "",
        "-py",
        "-nogso",
        "-py-nogso",
    ):
        return RelayRoomServer(cpus, gso="nogso" not in label, native="-py" not in label)
    if label == "janus-el1":
        return JanusServer(cpus, event_loops=1)
    if label == "janus":
        return JanusServer(cpus, event_loops=None)
    raise SystemExit(f"unknown server {label}")


def _plan(args: argparse.Namespace) -> Plan:
    plan = quick_plan() if args.quick else full_plan()
    steps = plan.steps
    if args.fanout:
        steps = [s for s in steps if s.scenario != "fanout"]
        steps = [fanout(int(n)) for n in args.fanout.split(",")] + steps
    if args.simulcast:
        steps = [s for s in steps if s.scenario != "simulcast"]
        steps += [simulcast(int(n)) for n in args.simulcast.split(",")]
    if args.scenarios:
        keep = set(args.scenarios.split(","))
        steps = [s for s in steps if s.scenario in keep]
    return Plan(steps, window_s=args.window or plan.window_s)


async def _run(args: argparse.Namespace, console: Console, partial: Path) -> dict[str, Any]:
    server_cpus, gen_cpus = _cpus(args.server_cpu), _cpus(args.gen_cpu)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, gen_cpus)  # the coordinator shares the generators' core
    niced = False
    if args.nice:
        # inherited by everything we start (workers, janus, generators): both servers get the same
        # edge over other work on a shared machine
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)
            niced = True
    plan = _plan(args)
    labels = [s for s in args.servers.split(",") if s]
    if any(label.startswith("janus") for label in labels) and ensure_janus(console.print) is None:
        console.print("[yellow]Janus unavailable: running RelayRoom only[/]")
        labels = [label for label in labels if not label.startswith("janus")]
    n_gens = args.generators or (2 if args.quick else 3)
    results: list[dict[str, Any]] = []
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
        },
        "server_cpus": sorted(server_cpus),
        "gen_cpus": sorted(gen_cpus),
        "generators": n_gens,
        "video_kbps": args.kbps,
        "pacing": "burst" if args.burst else "paced (2.5x, 5 ms)",
        "window_s": plan.window_s,
        "driver": {
            "relayroom": "MediaService directly (worker processes, no signalling)",
            "janus": "HTTP API, VideoRoom plugin",
        },
        "versions": {},
        "git": _git_state(),
        "nice": args.nice if niced else 0,
    }
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
    )
    total = len(plan.steps) * len(labels)
    with progress:
        overall = progress.add_task("bench", total=total, status="")
        for label in labels:
            server = _make_server(label, server_cpus)
            gens = GenPool(n_gens, gen_cpus, args.kbps, args.burst, max_seconds=3600)
            skip: set[str] = set()
            try:
                progress.update(overall, description=f"{label}: starting")
                await server.start()
                meta["versions"][label] = getattr(server, "version", "")
                await gens.start()
                await asyncio.sleep(0.5)
                base_rss = server_rss(server.pids())
                for step in plan.steps:
                    if step.scenario in skip:
                        progress.advance(overall)
                        continue
                    progress.update(overall, description=f"{label}: {step.scenario} {step.label}")
                    ctx = StepContext(
                        server,
                        gens,
                        plan.window_s,
                        console.print,
                        server_cpus=server_cpus,
                        retries=args.retries if args.retries >= 0 else (1 if args.quick else 2),
                        max_foreign_pct=args.max_foreign,
                        base_rss=base_rss,
                    )
                    try:
                        res = await run_step(ctx, step)
                    except Exception as exc:
                        res = {
                            "scenario": step.scenario,
                            "load": step.load,
                            "label": step.label,
                            "server": label,
                            "error": f"{exc.__class__.__name__}: {exc}",
                        }
                        skip.add(step.scenario)
                    results.append(res)
                    _save(partial, {"meta": meta, "results": results})
                    if "error" not in res:
                        status = (
                            f"other {res['foreign_pct']:.0f}%  {res['out_pps']:.0f} pps  "
                            f"cpu {res['cpu_pct']:.0f}%  "
                            f"deliv {100 * res['delivery']:.1f}%  gen {res['gen_cpu_pct']:.0f}%"
                        )
                        if res["delivery"] < args.stop_below:
                            skip.add(step.scenario)
                    else:
                        status = f"[red]{res['error'][:60]}"
                    progress.update(overall, status=status)
                    progress.advance(overall)
            finally:
                await gens.stop()
                await server.stop()
    return {"meta": meta, "results": results}


def main() -> None:
    args = _parse()
    console = Console(width=None if sys.stdout.isatty() else 180)
    if args.profile:
        from bench.profile import run_profile

        sys.exit(run_profile(args, console))
    wanted = [x for x in args.scenarios.split(",") if x]
    if "cluster" in wanted:
        from bench.cluster import run_cluster

        status = run_cluster(args.trials, args.lease_ttl, args.out if wanted == ["cluster"] else "")
        if status or wanted == ["cluster"]:
            sys.exit(status)
        args.scenarios = ",".join(x for x in wanted if x != "cluster")
    t0 = time.monotonic()
    try:
        import uvloop

        RESULTS.mkdir(exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%MZ")
        out = Path(args.out) if args.out else RESULTS / f"{stamp}{'-quick' if args.quick else ''}.json"
        partial = out.with_suffix(".partial.json")
        data = uvloop.run(_run(args, console, partial))
    except KeyboardInterrupt:
        console.print("[red]interrupted (steps done so far are in bench/results/*.partial.json)")
        sys.exit(130)
    data["meta"]["duration_s"] = round(time.monotonic() - t0, 1)
    data["summary"] = summarize(data["results"])
    out.write_text(json.dumps(data, indent=1))
    partial.unlink(missing_ok=True)
    print_tables(console, data)
    if not args.no_plot:
        try:
            from bench.plot import plot

            png = plot(data, out.with_suffix("").as_posix() + "-fanout.png")
            console.print(f"plot: {png}")
        except ImportError:
            console.print("[yellow]matplotlib missing: pip install -e '.[dev]' for the plot")
    console.print(f"results: {out}  ({data['meta']['duration_s']} s)")


if __name__ == "__main__":
    main()
