"""Reconnecting policy of the Python SDK (the browser SDK's lib/reconnect.js, same rules).

After the signalling socket drops without an ``exit`` (network, control plane gone, node lost) the
client first tries to ``resume`` its membership; when the server no longer knows it (restarted, or
another node), it enters again, publishes its tracks again and resubscribes. A mid-session
``redirect`` (a draining node) goes straight to entering again at the given URL. Attempts back off
from 0.25 s to 4 s until the room's idle timeout (at least 10 s); refusals that will not change (a bad
UserSig, a blocked user, a disabled app...) stop at once.
"""

from __future__ import annotations

from collections.abc import Sequence

FIRST_DELAY_S = 0.25
MAX_DELAY_S = 4.0
MIN_DEADLINE_S = 10.0
DEFAULT_DEADLINE_S = 90.0

# Server codes (docs/signalling.md §5) after which another attempt cannot succeed.
SESSION_NOT_FOUND = -100209
FINAL_CODES = frozenset(
    {
        *(5000, 5012, 5013, 5015, 5016),  # the stored entry request itself is invalid
        -100006,  # PRIVATEMAPKEY_INVALID
        -100013,  # SERVICE_SUSPENDED
        -100018,  # USERSIG_INVALID (e.g. expired meanwhile)
        -100201,  # REGION_MISMATCH
        -100203,  # ANCHOR_LIMIT
        -100204,  # AUDIENCE_CANNOT_PUBLISH
        -100205,  # CONSENT_REQUIRED
        -100206,  # APP_NOT_FOUND
        -100208,  # USER_BLOCKED
        -100210,  # E2EE_REQUIRED
        -100211,  # ROOM_NOT_ENCRYPTED
    }
)
# The SDK's own extra code when it gives up (the browser SDK's EXTRA_CODE.RECONNECT_FAILED).
RECONNECT_FAILED = 5501


def is_final(code: int) -> bool:
    """A refusal that another attempt will not change (room full, busy or unknown codes are retried)."""
    return code in FINAL_CODES


def next_delay(delay_s: float) -> float:
    return min(delay_s * 2, MAX_DELAY_S)


def deadline_s(idle_timeout_s: object, override_s: float | None = None) -> float:
    """How long to keep trying: ``override_s``, else the room's idle timeout (a membership the server
    keeps that long can still be resumed), never under 10 s."""
    if override_s is not None:
        return override_s
    try:
        value = float(idle_timeout_s) if idle_timeout_s is not None else DEFAULT_DEADLINE_S  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = DEFAULT_DEADLINE_S
    return max(MIN_DEADLINE_S, value)


def candidates(first: str | None, home: str, alternates: Sequence[str]) -> list[str]:
    """The URLs to try, in order, without repeats: a redirect target (or the node we were on), the URL
    the client was made with, then the application's other entry points."""
    out: list[str] = []
    for url in (first, home, *alternates):
        if url and url not in out:
            out.append(url)
    return out
