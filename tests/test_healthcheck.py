"""`python -m relayroom.healthcheck` (the image's HEALTHCHECK) follows the settings of the server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relayroom.config import Settings
from relayroom.control.app import create_app
from tests.processes import free_port
from tests.serving import served


def healthcheck(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RELAYROOM_")}
    return subprocess.run(
        [sys.executable, "-m", "relayroom.healthcheck"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.timeout(90)
async def test_healthy_only_while_the_server_answers_healthz(tmp_path: Path) -> None:
    port = free_port()
    down = await asyncio.to_thread(healthcheck, RELAYROOM_PORT=str(port))
    assert down.returncode == 1 and f"http://127.0.0.1:{port}/healthz: ConnectError" in down.stderr
    app = create_app(Settings(data_dir=tmp_path / "data", media={"enabled": False}))
    async with served(app, port):
        # a wildcard bind is checked over loopback
        up = await asyncio.to_thread(healthcheck, RELAYROOM_PORT=str(port), RELAYROOM_HOST="0.0.0.0")
        assert up.returncode == 0, up.stderr
        app.state.ready = False  # /healthz answers 503 (e.g. during the start-up catch-up)
        starting = await asyncio.to_thread(healthcheck, RELAYROOM_PORT=str(port))
        assert starting.returncode == 1 and "HTTP 503" in starting.stderr
