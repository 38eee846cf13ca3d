"""Probe: what another local user could read in the data dir (the probe found a 0755 directory and a
0644 database with its WAL and SHM, and the admin password on stdout)."""

from __future__ import annotations

import stat

import pytest

from tests.security.conftest import Server

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]


def test_the_data_dir_is_0700_and_every_file_in_it_0600(server: Server) -> None:
    server.admin_headers()  # a write: WAL and SHM exist
    assert stat.S_IMODE(server.data.stat().st_mode) == 0o700
    files = [p for p in server.data.rglob("*")]
    names = {p.name for p in files}
    assert {"relayroom.db", "relayroom.db-wal", "relayroom.db-shm", "master.key", "signing.key"} <= names
    assert "first-start.txt" in names
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p


def test_the_first_start_credentials_are_on_no_output_stream(server: Server) -> None:
    out, err = server.stdout.read_text(), server.log()
    assert str((server.data / "first-start.txt").resolve()) in out  # stdout says where they are
    for secret in (server.password, server.secret_key):
        assert secret not in out and secret not in err
