"""Ranges of the RTP values that reach packet builders, checked where values enter: the SDP parser
(client input) and the worker's channel (``ProducerParams`` / ``ConsumerParams``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SSRC_MIN, SSRC_MAX = 1, 0xFFFFFFFF  # 32 bits; 0 is refused (RFC 3550 allows it, no browser sends it)
PAYLOAD_TYPE_MAX = 127  # 7 bits
EXTENSION_ID_MAX = 255  # RFC 8285; only ids 1..14 (one-byte form) are forwarded
ONE_BYTE_EXTENSION_MAX = 14
CLOCK_RATE_MAX = 1_000_000


def in_range(value: Any, low: int, high: int, what: str) -> int:
    """``value`` (an int, or a string of one) as an int in low..high; ValueError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{what} must be an integer")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{what} must be an integer") from None
    if not low <= number <= high:
        raise ValueError(f"{what} {number} out of range {low}..{high}")
    return number


def ssrc(value: Any, what: str = "ssrc") -> int:
    return in_range(value, SSRC_MIN, SSRC_MAX, what)


# With rtcp-mux, RTP payload types 72-76 read as RTCP packet types 200-204 (SR, RR, SDES, BYE, APP) once
# the marker bit is set: RFC 5761 section 4 rules them out, and aiortc refuses an SDP that uses them.
RTCP_CONFLICT_PAYLOAD_TYPES = range(72, 77)


def payload_type(value: Any, what: str = "payload type") -> int:
    number = in_range(value, 0, PAYLOAD_TYPE_MAX, what)
    if number in RTCP_CONFLICT_PAYLOAD_TYPES:
        raise ValueError(f"{what} {number} conflicts with RTCP under rtcp-mux (72..76 are not allowed)")
    return number


def optional(check: Callable[[Any, str], int], value: Any, what: str) -> int | None:
    """``check(value, what)`` unless value is None."""
    return None if value is None else check(value, what)
