"""A real coturn (Debian's `turnserver`) for one test: loopback only, the shipped turnserver.conf plus the
test's own lines, credentials of the TURN REST API (`use-auth-secret`)."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED_CONF = REPO / "deploy" / "coturn" / "turnserver.conf"


@dataclass(frozen=True)
class Coturn:
    port: int  # UDP and TCP, 127.0.0.1
    relay_ports: range  # relayed addresses are 127.0.0.1:<one of these>
    secret: str
    log: Path

    def url(self, transport: str) -> str:
        return f"turn:127.0.0.1:{self.port}?transport={transport}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def turnserver_or_skip() -> str:
    path = shutil.which("turnserver")
    if path is None:
        problem = "coturn's turnserver is not installed (Debian package `coturn`)"
        if os.environ.get("CI"):
            pytest.fail(problem)  # .ci/run installs it: absence there is a failure
        pytest.skip(problem)
    return path


def _free_udp_and_tcp_port() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port: int = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


def _tcp_accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def running_coturn(
    workdir: Path, secret: str, extra: tuple[str, ...] = (), base_conf: Path = SHIPPED_CONF
) -> Iterator[Coturn]:
    """Start coturn with ``base_conf`` (default: the shipped config), overridden to 127.0.0.1; stop it
    (SIGTERM) afterwards.

    Peers on 127.0.0.1 are allowed (the media workers of the test); the config's denied-peer-ip ranges
    stay in force for everything else. ``extra``: more command-line options (they win over the file).
    """
    binary = turnserver_or_skip()
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_udp_and_tcp_port()
    # Relay ports below Linux's ephemeral range, at random so that parallel tests rarely share one.
    low = random.randrange(20000, 29000, 100)
    relay_ports = range(low, low + 100)
    conf = workdir / "turnserver.conf"
    conf.touch(0o600)  # the base config may hold a secret (deploy/compose's does)
    conf.write_text(
        base_conf.read_text()
        + "\n# the test's own lines: loopback only\n"
        + "\n".join(
            [
                "listening-ip=127.0.0.1",
                "relay-ip=127.0.0.1",
                f"listening-port={port}",
                f"min-port={relay_ports.start}",
                f"max-port={relay_ports.stop - 1}",
                "allow-loopback-peers",
                "allowed-peer-ip=127.0.0.1",
                f"userdb={workdir / 'turndb'}",
                f"pidfile={workdir / 'turnserver.pid'}",
                "verbose",
            ]
        )
        + "\n"
    )
    log = workdir / "turnserver.log"
    with log.open("wb") as out:
        # The secret goes on the command line, not into the file: secrets never sit on disk in the clear.
        proc = subprocess.Popen(
            [binary, "-c", str(conf), f"--static-auth-secret={secret}", *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 20
        while not _tcp_accepts(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"coturn did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)
        yield Coturn(port, relay_ports, secret, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
