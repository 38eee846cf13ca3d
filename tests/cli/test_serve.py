"""`relayroom serve` as a newcomer runs it: a real process on 127.0.0.1."""

from __future__ import annotations

import os
import pty
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.processes import free_port, start_server, stop, wait_ready


def test_without_a_terminal_the_first_start_credentials_go_to_a_private_file_never_to_a_log(
    tmp_path: Path,
) -> None:
    """`make run > log`: stdout is a file, so the credentials go to a 0600 file in the data dir."""
    data = tmp_path / "data"
    port = free_port()
    proc = start_server(data, port)
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
    proc = start_server(data, port)
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
    proc = start_server(data, port, args=["--dev"], stdout=terminal)
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
