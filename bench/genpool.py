"""The coordinator's handle on the load-generator processes (``python -m bench.gen``), pinned to their
own core(s). Requests are JSON lines; peers are spread round-robin over the processes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class GenError(Exception):
    pass


class GenProc:
    def __init__(self, index: int, cpus: set[int], kbps: int, burst: bool, max_seconds: float) -> None:
        self.index = index
        self.cpus = cpus
        self.kbps = kbps
        self.burst = burst
        self.max_seconds = max_seconds
        self.proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.names: set[str] = set()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        args = [
            "taskset",
            "-c",
            ",".join(str(c) for c in sorted(self.cpus)),
            sys.executable,
            "-m",
            "bench.gen",
            "--kbps",
            str(self.kbps),
            "--seed",
            str(self.index + 1),
            "--max-seconds",
            str(self.max_seconds),
        ]
        if self.burst:
            args.append("--burst")
        self.proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=str(ROOT),
            limit=16 * 1024 * 1024,
            start_new_session=True,
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())
        await self.call("ping")

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            msg = json.loads(line)
            fut = self._pending.pop(msg.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(GenError(f"generator {self.index} exited"))
        self._pending.clear()

    async def call(self, op: str, limit_s: float = 60, **kw: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self.proc.stdin.write((json.dumps({"id": rid, "op": op, **kw}) + "\n").encode())
        await self.proc.stdin.drain()
        async with asyncio.timeout(limit_s):
            msg = await fut
        if not msg.get("ok"):
            raise GenError(f"generator {self.index} {op}: {msg.get('error')}")
        return msg

    async def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(3):
                    await self.call("quit")
            try:
                async with asyncio.timeout(5):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                await proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.proc = None


class GenPool:
    def __init__(self, count: int, cpus: set[int], kbps: int, burst: bool, max_seconds: float) -> None:
        self.procs = [GenProc(i, cpus, kbps, burst, max_seconds) for i in range(count)]
        self._rr = 0
        self.owner: dict[str, GenProc] = {}

    async def start(self) -> None:
        await asyncio.gather(*(p.start() for p in self.procs))

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.procs), return_exceptions=True)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.proc is not None]

    def assign(self, name: str) -> GenProc:
        g = self.procs[self._rr % len(self.procs)]
        self._rr += 1
        self.owner[name] = g
        g.names.add(name)
        return g

    async def broadcast(self, op: str, **kw: Any) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(p.call(op, **kw) for p in self.procs)))

    async def wait_connected(self, names: list[str], wait_s: float) -> tuple[dict[str, str], list[str]]:
        by_gen: dict[GenProc, list[str]] = {}
        for n in names:
            by_gen.setdefault(self.owner[n], []).append(n)
        res = await asyncio.gather(
            *(g.call("wait", limit_s=wait_s + 10, names=ns, wait_s=wait_s) for g, ns in by_gen.items())
        )
        failed: dict[str, str] = {}
        profiles: set[str] = set()
        for r in res:
            failed.update(r["failed"])
            profiles.update(p for p in r["profiles"] if p)
        return failed, sorted(profiles)

    async def close_all(self) -> None:
        await self.broadcast("close")
        for g in self.procs:
            g.names.clear()
        self.owner.clear()
