"""The Python SDK with ice_transport_policy="relay": all media through a real coturn (UDP and TCP to it),
using the credentials the server hands out at entry, against the whole control plane."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, RelayRoomError
from relayroom.config import Settings
from relayroom.control.app import create_app
from relayroom.control.bootstrap import FirstStart
from tests.client.calls import video_reaches
from tests.coturn import running_coturn
from tests.serving import served

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

SECRET = "relayroom-test-turn-secret"
ORANGE = (240, 140, 20)


@contextlib.asynccontextmanager
async def full_server(tmp_path: Path, turn_urls: list[str]) -> AsyncIterator[tuple[str, FirstStart]]:
    settings = Settings(
        data_dir=tmp_path / "data",
        media={"workers": 1, "ports": [0], "loopback_only": True},
        turn={"urls": turn_urls, "secret": SECRET} if turn_urls else {},
    )
    first: list[FirstStart] = []
    async with served(create_app(settings, on_first_start=first.append)) as port:
        yield f"ws://127.0.0.1:{port}/signal", first[-1]


def selected_pair(pc: RTCPeerConnection | None) -> Any:
    """aioice's nominated candidate pair of the connection's (bundled) transport."""
    assert pc is not None
    ice = pc.getTransceivers()[0].sender.transport.transport
    return ice._connection._nominated[1]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_relay_only_clients_publish_and_play_through_coturn(tmp_path: Path, transport: str) -> None:
    with running_coturn(tmp_path / "coturn", SECRET) as coturn:
        async with full_server(tmp_path, [coturn.url(transport)]) as (url, first):
            sdkappid, key = first.sdkappid, first.secret_key
            async with (
                RelayRoomClient(url, ice_transport_policy="relay") as alice,
                RelayRoomClient(url, ice_transport_policy="relay") as bob,
            ):
                entered = await alice.enter_room(
                    sdk_app_id=sdkappid,
                    user_id="alice",
                    user_sig=gen_usersig(sdkappid, key, "alice"),
                    room_id=7,
                )
                [server] = entered["iceServers"]
                assert server["urls"] == [coturn.url(transport)] and server["username"].endswith(":alice")
                await bob.enter_room(
                    sdk_app_id=sdkappid,
                    user_id="bob",
                    user_sig=gen_usersig(sdkappid, key, "bob"),
                    room_id=7,
                    auto_receive_video=True,
                )
                await video_reaches(alice, bob, ORANGE)
                for pc in (alice._send_pc, bob._recv_pc):
                    pair = selected_pair(pc)
                    assert pair.local_candidate.type == "relay"
                    assert pair.local_candidate.port in coturn.relay_ports
                log = coturn.log_text()
                for user in ("alice", "bob"):
                    assert f":{user}>: incoming packet CHANNEL_BIND processed, success" in log
                if transport == "tcp":
                    assert "tcp or tls connected to: 127.0.0.1" in log


async def test_relay_policy_without_turn_on_the_server_is_a_clear_error(tmp_path: Path) -> None:
    async with full_server(tmp_path, []) as (url, first):
        sdkappid, key = first.sdkappid, first.secret_key
        async with RelayRoomClient(url, ice_transport_policy="relay") as carol:
            with pytest.raises(RelayRoomError, match="needs a TURN server") as exc:
                await carol.enter_room(
                    sdk_app_id=sdkappid,
                    user_id="carol",
                    user_sig=gen_usersig(sdkappid, key, "carol"),
                    room_id=7,
                )
            assert exc.value.code == 5000 and carol.room is None
        # without TURN the reply still carries the field, empty, and direct media works as before
        async with RelayRoomClient(url) as dave:
            entered = await dave.enter_room(
                sdk_app_id=sdkappid, user_id="dave", user_sig=gen_usersig(sdkappid, key, "dave"), room_id=7
            )
            assert entered["iceServers"] == []
