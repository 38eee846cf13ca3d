"""`relayroom serve` as a newcomer runs it: a real process on 127.0.0.1."""

from __future__ import annotations

import os
import pty
import select
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYROOM_")}
    # one worker on an ephemeral UDP port, so a developer's `make run` on the default ports is no conflict
    env.update(RELAYROOM_MEDIA__WORKERS="1", RELAYROOM_MEDIA__PORTS="[0]")
    return subprocess.Popen(
        [sys.executable, "-m", "relayroom", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_ready(port: int, proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "server exited"
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            if r.status_code == 200:
                out: dict[str, str] = r.json()
                return out
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become ready")


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.terminate()
    out, err = proc.communicate(timeout=20)
    return out, err


def test_without_a_terminal_the_first_start_credentials_go_to_a_private_file_never_to_a_log(
    tmp_path: Path,
) -> None:
    """`make run > log`: stdout is a file, so the credentials go to a 0600 file in the data dir."""
    data = tmp_path / "data"
    port = free_port()
    proc = start(data, port)
    try:
        assert wait_ready(port, proc)["status"] == "ok"
        r = httpx.get(f"http://127.0.0.1:{port}/openapi.json")
        assert r.status_code == 200 and "/api/v1/applications/{sdkappid}" in r.json()["paths"]
        m = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert m.status_code == 200 and "relayroom_http_requests" in m.text
    finally:
        out, err = stop(proc)
    secret_file = data / "first-start.txt"
    assert str(secret_file.resolve()) in out  # stdout says where
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    text = secret_file.read_text()
    assert "password:" in text and "SDKSecretKey:" in text
    password = text.split("password:")[1].split()[0]
    key = text.split("SDKSecretKey:")[1].split()[0]
    assert len(key) == 64
    assert password not in out + err and key not in out + err  # neither stream sees them
    login = None

    port = free_port()
    proc = start(data, port)
    try:
        wait_ready(port, proc)
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/login", json={"username": "admin", "password": password}
        )
    finally:
        out2, err2 = stop(proc)
    assert login is not None and login.status_code == 200
    assert "first-start" not in out2 and password not in out2 + err2 and key not in out2 + err2


def test_on_a_terminal_the_first_start_credentials_are_shown_and_no_file_is_written(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYROOM_")}
    env.update(RELAYROOM_MEDIA__WORKERS="1", RELAYROOM_MEDIA__PORTS="[0]")
    proc = subprocess.Popen(
        [sys.executable, "-m", "relayroom", "serve", "--port", str(port), "--data-dir", str(data), "--dev"],
        stdout=terminal,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    os.close(terminal)
    try:
        wait_ready(port, proc)
        seen = b""
        deadline = time.monotonic() + 20
        while b"SDKSecretKey:" not in seen and time.monotonic() < deadline:
            if select.select([controller], [], [], 0.5)[0]:
                seen += os.read(controller, 65536)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
        os.close(controller)
    screen = seen.decode(errors="replace")
    assert "password:" in screen and "SDKSecretKey:" in screen
    assert "WARNING: development mode (--dev)" in screen  # --dev says what it is at start
    assert not (data / "first-start.txt").exists()
    password = screen.split("password:")[1].split()[0]
    assert password not in err


def test_python_dash_m_relayroom_shows_the_commands() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "relayroom", "--help"], capture_output=True, text=True, check=True
    )
    for cmd in ("serve", "oplog", "usersig", "privatemapkey"):
        assert cmd in r.stdout
