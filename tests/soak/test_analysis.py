"""The soak's verdict and the reliability report from synthetic samples (the real runs: make soak)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests import reliability_report
from tests.soak import analysis
from tests.soak.run import leftovers


def _samples(rss_mb_per_cycle: float, fds_per_cycle: float = 0.0, n: int = 40) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        cycles = i * 25
        out.append(
            {
                "t": i * 30.0,
                "cycles": cycles,
                "failed": 0,
                "control_plane": {
                    "rss_kb": int((150 + rss_mb_per_cycle * cycles + (i % 3) * 0.2) * 1024),
                    "fds": 30 + int(fds_per_cycle * cycles),
                    "asyncio_tasks": 17,
                    "gc_objects": 200_000,
                    "tracemalloc": {"tracing": True, "current": 2_000_000},
                    "media": {"workers": [{"index": 0, "rss_kb": 70_000, "fds": 19}]},
                },
            }
        )
    return out


def test_flat_trends_pass_and_a_slow_leak_fails() -> None:
    flat = analysis.judge(_samples(0.0))
    assert flat.ok and abs(flat.slopes_per_1k_cycles["control_plane.rss_mb"]) < 0.5
    leak = analysis.judge(_samples(0.002))  # 2 MB per 1,000 cycles
    assert not leak.ok and any("control_plane.rss_mb" in f for f in leak.failures)
    fds = analysis.judge(_samples(0.0, fds_per_cycle=0.01))
    assert not fds.ok and any("control_plane.fds" in f for f in fds.failures)
    assert not analysis.judge([]).ok


def test_objects_left_after_the_rooms_closed_are_reported() -> None:
    idle = {"asyncio_tasks": 17, "media": {"workers": [{"index": 0, "timers": 1, "tasks": 5}]}}
    same = {"asyncio_tasks": 18, "rooms": {"rooms": 0, "members": 0}, **idle}
    assert leftovers(idle, same) == []
    left = {
        "asyncio_tasks": 40,
        "rooms": {"rooms": 1, "members": 1},
        "media": {"routers": 1, "workers": [{"index": 0, "timers": 3, "tasks": 5, "consumers": 2}]},
    }
    found = leftovers(idle, left)
    assert any("rooms still open" in f for f in found)
    assert any("2 consumers" in f for f in found)
    assert any("timers 1 idle before, 3 after" in f for f in found)
    assert any("asyncio tasks 17 -> 40" in f for f in found)


def test_report_is_built_from_the_records(tmp_path: Path, monkeypatch: Any) -> None:
    samples = _samples(0.0)
    soak = {
        "minutes": 20,
        "commit": "abc",
        "workers": 2,
        "lanes": 1,
        "cycles": 975,
        "failed_cycles": 1,
        "failed_examples": ["cycle 3 (room 1000003): TimeoutError: "],
        "warmup_cycles": 146,
        "slopes_per_1k_cycles": analysis.judge(samples).slopes_per_1k_cycles,
        "thresholds": {"rss_mb_per_1k_cycles": 1.0, "fds_per_1k_cycles": 2.0, "max_failed_fraction": 0.05},
        "idle_before": samples[0]["control_plane"],
        "idle_after": {**samples[-1]["control_plane"], "rooms": {"rooms": 0, "members": 0}},
        "ok": True,
        "failures": [],
        "samples": samples,
    }
    path = tmp_path / "soak.json"
    path.write_text(json.dumps(soak))
    monkeypatch.setattr(reliability_report, "CHART", tmp_path / "chart.png")
    analysis.chart(samples, tmp_path / "soak.png", "test")
    text = reliability_report.build(path, None)
    assert "**975 room cycles**, 1 failed" in text and "Verdict: **pass**" in text
    assert "| rtp |" in text and "## API fuzzing" in text
    assert "PostgreSQL stop and start" in text and "not in this run" in text
    assert (tmp_path / "chart.png").stat().st_size > 10_000
