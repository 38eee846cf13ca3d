"""Typed access to an action's parameters, raising TRTC's Missing/InvalidParameter codes.

Integer parameters are lenient as Tencent's API is: a JSON number or a string of decimal ASCII digits
(``"PageSize": "10"``), which older SDKs, hand-written clients and every GET / form-encoded request
(where all values are strings) send. Anything else (``"10.0"``, ``" 10"``, ``"ten"``, a bool) is
InvalidParameter; the range checks apply to the value either way.
"""

from __future__ import annotations

import re
from typing import Any

from relayroom.control.cloudapi.errors import invalid, missing

# An optional minus and at most 20 ASCII digits (int() alone admits "+1", " 1", "1_0" and "³"-like digits).
_INT_TEXT = re.compile(r"-?[0-9]{1,20}")


def as_int(value: Any) -> int | None:
    """``value`` as an integer parameter: an int (not a bool) or a decimal string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        return int(value)
    return None


class Params:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def int_(self, name: str, *, lo: int | None = None, hi: int | None = None) -> int:
        value = self.data.get(name)
        if value is None:
            raise missing(name)
        if (number := as_int(value)) is None:
            raise invalid(name, "must be an integer")
        value = number
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise invalid(
                name, f"must be in {lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
            )
        return value

    def opt_int(self, name: str, default: int, *, lo: int | None = None, hi: int | None = None) -> int:
        return self.int_(name, lo=lo, hi=hi) if self.has(name) else default

    def str_(self, name: str, *, max_len: int | None = None) -> str:
        value = self.data.get(name)
        if value is None or value == "":
            raise missing(name)
        if not isinstance(value, str):
            raise invalid(name, "must be a string")
        if max_len is not None and len(value.encode()) > max_len:
            raise invalid(name, f"must be at most {max_len} bytes")
        return value

    def opt_str(self, name: str) -> str | None:
        return self.str_(name) if self.has(name) and self.data.get(name) != "" else None

    def str_list(self, name: str, *, max_items: int | None = None, required: bool = True) -> list[str]:
        value = self.data.get(name)
        if value is None or value == []:
            if required:
                raise missing(name)
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise invalid(name, "must be a list of non-empty strings")
        if max_items is not None and len(value) > max_items:
            raise invalid(name, f"at most {max_items} items")
        return list(value)
