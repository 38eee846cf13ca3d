"""UserSig: spec test vectors, the official `tls-sig-api-v2` package as oracle, and fuzzing."""

from __future__ import annotations

import base64
import json
import random
import string
import zlib
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import TLSSigAPIv2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayroom.auth.errors import UserSigDecodeError
from relayroom.auth.usersig import (
    ANY_USERBUF,
    MAX_JSON_BYTES,
    MAX_USERSIG_CHARS,
    DecodedUserSig,
    UserSigResult,
    VerifyReason,
    decode_usersig,
    gen_usersig,
    string_to_sign,
    urlish_b64decode,
    urlish_b64encode,
    usersig_hmac,
    verify_usersig,
)

# Spec §1.6.
SDKAPPID = 1400000000
KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
T0 = 1700000000
TV1_SIG = "SNF4FmVCPucoXsBOpbVF3fFCf57JPm0ezZ1jeVILlVc="
TV1_USERSIG = (
    "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpQJlLMxM4IIlmbkgIUNzNMXF"
    "mekg44P93EzccsOcA0qT8yOKnfwLksLcjNPcnNNMzb0Ccg1Sq6IMs1LDPH1ywpJtlWoBk68y0A__"
)
TV3_SIG = "Oab3vXglY45Pcxz+SSjhdxBWuhTAxVhxYLfvVjGhOJ0="
TV3_USERSIG = (
    "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpQJlLMxM4IIlmbkgIUNzNMWl"
    "xalFSaVpICsiw72y4OZnpoOE-BOTjMsi0nMiTUwDkiuqtIODszJSKpzCSzNCHCvCMioifdLKwrLcM-y9DGyVagF2rTqB"
)
OTHER_KEY = "0" * 64
URLISH_ALPHABET = string.ascii_letters + string.digits + "*-_"


def verify(token: str | bytes, **overrides: Any) -> UserSigResult:
    """verify_usersig with the TV1 defaults, so each test states only what it changes."""
    kwargs: dict[str, Any] = {"sdkappid": SDKAPPID, "userid": "xiaojun", "keys": [KEY], "now": T0}
    kwargs.update(overrides)
    return verify_usersig(token, **kwargs)


def encode_doc(doc: Any, *, level: int = 6, compact: bool = False) -> str:
    """Build a token from an arbitrary JSON document, as any issuer (or attacker) could."""
    text = json.dumps(doc, separators=(",", ":")) + "\n" if compact else json.dumps(doc)
    return urlish_b64encode(zlib.compress(text.encode("utf-8"), level))


