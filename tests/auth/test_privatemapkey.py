"""PrivateMapKey: TV4, userbuf layout, room and expiry checks, privilege bits."""

from __future__ import annotations

import base64
import json
import string
import zlib
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import TLSSigAPIv2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayroom.auth.errors import UserBufError
from relayroom.auth.privatemapkey import (
    PrivateMapKeyBuf,
    PrivateMapKeyResult,
    Privilege,
    build_userbuf,
    gen_privatemapkey,
    parse_privilege,
    parse_userbuf,
    privilege_names,
    verify_privatemapkey,
)
from relayroom.auth.usersig import (
    VerifyReason,
    decode_usersig,
    gen_usersig,
    urlish_b64decode,
    urlish_b64encode,
)

SDKAPPID = 1400000000
KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
T0 = 1700000000
TV4_USERBUF_HEX = "00 0007 7869616f6a756e 53724e00 00002710 65554280 000000ff 00000000"
TV4_TLS_USERBUF = "AAAHeGlhb2p1blNyTgAAACcQZVVCgAAAAP8AAAAA"
TV4_TLS_SIG = "m5WPLBP4ZpMhjE/+GSzmHQEKbLMxsvWih1uhJTQ0sPw="


def verify(token: str, **overrides: Any) -> PrivateMapKeyResult:
    """verify_privatemapkey with the TV4 defaults (room 10000 at T0)."""
    kwargs: dict[str, Any] = {"sdkappid": SDKAPPID, "userid": "xiaojun", "keys": [KEY], "now": T0}
    if "str_room_id" not in overrides:
        kwargs["room_id"] = 10000
    kwargs.update(overrides)
    return verify_privatemapkey(token, **kwargs)


def signed(userbuf: bytes, *, expire: int = 86400, userid: str = "xiaojun") -> str:
    """A UserSig carrying an arbitrary (possibly hostile) userbuf, correctly signed."""
    return gen_usersig(SDKAPPID, KEY, userid, expire, now=T0, userbuf=userbuf)


def tv4() -> str:
    return gen_privatemapkey(SDKAPPID, KEY, "xiaojun", 86400, room_id=10000, privilege=255, now=T0)


# --- TV4 ---------------------------------------------------------------------------------------


def test_tv4_userbuf_bytes_match_the_vector() -> None:
    userbuf = build_userbuf(
        "xiaojun", SDKAPPID, room_id=10000, str_room_id=None, expire_at=T0 + 86400, privilege=Privilege.ALL
    )
    assert userbuf == bytes.fromhex(TV4_USERBUF_HEX.replace(" ", ""))
    assert base64.b64encode(userbuf).decode() == TV4_TLS_USERBUF


def test_tv4_privatemapkey_carries_the_vector_userbuf_and_sig() -> None:
    doc = json.loads(zlib.decompress(urlish_b64decode(tv4())))
    assert doc["TLS.userbuf"] == TV4_TLS_USERBUF
    assert doc["TLS.sig"] == TV4_TLS_SIG
    assert doc["TLS.expire"] == 86400 and doc["TLS.time"] == T0


def test_tv4_is_byte_identical_to_the_official_package_with_our_userbuf() -> None:
    userbuf = bytes.fromhex(TV4_USERBUF_HEX.replace(" ", ""))
    api = TLSSigAPIv2.TLSSigAPIv2(SDKAPPID, KEY)
    with mock.patch.object(TLSSigAPIv2, "time", SimpleNamespace(time=lambda: T0)):
        assert tv4() == api.gen_sig_with_userbuf("xiaojun", 86400, userbuf)


def test_tv4_parses_to_its_fields() -> None:
    assert parse_userbuf(bytes.fromhex(TV4_USERBUF_HEX.replace(" ", ""))) == PrivateMapKeyBuf(
        version=0,
        userid="xiaojun",
        sdkappid=SDKAPPID,
        room_id=10000,
        str_room_id=None,
        expire_at=1700086400,
        privilege=Privilege.ALL,
        account_type=0,
    )


