"""SRTP/SRTCP contexts for one transport: one pylibsrtp Session per direction."""

from __future__ import annotations

from pylibsrtp import Policy, Session

from relayroom.media.dtls.dtls_transport import SrtpKeys


class SrtpPair:
    """``rx`` unprotects what the peer sends, ``tx`` protects what we send."""

    __slots__ = ("profile_name", "rx", "tx")

    def __init__(self, keys: SrtpKeys) -> None:
        rx_policy = Policy(
            key=keys.rx_key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=keys.profile.libsrtp_profile
        )
        rx_policy.allow_repeat_tx = True
        rx_policy.window_size = 1024
        tx_policy = Policy(
            key=keys.tx_key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=keys.profile.libsrtp_profile
        )
        # Retransmissions (NACK answered without RTX) reuse a seq: libsrtp must allow it.
        tx_policy.allow_repeat_tx = True
        tx_policy.window_size = 1024
        self.rx = Session(rx_policy)
        self.tx = Session(tx_policy)
        self.profile_name = keys.profile.openssl_profile.decode()
