"""The STUN fast path (``fast_binding`` + ``IntegrityKey``) answers exactly what the slow path (aioice's
parser) answers, byte for byte, and leaves everything unusual to it (hypothesis-generated requests:
attribute order, duplicates, unknown attributes, missing or corrupted MESSAGE-INTEGRITY/FINGERPRINT,
wrong passwords, flipped bits)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import socket
import struct
import zlib
from typing import Any

from aioice import stun as aioice_stun
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayroom.media.ice import stun
from relayroom.media.types import MediaParams
from relayroom.media.worker_handle import WorkerHandle

PROPS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ICE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
ufrags = st.text(ICE_CHARS, min_size=1, max_size=40)
passwords = st.text(ICE_CHARS, min_size=22, max_size=64)
COOKIE = 0x2112A442


def attr(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + bytes(-len(value) & 3)


def message(
    attrs: list[bytes], tid: bytes, key: bytes | None, fingerprint: bool, cookie: int = COOKIE
) -> bytes:
    """A Binding request with ``attrs`` in order, then MESSAGE-INTEGRITY (with ``key``) and FINGERPRINT."""
    body = b"".join(attrs)
    if key is not None:
        head = struct.pack("!HHI12s", 1, len(body) + 24, cookie, tid)
        body += attr(0x0008, hmac.new(key, head + body, hashlib.sha1).digest())
    if fingerprint:
        head = struct.pack("!HHI12s", 1, len(body) + 8, cookie, tid)
        body += attr(0x8028, struct.pack("!I", zlib.crc32(head + body) ^ 0x5354554E))
    return struct.pack("!HHI12s", 1, len(body), cookie, tid) + body


def slow(data: bytes, pwd: str, addr: tuple[str, int]) -> Any:
    """What the worker did before the fast path: (ufrags, flag, response), or why not."""
    try:
        req = stun.parse_binding_request(data)
    except ValueError:
        return "error"
    if req is None:
        return "not a binding request"
    if not stun.check_integrity(req, pwd):
        return "rejected"
    return req.local_ufrag, req.remote_ufrag, req.use_candidate, stun.build_binding_success(req, addr, pwd)


def fast(data: bytes, pwd: str, addr: tuple[str, int]) -> Any:
    """The fast path's answer, or None where it hands the request to the slow path."""
    found = stun.fast_binding(data)
    if found is None:
        return None
    key = stun.IntegrityKey(pwd)
    if not key.check(data):
        return None
    return (*found, key.binding_success(data[8:20], addr))


optional_attrs = st.lists(
    st.sampled_from(
        [
            attr(0x0024, b"\x6e\x7f\x1e\xff"),  # PRIORITY
            attr(0x0025, b""),  # USE-CANDIDATE
            attr(0x802A, bytes(7) + b"\x01"),  # ICE-CONTROLLING
            attr(0x8029, bytes(8)),  # ICE-CONTROLLED
            attr(0xC057, b"\x00\x01\x03\xe7"),  # GOOG-NETWORK-INFO
        ]
    ),
    max_size=6,
)
unusual_attrs = st.sampled_from(
    [
        attr(0x8022, b"relayroom test"),  # SOFTWARE: known to aioice, not to the fast path
        attr(0x7777, b"abc"),  # unknown comprehension-required
        attr(0x0024, b"\x01\x02"),  # PRIORITY of the wrong length
        attr(0x0006, b"x:y"),  # a second USERNAME
        attr(0x0020, b"\x00\x01\x00\x00\x00\x00\x00\x00"),  # XOR-MAPPED-ADDRESS in a request
    ]
)
addresses = st.tuples(
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda o: ".".join(map(str, o))), st.integers(1, 65535)
)


