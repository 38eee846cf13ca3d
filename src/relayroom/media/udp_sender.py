"""Sending on the worker's shared UDP socket, with optional UDP GSO batching for RTP.

Hand-written for speed: sends go straight to the non-blocking socket (no transport buffering: a
datagram that would block is dropped and counted, as a router would). With GSO, RTP packets queued
for the same address within one event-loop turn leave in one ``sendmsg`` with UDP_SEGMENT
(equal-size segments, the last may be shorter); the kernel still delivers separate datagrams.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct

logger = logging.getLogger(__name__)

SOL_UDP = 17
UDP_SEGMENT = 103
_MAX_GSO_SEGMENTS = 64
_MAX_GSO_BYTES = 65000
_SEG = struct.Struct("H")

Addr = tuple[str, int]


def gso_supported(sock: socket.socket) -> bool:
    try:
        sock.setsockopt(SOL_UDP, UDP_SEGMENT, 0)
    except OSError:
        return False
    return True


class UdpSender:
    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop, gso: bool) -> None:
        self._sock = sock
        self._loop = loop
        self.gso = gso and gso_supported(sock)
        self._pending: dict[Addr, list[bytes]] = {}
        self._scheduled = False
        self.send_errors = 0
        self.gso_calls = 0
        self.gso_packets = 0

    def sendto(self, data: bytes, addr: Addr) -> None:
        try:
            self._sock.sendto(data, addr)
        except OSError:  # BlockingIOError (buffer full), ECONNREFUSED from ICMP...: drop
            self.send_errors += 1

    def queue(self, data: bytes, addr: Addr) -> None:
        """RTP to ``addr``: batched until the end of this event-loop turn when GSO is on."""
        if not self.gso:
            self.sendto(data, addr)
            return
        bufs = self._pending.get(addr)
        if bufs is None:
            self._pending[addr] = [data]
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self.flush)
        else:
            bufs.append(data)

    def flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        for addr, bufs in pending.items():
            n = len(bufs)
            if n == 1:
                self.sendto(bufs[0], addr)
                continue
            i = 0
            while i < n:
                size = len(bufs[i])
                limit = min(_MAX_GSO_SEGMENTS, _MAX_GSO_BYTES // size) if size else 1
                j = i + 1
                while j < n and j - i < limit and len(bufs[j]) == size:
                    j += 1
                if j < n and j - i < limit and len(bufs[j]) < size:
                    j += 1  # a shorter last segment is allowed
                if j - i == 1:
                    self.sendto(bufs[i], addr)
                else:
                    try:
                        self._sock.sendmsg(bufs[i:j], [(SOL_UDP, UDP_SEGMENT, _SEG.pack(size))], 0, addr)
                        self.gso_calls += 1
                        self.gso_packets += j - i
                    except OSError:
                        self.send_errors += j - i
                i = j

    def close(self) -> None:
        self._pending.clear()
