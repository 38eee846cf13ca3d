"""TC3-HMAC-SHA256 against the spec's test vector and the official SDK's own signer."""

from __future__ import annotations

import json

import pytest

from relayroom.auth import tc3

SID, KEY, TS, HOST = "AKIDEXAMPLE", "SECRETEXAMPLE", 1700000000, "trtc.tencentcloudapi.com"
BODY = json.dumps({"SdkAppId": 1400000000, "RoomId": 1234}).encode()
HEADERS = {"content-type": "application/json", "host": HOST}


def test_spec_vector_payload_canonical_request_and_signature() -> None:
    assert tc3.utc_date(TS) == "2023-11-14"
    assert tc3.sha256_hex(BODY) == "799cdcee0c7849d5997aae3b357945372ede96d720e0aee1d692ffc2ef335a51"
    canonical = tc3.canonical_request("POST", "", HEADERS, tc3.DEFAULT_SIGNED_HEADERS, BODY)
    assert tc3.sha256_hex(canonical.encode()) == (
        "c832d5d72cef47cd3426eb1da27d670b31ccfeacdc56ad19ff3879dff4e3ac5d"
    )
    to_sign = tc3.string_to_sign(TS, "2023-11-14/trtc/tc3_request", canonical)
    assert tc3.signature(KEY, "2023-11-14", "trtc", to_sign) == (
        "351095f694a0abf5652d6dcf46ea0434425d84e22e18e8420341b04c2c3b19b4"
    )


def test_sign_request_round_trips_through_parse_and_verify() -> None:
    header = tc3.sign_request(secret_id=SID, secret_key=KEY, host=HOST, payload=BODY, timestamp=TS)
    auth = tc3.parse_authorization(header)
    assert auth.secret_id == SID and auth.credential_scope == "2023-11-14/trtc/tc3_request"
    assert auth.signature == "351095f694a0abf5652d6dcf46ea0434425d84e22e18e8420341b04c2c3b19b4"
    want = tc3.expected_signature(
        KEY, auth, method="POST", query="", headers=HEADERS, payload=BODY, timestamp=TS
    )
    assert tc3.signatures_equal(want, auth.signature)
    wrong = tc3.expected_signature(
        "x" + KEY, auth, method="POST", query="", headers=HEADERS, payload=BODY, timestamp=TS
    )
    assert not tc3.signatures_equal(wrong, auth.signature)


def test_official_sdk_signer_agrees() -> None:
    from tencentcloud.common.abstract_client import AbstractClient
    from tencentcloud.common.credential import Credential
    from tencentcloud.common.http.request import RequestInternal

    client = AbstractClient(Credential(SID, KEY), "ap-guangzhou")
    req = RequestInternal(HOST, "POST", "/")
    req.header["Content-Type"] = "application/json"
    req.header["Host"] = HOST
    req.header["X-TC-Timestamp"] = str(TS)
    req.data = BODY.decode()
    sig = client._get_tc3_signature({}, req, "2023-11-14", "trtc", KEY)
    header = tc3.sign_request(secret_id=SID, secret_key=KEY, host=HOST, payload=BODY, timestamp=TS)
    assert tc3.parse_authorization(header).signature == sig


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer abc",
        "TC3-HMAC-SHA256 Credential=AKID/2023-11-14/trtc/tc3_request, SignedHeaders=content-type;host",
        "TC3-HMAC-SHA256 Credential=AKID/20231114/trtc/tc3_request, SignedHeaders=host, Signature="
        + "0" * 64,
        "TC3-HMAC-SHA256 Credential=AKID/2023-11-14/trtc/tc3_request, SignedHeaders=host, Signature=XYZ",
    ],
)
def test_malformed_authorization_headers_are_refused(header: str) -> None:
    with pytest.raises(tc3.Tc3FormatError):
        tc3.parse_authorization(header)
