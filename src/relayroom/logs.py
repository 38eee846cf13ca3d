"""Logging of every RelayRoom process, redacting secrets by key name and by shape.

Two formats of the same record: JSON lines (``json``: for collectors) and one readable line per record
(``human``: ``make run`` in a terminal). ``auto`` picks ``human`` when stderr is a terminal, else ``json``.
Secrets never belong in a log call, but redaction is the second line of defence, in both formats.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["auto", "human", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("auto", "human", "json")

_SECRET_KEYS = re.compile(
    r"(secret|key|usersig|user_sig|password|token|sig|privatemapkey|authorization)", re.I
)
# 64-hex SDK keys, TLS UserSigs (zlib+base64 start with eJ), bearer tokens we issue.
_SECRET_SHAPES = re.compile(r"\b[0-9a-fA-F]{64}\b|eJ[\w*\-]{40,}_*|rr_[A-Za-z0-9_\-]{20,}")
_STD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def redact(value: Any) -> Any:
    if isinstance(value, str):
        return _SECRET_SHAPES.sub("[redacted]", value)
    return value


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra={...}`` fields of a record, redacted (by key name, then by shape)."""
    return {
        k: "[redacted]" if _SECRET_KEYS.search(k) else redact(v)
        for k, v in record.__dict__.items()
        if k not in _STD_ATTRS and not k.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str | None = None) -> None:
        super().__init__()
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if self._process:
            out["process"] = self._process
        out.update(_extras(record))
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


class HumanFormatter(logging.Formatter):
    """``12:00:01.234 WARNING relayroom.rooms [media-worker:4242] room closed room=1400000000:7``, then
    the traceback if any: local time, the same fields and redaction as :class:`JsonFormatter`."""

    def __init__(self, process: str | None = None) -> None:
        super().__init__()
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        head = f"{ts} {record.levelname:<7} {record.name}"
        if self._process:
            head += f" [{self._process}]"
        fields = " ".join(f"{k}={_field(v)}" for k, v in _extras(record).items())
        line = f"{head} {redact(record.getMessage())}" + (f" {fields}" if fields else "")
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info))
        return line


def _field(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if (not text or any(c.isspace() or c in '"=' for c in text)) else text


def resolve_format(log_format: str, stream: TextIO | None = None) -> Literal["human", "json"]:
    """``auto``: ``human`` when ``stream`` (default stderr) is a terminal, else ``json``."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    if log_format == "auto":
        isatty = getattr(stream or sys.stderr, "isatty", None)
        return "human" if isatty is not None and isatty() else "json"
    return "human" if log_format == "human" else "json"


_active_format: Literal["human", "json"] = "json"


def active_format() -> Literal["human", "json"]:
    """The format the last :func:`setup_logging` chose (media workers are started with it)."""
    return _active_format


def setup_logging(level: str = "info", *, process: str | None = None, log_format: str = "auto") -> None:
    """The one logging setup of every RelayRoom process (control plane, media workers): lines on
    stderr through a redacting formatter, JSON or human-readable (:func:`resolve_format`); ``process``
    names the process on each line."""
    global _active_format
    _active_format = resolve_format(log_format, sys.stderr)
    handler = logging.StreamHandler(sys.stderr)
    formatter = HumanFormatter if _active_format == "human" else JsonFormatter
    handler.setFormatter(formatter(process))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    setup_quiet_libraries()


def setup_quiet_libraries() -> None:
    """Libraries whose debug output carries SQL parameters or packet contents stay at WARNING
    whatever the level: their debug lines would put names, user ids and secrets in the log."""
    for noisy in ("aioice", "aiortc", "uvicorn.access", "aiosqlite", "sqlalchemy.engine", "asyncpg", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
