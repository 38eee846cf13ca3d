"""Chaos scenarios. The long ones (a real server process started twice, faults held for seconds) run
with ``make chaos`` (RELAYROOM_CHAOS=1); the suite runs the ones that fit its time."""

from __future__ import annotations

import os

import pytest

from tests.media.conftest import loopback, media

__all__ = ["loopback", "media"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("RELAYROOM_CHAOS") == "1":
        return
    skip = pytest.mark.skip(reason="long chaos scenario: run by `make chaos` (RELAYROOM_CHAOS=1)")
    for item in items:
        if "chaos_long" in item.keywords:
            item.add_marker(skip)