def test_tv4_verifies_for_its_room_until_both_expiries() -> None:
    result = verify(tv4())
    assert result.ok and result.reason is VerifyReason.OK
    assert result.privilege == Privilege.ALL and result.expires_at == T0 + 86400
    assert result.buf is not None and result.buf.room_id == 10000
    assert result.usersig.ok and result.usersig.key_index == 0
    assert verify(tv4(), now=T0 + 86400).ok
    # Relative and absolute expiry coincide here; the UserSig layer reports first.
    assert verify(tv4(), now=T0 + 86401).reason is VerifyReason.EXPIRED


# --- rooms -------------------------------------------------------------------------------------


def test_string_room_round_trips() -> None:
    token = gen_privatemapkey(SDKAPPID, KEY, "xiaojun", 3600, str_room_id="meeting-42", privilege=42, now=T0)
    buf = parse_userbuf(decode_usersig(token).userbuf or b"")
    assert buf.version == 1 and buf.room_id == 0 and buf.str_room_id == "meeting-42"
    assert buf.expire_at == T0 + 3600 and buf.privilege == 42
    result = verify(token, str_room_id="meeting-42")
    assert (
        result.ok and result.privilege == Privilege.ENTER_ROOM | Privilege.RECV_AUDIO | Privilege.RECV_VIDEO
    )


def test_string_room_is_utf8_with_a_byte_length() -> None:
    userbuf = build_userbuf("u", 1, room_id=None, str_room_id="房间", expire_at=2, privilege=3)
    assert userbuf[-8:] == b"\x00\x06" + "房间".encode()
    assert parse_userbuf(userbuf).str_room_id == "房间"


@pytest.mark.parametrize(
    ("token_room", "asked"),
    [
        ({"room_id": 10000}, {"room_id": 10001}),
        ({"room_id": 10000}, {"str_room_id": "10000"}),  # numeric and string rooms never alias
        ({"str_room_id": "10000"}, {"room_id": 10000}),
        ({"str_room_id": "meeting-42"}, {"str_room_id": "meeting-43"}),
        ({"str_room_id": "meeting-42"}, {"str_room_id": "Meeting-42"}),
    ],
)
def test_other_room_is_room_mismatch(token_room: dict[str, Any], asked: dict[str, Any]) -> None:
    token = gen_privatemapkey(SDKAPPID, KEY, "xiaojun", 3600, now=T0, **token_room)
    result = verify(token, **asked)
    assert not result.ok and result.reason is VerifyReason.ROOM_MISMATCH
    assert result.privilege == Privilege(0) and not result.allows(Privilege.ENTER_ROOM)
    assert result.buf is not None  # the signed buf is still shown, e.g. by the CLI


def test_verify_needs_exactly_one_room() -> None:
    with pytest.raises(TypeError):
        verify_privatemapkey(tv4(), sdkappid=SDKAPPID, userid="xiaojun", keys=[KEY], now=T0)
    with pytest.raises(TypeError):
        verify(tv4(), room_id=1, str_room_id="1")


# --- expiry ------------------------------------------------------------------------------------


def test_absolute_expiry_is_enforced_even_when_the_relative_one_passes() -> None:
    early = build_userbuf(
        "xiaojun", SDKAPPID, room_id=10000, str_room_id=None, expire_at=T0 + 60, privilege=255
    )
    token = signed(early, expire=86400)
    assert verify(token, now=T0 + 60).ok
    result = verify(token, now=T0 + 61)
    assert not result.ok and result.reason is VerifyReason.PMK_EXPIRED
    assert result.usersig.ok  # the UserSig layer alone would have accepted it
    assert result.expires_at == T0 + 60


