"""`python -m bench --profile`: py-spy on the RelayRoom worker while it forwards a fan-out load.

Needs py-spy in the virtualenv (``.venv/bin/pip install py-spy``; not a project dependency). Samples
the worker (Python frames; ``--profile-native`` adds C frames: libsrtp, syscalls) and prints the
functions with the most samples, self and inclusive, plus the raw collapsed stacks' path
(bench/results/<date>-profile.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.genpool import GenPool
from bench.runner import StepContext, run_step
from bench.scenarios import fanout
from bench.servers import RelayRoomServer

RESULTS = Path(__file__).resolve().parent / "results"


def _py_spy() -> str | None:
    cand = Path(sys.executable).with_name("py-spy")
    return str(cand) if cand.exists() else shutil.which("py-spy")


def summarize_collapsed(path: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive sample counts per function from py-spy's collapsed (raw) output."""
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0] + ")" if " (" in f else f
            for f in stack.split(";")
        ]
        self_c[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    return {
        "samples": total,
        "self": [(f, c, 100 * c / total) for f, c in self_c.most_common(top)] if total else [],
        "inclusive": [(f, c, 100 * c / total) for f, c in incl.most_common(top)] if total else [],
    }


async def _run(args: argparse.Namespace, console: Console, out: Path) -> dict[str, Any]:
    server = RelayRoomServer({int(c) for c in args.server_cpu.split(",")})
    gens = GenPool(
        args.generators or 3, {int(c) for c in args.gen_cpu.split(",")}, args.kbps, args.burst, 600
    )
    spy = _py_spy()
    if spy is None:
        raise SystemExit("py-spy missing: .venv/bin/pip install py-spy")
    await server.start()
    await gens.start()
    try:
        pid = server.pids()[0]
        step = fanout(args.profile_subs)
        procs: list[asyncio.subprocess.Process] = []

        async def start_spy() -> None:
            procs.append(
                await asyncio.create_subprocess_exec(
                    "taskset",
                    "-c",
                    args.gen_cpu,
                    spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    "250",
                    "--duration",
                    str(int(args.profile_seconds)),
                    "--format",
                    "raw",
                    "--output",
                    str(out),
                    *(["--native"] if args.profile_native else ["--nonblocking"]),
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
            )

        ctx = StepContext(
            server,
            gens,
            args.profile_seconds,
            console.print,
            server_cpus={int(c) for c in args.server_cpu.split(",")},
            retries=0,
            max_foreign_pct=100.0,
            before_window=start_spy,
        )
        res = await run_step(ctx, step)
        for proc in procs:
            try:
                async with asyncio.timeout(30):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        return res
    finally:
        await gens.stop()
        await server.stop()


def run_profile(args: argparse.Namespace, console: Console) -> int:
    import uvloop

    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%MZ")
    out = RESULTS / f"{stamp}-profile.txt"
    res = uvloop.run(_run(args, console, out))
    if not out.exists():
        console.print("[red]py-spy wrote nothing (ptrace not permitted?)")
        return 1
    summ = summarize_collapsed(out)
    summ["step"] = {k: res.get(k) for k in ("label", "out_pps", "cpu_pct", "us_per_pkt", "delivery")}
    out.with_suffix(".json").write_text(json.dumps(summ, indent=1))
    console.print(
        f"fan-out {res.get('label')}: {res.get('out_pps', 0):.0f} pps, CPU {res.get('cpu_pct', 0):.0f} %, "
        f"{res.get('us_per_pkt') or 0:.1f} µs/pkt, delivery {100 * res.get('delivery', 0):.1f} %"
    )
    for kind in ("self", "inclusive"):
        t = Table(title=f"RelayRoom worker, {kind} samples ({summ['samples']} total)")
        t.add_column("function (file)")
        t.add_column("samples", justify="right")
        t.add_column("%", justify="right")
        for f, c, pct in summ[kind]:
            t.add_row(f, str(c), f"{pct:.1f}")
        console.print(t)
    console.print(f"collapsed stacks: {out}")
    return 0
