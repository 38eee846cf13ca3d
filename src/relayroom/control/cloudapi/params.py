"""Typed access to an action's JSON parameters, raising TRTC's Missing/InvalidParameter codes."""

from __future__ import annotations

from typing import Any

from relayroom.control.cloudapi.errors import invalid, missing


class Params:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def int_(self, name: str, *, lo: int | None = None, hi: int | None = None) -> int:
        value = self.data.get(name)
        if value is None:
            raise missing(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(name, "must be an integer")
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