def test_relative_expiry_is_enforced_even_when_the_absolute_one_passes() -> None:
    late = build_userbuf(
        "xiaojun", SDKAPPID, room_id=10000, str_room_id=None, expire_at=T0 + 86400, privilege=255
    )
    token = signed(late, expire=60)
    assert verify(token, now=T0 + 60).ok
    assert verify(token, now=T0 + 61).reason is VerifyReason.EXPIRED


# --- the signed userbuf must agree with the request ---------------------------------------------


def test_userbuf_for_another_app_is_appid_mismatch() -> None:
    other = build_userbuf(
        "xiaojun", SDKAPPID + 1, room_id=10000, str_room_id=None, expire_at=T0 + 60, privilege=255
    )
    assert verify(signed(other)).reason is VerifyReason.APPID_MISMATCH


def test_userbuf_for_another_user_is_userid_mismatch() -> None:
    other = build_userbuf(
        "mallory", SDKAPPID, room_id=10000, str_room_id=None, expire_at=T0 + 60, privilege=255
    )
    assert verify(signed(other)).reason is VerifyReason.USERID_MISMATCH


def test_plain_usersig_is_not_a_privatemapkey() -> None:
    plain = gen_usersig(SDKAPPID, KEY, "xiaojun", 86400, now=T0)
    assert verify(plain).reason is VerifyReason.USERBUF_MISMATCH


def test_signed_garbage_userbuf_is_malformed() -> None:
    result = verify(signed(b"abc"))
    assert result.reason is VerifyReason.MALFORMED and result.buf is None


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"sdkappid": SDKAPPID + 1}, VerifyReason.APPID_MISMATCH),
        ({"userid": "mallory"}, VerifyReason.USERID_MISMATCH),
        ({"keys": ["0" * 64]}, VerifyReason.SIG_MISMATCH),
        ({"keys": ["0" * 64, KEY]}, VerifyReason.OK),
        ({"keys": []}, VerifyReason.KEY_MISSING),
    ],
)
def test_usersig_layer_reasons_pass_through(overrides: dict[str, Any], reason: VerifyReason) -> None:
    assert verify(tv4(), **overrides).reason is reason


def test_tampered_userbuf_breaks_the_signature() -> None:
    doc = json.loads(zlib.decompress(urlish_b64decode(tv4())))
    raised = build_userbuf(
        "xiaojun", SDKAPPID, room_id=10000, str_room_id=None, expire_at=2**32 - 1, privilege=255
    )
    doc["TLS.userbuf"] = base64.b64encode(raised).decode()
    forged = urlish_b64encode(zlib.compress(json.dumps(doc).encode()))
    assert verify(forged).reason is VerifyReason.SIG_MISMATCH


# --- privileges --------------------------------------------------------------------------------


def test_privilege_bits_by_name() -> None:
    members = {name: int(p) for name, p in Privilege.__members__.items()}
    assert members == {
        "CREATE_ROOM": 1,
        "ENTER_ROOM": 2,
        "SEND_AUDIO": 4,
        "RECV_AUDIO": 8,
        "SEND_VIDEO": 16,
        "RECV_VIDEO": 32,
        "SEND_SUB": 64,
        "RECV_SUB": 128,
        "ALL": 255,
    }
    assert members["RECV_SUB"] == 128  # not the Python lib comment's "200"
    assert int(Privilege.ALL) == sum(int(p) for p in Privilege if p is not Privilege.ALL)
    assert Privilege.ENTER_ROOM | Privilege.RECV_AUDIO | Privilege.RECV_VIDEO == 42
    assert privilege_names(42) == ["enter_room", "recv_audio", "recv_video"]
    assert privilege_names(0xAB) == ["create_room", "enter_room", "recv_audio", "recv_video", "recv_sub"]
    assert len(privilege_names(Privilege.ALL)) == 8


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("255", 255),
        ("0xab", 0xAB),
        ("all", 255),
        ("enter,recv_audio", 10),
        ("ENTER_ROOM, recv_video", 34),
        ("create,enter,send_audio,recv_audio,send_video,recv_video,send_sub,recv_sub", 255),
        ("", 0),
    ],
)
def test_parse_privilege_accepts_numbers_and_names(text: str, value: int) -> None:
    assert parse_privilege(text) == value


