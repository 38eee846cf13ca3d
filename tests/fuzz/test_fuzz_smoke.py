"""The fuzzers in the normal suite: every parser target for a short budget (FUZZ_CI_SECONDS in all,
default 44, so with start-up the whole run stays near a minute), starting from the committed seeds and
crash inputs. A regression that any mutation of the seeds reaches fails here; ``make fuzz`` runs long."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parent.parent.parent

pytestmark = pytest.mark.timeout(900)


def test_every_fuzz_target_runs_its_short_budget_without_a_crash(tmp_path: Path) -> None:
    try:
        import atheris  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("atheris is missing: it is a dev dependency (make setup installs it)")
        pytest.skip("atheris is not installed: make setup installs it")
    seconds = int(os.environ.get("FUZZ_CI_SECONDS", "44"))
    ledger = tmp_path / "ledger.jsonl"
    work = tmp_path / "work"
    args = ["--seconds", str(seconds), "--ledger", str(ledger), "--work", str(work)]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=seconds + 60 * len(TARGETS),
        check=False,
    )
    assert ledger.exists(), proc.stdout + proc.stderr
    runs = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert {r["target"] for r in runs} == set(TARGETS), proc.stdout + proc.stderr
    crashed = {r["target"] for r in runs if r["crashes"]}
    # the input of a crash, base64, is in its target's log (libFuzzer prints it): keep it in the failure
    logs = {t: (work / "logs" / f"{t}.log").read_text()[-4000:] for t in crashed}
    assert not crashed, "\n\n".join(f"{t}:\n{log}" for t, log in logs.items())
    assert all(r["executions"] > 0 for r in runs), runs
    assert proc.returncode == 0, proc.stdout + proc.stderr
