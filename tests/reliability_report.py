"""Write docs/reliability.md from what the reliability runs recorded (``make reliability-report``).

    python -m tests.reliability_report [--soak soak-out/soak.json] [--chaos chaos-out/junit.xml]

Reads: the fuzz ledger (tests/fuzz/ledger.jsonl: every parser-fuzz and API-fuzz run), a soak result
(``make soak`` writes soak.json and soak.png), the JUnit XML of ``make chaos``. Writes
docs/reliability.md and docs/reliability-soak.png (the soak's chart). Nothing here is measured anew:
the report is exactly what the runs wrote, with the commit it was made at.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tests.fuzz.run import summary

ROOT = Path(__file__).resolve().parent.parent
LEDGER = ROOT / "tests" / "fuzz" / "ledger.jsonl"
OUT = ROOT / "docs" / "reliability.md"
CHART = ROOT / "docs" / "reliability-soak.png"
FUZZ_GOAL = 1_000_000

# Chaos scenarios of the issue and where each is exercised (test node ids; "" = not run, with why).
SCENARIOS: list[tuple[str, str, str]] = [
    (
        "media worker SIGKILL during a call",
        "tests/client/test_client_features.py::test_worker_death_members_enter_again_by_themselves_with_media_flowing",
        "members get `reconnect {worker_died}`, the worker is restarted, members enter again by themselves "
        "(SDK re-entry) and media flows",
    ),
    (
        "control plane SIGKILL and restart",
        "tests/chaos/test_control_plane_kill.py::test_control_plane_sigkill_and_restart_clients_re_enter_nothing_lost",
        "workers exit with it, clients see RECONNECTING and, once it is back, are in the room again by "
        "themselves (SDK re-entry: republished, resubscribed) with media flowing; admin login, application "
        "and operation-log chain intact",
    ),
    (
        "PostgreSQL cut 10 s during a call (proxy)",
        "tests/chaos/test_postgres_outage_writes.py::"
        "test_postgres_outage_media_flows_and_room_event_writes_are_retried_not_lost",
        "media flows; a member leaving meanwhile gets its history rows and exactly one exit callback once "
        "the database is back (room-event writes retried)",
    ),
    (
        "cluster: owner node SIGKILL",
        "tests/chaos/test_cluster_node_loss.py::test_owner_sigkill_clients_back_on_the_other_node_with_media",
        "clients back on the other node with media once the lease expires (failover time printed)",
    ),
    (
        "cluster: node SIGKILL while sending callbacks",
        "tests/chaos/test_cluster_outbox_handover.py::"
        "test_callbacks_claimed_by_a_dead_node_are_delivered_once_by_the_other",
        "the other node sends the dead node's claimed callbacks once their lease runs out, each acked once",
    ),
    (
        "cluster: Redis away 60 s (proxy)",
        "tests/chaos/test_cluster_redis_outage.py::"
        "test_redis_outage_media_flows_new_rooms_refused_retryably_then_work_again[60s]",
        "media never stops, new rooms refused with -100213, entered again right after Redis returns",
    ),
    (
        "cluster: drain of a node with 3 rooms",
        "tests/chaos/test_cluster_drain.py::test_drain_moves_every_member_of_three_rooms_to_the_other_node_and_exits_0",
        "every member on the other node with media, the drained node exits 0",
    ),
    (
        "disk full on the data dir",
        "tests/chaos/test_disk_full.py::test_disk_full_fails_writes_cleanly_media_flows_and_writes_recover",
        "API writes answer 503 `storage_unavailable`, the call keeps its media, writes succeed again once "
        "space is back (no restart), nothing half-written, chain verifies",
    ),
    (
        "clock jump (TC3, UserSig, purge scheduler)",
        "tests/chaos/test_clock_jump.py::test_clock_jumps_move_tc3_and_usersig_windows_and_the_purge_scheduler",
        "TC3 and UserSig windows follow the server's clock both ways; purges made due/overdue by the jump "
        "show on /metrics and run",
    ),
    (
        "30 % loss + 300 ms jitter on one member",
        "tests/chaos/test_lossy_member.py::test_thirty_percent_loss_and_jitter_on_one_member_does_not_degrade_the_other",
        "the other member keeps its frame rate (ratio to before the fault), the lossy member's video keeps "
        "decoding through NACK/RTX, no worker error, recovery when the loss stops",
    ),
    (
        "PostgreSQL stop and start (a private instance: initdb in a temporary directory, its own port)",
        "tests/chaos/test_postgres_restart.py::test_postgres_stop_and_start_during_a_call",
        "while down: /readyz 503 `database unreachable`, /healthz 200, writes 503 `storage_unavailable`, "
        "the call keeps its media; back: ready again without a restart, writes succeed, a new member enters",
    ),
]


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


def chaos_results(junit: Path | None) -> dict[str, tuple[str, float]]:
    """Test node id -> (outcome, seconds) from a pytest JUnit XML."""
    out: dict[str, tuple[str, float]] = {}
    if junit is None or not junit.exists():
        return out
    for case in ET.parse(junit).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        node = classname.replace(".", "/") + ".py::" + name
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "FAILED"
            elif child.tag == "skipped":
                outcome = "skipped"
        out[node] = (outcome, float(case.get("time", 0)))
    return out


def _fuzz_section(s: dict[str, Any], ledger: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Parser fuzzing (atheris, coverage-guided)",
        "",
        f"Every run is a line of `tests/fuzz/ledger.jsonl`; totals over all runs. Goal: ≥ {FUZZ_GOAL:,} "
        "executions per target, 0 open crashes (a crash found becomes a regression input in "
        "`tests/fuzz/crashes/` and a test).",
        "",
        "| target | executions | runs | CPU-seconds fuzzing | crashes found | goal |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, t in sorted(s["parser_targets"].items()):
        goal = "met" if t["executions"] >= FUZZ_GOAL else f"**{t['executions'] / FUZZ_GOAL:.0%}**"
        lines.append(
            f"| {name} | {t['executions']:,} | {t['runs']} | {t['seconds']:,.0f} | {t['crashes']} | {goal} |"
        )
    lines.append(f"| **all** | **{s['parser_executions_total']:,}** | | | | |")
    machines = {json.dumps(e.get("machine", {}), sort_keys=True) for e in ledger if e.get("kind") == "parser"}
    starts = sorted(e["started"] for e in ledger if e.get("kind") == "parser" and "started" in e)
    lines += [
        "",
        f"Where: {len(machines)} machine configuration(s) in the ledger, e.g. "
        f"`{next(iter(sorted(machines)), '{}')}`; runs from {starts[0] if starts else '?'} to "
        f"{starts[-1] if starts else '?'} (UTC), niced, one target at a time on one core, sharing the "
        "machine with other work (rates vary with that load).",
        "",
    ]
    return lines


def _api_section(s: dict[str, Any], ledger: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## API fuzzing (schemathesis against a real server)",
        "",
        "| suite | cases | runs | seconds | runs with failures | last run's failures |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, a in sorted(s["api_suites"].items()):
        last = [e for e in ledger if e.get("kind") == "api" and e.get("suite") == name][-1]
        failing_runs = sum(
            1 for e in ledger if e.get("kind") == "api" and e.get("suite") == name and e["failures"]
        )
        lines.append(
            f"| {name} | {a['cases']:,} | {a['runs']} | {a['seconds']:,.0f} | {failing_runs} | "
            f"{len(last['failures'])} |"
        )
    lines += [
        "",
        "Earlier runs' failures (server errors found, then fixed with a regression test) stay in the "
        "ledger; the last run of each suite is the current state.",
        "",
    ]
    return lines


def _soak_section(soak: dict[str, Any] | None, note: str = "") -> list[str]:
    if soak is None:
        return ["## Soak", "", "No soak result given (`make soak`, then `--soak soak-out/soak.json`).", ""]
    samples = soak["samples"]
    duration_min = (samples[-1]["t"] - samples[0]["t"]) / 60 if samples else 0.0
    first, last = samples[0]["control_plane"], samples[-1]["control_plane"]
    lines = [
        "## Soak and leaks",
        "",
        f"`make soak` with `SOAK_MINUTES={soak['minutes']:g}` at commit `{soak['commit']}`: a real "
        f"`relayroom serve` ({soak['workers']} media workers, SQLite) with {soak['lanes']} room(s) churning "
        f"at a time, sampled every 30 s through `/debug/introspect`. Sampled for {duration_min:.1f} min: "
        f"**{soak['cycles']} room cycles**, {soak['failed_cycles']} failed "
        f"({soak['failed_cycles'] / max(1, soak['cycles']):.1%}). "
        f"Verdict: **{'pass' if soak['ok'] else 'FAIL'}**.",
        "",
        *([note, ""] if note else []),
        "One cycle: an anchor enters and publishes audio + video, a second member enters (every other "
        "cycle a live room, as audience) and receives the video, the anchor unpublishes and publishes "
        "audio again, the room ends (both leave, or an admin dismisses it through the console API).",
        "",
        f"Slopes after a warm-up of {soak['warmup_cycles']} cycles (least squares, per 1,000 cycles; "
        f"fails above {soak['thresholds']['rss_mb_per_1k_cycles']} MB RSS or "
        f"{soak['thresholds']['fds_per_1k_cycles']} fds):",
        "",
        "| series | slope per 1,000 cycles | first sample | last sample |",
        "|---|---:|---:|---:|",
    ]
    ends = _ends(samples)
    for name, k in sorted(soak["slopes_per_1k_cycles"].items()):
        unit = " MB" if name.endswith("_mb") else ""
        a, b = ends.get(name, (float("nan"), float("nan")))
        lines.append(f"| {name} | {k:+.3f}{unit} | {a:,.1f} | {b:,.1f} |")
    after = soak["idle_after"]
    workers = (after.get("media") or {}).get("workers", [])
    lines += [
        "",
        "![soak trends](reliability-soak.png)",
        "",
        "After the last cycle (server idle): rooms "
        f"{(after.get('rooms') or {}).get('rooms')}, members {(after.get('rooms') or {}).get('members')}; "
        "per worker (routers, transports, producers, consumers, tuples, ufrags, timers, tasks): "
        + "; ".join(
            f"worker {w['index']}: "
            + ", ".join(
                str(w.get(k))
                for k in (
                    "routers",
                    "transports",
                    "producers",
                    "consumers",
                    "tuples",
                    "ufrags",
                    "timers",
                    "tasks",
                )
            )
            for w in workers
        )
        + f"; control-plane asyncio tasks {soak['idle_before']['asyncio_tasks']} idle before, "
        f"{after['asyncio_tasks']} after; control-plane RSS {first['rss_kb'] / 1024:.0f} MB at the "
        f"first sample, {last['rss_kb'] / 1024:.0f} MB at the last.",
        "",
    ]
    grown = (after.get("tracemalloc") or {}).get("grown_since_baseline") or []
    if grown:
        lines += [
            "Python allocations that grew most between the idle server at the start and the idle server "
            "at the end (tracemalloc, by line; what stays after every room closed):",
            "",
            "| where | size | blocks |",
            "|---|---:|---:|",
        ]
        for g in grown[:10]:
            where = g["where"].replace(str(ROOT) + "/", "")
            where = where.split("site-packages/")[-1]
            lines.append(f"| `{where}` | {g['size_diff'] / 1024:+.1f} KiB | {g['count_diff']:+d} |")
        lines.append("")
    if soak.get("missed_samples"):
        missed = len(soak["missed_samples"])
        lines += [f"Samples missed (too slow under load, the run went on): {missed}.", ""]
    if soak["failures"]:
        lines += ["Failures:", "", *[f"- {f}" for f in soak["failures"]], ""]
    if soak["failed_examples"]:
        lines += ["Failed cycles (first ones):", "", *[f"- `{f}`" for f in soak["failed_examples"][:10]], ""]
    return lines


def _ends(samples: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    from tests.soak.analysis import series

    return {name: (pts[0][1], pts[-1][1]) for name, pts in series(samples).items() if pts}


def _chaos_section(results: dict[str, tuple[str, float]]) -> list[str]:
    lines = [
        "## Chaos",
        "",
        "Faults injected during live calls, each with its expected outcome asserted. "
        "`make chaos` runs them all (the long ones only there); the suite runs the rest.",
        "",
        "| fault | outcome asserted | result | seconds |",
        "|---|---|---|---:|",
    ]
    for fault, node, expected in SCENARIOS:
        if not node:
            lines.append(f"| {fault} | {expected} | not run | |")
            continue
        outcome, secs = results.get(node, ("not in this run", 0.0))
        lines.append(f"| {fault} | {expected} (`{node.split('::')[0]}`) | {outcome} | {secs:.0f} |")
    lines.append("")
    return lines


def _open_items(
    s: dict[str, Any], soak: dict[str, Any] | None, chaos: dict[str, tuple[str, float]]
) -> list[str]:
    items = [
        f"- fuzz target `{name}` is at {t['executions']:,} executions, below the {FUZZ_GOAL:,} goal"
        for name, t in sorted(s["parser_targets"].items())
        if t["executions"] < FUZZ_GOAL
    ]
    if soak is None:
        items.append("- no soak result in this report")
    elif not soak["ok"]:
        items.append("- the soak failed its thresholds (see Soak)")
    for fault, node, expected in SCENARIOS:
        if not node:
            items.append(f"- chaos: {fault}: {expected}")
        elif chaos.get(node, ("",))[0] != "passed":
            items.append(f"- chaos: {fault}: {chaos.get(node, ('not in this run',))[0]}")
    return ["## Open items", "", *items, ""]


def build(soak_path: Path | None, chaos_path: Path | None, soak_note: str = "") -> str:
    ledger = [json.loads(line) for line in LEDGER.read_text().splitlines() if line.strip()]
    s = summary(LEDGER)
    soak = json.loads(soak_path.read_text()) if soak_path and soak_path.exists() else None
    if soak is not None and soak_path is not None and (soak_path.parent / "soak.png").exists():
        shutil.copyfile(soak_path.parent / "soak.png", CHART)
    lines = [
        "# Reliability report",
        "",
        f"Generated by `make reliability-report` at commit `{git_commit()}` on "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC from the runs' own records (fuzz ledger, soak "
        "result, chaos JUnit XML). How each part works: docs/decisions/0021-reliability-campaign.md; "
        "metrics: docs/observability.md.",
        "",
    ]
    lines += _fuzz_section(s, ledger)
    lines += _api_section(s, ledger)
    lines += _soak_section(soak, soak_note)
    chaos = chaos_results(chaos_path)
    lines += _chaos_section(chaos)
    lines += _open_items(s, soak, chaos)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.reliability_report", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--soak", type=Path, default=Path("soak-out/soak.json"))
    ap.add_argument("--chaos", type=Path, default=Path("chaos-out/junit.xml"))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--soak-note", default="", help="a sentence for the soak section (a run that was lost)")
    args = ap.parse_args(argv)
    text = build(args.soak, args.chaos, args.soak_note)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
