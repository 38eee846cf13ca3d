"""Form-encoded parameters (GET query, ``application/x-www-form-urlencoded`` body) as Tencent Cloud API
clients send them: nested values flattened with dots, list items by index (``UserIds.0=bob&UserIds.1=
carol``, ``Filter.Name=x``), every value a string. :func:`unflatten` rebuilds the JSON shape the actions
read; integer parameters then arrive as decimal strings, which params.py accepts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from relayroom.control.cloudapi import errors as E
from relayroom.control.cloudapi.errors import CloudApiError
from relayroom.jsonlimits import MAX_JSON_DEPTH

MAX_FIELDS = 10_000  # far above any TRTC action (100 UserIds); a bound on the work per request


def _refuse(why: str) -> CloudApiError:
    return CloudApiError(E.INVALID_PARAMETER, f"The request parameters are not accepted: {why}.")


def pairs(raw: str) -> list[tuple[str, str]]:
    """Decoded ``name=value`` pairs in order; raises InvalidParameter on bad percent-encoding (not
    UTF-8), too many fields, or a name given twice."""
    try:
        out = parse_qsl(
            raw, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=MAX_FIELDS
        )
    except UnicodeDecodeError:
        raise _refuse("a value is not UTF-8") from None
    except ValueError:
        raise _refuse(f"more than {MAX_FIELDS} fields") from None
    seen: set[str] = set()
    for name, _ in out:
        if name in seen:
            raise _refuse(f"`{name[:64]}` is given twice")
        seen.add(name)
    return out


def unflatten(fields: list[tuple[str, str]]) -> dict[str, Any]:
    """``[("UserIds.0", "bob"), ("SdkAppId", "1400")]`` -> ``{"UserIds": ["bob"], "SdkAppId": "1400"}``.

    A node whose names are exactly ``0..n-1`` becomes a list; a name that is both a value and a parent
    (``A=1&A.B=2``), an empty segment (``A..B``) or nesting deeper than the JSON limit is refused.
    """
    root: dict[str, Any] = {}
    for name, value in fields:
        parts = name.split(".")
        if "" in parts:
            raise _refuse(f"`{name[:64]}` is not a parameter name")
        if len(parts) > MAX_JSON_DEPTH:
            raise _refuse(f"`{name[:64]}` is nested deeper than {MAX_JSON_DEPTH} levels")
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise _refuse(f"`{name[:64]}` conflicts with another parameter")
            node = child
        if parts[-1] in node:
            raise _refuse(f"`{name[:64]}` conflicts with another parameter")
        node[parts[-1]] = value
    return {k: _lists(v) for k, v in root.items()}


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    out = {k: _lists(v) for k, v in node.items()}
    if out.keys() == {str(i) for i in range(len(out))}:
        return [out[str(i)] for i in range(len(out))]
    return out