@PROPS
@given(
    local=ufrags,
    remote=ufrags,
    pwd=passwords,
    wrong_pwd=st.booleans(),
    before=optional_attrs,
    after=optional_attrs,
    unusual=st.none() | unusual_attrs,
    integrity=st.booleans(),
    fingerprint=st.booleans(),
    cookie=st.sampled_from([COOKIE, COOKIE, COOKIE, 0x12345678]),
    flip=st.none() | st.tuples(st.integers(0, 1000), st.integers(1, 255)),
    tid=st.binary(min_size=12, max_size=12),
    addr=addresses,
)
def test_fast_path_answers_exactly_what_the_slow_path_answers(
    local: str,
    remote: str,
    pwd: str,
    wrong_pwd: bool,
    before: list[bytes],
    after: list[bytes],
    unusual: bytes | None,
    integrity: bool,
    fingerprint: bool,
    cookie: int,
    flip: tuple[int, int] | None,
    tid: bytes,
    addr: tuple[str, int],
) -> None:
    attrs = [*before, attr(0x0006, f"{local}:{remote}".encode()), *after]
    if unusual is not None:
        attrs.insert(len(before), unusual)
    key = (pwd + "x" if wrong_pwd else pwd).encode()
    data = message(attrs, tid, key if integrity else None, fingerprint, cookie)
    if flip is not None:
        pos = flip[0] % len(data)
        data = data[:pos] + bytes([data[pos] ^ flip[1]]) + data[pos + 1 :]
    expected = slow(data, pwd, addr)
    got = fast(data, pwd, addr)
    if got is not None:
        assert got == expected  # same ufrags, same flag, byte-identical response
    plain = (
        unusual is None
        and integrity
        and fingerprint
        and cookie == COOKIE
        and flip is None
        and len(set(before + after)) == len(before + after)
    )
    if plain and not wrong_pwd:
        assert got is not None and got == expected  # the usual request does take the fast path
    if not plain or wrong_pwd:
        assert got is None  # anything unusual is the slow path's (its answer, its error, its count)


def test_garbage_and_short_datagrams_fall_back() -> None:
    for data in (b"", b"\x00\x01", bytes(20), b"\x00\x01\x00\x28\x21\x12\xa4\x42" + bytes(52)):
        assert stun.fast_binding(data) is None


async def test_a_worker_answers_a_browser_like_check_on_the_fast_path_and_anything_else_on_the_slow() -> None:
    """A real worker process: a check laid out as browsers send it is answered by the fast path
    (``stunFast``), one with a SOFTWARE attribute by the slow path, both exactly as the slow path
    answers; a wrong password is rejected and counted as before."""
    worker = WorkerHandle(0, MediaParams(workers=1, loopback_only=True), lambda *a: None, lambda w: None)
    await worker.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    try:
        router_id = secrets.token_hex(8)
        await worker.request("worker.createRouter", None, {"routerId": router_id})
        params = await worker.request("router.createWebRtcTransport", router_id, {"transportId": "t1"})
        ice = params["iceParameters"]

        def check(pwd: str, unusual: bool) -> bytes:
            msg = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
            msg.attributes["USERNAME"] = f"{ice['usernameFragment']}:abcd"
            msg.attributes["PRIORITY"] = 1853817087
            msg.attributes["ICE-CONTROLLING"] = 7
            if unusual:
                msg.attributes["SOFTWARE"] = "test"
            msg.add_message_integrity(pwd.encode())  # and FINGERPRINT
            return bytes(msg)

        loop = asyncio.get_running_loop()
        for unusual in (False, True):
            data = check(ice["password"], unusual)
            sock.sendto(data, ("127.0.0.1", worker.port))
            reply = await loop.run_in_executor(None, sock.recv, 2048)
            expected = slow(data, ice["password"], sock.getsockname())
            assert reply == expected[3]
        sock.sendto(check("x" * 32, False), ("127.0.0.1", worker.port))
        await asyncio.sleep(0.3)
        dump = await worker.request("worker.dump")
        assert dump["stunFast"] == 1 and dump["stunRejected"] == 1
    finally:
        sock.close()
        await worker.close()