def token_doc(token: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(zlib.decompress(urlish_b64decode(token)))
    return doc


def official(sdkappid: int, key: str, userid: str, expire: int, at: int, userbuf: bytes | None = None) -> str:
    """Tencent's PyPI implementation with its clock pinned to `at`."""
    api = TLSSigAPIv2.TLSSigAPIv2(sdkappid, key)
    # A plain namespace, not a MagicMock: this runs thousands of times under hypothesis.
    with mock.patch.object(TLSSigAPIv2, "time", SimpleNamespace(time=lambda: at)):
        if userbuf is None:
            token: str = api.gen_sig(userid, expire)
        else:
            token = api.gen_sig_with_userbuf(userid, expire, userbuf)
    return token


# --- test vectors -----------------------------------------------------------------------------


def test_tv1_string_to_sign_is_the_documented_lines() -> None:
    expected = b"TLS.identifier:xiaojun\nTLS.sdkappid:1400000000\nTLS.time:1700000000\nTLS.expire:86400\n"
    assert string_to_sign("xiaojun", SDKAPPID, T0, 86400, None) == expected


def test_tv1_hmac_uses_the_hex_key_as_text() -> None:
    sig = usersig_hmac(KEY, "xiaojun", SDKAPPID, T0, 86400, None)
    assert base64.b64encode(sig).decode() == TV1_SIG
    assert usersig_hmac(bytes.fromhex(KEY).decode("latin-1"), "xiaojun", SDKAPPID, T0, 86400, None) != sig


def test_tv1_generated_usersig_decodes_to_the_vector_fields() -> None:
    token = gen_usersig(SDKAPPID, KEY, "xiaojun", 86400, now=T0)
    assert decode_usersig(token) == decode_usersig(TV1_USERSIG)
    assert decode_usersig(token) == DecodedUserSig(
        ver="2.0",
        identifier="xiaojun",
        sdkappid=SDKAPPID,
        expire=86400,
        time=T0,
        userbuf=None,
        sig=base64.b64decode(TV1_SIG),
    )
    assert token_doc(token) == token_doc(TV1_USERSIG)
    assert list(token_doc(token)) == [
        "TLS.ver",
        "TLS.identifier",
        "TLS.sdkappid",
        "TLS.expire",
        "TLS.time",
        "TLS.sig",
    ]


def test_tv1_generated_usersig_is_byte_identical_to_the_official_package() -> None:
    assert gen_usersig(SDKAPPID, KEY, "xiaojun", 86400, now=T0) == official(
        SDKAPPID, KEY, "xiaojun", 86400, T0
    )
    if zlib.ZLIB_VERSION == "1.2.13":  # the vector's zlib; others may choose other deflate blocks
        assert gen_usersig(SDKAPPID, KEY, "xiaojun", 86400, now=T0) == TV1_USERSIG


def test_tv1_is_valid_through_its_last_second_and_expired_one_second_later() -> None:
    assert verify(TV1_USERSIG, now=T0).ok
    last = verify(TV1_USERSIG, now=T0 + 86400)
    assert last.ok and last.reason is VerifyReason.OK and last.expires_at == T0 + 86400
    late = verify(TV1_USERSIG, now=T0 + 86401)
    assert not late.ok and late.reason is VerifyReason.EXPIRED
    assert late.decoded is not None and late.expires_at == T0 + 86400


def test_tv1_with_a_wrong_key_is_sig_mismatch() -> None:
    assert verify(TV1_USERSIG, keys=[OTHER_KEY]).reason is VerifyReason.SIG_MISMATCH


def test_tv3_userbuf_is_signed_and_round_trips() -> None:
    token = gen_usersig(SDKAPPID, KEY, "xiaojun", 86400, now=T0, userbuf=b"abc")
    assert token_doc(token) == token_doc(TV3_USERSIG)
    assert token_doc(TV3_USERSIG)["TLS.userbuf"] == "YWJj"
    assert token_doc(TV3_USERSIG)["TLS.sig"] == TV3_SIG
    assert token == official(SDKAPPID, KEY, "xiaojun", 86400, T0, b"abc")
    decoded = decode_usersig(TV3_USERSIG)
    assert decoded.userbuf == b"abc"
    assert verify(TV3_USERSIG, userbuf=b"abc").ok
    assert verify(TV3_USERSIG, userbuf=ANY_USERBUF).ok


@pytest.mark.parametrize(
    ("token", "userbuf"),
    [
        (TV3_USERSIG, None),  # Go VerifyUserSig on a token with userbuf: "userbuf type not match"
        (TV3_USERSIG, b"abd"),  # "userbuf not match"
        (TV1_USERSIG, b"abc"),  # expected a userbuf, token has none
        (TV1_USERSIG, b""),  # an empty userbuf is still a userbuf (the Python lib signs it)
    ],
)
def test_userbuf_presence_and_bytes_must_match(token: str, userbuf: bytes | None) -> None:
    assert verify(token, userbuf=userbuf).reason is VerifyReason.USERBUF_MISMATCH


def test_empty_userbuf_is_present_and_signed_like_the_python_lib() -> None:
    token = gen_usersig(SDKAPPID, KEY, "xiaojun", 86400, now=T0, userbuf=b"")
    assert token == official(SDKAPPID, KEY, "xiaojun", 86400, T0, b"")
    assert decode_usersig(token).userbuf == b""
    assert verify(token, userbuf=b"").ok
    assert verify(token).reason is VerifyReason.USERBUF_MISMATCH


# --- other issuers and check order --------------------------------------------------------------


def _tv1_fields(**changes: Any) -> dict[str, Any]:
    doc = token_doc(TV1_USERSIG)
    doc.update(changes)
    return doc


def test_go_style_token_with_compact_json_and_no_compression_verifies() -> None:
    token = encode_doc(_tv1_fields(), level=0, compact=True)
    assert urlish_b64decode(token)[:2] == b"\x78\x01"
    assert verify(token).ok


@pytest.mark.parametrize("level", [1, 9])
def test_any_zlib_level_verifies_and_keeps_the_fingerprint(level: int) -> None:
    token = encode_doc(_tv1_fields(), level=level)
    result = verify(token)
    assert result.ok and result.decoded is not None
    assert result.decoded.fingerprint == decode_usersig(TV1_USERSIG).fingerprint
    assert result.decoded.fingerprint != decode_usersig(TV3_USERSIG).fingerprint
    assert TV1_SIG not in result.decoded.fingerprint


def test_json_key_order_does_not_matter() -> None:
    doc = dict(reversed(list(_tv1_fields().items())))
    assert verify(encode_doc(doc)).ok


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        # Each case breaks this check and every later one; the earliest must be reported (Go order).
        (
            {"sdkappid": SDKAPPID + 1, "userid": "other", "now": T0 + 86401, "keys": [OTHER_KEY]},
            "appid_mismatch",
        ),
        ({"userid": "other", "now": T0 + 86401, "userbuf": b"x", "keys": [OTHER_KEY]}, "userid_mismatch"),
        ({"now": T0 + 86401, "userbuf": b"x", "keys": [OTHER_KEY]}, "expired"),
        ({"userbuf": b"x", "keys": [OTHER_KEY]}, "userbuf_mismatch"),
        ({"keys": [OTHER_KEY]}, "sig_mismatch"),
        ({"keys": []}, "key_missing"),
    ],
)
def test_checks_run_in_go_verifier_order(overrides: dict[str, Any], reason: str) -> None:
    result = verify(TV1_USERSIG, **overrides)
    assert not result.ok
    assert result.reason == reason
    assert result.decoded == decode_usersig(TV1_USERSIG)


