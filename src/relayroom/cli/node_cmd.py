"""`relayroom node drain`: drain the node that serves this data dir, and wait for it to stop.

``relayroom serve`` writes its process id to ``<data_dir>/relayroom.pid``; ``node drain`` sends that
process SIGTERM, which is a drain (control/drain.py: no new rooms, members moved elsewhere, a wait of
up to ``drain_timeout_s``, then a normal stop with exit status 0), and waits until the process is gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from relayroom.cli.common import ConfigOpt, DataDirOpt, settings_from

PID_FILE = "relayroom.pid"
STOP_MARGIN_S = 30.0  # the ordinary shutdown after the drain: rooms, workers, database

node_app = typer.Typer(no_args_is_help=True, help="This node: drain it before a restart or removal.")


def write_pid_file(data_dir: Path) -> Path:
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / PID_FILE
    # 0600 like every file in the data dir (tests/security/test_file_modes.py)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.chmod(path, 0o600)  # an older file may have been looser
    return path


def remove_pid_file(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()


def _serving(pid: int) -> bool:
    """``pid`` is a live ``relayroom serve`` (not a zombie, not a recycled id of another program)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return b"serve" in argv and any(b"relayroom" in a for a in argv)


def drain(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    wait: Annotated[
        float | None,
        typer.Option("--wait", help="seconds to wait for the node to stop (default: drain_timeout_s + 30)"),
    ] = None,
) -> None:
    """Drain the node serving this data dir (SIGTERM to it) and wait until it has stopped."""
    settings = settings_from(config, data_dir, None)
    path = settings.data_dir / PID_FILE
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        typer.echo(f"no running node found: {path} is missing or unreadable", err=True)
        raise typer.Exit(1) from None
    if not _serving(pid):
        typer.echo(f"no running node found: process {pid} of {path} is not `relayroom serve`", err=True)
        raise typer.Exit(1)
    limit = wait if wait is not None else settings.drain_timeout_s + STOP_MARGIN_S
    os.kill(pid, signal.SIGTERM)
    typer.echo(f"draining node (process {pid}); waiting up to {limit:.0f} s for it to stop")
    deadline = time.monotonic() + limit
    while _serving(pid):
        if time.monotonic() > deadline:
            typer.echo(f"the node is still running after {limit:.0f} s", err=True)
            raise typer.Exit(1)
        time.sleep(0.2)
    typer.echo("drained and stopped")


node_app.command("drain")(drain)
