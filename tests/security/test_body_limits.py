"""Probe: oversized bodies and frames against the real server (the probe that grew it from 219 MB to
650 MB with one POST, and by 300 MB with ten WebSocket frames): refused before they are read."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.security.conftest import Server

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

MiB = 1 << 20


def post_huge(server: Server, path: str, declared: int | None, send_at_most: int) -> bytes:
    """Declare a huge body (``declared=None``: chunked, no length), send up to ``send_at_most`` bytes
    of it, and return the status line and headers the server answered with."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        length = "Transfer-Encoding: chunked" if declared is None else f"Content-Length: {declared}"
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {server.host}\r\nContent-Type: application/json\r\n"
            f"{length}\r\n\r\n".encode()
        )
        data = b"x" * (256 * 1024)
        chunk = data if declared is not None else b"%x\r\n%s\r\n" % (len(data), data)
        sent = 0
        try:
            while sent < send_at_most:
                s.sendall(chunk)
                sent += len(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before we were done: what we want
        s.settimeout(30)
        answer = b""
        while b"\r\n\r\n" not in answer:
            try:
                part = s.recv(65536)
            except ConnectionResetError:
                break
            if not part:
                break
            answer += part
        return answer


async def test_a_150_mb_login_is_refused_before_it_is_read(server: Server) -> None:
    before = server.rss_kib()
    answer = await asyncio.to_thread(post_huge, server, "/api/v1/auth/login", 150 * MiB, 32 * MiB)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert server.rss_kib() - before < 16 * 1024  # far from the 150 MB a full read would take


async def test_a_chunked_body_stops_being_read_at_the_limit(server: Server) -> None:
    before = server.rss_kib()
    answer = await asyncio.to_thread(post_huge, server, "/api/v1/accounts", None, 64 * MiB)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert server.rss_kib() - before < 16 * 1024


async def test_the_cloud_api_refuses_a_large_body_in_its_envelope_before_reading_it(server: Server) -> None:
    answer = await asyncio.to_thread(post_huge, server, "/", 64 * MiB, 8 * MiB)
    assert answer.startswith(b"HTTP/1.1 200")
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        r = await http.post("/", content=b" " * (MiB + 1), headers={"content-type": "application/json"})
    assert r.json()["Response"]["Error"]["Code"] == "RequestSizeLimitExceeded"


async def test_ten_16_mib_websocket_frames_close_the_socket_without_growing_the_server(
    server: Server,
) -> None:
    before = server.rss_kib()
    frame = "x" * (16 * MiB)
    for _ in range(10):
        async with connect(server.signal_url, max_size=None) as ws:
            with pytest.raises(ConnectionClosed) as exc:
                await ws.send(frame)
                await asyncio.wait_for(ws.recv(), 30)
            assert exc.value.rcvd is not None and exc.value.rcvd.code == 1009
    assert server.rss_kib() - before < 32 * 1024
    # a frame at the limit is read and answered
    async with connect(server.signal_url) as ws:
        await ws.send('{"v": 1, "id": 1, "type": "heartbeat", "data": {}, "pad": "' + "x" * 60_000 + '"}')
        assert '"ok": true' in str(await asyncio.wait_for(ws.recv(), 30))
