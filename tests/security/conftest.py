"""A real `relayroom serve --dev` process on 127.0.0.1 for the probes: what an attacker would reach.

One server for the suite (it starts in seconds, not milliseconds); probes that stop it or change
deployment-wide state start their own. Output goes to files: stdout is no terminal, so the first
start's credentials are in `data/first-start.txt`, which the probes read like an operator would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port, wait_ready


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    data: Path
    stdout: Path
    stderr: Path
    password: str
    sdkappid: int
    secret_key: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def signal_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/signal"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        """Resident memory of the control-plane process (KiB)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def log(self) -> str:
        return self.stderr.read_text(errors="replace")

    def admin_headers(self) -> dict[str, str]:
        """Sign in as the admin, waiting out a throttle lock as a well-behaved client would."""
        for _ in range(20):
            r = httpx.post(
                f"{self.base}/api/v1/auth/login", json={"username": "admin", "password": self.password}
            )
            if r.status_code != 429:
                break
            time.sleep(int(r.headers["retry-after"]))
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}


def start_server(root: Path, *extra: str) -> Server:
    data = root / "data"
    port = free_port()
    out, err = root / "stdout.log", root / "stderr.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYROOM_")}
    env.update(
        RELAYROOM_MEDIA__WORKERS="1",
        RELAYROOM_MEDIA__PORTS="[0]",
        RELAYROOM_MEDIA__LOOPBACK_ONLY="true",
        RELAYROOM_ROOMS__IDLE_TIMEOUT_S="20",
    )
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "relayroom",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data),
                *extra,
            ],
            stdout=o,
            stderr=e,
            env=env,
        )
    try:
        wait_ready(port, proc)
        deadline = time.monotonic() + 30
        while not (data / "first-start.txt").exists():
            assert time.monotonic() < deadline, "no first-start.txt"
            time.sleep(0.1)
        text = (data / "first-start.txt").read_text()
    except BaseException:
        stop_server(proc)
        raise
    return Server(
        proc=proc,
        port=port,
        data=data,
        stdout=out,
        stderr=err,
        password=text.split("password:")[1].split()[0],
        sdkappid=int(text.split("SDKAppID:")[1].split()[0]),
        secret_key=text.split("SDKSecretKey:")[1].split()[0],
    )


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("security"), "--dev")
    try:
        yield srv
    finally:
        stop_server(srv.proc)
