"""WorkerHandle: the control plane's side of one worker process (spawn, channel, death)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

from relayroom.logs import active_format
from relayroom.media.channel import Channel
from relayroom.media.ice.tcp_server import tcp_worker_args
from relayroom.media.types import InvalidStateError, MediaParams

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 20.0


class WorkerHandle:
    def __init__(
        self,
        index: int,
        params: MediaParams,
        on_notification: Callable[[WorkerHandle, str, str, dict[str, Any]], None],
        on_died: Callable[[WorkerHandle], None],
    ) -> None:
        self.index = index
        self._params = params
        self._on_notification = on_notification
        self._on_died = on_died
        self.process: asyncio.subprocess.Process | None = None
        self.channel: Channel | None = None
        self.port = 0
        self.tcp_port: int | None = None  # ICE-TCP port once running (None: TCP off)
        self.tcp_stats: dict[str, Any] = {}  # last "tcpstats" notification (counts for /metrics)
        self.pipe_stats: list[dict[str, Any]] = []  # last "pipestats" notification (for /metrics)
        self.router_ids: set[str] = set()
        self.transport_count = 0
        self.closed = False
        self._running: asyncio.Future[int] | None = None
        self._wait_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def load(self) -> int:
        return len(self.router_ids) * 4 + self.transport_count

    async def start(self) -> None:
        p = self._params
        ports = list(p.ports)
        port = ports[self.index] if self.index < len(ports) else 0
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        args = [
            sys.executable,
            "-m",
            "relayroom.media.worker",
            "--channel-fd",
            str(child.fileno()),
            "--host",
            p.host,
            "--port",
            str(port),
            "--rtx-buffer-ms",
            str(p.rtx_buffer_ms),
            "--consent-timeout",
            str(p.consent_timeout_s),
            "--log-format",
            active_format(),  # the control plane's: one terminal, one format
        ]
        if p.announced_ip:
            args += ["--announced-ip", p.announced_ip]
        if p.loopback_only:
            args.append("--loopback-only")
        if not p.udp_gso:
            args.append("--no-gso")
        if not p.native:
            args.append("--no-native")
        if not p.load_shedding:
            args.append("--no-load-shedding")
        args += ["--shed-queue-bytes", str(p.shed_queue_bytes)]
        args += ["--dtls-flights-per-turn", str(p.dtls_flights_per_turn)]
        tcp_ports = list(p.tcp_ports)
        args += tcp_worker_args(p.tcp, tcp_ports[self.index] if self.index < len(tcp_ports) else None)
        loop = asyncio.get_running_loop()
        self._running = loop.create_future()
        try:
            # Its own session: terminal job control (Ctrl-C, Ctrl-\, hang-up) reaches the control plane only.
            self.process = await asyncio.create_subprocess_exec(
                *args, pass_fds=(child.fileno(),), stdin=asyncio.subprocess.DEVNULL, start_new_session=True
            )
        finally:
            child.close()
        reader, writer = await asyncio.open_unix_connection(sock=parent)
        self.channel = Channel(reader, writer, on_notification=self._notification)
        self._wait_task = loop.create_task(self._wait())
        async with asyncio.timeout(START_TIMEOUT_S):
            self.port = await self._running

    def _notification(self, target_id: str, event: str, data: dict[str, Any]) -> None:
        if target_id == "worker" and event == "tcpstats":
            self.tcp_stats = data
            return
        if target_id == "worker" and event == "pipestats":
            pipes = data.get("pipes")
            self.pipe_stats = [p for p in pipes if isinstance(p, dict)] if isinstance(pipes, list) else []
            return
        if target_id == "worker" and event in ("running", "failed"):
            if self._running is not None and not self._running.done():
                if event == "running":
                    tcp_port = data.get("tcpPort")
                    self.tcp_port = int(tcp_port) if tcp_port else None
                    self._running.set_result(int(data["port"]))
                else:
                    self._running.set_exception(OSError(str(data.get("reason", "worker failed to start"))))
            return
        self._on_notification(self, target_id, event, data)

    async def _wait(self) -> None:
        assert self.process is not None
        await self.process.wait()
        if self._running is not None and not self._running.done():
            self._running.set_exception(InvalidStateError("worker exited during start"))
        if self.channel is not None:
            await self.channel.close()
        if not self.closed:
            self.closed = True
            self._on_died(self)

    async def request(
        self, method: str, handler_id: str | None = None, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if self.channel is None or self.closed:
            raise InvalidStateError("worker closed")
        return await self.channel.request(method, handler_id, data)

    def kill(self) -> None:
        """Test helper / emergency stop: SIGKILL the process (MediaService then sees it die)."""
        if self.process is not None and self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGKILL)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.channel is not None:
            await self.channel.close()  # the worker exits when its channel closes
        proc = self.process
        if proc is not None and proc.returncode is None:
            try:
                async with asyncio.timeout(5):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._wait_task is not None:
            self._wait_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._wait_task
