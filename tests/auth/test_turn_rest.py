"""TURN REST API credentials: the known answer, and a real coturn accepting ours and refusing bad ones."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aioice import stun, turn
from aioice.stun import TransactionFailed

from relayroom.auth.turn_rest import ice_servers, turn_credential
from tests.coturn import Coturn, running_coturn

SECRET = "north-sea-turn-secret"


def test_credential_is_base64_hmac_sha1_of_expiry_colon_user() -> None:
    # Known answer computed outside Python:
    #   printf '%s' '1700000000:alice' | openssl dgst -sha1 -hmac 'north-sea-turn-secret' -binary | base64
    cred = turn_credential(SECRET, "alice", 1_700_000_000)
    assert cred.username == "1700000000:alice"
    assert cred.credential == "2KgXCQrTfE6ITZuk5ysE+Bf/eUc="


def test_ice_servers_share_one_credential_across_urls_and_expire_after_the_lifetime() -> None:
    urls = ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"]
    [server] = ice_servers(urls, SECRET, "bob", now=1_700_000_000.7, lifetime_s=600)
    assert server["urls"] == urls
    assert server["username"] == "1700000600:bob"
    assert server["credential"] == turn_credential(SECRET, "bob", 1_700_000_600).credential
    assert ice_servers([], SECRET, "bob", now=0, lifetime_s=600) == []


def test_a_user_id_with_a_colon_is_refused() -> None:
    with pytest.raises(ValueError, match="':'"):
        turn_credential(SECRET, "a:b", 1)


class _Received(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))


async def _allocate(
    coturn: Coturn, username: str, password: str
) -> tuple[asyncio.BaseTransport, turn.TurnClientUdpProtocol]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: turn.TurnClientUdpProtocol(
            ("127.0.0.1", coturn.port),
            username=username,
            password=password,
            lifetime=600,
            channel_refresh_time=500,
        ),
        remote_addr=("127.0.0.1", coturn.port),
    )
    try:
        await protocol.connect()
    except BaseException:
        transport.close()
        raise
    return transport, protocol


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_coturn_relays_for_our_credential_over_udp_and_tcp(tmp_path: Path, transport: str) -> None:
    with running_coturn(tmp_path / "coturn", SECRET) as coturn:
        loop = asyncio.get_running_loop()
        peer_t, peer = await loop.create_datagram_endpoint(_Received, local_addr=("127.0.0.1", 0))
        peer_addr = peer_t.get_extra_info("sockname")
        cred = turn_credential(SECRET, "alice", int(time.time()) + 60)
        relay_t, relayed = await turn.create_turn_endpoint(
            _Received, ("127.0.0.1", coturn.port), cred.username, cred.credential, transport=transport
        )
        try:
            relay_addr = relay_t.get_extra_info("sockname")
            assert relay_addr[0] == "127.0.0.1" and relay_addr[1] in coturn.relay_ports
            relay_t.sendto(b"through the relay", peer_addr)
            data, source = await asyncio.wait_for(peer.queue.get(), 10)
            assert (data, source) == (b"through the relay", relay_addr)
            peer_t.sendto(b"and back", source)
            data, _ = await asyncio.wait_for(relayed.queue.get(), 10)
            assert data == b"and back"
        finally:
            relay_t.close()
            peer_t.close()
        assert f"user <{cred.username}>: incoming packet ALLOCATE processed, success" in coturn.log_text()


@pytest.mark.timeout(60)
async def test_coturn_refuses_expired_and_forged_credentials(tmp_path: Path) -> None:
    with running_coturn(tmp_path / "coturn", SECRET) as coturn:
        now = int(time.time())
        expired = turn_credential(SECRET, "bob", now - 5)
        forged = turn_credential("another-secret-of-mallory", "bob", now + 600)
        tampered = turn_credential(SECRET, "bob", now - 5)  # a stolen expired one, expiry pushed forward
        attempts = {
            "expired": (expired.username, expired.credential),
            "forged": (forged.username, forged.credential),
            "tampered": (f"{now + 600}:bob", tampered.credential),
        }
        for name, (username, password) in attempts.items():
            with pytest.raises(TransactionFailed, match="401") as exc:
                await _allocate(coturn, username, password)
            assert exc.value.response.attributes["ERROR-CODE"][0] == 401, name
        # and the right one works on the same server
        good = turn_credential(SECRET, "bob", now + 600)
        transport, protocol = await _allocate(coturn, good.username, good.credential)
        await protocol.delete()
        transport.close()


@pytest.mark.timeout(60)
async def test_an_allocation_made_in_time_keeps_working_after_its_credential_expires(tmp_path: Path) -> None:
    # coturn checks the expiry when the allocation authenticates; the session keeps its key afterwards.
    with running_coturn(tmp_path / "coturn", SECRET) as coturn:
        expires_at = int(time.time()) + 2
        cred = turn_credential(SECRET, "dan", expires_at)
        transport, protocol = await _allocate(coturn, cred.username, cred.credential)
        try:
            while time.time() < expires_at + 1.5:
                await asyncio.sleep(0.2)
            await protocol.channel_bind(0x4000, ("127.0.0.1", 9))
            refresh = stun.Message(message_method=stun.Method.REFRESH, message_class=stun.Class.REQUEST)
            refresh.attributes["LIFETIME"] = 600
            await protocol.request_with_retry(refresh)
            with pytest.raises(TransactionFailed, match="401"):  # but no new allocation with it
                await _allocate(coturn, cred.username, cred.credential)
        finally:
            await protocol.delete()
            transport.close()


@pytest.mark.timeout(60)
async def test_the_shipped_config_keeps_the_relay_out_of_private_ranges_except_the_workers(
    tmp_path: Path,
) -> None:
    # ChannelBind installs a permission on coturn only: no packet goes to the peer addresses named here.
    with running_coturn(tmp_path / "coturn", SECRET) as coturn:
        cred = turn_credential(SECRET, "carol", int(time.time()) + 60)
        transport, protocol = await _allocate(coturn, cred.username, cred.credential)
        try:
            await protocol.channel_bind(0x4000, ("127.0.0.1", 9))  # the media workers (allowed-peer-ip)
            denied = ["127.0.0.2", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1"]
            for n, ip in enumerate(denied, start=1):
                with pytest.raises(TransactionFailed, match="403"):
                    await protocol.channel_bind(0x4000 + n, (ip, 9))
        finally:
            await protocol.delete()
            transport.close()