def test_signature_is_recomputed_from_decoded_fields() -> None:
    # A forged later expiry keeps the old signature, so it passes the expiry check but not the HMAC.
    forged = encode_doc(_tv1_fields(**{"TLS.expire": 10 * 86400}))
    assert verify(forged, now=T0 + 5 * 86400).reason is VerifyReason.SIG_MISMATCH


def test_key_rotation_accepts_the_old_key_only_while_listed() -> None:
    new_key = "ab" * 32
    old_sig = gen_usersig(SDKAPPID, KEY, "xiaojun", 86400, now=T0)
    during = verify(old_sig, keys=[new_key, KEY])
    assert during.ok and during.key_index == 1
    assert verify(old_sig, keys=[new_key]).reason is VerifyReason.SIG_MISMATCH
    new_sig = gen_usersig(SDKAPPID, new_key, "xiaojun", 86400, now=T0)
    assert verify(new_sig, keys=[new_key, KEY]).key_index == 0


def test_keys_given_as_one_str_is_a_caller_bug() -> None:
    with pytest.raises(TypeError):
        verify(TV1_USERSIG, keys=KEY)


def test_messages_never_contain_the_key_or_the_signature() -> None:
    for overrides in ({}, {"keys": [OTHER_KEY]}, {"now": T0 + 86401}, {"userid": "x"}):
        message = verify(TV1_USERSIG, **overrides).message
        assert KEY not in message and TV1_SIG not in message and TV1_USERSIG not in message


# --- malformed input ---------------------------------------------------------------------------


def _zlib_token(raw: bytes) -> str:
    return urlish_b64encode(zlib.compress(raw))


def _padding_bits_set(token: str) -> str:
    """Set an unused low bit of the char before the `_` padding: same bytes, other string."""
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "*-"
    body = token.rstrip("_")
    return body[:-1] + alphabet[alphabet.index(body[-1]) + 1] + token[len(body) :]


