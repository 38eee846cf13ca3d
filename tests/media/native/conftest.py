"""The native tests need the C extension: a working tree without it (a fresh worktree sharing a
virtualenv installed from another tree) gets it built in place once, as `pip install -e .` would."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True, scope="session")
def native_extension_built() -> None:
    try:
        importlib.import_module("relayroom.media.native._fanout")
    except ImportError:
        subprocess.run(
            [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        importlib.invalidate_caches()
