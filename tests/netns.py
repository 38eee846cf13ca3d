"""A network namespace of the test's own, reachable from the test's namespace by TCP only.

Why: Chromium's ``--force-webrtc-ip-handling-policy=disable_non_proxied_udp`` does not remove UDP here
(Chromium 156, headless, no proxy: it still gathers UDP host candidates on 127.0.0.1, checked in
tests/media/ice/test_tcp_chromium.py). A browser started inside this namespace has nothing but its own
loopback interface: the server's UDP port does not exist there, and the only way out is a TCP forwarder
this module runs (it listens on 127.0.0.1:P inside the namespace and connects to 127.0.0.1:P in the
test's namespace). No veth, no routes, no firewall: all traffic stays on the two loopback interfaces.

Needs CAP_SYS_ADMIN (root in the container) and util-linux's ``unshare``/``nsenter``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import os
import shutil
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = struct.Struct("16sH22x")


def why_unavailable() -> str | None:
    """None when an isolated namespace can be made here; else the reason."""
    for tool in ("unshare", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is missing"
    if os.geteuid() != 0:
        return "creating a network namespace needs root (CAP_SYS_ADMIN)"
    return None


@contextlib.contextmanager
def inside(ns_path: str) -> Iterator[None]:
    """Run the block with this thread in the namespace (sockets made here stay in it), then come back."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(ns_path, os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {ns_path}: {os.strerror(err)}")
        try:
            yield
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:  # pragma: no cover - would leave the thread stranded
                err = ctypes.get_errno()
                raise OSError(err, f"setns back: {os.strerror(err)}")
    finally:
        os.close(own)
        os.close(target)


class IsolatedNetns:
    """The namespace of a holder process (``unshare --net sleep``): it goes when the holder ends."""

    def __init__(self, holder: asyncio.subprocess.Process) -> None:
        self.holder = holder
        self.path = f"/proc/{holder.pid}/ns/net"
        self._servers: list[asyncio.Server] = []
        self._pipes: set[asyncio.Task[None]] = set()

    def chromium_wrapper(self, directory: Path, chromium: str) -> Path:
        """An executable that starts ``chromium`` inside the namespace (for Playwright's launch)."""
        script = directory / "chromium-in-netns"
        script.write_text(f'#!/bin/sh\nexec nsenter --net={self.path} {chromium} "$@"\n')
        script.chmod(0o755)
        return script

    async def forward_tcp(self, port: int) -> None:
        """127.0.0.1:port inside the namespace -> 127.0.0.1:port of the test's namespace (TCP only)."""
        with inside(self.path):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(128)
            sock.setblocking(False)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                writer.close()
                return
            self._pipe(reader, up_writer)
            self._pipe(up_reader, writer)

        self._servers.append(await asyncio.start_server(handle, sock=sock))

    def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def run() -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        task = asyncio.get_running_loop().create_task(run())
        self._pipes.add(task)
        task.add_done_callback(self._pipes.discard)

    async def udp_port_bound(self, port: int) -> bool:
        """Is anything bound to UDP 127.0.0.1:port as seen from inside the namespace? (A datagram to a
        port nobody holds comes back as ICMP port-unreachable: ConnectionRefusedError on a connected
        socket. A bound port that ignores it stays silent.)"""
        with inside(self.path):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        return await asyncio.to_thread(_probe_udp, sock, port)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        if self.holder.returncode is None:
            self.holder.kill()
            await self.holder.wait()


def _probe_udp(sock: socket.socket, port: int) -> bool:
    try:
        sock.settimeout(1.0)
        sock.connect(("127.0.0.1", port))
        sock.send(b"\x00\x01\x00\x00probe")  # a STUN-looking request without credentials: ignored
        try:
            sock.recv(2048)
        except ConnectionRefusedError:
            return False
        except TimeoutError:
            return True
        return True
    finally:
        sock.close()


async def udp_port_bound_here(port: int) -> bool:
    """The same probe from the test's own namespace."""
    return await asyncio.to_thread(_probe_udp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM), port)


def _bring_loopback_up(ns_path: str) -> None:
    with inside(ns_path), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = _IFREQ.unpack(fcntl.ioctl(s, _SIOCGIFFLAGS, _IFREQ.pack(b"lo", 0)))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | _IFF_UP))


@contextlib.asynccontextmanager
async def isolated_netns() -> AsyncIterator[IsolatedNetns]:
    holder = await asyncio.create_subprocess_exec(
        "unshare", "--net", "sleep", "3600", stdin=asyncio.subprocess.DEVNULL
    )
    ns = IsolatedNetns(holder)
    try:
        own = os.readlink("/proc/self/ns/net")
        async with asyncio.timeout(10):  # until unshare has moved into its namespace and exec'd sleep
            while True:
                with contextlib.suppress(OSError):
                    comm = Path(f"/proc/{holder.pid}/comm").read_text().strip()
                    if os.readlink(ns.path) != own and comm == "sleep":
                        break
                if holder.returncode is not None:
                    raise OSError(f"unshare --net exited with {holder.returncode}")
                await asyncio.sleep(0.02)
        _bring_loopback_up(ns.path)
        yield ns
    finally:
        await ns.close()
