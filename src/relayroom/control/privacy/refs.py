"""Pseudonymous references: stable HMACs under the deployment secret, not reversible without it."""

from __future__ import annotations

import hashlib
import hmac

from relayroom.control.oplog.chain import account_ref as _account_ref


def account_ref(secret: bytes, account_id: str) -> str:
    return _account_ref(secret, account_id)


def app_ref(secret: bytes, sdkappid: int) -> str:
    return hmac.new(secret, f"app-ref:{sdkappid}".encode(), hashlib.sha256).hexdigest()[:32]


def subject_ref(secret: bytes, sdkappid: int, userid: str) -> str:
    return hmac.new(secret, f"subject-ref:{sdkappid}:{userid}".encode(), hashlib.sha256).hexdigest()[:32]
