"""ICE-lite binding responses, checked with aioice.stun."""

from __future__ import annotations

import pytest
from aioice import stun as aioice_stun

from relayroom.media.ice import stun

PWD = "0123456789abcdef0123456789abcdef"


def _request(username: str, pwd: str, use_candidate: bool = False) -> bytes:
    msg = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
    msg.attributes["USERNAME"] = username
    msg.attributes["PRIORITY"] = 12345
    msg.attributes["ICE-CONTROLLING"] = 1
    if use_candidate:
        msg.attributes["USE-CANDIDATE"] = None
    msg.add_message_integrity(pwd.encode())
    return bytes(msg)


@pytest.mark.parametrize("use_candidate", [False, True])
def test_binding_success_carries_xor_address_integrity_and_fingerprint(use_candidate: bool) -> None:
    data = _request("srv1:cli1", PWD, use_candidate)
    req = stun.parse_binding_request(data)
    assert req is not None
    assert (req.local_ufrag, req.remote_ufrag, req.use_candidate) == ("srv1", "cli1", use_candidate)
    assert stun.check_integrity(req, PWD)
    resp = aioice_stun.parse_message(stun.build_binding_success(req, ("127.0.0.1", 5555), PWD))
    assert resp.message_class == aioice_stun.Class.RESPONSE
    assert resp.transaction_id == req.transaction_id
    assert resp.attributes["XOR-MAPPED-ADDRESS"] == ("127.0.0.1", 5555)
    assert resp.check_message_integrity(PWD.encode())
    assert "FINGERPRINT" in resp.attributes


def test_wrong_password_fails_integrity() -> None:
    req = stun.parse_binding_request(_request("srv1:cli1", "wrong-password-wrong-password!!"))
    assert req is not None and not stun.check_integrity(req, PWD)


def test_non_binding_request_is_ignored() -> None:
    msg = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.INDICATION)
    assert stun.parse_binding_request(bytes(msg)) is None


@pytest.mark.parametrize(
    "data",
    [b"\x00\x01", b"\x00\x01\x00\x04\x21\x12\xa4\x42" + bytes(12), bytes(20) + b"\xff\xff"],
)
def test_garbage_raises_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        stun.parse_binding_request(data)


def test_request_without_ice_username_raises() -> None:
    msg = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
    with pytest.raises(ValueError):
        stun.parse_binding_request(bytes(msg))


def test_an_attribute_shorter_than_its_type_is_a_valueerror() -> None:
    # found by fuzzing (tests/fuzz/crashes/stun/): aioice raised struct.error for a 1-octet PRIORITY
    attr = bytes.fromhex("0024") + (1).to_bytes(2, "big") + b"\x01\x00\x00\x00"  # PRIORITY, length 1
    data = bytes.fromhex("0001") + len(attr).to_bytes(2, "big") + bytes.fromhex("2112a442") + bytes(12) + attr
    with pytest.raises(ValueError):
        stun.parse_binding_request(data)
