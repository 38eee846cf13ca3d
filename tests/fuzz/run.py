"""Run the atheris fuzz targets (tests/fuzz/targets.py) for a time budget and record what ran.

    python -m tests.fuzz.run                      # every target, FUZZ_SECONDS (default 600) in all
    python -m tests.fuzz.run --seconds 60 rtp     # one target for a minute
    python -m tests.fuzz.run --ledger tests/fuzz/ledger.jsonl   # append one line per target run

Each target runs in its own process (libFuzzer owns the process and exits at the end) with three
corpus directories: ``.fuzz/corpus/<target>`` (writable, kept between runs on this machine, not
committed), the committed seeds ``tests/fuzz/corpus/<target>`` and the committed crash inputs
``tests/fuzz/crashes/<target>`` (replayed first, so a regression shows at once). A crash leaves its
input in ``.fuzz/crashes/<target>/``; the target then resumes for the rest of its share of the budget.
Exit status 1 when any target crashed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import re
import subprocess
import sys
import time
import types
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SEEDS = HERE / "corpus"
CRASHES = HERE / "crashes"
WORK = ROOT / ".fuzz"
DEFAULT_SECONDS = 600
# libFuzzer: per-input timeout (s) and memory cap; a slower or bigger input is a finding too.
INPUT_TIMEOUT_S = 10
RSS_LIMIT_MB = 2048
MAX_RESTARTS = 5  # after a crash, resume this many times at most per run

_EXECS = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
_PROGRESS = re.compile(r"^#(\d+)\s", re.M)
_NEW = re.compile(r"stat::new_units_added:\s*(\d+)")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")
# Third-party parsers our targets go through, instrumented for coverage feedback too.
THIRD_PARTY = ("aiortc.sdp", "aioice.stun")


@dataclass
class TargetRun:
    target: str
    started: str
    seconds: float
    executions: int
    new_units: int
    crashes: list[str] = field(default_factory=list)  # crash input files (under .fuzz/crashes)


def _instrument_module(atheris: Any, module: types.ModuleType) -> None:
    """Instrument the functions and methods defined in an already imported module."""
    for obj in vars(module).values():
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        if isinstance(obj, types.FunctionType):
            atheris.instrument_func(obj)
        elif isinstance(obj, type):
            for member in vars(obj).values():
                fn = member.__func__ if isinstance(member, classmethod | staticmethod) else member
                if isinstance(fn, types.FunctionType):
                    atheris.instrument_func(fn)


def _child(target: str, seconds: int, work: Path) -> None:
    """In the child process: instrument, then hand the process to libFuzzer."""
    import atheris

    # The third-party packages load uninstrumented (instrumenting all of aiortc costs seconds per
    # start); then our code is instrumented as it loads and the two parsers we rely on in place.
    for dep in THIRD_PARTY:
        importlib.import_module(dep)
    with atheris.instrument_imports(include=["relayroom", "tests.fuzz"]):
        from tests.fuzz import targets
    for dep in THIRD_PARTY:
        _instrument_module(atheris, importlib.import_module(dep))

    spec = targets.TARGETS[target]
    corpora = [work / "corpus" / target, SEEDS / target, CRASHES / target]
    for d in corpora:
        d.mkdir(parents=True, exist_ok=True)
    (work / "crashes" / target).mkdir(parents=True, exist_ok=True)
    argv = [
        sys.argv[0],
        f"-max_total_time={seconds}",
        f"-max_len={spec.max_len}",
        f"-timeout={INPUT_TIMEOUT_S}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-artifact_prefix={work / 'crashes' / target}/",
        "-print_final_stats=1",
        *(str(d) for d in corpora),
    ]
    atheris.Setup(argv, spec.fn)
    atheris.Fuzz()


def run_target(target: str, seconds: int, work: Path = WORK, quiet: bool = True) -> TargetRun:
    """Fuzz one target for ``seconds`` (restarting after a crash while time is left)."""
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    result = TargetRun(target, started, 0.0, 0, 0)
    for _ in range(MAX_RESTARTS + 1):
        left = seconds - (time.monotonic() - t0)
        if left < 1:
            break
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "tests.fuzz.run", "--child", target),
                *("--seconds", str(int(left)), "--work", str(work)),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=left + 120,
            check=False,
        )
        log = proc.stderr + proc.stdout  # atheris prints a Python traceback on stdout
        (work / "logs").mkdir(parents=True, exist_ok=True)
        (work / "logs" / f"{target}.log").write_text(log)
        m = _EXECS.search(log)
        execs = int(m.group(1)) if m else max((int(x) for x in _PROGRESS.findall(log)), default=0)
        result.executions += execs
        n = _NEW.search(log)
        result.new_units += int(n.group(1)) if n else 0
        artifacts = _ARTIFACT.findall(log)
        result.crashes += artifacts
        if not quiet:
            print(f"  {target}: {execs} executions, rc={proc.returncode}", file=sys.stderr)
        if proc.returncode == 0:
            break
        if not artifacts:  # died without a crash input (startup error): show why and stop
            tail = "\n".join(log.splitlines()[-30:])
            raise RuntimeError(f"fuzz target {target} failed to run (rc={proc.returncode}):\n{tail}")
    result.seconds = round(time.monotonic() - t0, 1)
    return result


def machine() -> dict[str, Any]:
    """Where the run happened (no host names or addresses: cores, memory, OS, Python, atheris)."""
    from importlib.metadata import version

    import atheris  # noqa: F401  (version below)

    mem_gib = 0.0
    try:
        with open("/proc/meminfo") as f:
            mem_gib = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "atheris": version("atheris"),
        "nice": os.nice(0),
        "ci": bool(os.environ.get("CI")),
    }


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def summary(ledger: Path) -> dict[str, Any]:
    """Totals per parser target and per API suite from a ledger (what the reliability report shows)."""
    parsers: dict[str, dict[str, Any]] = {}
    apis: dict[str, dict[str, Any]] = {}
    for line in ledger.read_text().splitlines():
        e = json.loads(line)
        if e.get("kind") == "parser":
            t = parsers.setdefault(e["target"], {"executions": 0, "seconds": 0.0, "runs": 0, "crashes": 0})
            t["executions"] += e["executions"]
            t["seconds"] = round(t["seconds"] + e["seconds"], 1)
            t["runs"] += 1
            t["crashes"] += len(e["crashes"])
        elif e.get("kind") == "api":
            a = apis.setdefault(e["suite"], {"cases": 0, "seconds": 0.0, "runs": 0, "failures": 0})
            a["cases"] += e["cases"]
            a["seconds"] = round(a["seconds"] + e["seconds"], 1)
            a["runs"] += 1
            a["failures"] += len(e["failures"])
    total = sum(t["executions"] for t in parsers.values())
    return {"parser_targets": parsers, "parser_executions_total": total, "api_suites": apis}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__.split("\n")[0])
    ap.add_argument("targets", nargs="*", help="targets to run (default: all)")
    ap.add_argument(
        "--seconds",
        type=int,
        default=int(os.environ.get("FUZZ_SECONDS", DEFAULT_SECONDS)),
        help="budget in all, shared equally by the targets (env FUZZ_SECONDS, default 600)",
    )
    ap.add_argument("--ledger", type=Path, help="append one JSON line per target run to this file")
    ap.add_argument(
        "--work", type=Path, default=WORK, help="growing corpus, crash inputs, logs (default .fuzz/)"
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--list", action="store_true", help="print the target names and exit")
    ap.add_argument(
        "--summary", type=Path, metavar="LEDGER", help="print the ledger's totals (JSON) and exit"
    )
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.seconds, args.work)
        return 0  # not reached: libFuzzer exits the process

    from tests.fuzz.targets import TARGETS

    if args.summary:
        print(json.dumps(summary(args.summary), indent=2, sort_keys=True))
        return 0
    if args.list:
        print("\n".join(TARGETS))
        return 0
    names = args.targets or list(TARGETS)
    unknown = set(names) - set(TARGETS)
    if unknown:
        ap.error(f"unknown targets: {', '.join(sorted(unknown))}")
    share = max(1, args.seconds // len(names))
    where = machine()
    commit = git_commit()
    crashed = False
    print(f"fuzzing {len(names)} targets, {share} s each", file=sys.stderr)
    for name in names:
        r = run_target(name, share, args.work, quiet=False)
        crashed |= bool(r.crashes)
        line = {"kind": "parser", "commit": commit, "machine": where, **asdict(r)}
        rate = r.executions / r.seconds if r.seconds else 0
        status = f"{len(r.crashes)} CRASHES: {' '.join(r.crashes)}" if r.crashes else "no crash"
        print(f"{name:14} {r.executions:>10} executions in {r.seconds:6.1f} s ({rate:,.0f}/s), {status}")
        if args.ledger:
            with args.ledger.open("a") as f:
                f.write(json.dumps(line, sort_keys=True) + "\n")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
