"""Properties of the ICE-lite STUN responder (hypothesis): a Binding request built by aioice parses back
to its ICE username and flags, integrity holds only with its password, our answer is a valid response
to it; any other datagram gives None or ValueError, nothing else."""

from __future__ import annotations

from aioice import stun as aioice_stun
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayroom.media.ice import stun

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# RFC 8839 ice-char: ALPHA / DIGIT / "+" / "/"; ufrag 4..256 chars, password 22..256
ICE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
ufrags = st.text(ICE_CHARS, min_size=4, max_size=32)
passwords = st.text(ICE_CHARS, min_size=22, max_size=64)


def request(local: str, remote: str, pwd: str, use_candidate: bool, priority: int) -> bytes:
    msg = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
    msg.attributes["USERNAME"] = f"{local}:{remote}"
    msg.attributes["PRIORITY"] = priority
    msg.attributes["ICE-CONTROLLING"] = 1
    if use_candidate:
        msg.attributes["USE-CANDIDATE"] = None
    msg.add_message_integrity(pwd.encode())
    msg.add_fingerprint()
    return bytes(msg)


@PROPS
@given(ufrags, ufrags, passwords, passwords, st.booleans(), st.integers(0, 0xFFFFFFFF), st.integers(1, 65535))
def test_a_binding_request_round_trips_and_is_answered(
    local: str, remote: str, pwd: str, other: str, use_candidate: bool, priority: int, port: int
) -> None:
    req = stun.parse_binding_request(request(local, remote, pwd, use_candidate, priority))
    assert req is not None
    assert (req.local_ufrag, req.remote_ufrag, req.use_candidate) == (local, remote, use_candidate)
    assert stun.check_integrity(req, pwd)
    assert stun.check_integrity(req, other) == (other == pwd)
    answer = aioice_stun.parse_message(stun.build_binding_success(req, ("127.0.0.1", port), pwd))
    assert answer.message_class == aioice_stun.Class.RESPONSE
    assert answer.transaction_id == req.transaction_id
    assert answer.attributes["XOR-MAPPED-ADDRESS"] == ("127.0.0.1", port)
    assert answer.check_message_integrity(pwd.encode())


@PROPS
@given(ufrags, ufrags, passwords, st.data())
def test_a_corrupted_request_parses_as_documented_or_fails_integrity(
    local: str, remote: str, pwd: str, data: st.DataObject
) -> None:
    raw = bytearray(request(local, remote, pwd, False, 1))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(0, len(raw)))]
    try:
        req = stun.parse_binding_request(bytes(raw))
    except ValueError:
        return
    if req is not None and bytes(raw) != request(local, remote, pwd, False, 1):
        assert isinstance(stun.check_integrity(req, pwd), bool)


@PROPS
@given(st.binary(max_size=300))
def test_arbitrary_datagrams_give_none_or_valueerror(data: bytes) -> None:
    try:
        req = stun.parse_binding_request(data)
    except ValueError:
        return
    assert req is None or isinstance(stun.check_integrity(req, "x" * 22), bool)
