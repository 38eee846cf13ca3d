"""The soak's sampling primitives: RSS split by kind and open fds by kind, read from /proc."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from relayroom.control.observability.introspect import fd_kinds, proc_sample

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")


def test_rss_is_split_into_anonymous_and_file_backed() -> None:
    s = proc_sample()
    assert s["rss_kb"] > 0 and s["rss_anon_kb"] > 0 and s["rss_file_kb"] > 0
    # VmRSS = RssAnon + RssFile + RssShmem
    assert s["rss_anon_kb"] + s["rss_file_kb"] <= s["rss_kb"]
    grown = bytearray(64 * 1024 * 1024)  # touched pages are anonymous memory
    grown[::4096] = b"\x01" * len(grown[::4096])
    assert proc_sample()["rss_anon_kb"] - s["rss_anon_kb"] > 32 * 1024
    del grown


def test_fd_kinds_counts_what_is_opened(tmp_path: Path) -> None:
    before = fd_kinds()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, (tmp_path / "f").open("w"):
        sock.bind(("127.0.0.1", 0))
        during = fd_kinds()
    assert during.get("socket", 0) == before.get("socket", 0) + 1
    assert during.get(str(tmp_path), 0) == before.get(str(tmp_path), 0) + 1


def test_unreadable_process_gives_zeros_and_nothing() -> None:
    assert proc_sample(2**22 + 7)["rss_kb"] == 0
    assert fd_kinds(2**22 + 7) == {}


def test_native_heaps_see_malloc_and_sqlite() -> None:
    import sqlite3

    from relayroom.control.observability.introspect import native_heaps

    before = native_heaps()
    if "malloc_in_use" not in before or "sqlite_memory_used" not in before:
        pytest.skip("needs glibc's mallinfo2 and a shared libsqlite3")
    db = sqlite3.connect(":memory:")
    db.execute("create table t (x blob)")
    db.executemany("insert into t values (?)", [(b"x" * 1000,) for _ in range(2000)])
    after = native_heaps()
    assert after["sqlite_memory_used"] - before["sqlite_memory_used"] > 1_000_000
    assert after["malloc_in_use"] > before["malloc_in_use"]
    db.close()
    assert native_heaps()["sqlite_memory_used"] < after["sqlite_memory_used"]
