"""Structured (JSON-lines) logging that redacts secrets by key name and by shape.

Secrets never belong in a log call, but a redaction filter is the second line of defence.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

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
        for k, v in record.__dict__.items():
            if k in _STD_ATTRS or k.startswith("_"):
                continue
            out[k] = "[redacted]" if _SECRET_KEYS.search(k) else redact(v)
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


def setup_logging(level: str = "info", *, process: str | None = None) -> None:
    """The one logging setup of every RelayRoom process (control plane, media workers): JSON lines on
    stderr through the redacting formatter; ``process`` names the process on each line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(process))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    setup_quiet_libraries()


def setup_quiet_libraries() -> None:
    """Libraries whose debug output carries SQL parameters or packet contents stay at WARNING
    whatever the level: their debug lines would put names, user ids and secrets in the log."""
    for noisy in ("aioice", "aiortc", "uvicorn.access", "aiosqlite", "sqlalchemy.engine", "asyncpg", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
