"""Signature v1 (HmacSHA1 / HmacSHA256) against the official SDK's own signer."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayroom.auth import signv1


def _sdk_form(sign: str, method: str, params: dict[str, Any]) -> dict[str, str]:
    from tencentcloud.common import credential
    from tencentcloud.common.http.request import RequestInternal
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.trtc.v20190722 import trtc_client as tc

    hp = HttpProfile(endpoint="127.0.0.1:8080", protocol="http", reqMethod=method)
    client = tc.TrtcClient(
        credential.Credential("AKIDx", "secret/key+1"),
        "ap-guangzhou",
        ClientProfile(httpProfile=hp, signMethod=sign),
    )
    req = RequestInternal("127.0.0.1:8080", method, "/")
    client._build_req_inter("DescribeUserInfo", params, req)
    return dict(parse_qsl(req.data, keep_blank_values=True))


@pytest.mark.parametrize("sign", ["HmacSHA256", "HmacSHA1"])
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_the_sdks_v1_signature_verifies_and_any_change_breaks_it(sign: str, method: str) -> None:
    form = _sdk_form(
        sign, method, {"SdkAppId": 1400000001, "UserIds": ["bob", "a b&c=d", "é"], "PageSize": 6}
    )
    assert form["SignatureMethod"] == sign and form["UserIds.1"] == "a b&c=d"
    signed = {k: v for k, v in form.items() if k != "Signature"}
    want = signv1.signature(
        "secret/key+1", signv1.string_to_sign(method, "127.0.0.1:8080", "/", signed), sign
    )
    assert signv1.signatures_equal(want, form["Signature"])
    for k in signed:
        changed = dict(signed, **{k: signed[k] + "0"})
        other = signv1.signature(
            "secret/key+1", signv1.string_to_sign(method, "127.0.0.1:8080", "/", changed), sign
        )
        assert not signv1.signatures_equal(other, form["Signature"]), k
    again = signv1.sign_params(
        signed, secret_key="secret/key+1", host="127.0.0.1:8080", method=method, sign_method=sign
    )
    assert again == form


def test_an_unknown_signature_method_is_refused() -> None:
    with pytest.raises(signv1.SignV1Error):
        signv1.signature("k", "GET127.0.0.1/?a=1", "HmacMD5")


class _SDK:
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.trtc.v20190722 import trtc_client as tc

    client = tc.TrtcClient(
        credential.Credential("AKIDx", "k"),
        "ap-guangzhou",
        ClientProfile(
            httpProfile=HttpProfile(endpoint="127.0.0.1:1", protocol="http"), signMethod="HmacSHA256"
        ),
    )


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8),
        st.text(st.characters(codec="utf-8"), max_size=12),
        max_size=6,
    )
)
def test_any_params_sign_as_the_sdk_formats_them(params: dict[str, str]) -> None:
    from tencentcloud.common.sign import Sign

    text = _SDK.client._format_sign_string(params)  # the SDK's own string to sign
    assert signv1.string_to_sign("POST", "127.0.0.1:1", "/", params) == text
    assert signv1.signature("key", text, "HmacSHA256") == Sign.sign("key", text, "HmacSHA256")
    assert signv1.signature("key", text, "HmacSHA1") == Sign.sign("key", text, "HmacSHA1")
