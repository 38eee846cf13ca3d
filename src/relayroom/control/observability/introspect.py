"""GET /debug/introspect: what a soak or leak run samples inside the control plane.

Installed only when ``debug_introspection`` is set (RELAYROOM_DEBUG_INTROSPECTION=true), and then
answers loopback clients only. ``?baseline=1`` starts tracemalloc (one frame per allocation: the CPU
cost is real, which is why this is never on in production) and takes a snapshot; ``?diff=1`` lists the
lines whose allocations grew most since; ``?objects=1`` runs a full collection and counts live objects
by type. A plain sample is cheap (no collection, no snapshot): a soak can take one every few seconds.

What one sample holds: this process's RSS and open fds, asyncio tasks, the number of objects the
garbage collector tracks, tracemalloc's traced size, the database pool's checked-out connections, rooms
and members, and each media worker's pid, RSS, fds and object counts (``worker.counts``).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import os
import time
import tracemalloc
from collections import Counter
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request

LOOPBACK = {"127.0.0.1", "::1"}
TOP_TYPES = 40
TOP_LINES = 15


def proc_sample(pid: int | str = "self") -> dict[str, int]:
    """RSS (kB) and open fds of a process from /proc (Linux); zeros where it cannot be read.

    RSS is split as the kernel counts it: anonymous memory (the heaps: Python's, malloc's, SQLite's
    page caches) and file-backed pages (shared libraries' code and data, paged in as code paths are
    first used, shared and reclaimable). A leak grows the first; the second grows during warm-up and
    is bounded by the libraries' size."""
    out = {"rss_kb": 0, "rss_anon_kb": 0, "rss_file_kb": 0, "fds": 0}
    fields = {"VmRSS:": "rss_kb", "RssAnon:": "rss_anon_kb", "RssFile:": "rss_file_kb"}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = fields.get(line.split(":", 1)[0] + ":")
                if key is not None:
                    out[key] = int(line.split()[1])
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, ValueError, IndexError):
        pass
    return out


def fd_kinds(pid: int | str = "self") -> dict[str, int]:
    """Open fds by what they point at (socket, pipe, anon_inode:[eventpoll], a file's directory), so a
    soak that sees fds grow can tell which kind grows."""
    kinds: Counter[str] = Counter()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return {}
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith(("socket:", "pipe:")):
            kinds[target.split(":", 1)[0]] += 1
        elif target.startswith("anon_inode:"):
            kinds[target] += 1
        else:
            kinds[os.path.dirname(target) or target] += 1
    return dict(kinds)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
    ]


def _c_function(library: str | None, name: str, restype: type) -> Any:
    try:
        found = ctypes.util.find_library(library) if library else None
        fn = getattr(ctypes.CDLL(found), name)
    except (OSError, AttributeError):
        return None
    fn.restype = restype
    fn.argtypes = []
    return fn


# glibc's heap and SQLite's own allocator: the memory that tracemalloc does not see. Looked up once;
# None where the C library is not glibc or SQLite is linked statically.
_mallinfo2 = _c_function(None, "mallinfo2", _MallInfo2)
_sqlite_memory_used = _c_function("sqlite3", "sqlite3_memory_used", ctypes.c_int64)


def native_heaps() -> dict[str, int]:
    """Bytes in the C heaps: malloc's arenas (in use, free but kept) and mmapped blocks; SQLite's page
    caches and statements (``sqlite3_memory_used``). A leak outside the Python heap shows here."""
    out: dict[str, int] = {}
    if _mallinfo2 is not None:
        info = _mallinfo2()
        out.update(malloc_in_use=info.uordblks, malloc_free=info.fordblks, malloc_mmapped=info.hblkhd)
    if _sqlite_memory_used is not None:
        out["sqlite_memory_used"] = int(_sqlite_memory_used())
    return out


def objects_by_type(top: int = TOP_TYPES) -> dict[str, int]:
    counts: Counter[str] = Counter(type(o).__qualname__ for o in gc.get_objects())
    return dict(counts.most_common(top))


class Introspector:
    """Samples are cheap by default (no full collection, no snapshot) so that sampling every few
    seconds does not stall the event loop; ``objects`` (gc.collect + live objects by type) and the
    tracemalloc snapshots (``baseline``, ``diff``) are asked for when wanted."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._baseline: tracemalloc.Snapshot | None = None

    @staticmethod
    def _snapshot() -> tracemalloc.Snapshot:
        return tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")]
        )

    def _tracemalloc(self, baseline: bool, diff: bool) -> dict[str, Any]:
        if baseline and not tracemalloc.is_tracing():
            tracemalloc.start(1)
        if not tracemalloc.is_tracing():
            return {"tracing": False}
        current, peak = tracemalloc.get_traced_memory()
        out: dict[str, Any] = {"tracing": True, "current": current, "peak": peak}
        if diff and self._baseline is not None:
            grown = []
            for stat in self._snapshot().compare_to(self._baseline, "lineno")[:TOP_LINES]:
                frame = stat.traceback[0]
                grown.append(
                    {
                        "where": f"{frame.filename}:{frame.lineno}",
                        "size_diff": stat.size_diff,
                        "count_diff": stat.count_diff,
                    }
                )
            out["grown_since_baseline"] = grown
        if baseline:
            self._baseline = self._snapshot()
        return out

    async def sample(
        self, objects: bool = False, baseline: bool = False, diff: bool = False
    ) -> dict[str, Any]:
        from relayroom.control.observability import state_of

        state = state_of(self._app)
        t0 = time.perf_counter()
        out: dict[str, Any] = {"pid": os.getpid(), **proc_sample(), "asyncio_tasks": len(asyncio.all_tasks())}
        if objects:
            gc.collect()
            out["objects_by_type"] = objects_by_type()
            out["fd_kinds"] = fd_kinds()
        out["gc_objects"] = len(gc.get_objects())
        out["native_heaps"] = native_heaps()
        out["tracemalloc"] = self._tracemalloc(baseline, diff)
        services = getattr(state, "services", None)
        engine = getattr(getattr(getattr(services, "ctx", None), "db", None), "engine", None)
        if engine is not None:
            pool = engine.pool
            checked_out = getattr(pool, "checkedout", None)
            out["db"] = {
                "dialect": engine.dialect.name,
                "checked_out": checked_out() if callable(checked_out) else None,
                "pool": pool.status(),
            }
        rooms = getattr(state, "rooms", None)
        if rooms is not None:
            listed = rooms.list_rooms()
            out["rooms"] = {"rooms": len(listed), "members": sum(r["members"] for r in listed)}
        media = getattr(state, "media", None)
        if media is not None:
            counts = await media.counts()
            for w in counts["workers"]:
                if w.get("pid"):
                    w.update(proc_sample(w["pid"]))
            out["media"] = counts
        signal = getattr(state, "signal_connections", None)
        if signal is not None and hasattr(signal, "__len__"):
            out["signal_connections"] = len(signal)
        out["sample_seconds"] = round(time.perf_counter() - t0, 3)
        return out


def install(app: FastAPI) -> None:
    """Add GET /debug/introspect (not in the OpenAPI schema) to an app whose settings enable it."""
    introspector = Introspector(app)
    router = APIRouter()

    @router.get("/debug/introspect", include_in_schema=False)
    async def introspect(
        request: Request, objects: bool = False, baseline: bool = False, diff: bool = False
    ) -> dict[str, Any]:
        if request.client is None or request.client.host not in LOOPBACK:
            raise HTTPException(status_code=404, detail="Not Found")
        return await introspector.sample(objects=objects, baseline=baseline, diff=diff)

    app.include_router(router)
