"""Consent tokens from end users: malformed ones, deeply nested JSON included, are refused, never raised."""

from __future__ import annotations

import zlib

import pytest

from relayroom.auth.consent_token import ConsentTokenReason, verify_consent_token
from relayroom.auth.usersig import urlish_b64encode


@pytest.mark.parametrize("levels", [33, 1000])
def test_a_deeply_nested_consent_token_is_malformed(levels: int) -> None:
    doc = b'{"RR.ver": "1", "x": ' + b"[" * levels + b"]" * levels + b"}"
    token = urlish_b64encode(zlib.compress(doc))
    result = verify_consent_token(token, sdkappid=1400000001, userid="alice", keys=["k" * 64], now=1)
    assert not result.ok and result.reason is ConsentTokenReason.MALFORMED
    assert "nested deeper than 32" in result.message
