"""The callback body as TRTC sends it: cJSON's pretty print (tab indent, ``"Key":\\t<value>``), and Sign.

Byte compatibility matters because receivers verify ``Sign`` over the raw bytes; some also compare
bodies in tests. See spec/trtc-compat.md §3 for the layout and its test vector.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from typing import Any

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _string(s: str) -> str:
    out = []
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)  # cJSON passes UTF-8 through unescaped
    return '"' + "".join(out) + '"'


def _number(n: float) -> str:
    if isinstance(n, int) or (isinstance(n, float) and n.is_integer() and abs(n) < 2**53):
        return str(int(n))
    if math.isnan(n) or math.isinf(n):
        return "null"
    return f"{n:.15g}" if float(f"{n:.15g}") == n else f"{n:.17g}"


def cjson_dumps(value: Any, depth: int = 0) -> str:
    """cJSON_Print: objects one member per line, tab-indented; arrays inline with ", "."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, dict):
        if not value:
            return "{\n" + "\t" * depth + "}"
        inner = "\t" * (depth + 1)
        members = [f"{inner}{_string(str(k))}:\t{cjson_dumps(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(members) + "\n" + "\t" * depth + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(cjson_dumps(v, depth) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")


def render(event_group: int, event_type: int, callback_ts_ms: int, event_info: dict[str, Any]) -> bytes:
    body = {
        "EventGroupId": event_group,
        "EventType": event_type,
        "CallbackTs": callback_ts_ms,
        "EventInfo": event_info,
    }
    return cjson_dumps(body).encode("utf-8")


def sign(key: str, body: bytes) -> str:
    """Sign header: base64(HMAC-SHA256(callback key, raw body bytes))."""
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode()


def verify(key: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(key, body).encode(), signature.encode())
