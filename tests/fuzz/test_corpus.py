"""Every committed seed and every crash input through its fuzz target: the fuzzers' regressions in the
normal suite (a crash input fails here until its parser is fixed; a seed keeps the targets honest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

HERE = Path(__file__).parent
CASES = sorted(
    (target, path)
    for kind in ("corpus", "crashes")
    for target in TARGETS
    for path in (HERE / kind / target).glob("*")
    if path.is_file()
)


def test_every_target_has_seeds_from_a_real_call() -> None:
    for target in TARGETS:
        seeds = [p for p in (HERE / "corpus" / target).glob("*") if p.is_file()]
        assert seeds, f"no seed corpus for {target}: run python -m tests.fuzz.capture"


def test_no_input_directory_names_an_unknown_target() -> None:
    for kind in ("corpus", "crashes"):
        for d in (HERE / kind).iterdir():
            assert not d.is_dir() or d.name in TARGETS, f"{kind}/{d.name} is not a fuzz target"


@pytest.mark.parametrize(
    ("target", "path"), CASES, ids=[f"{p.parent.parent.name}/{t}/{p.name}" for t, p in CASES]
)
def test_input_runs_through_its_target_as_documented(target: str, path: Path) -> None:
    TARGETS[target].fn(path.read_bytes())