MALFORMED_CASES: dict[str, str | bytes] = {
    "empty": "",
    "too long": "A" * (MAX_USERSIG_CHARS + 1),
    "non-ascii": TV1_USERSIG[:-4] + "é___",
    "std base64 alphabet": TV1_USERSIG.replace("_", "="),
    "missing padding": TV1_USERSIG.rstrip("_"),
    "non-canonical padding bits": _padding_bits_set(TV1_USERSIG),
    "whitespace": TV1_USERSIG + "\n",
    "not zlib": urlish_b64encode(b"hello world!"),
    "raw deflate": urlish_b64encode(zlib.compress(json.dumps(_tv1_fields()).encode())[2:-4]),
    "gzip": urlish_b64encode(
        (lambda c: c.compress(json.dumps(_tv1_fields()).encode()) + c.flush())(zlib.compressobj(wbits=31))
    ),
    "truncated zlib": urlish_b64encode(zlib.compress(json.dumps(_tv1_fields()).encode())[:-3]),
    "bad adler32": urlish_b64encode(zlib.compress(json.dumps(_tv1_fields()).encode())[:-1] + b"\x00"),
    "data after zlib": urlish_b64encode(zlib.compress(json.dumps(_tv1_fields()).encode()) + b"\x00"),
    "zlib bomb": _zlib_token(b" " * (1 << 20)),
    "just over the inflate cap": _zlib_token(json.dumps(_tv1_fields(pad="x" * MAX_JSON_BYTES)).encode()),
    "deeply nested json": _zlib_token(b"[" * 10000 + b"]" * 10000),
    "json array": _zlib_token(b"[1, 2]"),
    "invalid utf-8": _zlib_token(b'{"TLS.ver": "\xff"}'),
    "not json": _zlib_token(b"{TLS.ver: 2.0}"),
    "duplicate key": _zlib_token(json.dumps(_tv1_fields()).encode()[:-1] + b', "TLS.sdkappid": 1}'),
    "huge int": _zlib_token(json.dumps(_tv1_fields()).replace("86400", "9" * 5000).encode()),
    "v1 token": encode_doc({"TLS.version": "201512300000", "TLS.sdk_appid": "1400000000", "TLS.sig": "x"}),
    "ver 3.0": encode_doc(_tv1_fields(**{"TLS.ver": "3.0"})),
    "ver missing": encode_doc({k: v for k, v in _tv1_fields().items() if k != "TLS.ver"}),
    "identifier missing": encode_doc({k: v for k, v in _tv1_fields().items() if k != "TLS.identifier"}),
    "sig missing": encode_doc({k: v for k, v in _tv1_fields().items() if k != "TLS.sig"}),
    "time missing": encode_doc({k: v for k, v in _tv1_fields().items() if k != "TLS.time"}),
    "sdkappid null": encode_doc(_tv1_fields(**{"TLS.sdkappid": None})),
    "sdkappid as string": encode_doc(_tv1_fields(**{"TLS.sdkappid": "1400000000"})),
    "sdkappid negative": encode_doc(_tv1_fields(**{"TLS.sdkappid": -1})),
    "sdkappid over uint64": encode_doc(_tv1_fields(**{"TLS.sdkappid": 2**64})),
    "expire as bool": encode_doc(_tv1_fields(**{"TLS.expire": True})),
    "time as float": encode_doc(_tv1_fields(**{"TLS.time": 1700000000.0})),
    "time over int64": encode_doc(_tv1_fields(**{"TLS.time": 2**63})),
    "identifier as int": encode_doc(_tv1_fields(**{"TLS.identifier": 7})),
    "identifier with newline": encode_doc(_tv1_fields(**{"TLS.identifier": "xiaojun\nTLS.x:1"})),
    "sig not base64": encode_doc(_tv1_fields(**{"TLS.sig": "not base64!"})),
    "userbuf not base64": encode_doc(_tv1_fields(**{"TLS.userbuf": "é"})),
    "userbuf as list": encode_doc(_tv1_fields(**{"TLS.userbuf": [1, 2]})),
    "bytes, not ascii": b"\xff\xfe",
}


@pytest.mark.parametrize("token", list(MALFORMED_CASES.values()), ids=list(MALFORMED_CASES))
def test_malformed_tokens_are_refused_without_raising(token: str | bytes) -> None:
    result = verify(token)
    assert not result.ok
    assert result.reason is VerifyReason.MALFORMED
    assert result.decoded is None and result.expires_at is None
    assert result.message.startswith("malformed usersig")
    with pytest.raises(UserSigDecodeError):
        decode_usersig(token)


