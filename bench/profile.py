"""`python -m bench --profile`: py-spy on the RelayRoom worker while it forwards a fan-out load.

Needs py-spy in the virtualenv (``.venv/bin/pip install py-spy``; not a project dependency). Samples
the worker (Python frames; ``--profile-native`` adds C frames: libsrtp, syscalls) and prints the
functions with the most samples, self and inclusive, plus the raw collapsed stacks' path
(bench/results/<date>-profile.txt). ``--profile-perf`` samples with Linux ``perf`` instead (every frame
of the process, kernel included: the native fan-out's libsrtp and sendmmsg costs) and prints
``perf report`` by shared object and symbol (bench/results/<date>-perf.txt). ``--profile-python`` profiles
the pure-Python forwarding path (``media.native`` off).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import subprocess
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
    server = RelayRoomServer({int(c) for c in args.server_cpu.split(",")}, native=not args.profile_python)
    gens = GenPool(
        args.generators or 3, {int(c) for c in args.gen_cpu.split(",")}, args.kbps, args.burst, 600
    )
    spy = shutil.which("perf") if args.profile_perf else _py_spy()
    if spy is None:
        raise SystemExit(
            "perf missing" if args.profile_perf else "py-spy missing: .venv/bin/pip install py-spy"
        )
    await server.start()
    await gens.start()
    try:
        pid = server.pids()[0]
        step = fanout(args.profile_subs)
        procs: list[asyncio.subprocess.Process] = []

        seconds = str(int(args.profile_seconds))
        if args.profile_perf:
            cmd = ["record", "-F", "999", "-g", "-p", str(pid), "-o", str(out.with_suffix(".data"))]
            cmd += ["--", "sleep", seconds]
        else:
            cmd = ["record", "--pid", str(pid), "--rate", "250", "--duration", seconds]
            cmd += ["--format", "raw", "--output", str(out)]
            cmd += ["--native"] if args.profile_native else ["--nonblocking"]

        async def start_spy() -> None:
            procs.append(
                await asyncio.create_subprocess_exec(
                    "taskset",
                    "-c",
                    args.gen_cpu,
                    spy,
                    *cmd,
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
    if args.profile_perf:
        return _perf_report(out, res, console)
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


def _perf_report(out: Path, res: dict[str, Any], console: Console) -> int:
    data = out.with_suffix(".data")
    if not data.exists():
        console.print("[red]perf wrote nothing (perf_event_paranoid?)")
        return 1
    report = subprocess.run(
        [
            "perf",
            "report",
            "-i",
            str(data),
            "--no-children",
            "--sort",
            "dso,symbol",
            "-g",
            "none",
            "--percent-limit",
            "0.3",
            "--stdio",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    text = (
        f"fan-out {res.get('label')}: {res.get('out_pps', 0):.0f} pps, CPU {res.get('cpu_pct', 0):.0f} %, "
        f"{res.get('us_per_pkt') or 0:.2f} µs/pkt, delivery {100 * res.get('delivery', 0):.1f} %\n" + report
    )
    perf_txt = out.with_name(out.name.replace("-profile", "-perf"))
    perf_txt.write_text(text)
    console.print(text)
    console.print(f"perf report: {perf_txt}")
    return 0
