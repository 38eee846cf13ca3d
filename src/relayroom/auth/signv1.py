"""Tencent Cloud API signature v1 (``HmacSHA1`` / ``HmacSHA256``), the older signing still used by
backends written before TC3 and by the official SDKs with ``ClientProfile(signMethod="HmacSHA256")``.

The request carries everything as parameters (form-encoded POST body or GET query): the action's own,
flattened (``UserIds.0=bob``), plus ``Action``, ``Version``, ``Region``, ``Timestamp``, ``Nonce``,
``SecretId``, ``SignatureMethod`` and ``Signature``. The string to sign is

    METHOD + host + path + "?" + "&".join(f"{k}={v}" for k, v in sorted(params without Signature))

with the values as sent (not URL-encoded) and ``_`` in names replaced by ``.``, exactly as the SDK's
``AbstractClient._format_sign_string`` builds it; the signature is base64(HMAC(SecretKey, that)).

Pure functions, no I/O: the cloud API endpoint rebuilds the string from what it received.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

METHODS = {"HmacSHA1": hashlib.sha1, "HmacSHA256": hashlib.sha256}
DEFAULT_METHOD = "HmacSHA1"  # Tencent's documented default when SignatureMethod is absent


class SignV1Error(ValueError):
    """The signature method is not one of HmacSHA1 / HmacSHA256."""


def string_to_sign(method: str, host: str, path: str, params: Mapping[str, str]) -> str:
    """``params`` without ``Signature``; names as received (the ``_`` -> ``.`` rule is applied here)."""
    named = {k.replace("_", "."): v for k, v in params.items()}
    query = "&".join(f"{k}={named[k]}" for k in sorted(named))
    return f"{method.upper()}{host}{path}?{query}"


def signature(secret_key: str, to_sign: str, method: str) -> str:
    digest = METHODS.get(method)
    if digest is None:
        raise SignV1Error(f"SignatureMethod must be one of {', '.join(sorted(METHODS))}")
    mac = hmac.new(secret_key.encode("utf-8"), to_sign.encode("utf-8"), digest).digest()
    return base64.b64encode(mac).decode("ascii")


def signatures_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def sign_params(
    params: Mapping[str, str | int],
    *,
    secret_key: str,
    host: str,
    method: str = "POST",
    path: str = "/",
    sign_method: str = "HmacSHA256",
) -> dict[str, str]:
    """``params`` (common ones included, ``SignatureMethod`` among them) plus their ``Signature``, as
    strings: what a v1 client form-encodes. For tests and hand-written clients."""
    out = {k: str(v) for k, v in params.items()}
    out["Signature"] = signature(secret_key, string_to_sign(method, host, path, out), sign_method)
    return out