def test_non_string_input_is_malformed() -> None:
    assert verify(None).reason is VerifyReason.MALFORMED  # type: ignore[arg-type]
    assert verify(12345).reason is VerifyReason.MALFORMED  # type: ignore[arg-type]


def test_token_given_as_ascii_bytes_verifies() -> None:
    assert verify(TV1_USERSIG.encode()).ok


def test_gen_refuses_what_verify_would_refuse() -> None:
    with pytest.raises(ValueError):
        gen_usersig(SDKAPPID, KEY, "a\nb", now=T0)
    with pytest.raises(ValueError):
        gen_usersig(-1, KEY, "xiaojun", now=T0)
    with pytest.raises(ValueError):
        gen_usersig(SDKAPPID, "", "xiaojun", now=T0)
    with pytest.raises(ValueError):
        gen_usersig(SDKAPPID, KEY, "xiaojun", now=T0, userbuf=random.Random(0).randbytes(4096))


def test_gen_reads_the_clock_when_now_is_not_given() -> None:
    with mock.patch("relayroom.auth.usersig.time.time", return_value=T0 + 0.9):
        token = gen_usersig(SDKAPPID, KEY, "xiaojun", 86400)
    assert decode_usersig(token).time == T0


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.one_of(st.text(max_size=600), st.binary(max_size=600), st.text(URLISH_ALPHABET, max_size=600)))
def test_fuzz_arbitrary_text_or_bytes_is_malformed(token: str | bytes) -> None:
    assert verify(token).reason is VerifyReason.MALFORMED


@FUZZ
@given(st.binary(max_size=800), st.booleans())
def test_fuzz_valid_encoding_of_random_bytes_is_malformed(payload: bytes, compress: bool) -> None:
    token = urlish_b64encode(zlib.compress(payload) if compress else payload)
    assert verify(token).reason is VerifyReason.MALFORMED


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUES = (
    JSON_SCALARS | st.lists(JSON_SCALARS, max_size=3) | st.dictionaries(st.text(max_size=5), JSON_SCALARS)
)
TLS_KEYS = st.sampled_from(
    ["TLS.ver", "TLS.identifier", "TLS.sdkappid", "TLS.expire", "TLS.time", "TLS.userbuf", "TLS.sig"]
)


@FUZZ
@given(st.dictionaries(TLS_KEYS | st.text(max_size=8), JSON_VALUES, max_size=9))
def test_fuzz_random_json_objects_never_raise_and_never_pass(changes: dict[str, Any]) -> None:
    result = verify(encode_doc(_tv1_fields(**changes)))
    if result.ok:  # only possible if the changes left every signed field as it was
        assert decode_usersig(encode_doc(_tv1_fields(**changes))) == decode_usersig(TV1_USERSIG)
    else:
        assert isinstance(result.reason, VerifyReason)


# --- the official package as oracle --------------------------------------------------------------

USERIDS = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=32)
KEYS = st.text("0123456789abcdef", min_size=64, max_size=64)
SDKAPPIDS = st.integers(1400000000, 1499999999)


@dataclass(frozen=True)
class OfficialCase:
    """One token from the official package plus the single changes to try on it."""

    sdkappid: int
    key: str
    userid: str
    expire: int
    at: int
    userbuf: bytes | None
    token: str
    other_key: str
    other_sdkappid: int
    other_userid: str
    sig_index: int
    sig_xor: int
    position: int
    char: str

    @property
    def sig_changed(self) -> str:
        doc = token_doc(self.token)
        sig = bytearray(base64.b64decode(doc["TLS.sig"]))
        sig[self.sig_index] ^= self.sig_xor
        doc["TLS.sig"] = base64.b64encode(bytes(sig)).decode()
        return encode_doc(doc)

    @property
    def char_changed(self) -> str:
        return self.token[: self.position] + self.char + self.token[self.position + 1 :]


