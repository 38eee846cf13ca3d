"""`relayroom serve` as a real process on 127.0.0.1: start it on a free port, wait until it answers
/healthz (bounded, with the server's stderr in the failure), stop it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without RELAYROOM_* settings, with one media worker on an ephemeral UDP
    port (a developer's `make run` on the default ports is no conflict)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYROOM_")}
    env.update(RELAYROOM_MEDIA__WORKERS="1", RELAYROOM_MEDIA__PORTS="[0]")
    env.update(extra or {})
    return env


def start_server(
    data_dir: Path,
    port: int,
    *,
    command: Sequence[str] = (sys.executable, "-m", "relayroom"),
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    **popen: Any,
) -> subprocess.Popen[str]:
    """`relayroom serve` (``command`` picks which installation) with stdout and stderr piped unless
    ``popen`` says otherwise."""
    options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    options.update(popen)
    return subprocess.Popen(
        [*command, "serve", "--port", str(port), "--data-dir", str(data_dir), *args],
        env=server_env(env),
        **options,
    )


def wait_ready(port: int, proc: subprocess.Popen[Any], timeout: float = 120) -> dict[str, str]:
    """/healthz's body once the server answers; fails with its stderr if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"the server exited with {proc.returncode}: {err}")
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1, trust_env=False)
            if r.status_code == 200:
                out: dict[str, str] = r.json()
                return out
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server did not answer /healthz within {timeout} s")


def stop(proc: subprocess.Popen[Any], timeout: float = 20) -> tuple[str, str]:
    """SIGTERM (the drain-first shutdown), then its output; killed if it does not exit in time."""
    proc.terminate()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the server did not stop within {timeout} s after SIGTERM") from None
    return out or "", err or ""
