"""DTLS-SRTP (RFC 5764) over pyOpenSSL memory BIOs, driven by datagrams from the worker's socket.

Modelled on aiortc's RTCDtlsTransport but push-driven (no receive task): the worker hands us each
DTLS datagram, we feed it to the BIO and flush what OpenSSL wants to send. A timer handles
retransmission (DTLSv1_get_timeout / DTLSv1_handle_timeout).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiortc.rtcdtlstransport import (
    SRTP_AEAD_AES_128_GCM,
    SRTP_AES128_CM_SHA1_80,
    RTCCertificate,
    SRTPProtectionProfile,
    certificate_digest,
)
from OpenSSL import SSL

from relayroom.media.dtls.handshake_gate import HandshakeGate

logger = logging.getLogger(__name__)

# Profiles we offer/accept, in preference order.
SRTP_PROFILES: list[SRTPProtectionProfile] = [SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_SHA1_80]
FINGERPRINT_ALGORITHM = "sha-256"
_MAX_FLIGHT_RETRIES = 8


class DtlsRole(enum.StrEnum):
    CLIENT = "client"
    SERVER = "server"


class DtlsState(enum.StrEnum):
    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    FAILED = "failed"
    CLOSED = "closed"


@dataclass(frozen=True)
class SrtpKeys:
    """Keying material exported after the handshake. Never log these."""

    profile: SRTPProtectionProfile
    tx_key: bytes
    rx_key: bytes

    def __repr__(self) -> str:  # keep keys out of any accidental log line
        return f"SrtpKeys(profile={self.profile.openssl_profile.decode()})"


def local_fingerprint(cert: RTCCertificate) -> str:
    return certificate_digest(cert._cert, FINGERPRINT_ALGORITHM)


class DtlsTransport:
    """One DTLS association. ``send`` writes a datagram to the peer's selected tuple."""

    def __init__(
        self,
        certificate: RTCCertificate,
        send: Callable[[bytes], None],
        on_connected: Callable[[SrtpKeys], None],
        on_failed: Callable[[str], None],
        on_closed: Callable[[], None],
        gate: HandshakeGate | None = None,
    ) -> None:
        self._cert = certificate
        self._gate = gate  # the worker's budget of handshake flights per loop turn (handshake_gate.py)
        self._send = send
        self._on_connected = on_connected
        self._on_failed = on_failed
        self._on_closed = on_closed
        self._ssl: SSL.Connection | None = None
        self._role = DtlsRole.SERVER
        self._remote_fingerprints: list[tuple[str, str]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._retries = 0
        self.state = DtlsState.NEW

    def start(self, role: DtlsRole, remote_fingerprints: list[tuple[str, str]]) -> None:
        """Begin the handshake. ``remote_fingerprints``: (algorithm, value) from the peer's SDP."""
        if self.state != DtlsState.NEW:
            raise RuntimeError("dtls already started")
        if not remote_fingerprints:
            raise ValueError("no remote fingerprint")
        self._role = role
        self._remote_fingerprints = remote_fingerprints
        ctx = self._cert._create_ssl_context(srtp_profiles=SRTP_PROFILES)
        self._ssl = SSL.Connection(ctx, None)
        if role == DtlsRole.SERVER:
            self._ssl.set_accept_state()
        else:
            self._ssl.set_connect_state()
        self.state = DtlsState.CONNECTING
        if role == DtlsRole.CLIENT:
            self._step()

    def _step(self) -> None:
        """One handshake flight through the worker's gate (handshake_gate.py), or now without one."""
        if self._gate is None:
            self._handshake()
        else:
            self._gate.run(id(self), self._gated_handshake)

    def _gated_handshake(self) -> None:
        if self._ssl is not None and self.state == DtlsState.CONNECTING:
            self._handshake()

    def _release(self) -> None:
        if self._gate is not None:
            self._gate.cancel(id(self))

    @property
    def role(self) -> DtlsRole:
        return self._role

    def receive(self, data: bytes) -> None:
        """A DTLS record from the peer (first byte 20..63)."""
        ssl = self._ssl
        if ssl is None or self.state in (DtlsState.FAILED, DtlsState.CLOSED):
            return
        ssl.bio_write(data)
        if self.state == DtlsState.CONNECTING:
            self._step()
            return
        # Connected: application data (no data channels yet) or alerts (close_notify).
        try:
            ssl.recv(1500)
        except SSL.ZeroReturnError:
            self._flush()
            self.close()
            self._on_closed()
            return
        except SSL.Error:
            pass
        self._flush()

    def _handshake(self) -> None:
        ssl = self._ssl
        assert ssl is not None
        try:
            ssl.do_handshake()
        except SSL.WantReadError:
            self._flush()
            self._arm_timer()
            return
        except SSL.Error as exc:
            self._fail(f"handshake error: {exc.__class__.__name__}")
            return
        self._flush()
        self._cancel_timer()
        if not self._verify_peer():
            self._fail("fingerprint mismatch")
            return
        keys = self._export_keys()
        if keys is None:
            self._fail("no srtp profile negotiated")
            return
        self.state = DtlsState.CONNECTED
        self._on_connected(keys)

    def _verify_peer(self) -> bool:
        assert self._ssl is not None
        cert = self._ssl.get_peer_certificate(as_cryptography=True)
        if cert is None:
            return False
        checked = 0
        for algorithm, value in self._remote_fingerprints:
            algorithm = algorithm.lower()
            if algorithm not in ("sha-256", "sha-384", "sha-512"):
                continue
            checked += 1
            if value.upper() != certificate_digest(cert, algorithm):
                return False
        return checked > 0

    def _export_keys(self) -> SrtpKeys | None:
        assert self._ssl is not None
        selected = self._ssl.get_selected_srtp_profile()
        profile = next((p for p in SRTP_PROFILES if p.openssl_profile == selected), None)
        if profile is None:
            return None
        material = self._ssl.export_keying_material(
            b"EXTRACTOR-dtls_srtp", 2 * (profile.key_length + profile.salt_length)
        )
        client_key = profile.get_key_and_salt(material, 0)
        server_key = profile.get_key_and_salt(material, 1)
        if self._role == DtlsRole.SERVER:
            return SrtpKeys(profile, tx_key=server_key, rx_key=client_key)
        return SrtpKeys(profile, tx_key=client_key, rx_key=server_key)

    def _flush(self) -> None:
        ssl = self._ssl
        if ssl is None:
            return
        while True:
            try:
                data = ssl.bio_read(1500)
            except SSL.Error:
                return
            if not data:
                return
            self._send(data)

    def _arm_timer(self) -> None:
        self._cancel_timer()
        assert self._ssl is not None
        timeout = self._ssl.DTLSv1_get_timeout()
        if timeout is None:
            return
        self._timer = asyncio.get_running_loop().call_later(max(timeout, 0.01), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._ssl is None or self.state != DtlsState.CONNECTING:
            return
        self._retries += 1
        if self._retries > _MAX_FLIGHT_RETRIES:
            self._fail("handshake timeout")
            return
        try:
            self._ssl.DTLSv1_handle_timeout()
        except SSL.Error:
            self._fail("handshake timeout error")
            return
        self._flush()
        self._arm_timer()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self, reason: str) -> None:
        logger.debug("dtls failed: %s", reason)
        self.state = DtlsState.FAILED
        self._cancel_timer()
        self._release()
        self._on_failed(reason)

    def close(self) -> None:
        """Send close_notify when connected. Idempotent."""
        if self.state == DtlsState.CLOSED:
            return
        was_connected = self.state == DtlsState.CONNECTED
        self.state = DtlsState.CLOSED
        self._cancel_timer()
        self._release()
        if was_connected and self._ssl is not None:
            try:
                self._ssl.shutdown()
            except SSL.Error:
                pass
            self._flush()
        self._ssl = None
