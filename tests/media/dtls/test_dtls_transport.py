"""DTLS-SRTP over memory BIOs: two in-process DtlsTransports connected by a lossy in-memory pipe."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCCertificate
from aiortc.rtp import RtpPacket

from relayroom.media.dtls.dtls_transport import (
    DtlsRole,
    DtlsState,
    DtlsTransport,
    SrtpKeys,
    local_fingerprint,
)
from relayroom.media.srtp.session import SrtpPair

pytestmark = pytest.mark.timeout(20)


class Side:
    def __init__(self, cert: RTCCertificate) -> None:
        self.cert = cert
        self.peer: Side | None = None
        self.keys: SrtpKeys | None = None
        self.failed: str | None = None
        self.closed = False
        self.drop_first = 0
        self.sent = 0
        self.dtls = DtlsTransport(cert, self._send, self._connected, self._failed, self._closed)

    def _send(self, data: bytes) -> None:
        self.sent += 1
        if self.drop_first > 0:  # lose the first flights to exercise the retransmission timer
            self.drop_first -= 1
            return
        assert self.peer is not None
        asyncio.get_running_loop().call_soon(self.peer.dtls.receive, data)

    def _connected(self, keys: SrtpKeys) -> None:
        self.keys = keys

    def _failed(self, reason: str) -> None:
        self.failed = reason

    def _closed(self) -> None:
        self.closed = True


def _pair(drop: int = 0) -> tuple[Side, Side]:
    server, client = Side(RTCCertificate.generateCertificate()), Side(RTCCertificate.generateCertificate())
    server.peer, client.peer = client, server
    client.drop_first = drop
    return server, client


async def _handshake(server: Side, client: Side, within: float = 8.0) -> None:
    server.dtls.start(DtlsRole.SERVER, [("sha-256", local_fingerprint(client.cert))])
    client.dtls.start(DtlsRole.CLIENT, [("sha-256", local_fingerprint(server.cert))])
    async with asyncio.timeout(within):
        while server.keys is None or client.keys is None:
            if server.failed or client.failed:
                break
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("drop", [0, 1])
async def test_handshake_exports_matching_srtp_keys_and_protects_both_ways(drop: int) -> None:
    server, client = _pair(drop)
    await _handshake(server, client)
    assert server.keys is not None and client.keys is not None
    assert server.keys.tx_key == client.keys.rx_key and server.keys.rx_key == client.keys.tx_key
    assert server.keys.profile.openssl_profile == b"SRTP_AEAD_AES_128_GCM"
    assert "key" not in repr(server.keys).lower().replace("srtpkeys", "")
    a, b = SrtpPair(server.keys), SrtpPair(client.keys)
    rtp = RtpPacket(payload_type=96, sequence_number=1, timestamp=2, ssrc=3, payload=b"x" * 100).serialize()
    assert b.rx.unprotect(a.tx.protect(rtp)) == rtp
    assert a.rx.unprotect(b.tx.protect(rtp)) == rtp
    rtcp = bytes([0x80, 201, 0, 1]) + (5).to_bytes(4, "big")
    assert a.rx.unprotect_rtcp(b.tx.protect_rtcp(rtcp)) == rtcp
    server.dtls.close()
    await asyncio.sleep(0.05)
    assert client.closed  # close_notify reached the client
    server.dtls.close()  # idempotent


async def test_fingerprint_mismatch_fails() -> None:
    server, client = _pair()
    other = RTCCertificate.generateCertificate()
    server.dtls.start(DtlsRole.SERVER, [("sha-256", local_fingerprint(other))])
    client.dtls.start(DtlsRole.CLIENT, [("sha-256", local_fingerprint(server.cert))])
    async with asyncio.timeout(5):
        while server.failed is None:
            await asyncio.sleep(0.01)
    assert server.failed == "fingerprint mismatch" and server.dtls.state == DtlsState.FAILED


async def test_garbage_records_do_not_break_a_connected_association() -> None:
    server, client = _pair()
    await _handshake(server, client)
    for junk in (b"\x16\xfe\xfd" + bytes(40), b"\x17\xfe\xfd\x00\x01" + bytes(30), b"\x15", b"\x14\xfe"):
        server.dtls.receive(junk)
    assert server.dtls.state == DtlsState.CONNECTED


@pytest.mark.parametrize("gcm", [True, False])
def test_fast_rewriting_protect_matches_rewrite_then_session_protect(gcm: bool) -> None:
    import os

    from aiortc.rtcdtlstransport import SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_SHA1_80

    profile = SRTP_AEAD_AES_128_GCM if gcm else SRTP_AES128_CM_SHA1_80
    size = 2 * (profile.key_length + profile.salt_length)
    keys = SrtpKeys(profile, tx_key=os.urandom(size // 2), rx_key=os.urandom(size // 2))
    fast, slow = SrtpPair(keys), SrtpPair(keys)
    slow._fast = None
    peer = SrtpPair(SrtpKeys(profile, tx_key=keys.rx_key, rx_key=keys.tx_key))
    for seq in (1, 2, 65535, 0):
        data = RtpPacket(
            payload_type=97, marker=1, sequence_number=9, timestamp=9, ssrc=9, payload=os.urandom(900)
        ).serialize()
        a = fast.protect_rewritten(data, 100, seq, 123456, 0xCAFE)
        b = slow.protect_rewritten(data, 100, seq, 123456, 0xCAFE)
        assert a == b
        plain = RtpPacket.parse(peer.rx.unprotect(a))
        assert (plain.payload_type, plain.sequence_number, plain.timestamp, plain.ssrc, plain.marker) == (
            100,
            seq,
            123456,
            0xCAFE,
            1,
        )