@pytest.mark.parametrize("text", ["enter,fly", "-1", "0x100000000", "1.5"])
def test_parse_privilege_rejects_unknown_input(text: str) -> None:
    with pytest.raises(ValueError):
        parse_privilege(text)


def test_audience_key_allows_only_its_bits() -> None:
    token = gen_privatemapkey(SDKAPPID, KEY, "xiaojun", 3600, room_id=10000, privilege=42, now=T0)
    result = verify(token)
    assert result.allows(Privilege.ENTER_ROOM) and result.allows(Privilege.RECV_AUDIO | Privilege.RECV_VIDEO)
    assert not result.allows(Privilege.SEND_AUDIO)
    assert not result.allows(Privilege.ENTER_ROOM | Privilege.SEND_VIDEO)


# --- userbuf parsing ---------------------------------------------------------------------------

NUMERIC_BUF = build_userbuf("xiaojun", SDKAPPID, room_id=10000, str_room_id=None, expire_at=T0, privilege=255)
STRING_BUF = build_userbuf(
    "xiaojun", SDKAPPID, room_id=None, str_room_id="meeting", expire_at=T0, privilege=255
)


@pytest.mark.parametrize("buf", [NUMERIC_BUF, STRING_BUF], ids=["numeric", "string"])
def test_every_truncation_is_rejected(buf: bytes) -> None:
    for length in range(len(buf)):
        with pytest.raises(UserBufError):
            parse_userbuf(buf[:length])


@pytest.mark.parametrize(
    ("buf", "why"),
    [
        (NUMERIC_BUF + b"\x00", "trailing"),
        (STRING_BUF + b"\x00", "trailing"),
        (b"\x02" + NUMERIC_BUF[1:], "version"),
        (b"\x01" + NUMERIC_BUF[1:] + b"\x00\x00", "empty room"),
        (b"\x01" + NUMERIC_BUF[1:] + b"\x00\x01r", "numeric room id"),
        (b"\x00\x00\x02\xff\xfe" + NUMERIC_BUF[10:], "UTF-8"),
        (STRING_BUF[:-7] + b"\xffeeting", "UTF-8"),
        (b"\x00\x00\x09" + NUMERIC_BUF[3:], "truncated"),  # account length past the end
    ],
)
def test_inconsistent_userbufs_are_rejected(buf: bytes, why: str) -> None:
    with pytest.raises(UserBufError, match=why):
        parse_userbuf(buf)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"room_id": None, "str_room_id": None},
        {"room_id": 1, "str_room_id": "x"},
        {"room_id": None, "str_room_id": ""},
        {"room_id": 2**32, "str_room_id": None},
        {"room_id": -1, "str_room_id": None},
        {"room_id": 1, "str_room_id": None, "expire_at": 2**32},
        {"room_id": 1, "str_room_id": None, "privilege": -1},
        {"room_id": 1, "str_room_id": None, "sdkappid": 2**32},
        {"room_id": 1, "str_room_id": None, "userid": "x" * 65536},
        {"room_id": None, "str_room_id": "r" * 65536},
    ],
)
def test_build_userbuf_rejects_out_of_range_fields(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"userid": "u", "sdkappid": SDKAPPID, "expire_at": T0, "privilege": 255}
    args.update(kwargs)
    with pytest.raises(UserBufError):
        build_userbuf(**args)


FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
USERIDS = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=32)
U32 = st.integers(0, 2**32 - 1)


