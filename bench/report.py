"""Tables and the headline numbers (ratios to Janus) from a results list."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

RELAYROOM = ("relayroom", "relayroom-py", "relayroom-nogso")


def _ok(r: dict[str, Any]) -> bool:
    return "error" not in r and r.get("received", 0) > 0


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    servers = sorted({r["server"] for r in results})
    out: dict[str, Any] = {}
    for s in servers:
        fan = sorted(
            (r for r in results if r["server"] == s and r["scenario"] == "fanout" and _ok(r)),
            key=lambda r: r["load"],
        )
        if not fan:
            continue
        good = [r for r in fan if r["delivery"] >= 0.99]
        bad = [r for r in fan if r["delivery"] < 0.99]
        largest = max((r["load"] for r in good), default=0)
        first_bad = min((r["load"] for r in bad if r["load"] > largest), default=None)
        half = min(fan, key=lambda r: abs(r["cpu_pct"] - 50))
        us = [r["us_per_pkt"] for r in good if r["us_per_pkt"]]
        out[s] = {
            "fanout_us_per_pkt": {str(r["load"]): r["us_per_pkt"] for r in fan},
            "us_per_pkt_median": sorted(us)[len(us) // 2] if us else None,
            "largest_fanout_99": largest,
            "first_fanout_below_99": first_bad,
            "half_load_step": half["load"],
            "half_load_cpu_pct": half["cpu_pct"],
            "lat_p50_us_half_load": half["lat_p50_us"],
            "lat_p99_us_half_load": half["lat_p99_us"],
            "join_first_p50_ms": _median([r["join_first_p50_ms"] for r in fan]),
            "join_key_p50_ms": _median([r["join_key_p50_ms"] for r in fan]),
            "rss_per_participant_kb": _median([r["rss_per_participant_kb"] for r in fan]),
        }
    # ratios RelayRoom / Janus per fan-out step (same load, same run)
    ratios: dict[str, Any] = {}
    for rr in RELAYROOM:
        for j in ("janus-el1", "janus"):
            if rr in out and j in out:
                a, b = out[rr]["fanout_us_per_pkt"], out[j]["fanout_us_per_pkt"]
                per = {k: a[k] / b[k] for k in a if k in b and a[k] and b[k]}
                ratios[f"{rr}/{j}"] = {
                    "us_per_pkt_by_fanout": per,
                    "median": sorted(per.values())[len(per) // 2] if per else None,
                }
    out["ratios"] = ratios
    return out


def _median(v: list[Any]) -> float | None:
    x = sorted(a for a in v if a is not None)
    return x[len(x) // 2] if x else None


def _f(v: Any, fmt: str = "{:.1f}") -> str:
    return "–" if v is None else fmt.format(v)


def print_tables(console: Console, data: dict[str, Any]) -> None:
    results = data["results"]
    for scenario in ("fanout", "meeting", "audio", "live", "simulcast"):
        rows = [r for r in results if r["scenario"] == scenario]
        if not rows:
            continue
        t = Table(title=f"{scenario} (server pinned to one core)", show_lines=False)
        for col in (
            "step",
            "server",
            "out pps",
            "Mbit/s",
            "CPU %",
            "µs/pkt",
            "×Janus-el1",
            "delivery",
            "lat p50/p99 µs",
            "join ms",
            "RSS/part KB",
            "gen CPU %",
            "other %",
        ):
            t.add_column(col, justify="right")
        by = {(r["server"], r["load"]): r for r in rows}
        for r in sorted(rows, key=lambda r: (r["load"], r["server"])):
            if "error" in r:
                t.add_row(r["label"], r["server"], f"[red]{r['error'][:50]}", *[""] * 10)
                continue
            ref = by.get(("janus-el1", r["load"]))
            ratio = (
                r["us_per_pkt"] / ref["us_per_pkt"]
                if ref and "error" not in ref and ref.get("us_per_pkt") and r.get("us_per_pkt")
                else None
            )
            style = "" if r["delivery"] >= 0.99 else "[red]"
            t.add_row(
                r["label"],
                r["server"],
                f"{r['out_pps']:.0f}",
                f"{r['out_mbps']:.1f}",
                f"{r['cpu_pct']:.1f}",
                _f(r["us_per_pkt"]),
                _f(ratio, "{:.2f}"),
                f"{style}{100 * r['delivery']:.2f}%",
                f"{_f(r['lat_p50_us'], '{:.0f}')}/{_f(r['lat_p99_us'], '{:.0f}')}",
                _f(r["join_first_p50_ms"], "{:.0f}"),
                _f(r["rss_per_participant_kb"], "{:.0f}"),
                f"{r['gen_cpu_pct']:.0f}",
                f"{r.get('foreign_pct', 0):.0f}",
            )
        console.print(t)
    summ = data.get("summary", {})
    for k, v in summ.get("ratios", {}).items():
        console.print(
            f"µs per forwarded packet, {k}: median ratio {_f(v['median'], '{:.2f}')}  "
            + "  ".join(f"1→{n}: {x:.2f}" for n, x in v["us_per_pkt_by_fanout"].items())
        )
    for s, v in summ.items():
        if s == "ratios":
            continue
        console.print(
            f"{s}: largest fan-out ≥99 % delivery: {v['largest_fanout_99']} (first below: "
            f"{v['first_fanout_below_99']}); latency at ~50 % CPU (1→{v['half_load_step']}, "
            f"{v['half_load_cpu_pct']:.0f} %): p50 {_f(v['lat_p50_us_half_load'], '{:.0f}')} µs, "
            f"p99 {_f(v['lat_p99_us_half_load'], '{:.0f}')} µs; join p50 "
            f"{_f(v['join_first_p50_ms'], '{:.0f}')} ms; RSS/participant "
            f"{_f(v['rss_per_participant_kb'], '{:.0f}')} KB"
        )


def to_markdown(data: dict[str, Any]) -> str:
    """The tables of docs/performance.md: `python -m bench.report bench/results/<date>.json`."""
    out: list[str] = []
    results = data["results"]
    head = (
        "| step | server | out pps | Mbit/s | CPU % | µs/pkt | ×janus-el1 | delivery | latency p50 / p99 µs "
        "| join p50 ms | RSS/participant KB | gen CPU % | other % |"
    )
    for scenario in ("fanout", "meeting", "audio", "live", "simulcast"):
        rows = [r for r in results if r["scenario"] == scenario]
        if not rows:
            continue
        out += [f"\n**{scenario}**\n", head, "|" + "---|" * 13]
        by = {(r["server"], r["load"]): r for r in rows}
        for r in sorted(rows, key=lambda r: (r["load"], r["server"])):
            if "error" in r:
                out.append(f"| {r['label']} | {r['server']} | failed: {r['error'][:70]} |" + " |" * 10)
                continue
            ref = by.get(("janus-el1", r["load"]))
            ratio = (
                r["us_per_pkt"] / ref["us_per_pkt"]
                if ref and "error" not in ref and ref.get("us_per_pkt") and r.get("us_per_pkt")
                else None
            )
            out.append(
                f"| {r['label']} | {r['server']} | {r['out_pps']:.0f} | {r['out_mbps']:.1f} "
                f"| {r['cpu_pct']:.1f} "
                f"| {_f(r['us_per_pkt'])} | {_f(ratio, '{:.2f}')} | {100 * r['delivery']:.2f} % "
                f"| {_f(r['lat_p50_us'], '{:.0f}')} / {_f(r['lat_p99_us'], '{:.0f}')} "
                f"| {_f(r['join_first_p50_ms'], '{:.0f}')} | {_f(r['rss_per_participant_kb'], '{:.0f}')} "
                f"| {r['gen_cpu_pct']:.0f} | {r.get('foreign_pct', 0):.0f} |"
            )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    import json
    import sys

    with open(sys.argv[1]) as f:
        print(to_markdown(json.load(f)))
