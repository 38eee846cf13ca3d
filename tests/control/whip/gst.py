"""Start tests/control/whip/gst_client.py (GStreamer webrtcbin under Debian's python3) as a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"
CLIENT = Path(__file__).with_name("gst_client.py")
_PROBE = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstWebRTC', '1.0'); "
    "gi.require_version('GstSdp', '1.0'); from gi.repository import Gst; Gst.init(None); "
    "missing = [e for e in ('webrtcbin', 'nicesrc', 'vp8enc', 'vp8dec', 'opusenc', 'opusdec', "
    "'videotestsrc', 'audiotestsrc', 'rtpvp8pay', 'rtpopuspay') if Gst.ElementFactory.find(e) is None]; "
    "print(' '.join(missing))"
)
PACKAGES = (
    "python3-gst-1.0 gir1.2-gst-plugins-bad-1.0 gstreamer1.0-nice gstreamer1.0-plugins-base "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
)


def require_gstreamer(*elements: str) -> None:
    """Skip (fail on CI) unless Debian's GStreamer with webrtcbin and libnice is installed."""
    problem = None
    if not Path(SYSTEM_PYTHON).exists():
        problem = f"{SYSTEM_PYTHON} is missing"
    else:
        probe = _PROBE.replace("'audiotestsrc',", "'audiotestsrc', " + "".join(f"'{e}', " for e in elements))
        r = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            problem = f"GStreamer's Python bindings do not load: {r.stderr.strip()[-300:]}"
        elif r.stdout.strip():
            problem = f"GStreamer elements missing: {r.stdout.strip()}"
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{problem}; .ci/run installs {PACKAGES}")
    pytest.skip(f"{problem} (apt-get install {PACKAGES}); GStreamer WHIP/WHEP tests skipped")


@dataclass
class GstClient:
    process: asyncio.subprocess.Process
    events: list[dict[str, Any]] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    async def wait(self, event: str, within: float = 30.0, **match: Any) -> dict[str, Any]:
        """The first event named ``event`` (with the given fields), reading stdout as needed."""
        async with asyncio.timeout(within):
            seen = 0
            while True:
                for e in self.events[seen:]:
                    if e["event"] == event and all(e.get(k) == v for k, v in match.items()):
                        return e
                    if e["event"] in ("refused", "error") and event not in ("refused", "error"):
                        raise AssertionError(f"GStreamer client: {e}")
                seen = len(self.events)
                await self._read_one()

    async def _read_one(self) -> None:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise AssertionError(f"GStreamer client exited: {''.join(self.stderr)[-2000:]}")
        with contextlib.suppress(ValueError):
            self.events.append(json.loads(line))

    async def stop(self) -> None:
        """Ask it to DELETE its session and exit."""
        if self.process.returncode is not None or self.process.stdin is None:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.process.stdin.write(b"stop\n")
            await self.process.stdin.drain()
        with contextlib.suppress(TimeoutError, AssertionError):
            await self.wait("deleted", within=10)


@contextlib.asynccontextmanager
async def gst_client(mode: str, url: str, token: str, *args: str) -> AsyncIterator[GstClient]:
    proc = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON,
        str(CLIENT),
        mode,
        url,
        token,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "GST_DEBUG": os.environ.get("GST_DEBUG", "1")},
    )
    client = GstClient(proc)

    async def drain_stderr() -> None:
        assert proc.stderr is not None
        async for line in proc.stderr:
            client.stderr.append(line.decode(errors="replace"))

    drainer = asyncio.get_running_loop().create_task(drain_stderr())
    try:
        yield client
    finally:
        await client.stop()
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        drainer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drainer
