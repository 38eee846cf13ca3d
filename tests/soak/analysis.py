"""Trends of a soak run's samples: slopes after warm-up, thresholds, the chart.

Kept apart from the driver so that the thresholds are unit-tested (tests/soak/test_analysis.py) and
the report (tests/reliability_report.py) reads the same numbers the soak judged itself by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Failing trends, per 1,000 room cycles after warm-up.
RSS_MB_PER_1K_CYCLES = 1.0
FDS_PER_1K_CYCLES = 2.0
WARMUP_FRACTION = 0.15  # of the run's cycles, at least WARMUP_MIN_CYCLES
WARMUP_MIN_CYCLES = 20


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs (0 when fewer than two distinct xs)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def series(samples: Sequence[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """(cycles, value) per named series: control-plane RSS (MB)/fds/tasks/objects/tracemalloc (MB),
    and per worker index RSS (MB) and fds."""
    out: dict[str, list[tuple[float, float]]] = {}

    def add(name: str, x: float, y: float) -> None:
        out.setdefault(name, []).append((x, y))

    for s in samples:
        x = float(s["cycles"])
        cp = s["control_plane"]
        add("control_plane.rss_mb", x, cp["rss_kb"] / 1024)
        if "rss_anon_kb" in cp:
            add("control_plane.rss_anon_mb", x, cp["rss_anon_kb"] / 1024)
            add("control_plane.rss_file_mb", x, cp["rss_file_kb"] / 1024)
        add("control_plane.fds", x, cp["fds"])
        add("control_plane.asyncio_tasks", x, cp["asyncio_tasks"])
        add("control_plane.gc_objects", x, cp["gc_objects"])
        for key, value in (cp.get("native_heaps") or {}).items():
            add(f"control_plane.{key}_mb", x, value / 1024 / 1024)
        if "current" in cp.get("tracemalloc", {}):
            add("control_plane.tracemalloc_mb", x, cp["tracemalloc"]["current"] / 1024 / 1024)
        if cp.get("db") and cp["db"].get("checked_out") is not None:
            add("control_plane.db_checked_out", x, cp["db"]["checked_out"])
        for w in (cp.get("media") or {}).get("workers", []):
            add(f"worker{w['index']}.rss_mb", x, w.get("rss_kb", 0) / 1024)
            add(f"worker{w['index']}.fds", x, w.get("fds", 0))
    return out


@dataclass
class Verdict:
    ok: bool
    warmup_cycles: int
    slopes_per_1k_cycles: dict[str, float]
    failures: list[str]


def judge(samples: Sequence[dict[str, Any]]) -> Verdict:
    """Slopes per 1,000 cycles of every series after warm-up; RSS and fd series against thresholds."""
    if not samples:
        return Verdict(False, 0, {}, ["no samples"])
    total = max(float(s["cycles"]) for s in samples)
    warmup = int(max(WARMUP_MIN_CYCLES, WARMUP_FRACTION * total))
    slopes: dict[str, float] = {}
    failures: list[str] = []
    for name, points in series(samples).items():
        kept = [(x, y) for x, y in points if x >= warmup]
        if len({x for x, _ in kept}) < 3:
            continue
        k = slope([x for x, _ in kept], [y for _, y in kept]) * 1000
        slopes[name] = round(k, 3)
        if name.endswith(".rss_mb") and k > RSS_MB_PER_1K_CYCLES:
            failures.append(f"{name} grows {k:.2f} MB per 1,000 cycles (limit {RSS_MB_PER_1K_CYCLES})")
        if name.endswith(".fds") and k > FDS_PER_1K_CYCLES:
            failures.append(f"{name} grows {k:.2f} fds per 1,000 cycles (limit {FDS_PER_1K_CYCLES})")
    if not slopes:
        failures.append(f"too few samples after the warm-up of {warmup} cycles to judge a trend")
    return Verdict(not failures, warmup, slopes, failures)


def chart(samples: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    """PNG: RSS of every process, fds, asyncio tasks and traced memory against room cycles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = series(samples)
    warmup = judge(samples).warmup_cycles
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True)
    panels = [
        (axes[0][0], ".rss_mb", "RSS (MB); dashed: anonymous"),
        (axes[0][1], ".fds", "open file descriptors"),
        (axes[1][0], "control_plane.asyncio_tasks", "control-plane asyncio tasks"),
        (axes[1][1], "control_plane.tracemalloc_mb", "control-plane traced Python memory (MB)"),
    ]
    for ax, suffix, label in panels:
        for name, points in sorted(data.items()):
            if name.endswith(suffix):
                ax.plot([x for x, _ in points], [y for _, y in points], label=name.split(".")[0])
        if suffix == ".rss_mb" and "control_plane.rss_anon_mb" in data:
            anon = data["control_plane.rss_anon_mb"]
            ax.plot([x for x, _ in anon], [y for _, y in anon], "--", label="control_plane (anon)")
        ax.axvline(warmup, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("room cycles")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if suffix.startswith("."):
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.savefig(path, dpi=90)
    plt.close(fig)
