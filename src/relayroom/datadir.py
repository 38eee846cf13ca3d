"""The data directory's permissions: only the user RelayRoom runs as may read what is in it.

The directory holds the SQLite database (with its WAL and SHM files), the master and signing keys,
signed checkpoints of the operation log and, on a first start without a terminal, the first-start
credentials. The directory is 0700 and every file 0600, whatever the umask: a looser directory or
database found at start is tightened (and said so in the log).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        os.chmod(path, mode)
        log.warning(
            "tightened file permissions", extra={"path": str(path), "was": oct(current), "now": oct(mode)}
        )


def secure_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed; make it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _tighten(path, DIR_MODE)
    return path


def secure_sqlite_files(db_path: Path) -> None:
    """Create the database file 0600 before SQLite does (SQLite gives its WAL and SHM files the
    database's permissions), and tighten the database and side files that exist already."""
    secure_dir(db_path.parent)
    if not db_path.exists():
        os.close(os.open(db_path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for path in (db_path, *(Path(f"{db_path}{suffix}") for suffix in SQLITE_SIDE_FILES)):
        if path.exists():
            _tighten(path, FILE_MODE)


def write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to a new 0600 file at ``path`` (an existing file there is replaced)."""
    secure_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path
