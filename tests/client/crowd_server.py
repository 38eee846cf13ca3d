"""A signalling server with real media workers in its own process, for tests whose clients must not
share the server's event loop (timing between the two sides is then as in production).

Run as ``python -m tests.client.crowd_server --workers 2``: prints the signalling URL on one line, logs
warnings to stderr, and exits when its stdin closes or on SIGINT/SIGTERM (after a graceful shutdown:
rooms first, then the media workers, like the real app).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

from relayroom.control.rooms.manager import RoomLimits, RoomManager, RoomManagerParams
from relayroom.media.service import MediaService
from relayroom.media.types import MediaParams
from tests.control.rooms.fakes import REGION, FakeDirectory
from tests.control.signaling.server import serve


def room_manager(media: MediaService, limits: RoomLimits) -> RoomManager:
    """Room rules over a real MediaService, with the test application directory."""
    return RoomManager(
        RoomManagerParams(media=media, directory=FakeDirectory(), node_region=REGION, limits=limits)
    )


async def _serve(workers: int) -> None:
    media = MediaService(MediaParams(workers=workers, loopback_only=True))
    await media.start()
    manager = room_manager(
        media, RoomLimits(idle_timeout_s=60.0, heartbeat_interval_s=2.0, sweep_interval_s=0.5)
    )
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # as uvicorn does: a signal starts a graceful shutdown
        loop.add_signal_handler(sig, stop.set)
    eof = loop.create_task(reader.read())
    try:
        async with serve(manager, media) as running:
            print(running.url, flush=True)
            signalled = loop.create_task(stop.wait())
            await asyncio.wait([eof, signalled], return_when=asyncio.FIRST_COMPLETED)
            signalled.cancel()
            await asyncio.sleep(0.5)  # a server finishing its requests before the lifespan shutdown
    finally:
        eof.cancel()
        await media.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
    asyncio.run(_serve(args.workers))


@dataclass
class CrowdServer:
    url: str
    process: asyncio.subprocess.Process
    stderr: list[str]


@contextlib.asynccontextmanager
async def crowd_server(workers: int = 2) -> AsyncIterator[CrowdServer]:
    """Start the server process; on exit close its stdin and wait for it (its log lines are kept)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.client.crowd_server",
        "--workers",
        str(workers),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: a test may signal the group as a terminal would
    )
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    lines: list[str] = []

    async def collect(stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            lines.append(raw.decode(errors="replace").rstrip())

    collector = asyncio.get_running_loop().create_task(collect(proc.stderr))
    try:
        async with asyncio.timeout(60):
            url = (await proc.stdout.readline()).decode().strip()
        if not url.startswith("ws://"):
            await proc.wait()
            raise AssertionError("crowd server did not start:\n" + "\n".join(lines))
        yield CrowdServer(url, proc, lines)
    finally:
        proc.stdin.close()
        try:
            async with asyncio.timeout(30):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
        await collector


if __name__ == "__main__":
    main()
