"""The workers' latency hint (media/sched.py): a short EEVDF slice, read back from /proc."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from relayroom.media.sched import WORKER_SLICE_NS, set_slice


def _kernel_at_least(major: int, minor: int) -> bool:
    parts = platform.release().split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= (major, minor)
    except (IndexError, ValueError):
        return False


def _slice_of(pid: int) -> int | None:
    for line in Path(f"/proc/{pid}/sched").read_text().splitlines():
        if line.startswith("se.slice"):
            return int(line.split(":")[1])
    return None


@pytest.mark.skipif(not _kernel_at_least(6, 12), reason="custom slices need Linux >= 6.12")
def test_a_process_gets_the_worker_slice_and_keeps_its_nice_value() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import os, time; os.nice(3); time.sleep(30)"])
    try:
        # wait until the child has reniced itself
        for _ in range(100):
            if os.getpriority(os.PRIO_PROCESS, child.pid) == 3:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        before = _slice_of(child.pid)
        assert set_slice(child.pid, WORKER_SLICE_NS)
        assert _slice_of(child.pid) == WORKER_SLICE_NS != before
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == 3
    finally:
        child.kill()
        child.wait()


def test_a_refused_slice_is_reported_not_raised() -> None:
    assert set_slice(os.getpid(), 0) is False
    assert set_slice(2**31 - 1, WORKER_SLICE_NS) is False  # no such process: ESRCH
