"""Probe: stopping the server (SIGTERM) while clients are in a room: they are told why, not just cut."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from relayroom.auth.usersig import gen_usersig
from tests.security.conftest import start_server, stop_server

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


async def test_sigterm_sends_every_member_the_reason_before_the_socket_closes(tmp_path: Path) -> None:
    server = await asyncio.to_thread(start_server, tmp_path)
    try:
        async with connect(server.signal_url) as ws:
            enter = {
                "sdkAppId": server.sdkappid,
                "userId": "alice",
                "userSig": gen_usersig(server.sdkappid, server.secret_key, "alice", 600),
                "roomId": 31,
            }
            await ws.send(json.dumps({"v": 1, "id": 1, "type": "enter", "data": enter}))
            while json.loads(await asyncio.wait_for(ws.recv(), 30)).get("id") != 1:
                pass
            server.proc.send_signal(signal.SIGTERM)
            events = []
            with pytest.raises(ConnectionClosed) as exc:
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if msg.get("type") == "event":
                        events.append(msg["event"])
                        if msg["event"] == "server-shutdown":
                            assert msg["data"]["reason"] == "server_shutdown"
        assert "server-shutdown" in events
        assert exc.value.rcvd is not None and exc.value.rcvd.code == 1001
        assert exc.value.rcvd.reason == "server shutting down"
        await asyncio.to_thread(server.proc.wait, 60)
        # a drained shutdown (uvicorn then re-raises SIGTERM, so the exit status says "terminated")
        assert "Application shutdown complete." in server.log()
        assert "signalling clients told of the shutdown" in server.log()
    finally:
        stop_server(server.proc)
