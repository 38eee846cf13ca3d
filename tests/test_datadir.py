"""The data dir is 0700 and everything in it 0600, whatever the umask and however it was left before."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from relayroom.config import Settings
from relayroom.datadir import secure_dir, secure_sqlite_files, write_private
from tests.control.helpers import running


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the common default: files 0644, directories 0755
    try:
        yield
    finally:
        os.umask(old)


def test_a_looser_directory_is_tightened(tmp_path: Path, loose_umask: None) -> None:
    d = tmp_path / "data"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    secure_dir(d)
    assert mode(d) == 0o700
    assert mode(secure_dir(tmp_path / "new" / "nested")) == 0o700


def test_sqlite_files_are_created_and_tightened_to_0600(tmp_path: Path, loose_umask: None) -> None:
    db = tmp_path / "data" / "relayroom.db"
    secure_sqlite_files(db)
    assert mode(db) == 0o600 and mode(db.parent) == 0o700
    for suffix in ("-wal", "-shm"):
        side = Path(f"{db}{suffix}")
        side.write_bytes(b"")
        os.chmod(side, 0o644)
    secure_sqlite_files(db)
    assert all(mode(Path(f"{db}{s}")) == 0o600 for s in ("-wal", "-shm"))


def test_a_private_file_is_0600_and_replaces_an_older_one(tmp_path: Path, loose_umask: None) -> None:
    p = tmp_path / "d" / "secret.txt"
    p.parent.mkdir()
    p.write_text("old")
    os.chmod(p, 0o644)
    write_private(p, b"new")
    assert p.read_bytes() == b"new" and mode(p) == 0o600


async def test_a_running_server_leaves_nothing_readable_by_others(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    settings = Settings(data_dir=data, media={"enabled": False})
    async with running(settings) as rt:
        await rt.admin()  # a write: the WAL and SHM exist now
        files = sorted(p for p in data.rglob("*"))
        names = {p.name for p in files}
        assert {"relayroom.db", "relayroom.db-wal", "relayroom.db-shm", "master.key", "signing.key"} <= names
        assert mode(data) == 0o700
        for p in files:
            assert mode(p) == (0o700 if p.is_dir() else 0o600), (p, oct(mode(p)))