@st.composite
def official_cases(draw: st.DrawFn) -> OfficialCase:
    # No .filter(lambda): hypothesis parses each new lambda's source, which dominated run time.
    sdkappid = draw(SDKAPPIDS)
    key = draw(KEYS)
    userid = draw(USERIDS)
    expire = draw(st.integers(0, 10 * 365 * 86400))
    at = draw(st.integers(1_500_000_000, 2_100_000_000))
    userbuf = draw(st.none() | st.binary(max_size=64))
    token = official(sdkappid, key, userid, expire, at, userbuf)
    other_key = draw(KEYS)
    if other_key == key:
        other_key = ("1" if key[0] == "0" else "0") + key[1:]
    other_userid = draw(USERIDS)
    if other_userid == userid:
        other_userid = userid + "x"
    position = draw(st.integers(0, len(token) - 1))
    shift = draw(st.integers(1, len(URLISH_ALPHABET) - 1))
    char = URLISH_ALPHABET[(URLISH_ALPHABET.index(token[position]) + shift) % len(URLISH_ALPHABET)]
    return OfficialCase(
        sdkappid=sdkappid,
        key=key,
        userid=userid,
        expire=expire,
        at=at,
        userbuf=userbuf,
        token=token,
        other_key=other_key,
        other_sdkappid=1400000000 + (sdkappid - 1400000000 + draw(st.integers(1, 99999999))) % 100000000,
        other_userid=other_userid,
        sig_index=draw(st.integers(0, 31)),
        sig_xor=draw(st.integers(1, 255)),
        position=position,
        char=char,
    )


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(official_cases())
def test_official_package_tokens_verify_and_every_single_change_is_refused(case: OfficialCase) -> None:
    def check(candidate: str, **overrides: Any) -> UserSigResult:
        kwargs: dict[str, Any] = {"sdkappid": case.sdkappid, "userid": case.userid, "keys": [case.key]}
        kwargs.update({"now": case.at, "userbuf": case.userbuf})
        kwargs.update(overrides)
        return verify_usersig(candidate, **kwargs)

    token = case.token
    # Ours issues the very same token (same JSON bytes, zlib level, alphabet) at the same time.
    ours = gen_usersig(case.sdkappid, case.key, case.userid, case.expire, now=case.at, userbuf=case.userbuf)
    assert ours == token
    decoded = decode_usersig(token)
    assert decoded == decode_usersig(ours)
    assert (decoded.identifier, decoded.sdkappid, decoded.expire, decoded.time, decoded.userbuf) == (
        case.userid,
        case.sdkappid,
        case.expire,
        case.at,
        case.userbuf,
    )
    assert decoded.sig == usersig_hmac(
        case.key, case.userid, case.sdkappid, case.at, case.expire, case.userbuf
    )

    assert check(token).ok
    assert check(token, now=case.at + case.expire).ok
    assert check(token, now=case.at + case.expire + 1).reason is VerifyReason.EXPIRED
    assert check(case.sig_changed).reason is VerifyReason.SIG_MISMATCH
    assert check(token, keys=[case.other_key]).reason is VerifyReason.SIG_MISMATCH
    assert check(token, keys=[case.other_key, case.key]).ok
    assert check(token, sdkappid=case.other_sdkappid).reason is VerifyReason.APPID_MISMATCH
    assert check(token, userid=case.other_userid).reason is VerifyReason.USERID_MISMATCH

    mutated = case.char_changed
    result = check(mutated)
    if result.ok:
        # Deflate has equivalent encodings (unused padding bits in the last byte, literal vs
        # back-reference); such a change re-encodes the very same signed document, nothing else.
        assert zlib.decompress(urlish_b64decode(mutated)) == zlib.decompress(urlish_b64decode(token))
        assert result.decoded is not None and result.decoded.fingerprint == decoded.fingerprint


@pytest.mark.parametrize("levels", [33, 1000, 5000])
def test_a_deeply_nested_usersig_is_a_decode_error_not_a_crash(levels: int) -> None:
    doc = b'{"TLS.ver": "2.0", "x": ' + b"[" * levels + b"]" * levels + b"}"
    token = urlish_b64encode(zlib.compress(doc))
    with pytest.raises(UserSigDecodeError, match="not a JSON document"):
        decode_usersig(token)
    result = verify_usersig(token, sdkappid=SDKAPPID, userid="alice", keys=[KEY], now=T0)
    assert not result.ok
