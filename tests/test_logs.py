from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from relayroom.logs import (
    LOG_FORMATS,
    HumanFormatter,
    JsonFormatter,
    active_format,
    resolve_format,
    setup_logging,
)
from relayroom.media.types import MediaParams
from relayroom.media.worker_handle import WorkerHandle


def test_log_lines_redact_secrets_by_key_and_shape() -> None:
    key = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
    sig = (
        "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpQJlLMxM4IIlmbkg"
        "IUNzNMXFmekg44P93EzccsOcA0qT8yOKnfwLksLcjNPcnNNMzb0Ccg1Sq6IMs1LDPH1ywpJtlWoBk68y0A__"
    )
    rec = logging.LogRecord("t", logging.INFO, __file__, 1, "oops %s %s", (key, sig), None)
    rec.__dict__["userSig"] = sig
    rec.__dict__["sdkappid"] = 1400000000
    out = JsonFormatter().format(rec)
    assert key not in out and sig not in out
    doc = json.loads(out)
    assert doc["userSig"] == "[redacted]" and doc["sdkappid"] == 1400000000


@pytest.fixture
def root_logging() -> Iterator[None]:
    """setup_logging replaces the root logger's handlers: give pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_human_on_a_terminal_and_json_otherwise() -> None:
    assert resolve_format("auto", _Terminal()) == "human"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("human", io.StringIO()) == "human"
    assert resolve_format("json", _Terminal()) == "json"
    with pytest.raises(ValueError, match="human, json"):
        resolve_format("xml", io.StringIO())


def test_human_lines_carry_the_same_fields_and_redact_the_same_secrets() -> None:
    key = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
    rec = logging.LogRecord("relayroom.rooms", logging.WARNING, __file__, 1, "oops %s", (key,), None)
    rec.__dict__.update(room="1400000000:7", password="hunter2", note="two words")
    line = HumanFormatter("media-worker:42").format(rec)
    assert " WARNING relayroom.rooms [media-worker:42] oops [redacted]" in line
    assert 'room=1400000000:7 password=[redacted] note="two words"' in line
    assert key not in line and "hunter2" not in line and "\n" not in line
    try:
        raise RuntimeError(f"with {key}")
    except RuntimeError:
        rec = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = HumanFormatter().format(rec)
    assert text.splitlines()[0].endswith("ERROR   t failed") and "RuntimeError: with [redacted]" in text


def _log_once(log_format: str, stderr: int) -> None:
    code = (
        "import logging; from relayroom.logs import setup_logging; "
        f"setup_logging('info', process='p', log_format={log_format!r}); "
        "logging.getLogger('relayroom.t').warning('hello', extra={'room': 'r1'})"
    )
    subprocess.run([sys.executable, "-c", code], stderr=stderr, check=True, timeout=60)


def test_a_process_logs_human_lines_to_a_terminal_and_json_to_a_pipe(tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    try:
        _log_once("auto", terminal)
        seen = b""
        while select.select([controller], [], [], 1)[0]:
            seen += os.read(controller, 65536)
    finally:
        os.close(terminal)
        os.close(controller)
    line = seen.decode().strip()
    assert line.endswith("WARNING relayroom.t [p] hello room=r1") and not line.startswith("{"), line

    out = tmp_path / "stderr"
    with out.open("wb") as fh:
        _log_once("auto", fh.fileno())
    doc = json.loads(out.read_text())
    assert (doc["level"], doc["logger"], doc["process"], doc["msg"], doc["room"]) == (
        "warning",
        "relayroom.t",
        "p",
        "hello",
        "r1",
    )
    with out.open("wb") as fh:
        _log_once("human", fh.fileno())  # asked for explicitly: human even into a file
    assert out.read_text().strip().endswith("WARNING relayroom.t [p] hello room=r1")


async def test_media_workers_are_started_with_the_control_planes_format(
    root_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[str, ...]] = []

    async def spawn(*args: str, **_: object) -> None:
        started.append(args)
        raise OSError("not starting a worker in this test")

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spawn)
    for log_format, expected in (("human", "human"), ("json", "json")):
        setup_logging("info", process="control-plane", log_format=log_format)
        assert active_format() == expected
        handle = WorkerHandle(0, MediaParams(ports=[0]), lambda *_: None, lambda _: None)
        with pytest.raises(OSError, match="not starting"):
            await handle.start()
        args = started[-1]
        assert args[args.index("--log-format") + 1] == expected
    # the worker takes the same choices, and refuses others before it starts
    bad = subprocess.run(
        [sys.executable, "-m", "relayroom.media.worker", "--channel-fd", "0", "--log-format", "xml"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "invalid choice: 'xml'" in bad.stderr
    assert all(f"'{f}'" in bad.stderr for f in LOG_FORMATS)


def test_relayroom_serve_takes_log_format_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from relayroom.cli import app, commands  # noqa: F401  (commands registers the sub-commands)

    bad = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path), "--log-format", "xml"])
    # the option exists (no usage error) and its value is checked as the setting before anything starts
    assert bad.exit_code != 0 and bad.exit_code != 2, bad.output
    assert isinstance(bad.exception, ValidationError) and "log_format" in str(bad.exception)
    assert not (tmp_path / "relayroom.db").exists()
