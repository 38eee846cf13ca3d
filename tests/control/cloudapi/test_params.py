"""Parameter decoding: integers as numbers or decimal strings (TRTC's leniency), form flattening."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayroom.control.cloudapi import form
from relayroom.control.cloudapi.errors import CloudApiError
from relayroom.control.cloudapi.params import Params


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(10**19), max_value=10**19), st.booleans())
def test_an_integer_is_accepted_as_a_number_or_a_decimal_string_with_the_same_range(
    n: int, text: bool
) -> None:
    p = Params({"PageSize": str(n) if text else n})
    if 1 <= n <= 100:
        assert p.int_("PageSize", lo=1, hi=100) == n
    else:
        with pytest.raises(CloudApiError) as info:
            p.int_("PageSize", lo=1, hi=100)
        assert info.value.code == "InvalidParameter"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=24))
def test_a_string_that_is_not_a_decimal_integer_is_invalid_parameter(text: str) -> None:
    is_decimal = (
        text.isascii()
        and text.lstrip("-").isdigit()
        and text.count("-") <= (1 if text.startswith("-") else 0)
    )
    p = Params({"SdkAppId": text, "PageNumber": text})
    if is_decimal and len(text.lstrip("-")) <= 20:
        assert p.int_("PageNumber") == int(text)
        return
    for name, code in (("SdkAppId", "InvalidParameter.SdkAppId"), ("PageNumber", "InvalidParameter")):
        with pytest.raises(CloudApiError) as info:
            p.int_(name)
        assert info.value.code in (code, "MissingParameter", "MissingParameter.SdkAppId"), (name, text)


@pytest.mark.parametrize(
    "value", ["10.0", " 10", "10 ", "+10", "1_0", "\u00b3", "0x10", "1e3", "", True, 1.5, [1], {}]
)
def test_near_integers_are_refused(value: Any) -> None:
    with pytest.raises(CloudApiError) as info:
        Params({"PageSize": value}).int_("PageSize")
    assert info.value.code.startswith(("InvalidParameter", "MissingParameter"))


def test_a_form_unflattens_into_the_json_shape() -> None:
    fields = form.pairs(
        urlencode({"SdkAppId": 1, "UserIds.0": "a", "UserIds.1": "b c", "F.Name": "x", "F.V.0": "1"})
    )
    assert form.unflatten(fields) == {
        "SdkAppId": "1",
        "UserIds": ["a", "b c"],
        "F": {"Name": "x", "V": ["1"]},
    }
    # not 0..n-1: stays an object (the action then refuses it as not a list)
    assert form.unflatten([("L.1", "a")]) == {"L": {"1": "a"}}


@pytest.mark.parametrize(
    "raw",
    [
        "A=1&A=2",
        "A=1&A.B=2",
        "A.B=2&A=1",
        "A..B=1",
        ".A=1",
        "A=%ff",
        "&".join(f"k{i}=1" for i in range(10_001)),
    ],
)
def test_bad_forms_are_invalid_parameter(raw: str) -> None:
    with pytest.raises(CloudApiError) as info:
        form.unflatten(form.pairs(raw))
    assert info.value.code == "InvalidParameter"


def test_nesting_is_bounded() -> None:
    with pytest.raises(CloudApiError):
        form.unflatten([(".".join(["a"] * 40), "1")])


_NAME = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
_VALUE = st.one_of(st.text(max_size=10), st.integers(min_value=-(10**12), max_value=10**12))
_TREE = st.recursive(
    _VALUE,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4), st.dictionaries(_NAME, inner, min_size=1, max_size=4)
    ),
    max_leaves=8,
)


def _as_strings(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _as_strings(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_as_strings(x) for x in v]
    return str(v)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_NAME, _TREE, max_size=6))
def test_what_the_sdk_flattens_into_a_query_unflattens_to_the_same_parameters(params: dict[str, Any]) -> None:
    from tencentcloud.common.abstract_client import AbstractClient

    flat = AbstractClient._format_params(
        AbstractClient.__new__(AbstractClient), None, params
    )  # the SDK's GET/v1 form
    assert form.unflatten(form.pairs(urlencode(flat))) == _as_strings(params)
