"""Ephemeral TURN credentials of the "TURN REST API" (draft-uberti-behave-turn-rest), as coturn checks them
with ``use-auth-secret`` / ``static-auth-secret``.

username = ``"<expiry unix time>:<userId>"``; credential = base64(HMAC-SHA1(secret, username)).
The TURN server recomputes the credential from the username with the shared secret and refuses it once the
expiry has passed: RelayRoom never tells coturn about users, and a leaked credential dies by itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class TurnCredential:
    username: str
    credential: str
    expires_at: int  # unix seconds


def turn_credential(secret: str, user_id: str, expires_at: int) -> TurnCredential:
    """The credential coturn accepts for ``user_id`` until ``expires_at`` (unix seconds)."""
    if ":" in user_id:
        # The expiry is everything before the first colon; coturn would read such a name differently.
        raise ValueError("user_id must not contain ':'")
    username = f"{int(expires_at)}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return TurnCredential(username, base64.b64encode(digest).decode("ascii"), int(expires_at))


def ice_servers(
    urls: list[str], secret: str, user_id: str, now: float, lifetime_s: int
) -> list[dict[str, object]]:
    """WebRTC ``RTCIceServer`` dictionaries (one entry: all URLs share the credential)."""
    if not urls:
        return []
    cred = turn_credential(secret, user_id, int(now) + lifetime_s)
    return [{"urls": list(urls), "username": cred.username, "credential": cred.credential}]
