"""ICE-lite STUN Binding responder (RFC 8445 §2.5, RFC 5389) on top of ``aioice.stun``.

STUN is rare (a check every few seconds per transport), so aioice's parser is fine here; it is never
tried on RTP (the worker demuxes by first byte first, RFC 7983).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from aioice import stun

_USE_CANDIDATE = "USE-CANDIDATE"


@dataclass(frozen=True)
class BindingRequest:
    local_ufrag: str
    remote_ufrag: str
    use_candidate: bool
    transaction_id: bytes
    message: stun.Message


def parse_binding_request(data: bytes) -> BindingRequest | None:
    """Parse a STUN Binding request; None for any other STUN message. Raises ValueError on garbage."""
    try:
        msg = stun.parse_message(data)
    except struct.error as exc:  # aioice unpacks attribute values without checking their length
        raise ValueError(f"malformed stun attribute: {exc}") from None
    if msg.message_method != stun.Method.BINDING or msg.message_class != stun.Class.REQUEST:
        return None
    username = msg.attributes.get("USERNAME")
    if not isinstance(username, str) or ":" not in username:
        raise ValueError("stun binding without ice username")
    local, remote = username.split(":", 1)
    return BindingRequest(local, remote, _USE_CANDIDATE in msg.attributes, msg.transaction_id, msg)


def check_integrity(req: BindingRequest, password: str) -> bool:
    """MESSAGE-INTEGRITY with the short-term credential (FINGERPRINT was checked by the parser)."""
    return req.message.check_message_integrity(password.encode("utf8"))


def build_binding_success(req: BindingRequest, addr: tuple[str, int], password: str) -> bytes:
    response = stun.Message(
        message_method=stun.Method.BINDING,
        message_class=stun.Class.RESPONSE,
        transaction_id=req.transaction_id,
    )
    response.attributes["XOR-MAPPED-ADDRESS"] = (addr[0], addr[1])
    response.add_message_integrity(password.encode("utf8"))
    response.add_fingerprint()
    return bytes(response)