@FAST
@given(USERIDS, U32, st.one_of(U32, st.text(min_size=1, max_size=64)), U32, U32)
def test_build_then_parse_round_trips(
    userid: str, sdkappid: int, room: int | str, expire_at: int, priv: int
) -> None:
    room_id = room if isinstance(room, int) else None
    str_room_id = room if isinstance(room, str) else None
    buf = build_userbuf(
        userid, sdkappid, room_id=room_id, str_room_id=str_room_id, expire_at=expire_at, privilege=priv
    )
    parsed = parse_userbuf(buf)
    assert (parsed.userid, parsed.sdkappid, parsed.expire_at, parsed.privilege) == (
        userid,
        sdkappid,
        expire_at,
        priv,
    )
    assert (parsed.room_id, parsed.str_room_id) == ((room, None) if isinstance(room, int) else (0, room))
    assert parsed.version == (0 if isinstance(room, int) else 1) and parsed.account_type == 0


@FAST
@given(st.binary(max_size=80))
def test_fuzz_parse_userbuf_accepts_only_what_build_would_write(buf: bytes) -> None:
    try:
        parsed = parse_userbuf(buf)
    except UserBufError:
        return
    if parsed.account_type == 0:  # the only field build_userbuf does not take
        rebuilt = build_userbuf(
            parsed.userid,
            parsed.sdkappid,
            room_id=None if parsed.str_room_id else parsed.room_id,
            str_room_id=parsed.str_room_id,
            expire_at=parsed.expire_at,
            privilege=parsed.privilege,
        )
        assert rebuilt == buf


@FAST
@given(st.binary(max_size=80))
def test_fuzz_any_signed_userbuf_passes_only_if_it_names_this_user_and_room(buf: bytes) -> None:
    result = verify(signed(buf))
    if result.ok:
        parsed = parse_userbuf(buf)
        assert (parsed.userid, parsed.sdkappid, parsed.room_id, parsed.version) == (
            "xiaojun",
            SDKAPPID,
            10000,
            0,
        )
        assert parsed.expire_at >= T0
    else:
        assert result.privilege == Privilege(0)


@FAST
@given(st.one_of(st.text(max_size=400), st.binary(max_size=400)))
def test_fuzz_arbitrary_input_is_malformed(token: str | bytes) -> None:
    assert verify_privatemapkey(
        token, sdkappid=SDKAPPID, userid="x", keys=[KEY], now=T0, room_id=1
    ).reason is (VerifyReason.MALFORMED)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sdkappid=st.integers(1400000000, 1499999999),
    key=st.text("0123456789abcdef", min_size=64, max_size=64),
    userid=USERIDS,
    expire=st.integers(1, 10 * 365 * 86400),
    at=st.integers(1_500_000_000, 2_000_000_000),
    room=st.one_of(
        st.integers(1, 2**32 - 2), st.text(string.ascii_letters + string.digits, min_size=1, max_size=64)
    ),
    privilege=st.integers(0, 255),
)
def test_official_package_signs_our_userbuf_identically(
    sdkappid: int, key: str, userid: str, expire: int, at: int, room: int | str, privilege: int
) -> None:
    rooms: dict[str, Any] = {"room_id": room} if isinstance(room, int) else {"str_room_id": room}
    ours = gen_privatemapkey(sdkappid, key, userid, expire, privilege=privilege, now=at, **rooms)
    userbuf = build_userbuf(
        userid, sdkappid, room_id=rooms.get("room_id"), str_room_id=rooms.get("str_room_id"),
        expire_at=at + expire, privilege=privilege,
    )  # fmt: skip
    api = TLSSigAPIv2.TLSSigAPIv2(sdkappid, key)
    with mock.patch.object(TLSSigAPIv2, "time", SimpleNamespace(time=lambda: at)):
        assert ours == api.gen_sig_with_userbuf(userid, expire, userbuf)
    result = verify_privatemapkey(
        ours, sdkappid=sdkappid, userid=userid, keys=[key], now=at + expire, **rooms
    )
    assert result.ok and result.privilege == privilege
    assert verify_privatemapkey(ours, sdkappid=sdkappid, userid=userid, keys=[key], now=at, **rooms).ok
