"""`relayroom node drain` finds the node by its pid file and refuses anything else clearly (the drain
itself, with a real node, is tests/chaos/test_cluster_drain.py and tests/control/test_drain.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from relayroom.cli import app as cli_app
from relayroom.cli import commands  # noqa: F401  (registers sub-commands)
from relayroom.cli.node_cmd import PID_FILE, remove_pid_file, write_pid_file


def test_no_pid_file_is_a_clear_refusal(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["node", "drain", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no running node found" in result.output and PID_FILE in result.output


def test_a_pid_that_is_not_relayroom_serve_is_never_signalled(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / PID_FILE).write_text(f"{sleeper.pid}\n")
        result = CliRunner().invoke(cli_app, ["node", "drain", "--data-dir", str(tmp_path)])
        assert result.exit_code == 1 and "is not `relayroom serve`" in result.output
        assert sleeper.poll() is None  # not killed
    finally:
        sleeper.kill()
        sleeper.wait()


def test_pid_file_written_and_removed_by_its_own_process_only(tmp_path: Path) -> None:
    path = write_pid_file(tmp_path / "data")
    assert path.read_text().strip() == str(os.getpid())
    path.write_text("1\n")  # another process's file (a newer server) is left alone
    remove_pid_file(path)
    assert path.exists()
    path.write_text(f"{os.getpid()}\n")
    remove_pid_file(path)
    assert not path.exists()
