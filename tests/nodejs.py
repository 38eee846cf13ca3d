"""Node.js for tests that run the browser SDK outside a browser (absent locally: skip; on CI: fail)."""

from __future__ import annotations

import os
import shutil

import pytest


def require_node() -> str:
    """The path of ``node``; skips the test when it is missing, fails it on CI (the CI variable is set)."""
    node = shutil.which("node")
    if node is not None:
        return node
    if os.environ.get("CI"):
        pytest.fail("node is missing on CI: .ci/run installs Debian's nodejs package")
    pytest.skip("node is not installed (apt-get install -y nodejs); JavaScript checks skipped")
