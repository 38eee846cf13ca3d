"""Properties of the TC3 request parser (hypothesis): what sign_request builds parses back and verifies,
and any header text raises only Tc3FormatError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayroom.auth import tc3

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
secret_ids = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=64
)
timestamps = st.integers(0, 4_102_444_800)  # up to 2100
hosts = st.from_regex(r"\A[a-z0-9.\-]{1,40}(:[0-9]{1,5})?\Z")
# what Starlette hands over: header values decoded as latin-1
header_text = st.text(st.characters(max_codepoint=255), max_size=300)


@PROPS
@given(secret_ids, st.text(min_size=1, max_size=64), hosts, st.binary(max_size=300), timestamps)
def test_a_signed_request_parses_back_and_its_signature_verifies(
    sid: str, key: str, host: str, payload: bytes, ts: int
) -> None:
    value = tc3.sign_request(secret_id=sid, secret_key=key, host=host, payload=payload, timestamp=ts)
    auth = tc3.parse_authorization(value)
    assert (auth.secret_id, auth.date, auth.service, auth.terminator) == (
        sid,
        tc3.utc_date(ts),
        "trtc",
        "tc3_request",
    )
    assert auth.signed_headers == tc3.DEFAULT_SIGNED_HEADERS
    expected = tc3.expected_signature(
        key,
        auth,
        method="POST",
        query="",
        headers={"content-type": "application/json", "host": host},
        payload=payload,
        timestamp=ts,
    )
    assert tc3.signatures_equal(expected, auth.signature)
    assert tc3.parse_timestamp(str(ts)) == ts


@PROPS
@given(header_text)
def test_any_authorization_text_raises_only_tc3formaterror(text: str) -> None:
    try:
        auth = tc3.parse_authorization(text)
    except tc3.Tc3FormatError:
        return
    assert len(auth.signature) == 64 and auth.signed_headers


@PROPS
@given(header_text)
def test_any_timestamp_text_is_a_non_negative_int_or_tc3formaterror(text: str) -> None:
    try:
        ts = tc3.parse_timestamp(text)
    except tc3.Tc3FormatError:
        return
    assert text.isascii() and text.isdigit() and ts == int(text)


def test_non_ascii_digits_are_not_a_timestamp() -> None:
    # "³".isdigit() is True but int("³") raises: the cloud API answered InternalError
    for text in ("³", "0¹", "١٢٣", "1" * 30):
        try:
            tc3.parse_timestamp(text)
        except tc3.Tc3FormatError:
            continue
        raise AssertionError(text)
