"""JSON from outside, parsed with a nesting limit.

The standard parser recurses once per nesting level: about a thousand levels of ``[`` (a few KiB)
raise ``RecursionError``, which no ``except ValueError`` catches, and deep documents that do parse
make every later recursive walk (validation, ``json.dumps``) a hazard too. Every entry point that
parses JSON it did not write itself (signalling frames, cloud-API bodies, console-API bodies,
UserSigs, consent tokens) goes through :func:`loads`, which refuses documents nested deeper than
``MAX_JSON_DEPTH`` with :class:`JsonTooDeep` (a ``ValueError``) before the parser sees them.

Hand-written because no parser in our dependencies takes a depth limit. The check is skipped outright
when the document holds too few brackets to be deep (every ordinary message), so it costs nothing on
the normal path; otherwise it is a few linear regex passes (no Python loop per character).
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable
from itertools import accumulate
from typing import Any

# Our deepest legitimate documents (signalling publish, TRTC cloud-API bodies) nest 3-4 levels.
MAX_JSON_DEPTH = 32

_NON_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_CURLY_TO_SQUARE = bytes.maketrans(b"{}", b"[]")
_STEPS = bytes.maketrans(b"[]", b"\x01\xff")  # +1 / -1 as signed bytes


class JsonTooDeep(ValueError):
    """The document nests arrays/objects deeper than the limit."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON is nested deeper than {max_depth} levels (or its brackets do not balance)")
        self.max_depth = max_depth


def exceeds_depth(doc: str | bytes | bytearray, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """True when some prefix of ``doc`` has more than ``max_depth`` arrays/objects open; brackets
    inside strings do not count. Malformed input is otherwise left to the parser.

    Whole-buffer operations in C, each linear (about 0.1 s per MiB in the worst case, 0.01 s for
    ordinary shapes): escapes out, strings out, everything but brackets out, the innermost ``[]``
    pairs out (one level less, and most of the buffer for ordinary shapes), then the running depth.
    """
    data = doc.encode("utf-8", "surrogatepass") if isinstance(doc, str) else bytes(doc)
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False
    if b"\\" in data:  # escaped backslashes first, so that an escaped quote is recognised as one
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    # UTF-8 never puts an ASCII byte inside a multi-byte character: splitting on quotes is exact.
    outside = b"".join(data.split(b'"')[::2])
    brackets = outside.translate(_CURLY_TO_SQUARE, _NON_BRACKETS)
    # Every deepest point of a balanced document is an innermost pair: removing those lowers the
    # maximum depth by exactly one (an unclosed innermost bracket keeps it, which only refuses sooner).
    rest = brackets.replace(b"[]", b"")
    if rest.count(b"[") < max_depth:
        return False
    steps = array("b")
    steps.frombytes(rest.translate(_STEPS))
    return max(accumulate(steps), default=0) >= max_depth


def loads(
    doc: str | bytes | bytearray,
    *,
    max_depth: int = MAX_JSON_DEPTH,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
) -> Any:
    """``json.loads`` that raises :class:`JsonTooDeep` for documents nested deeper than ``max_depth``.

    Other malformed input raises ``json.JSONDecodeError`` / ``UnicodeDecodeError`` (both ValueError).
    """
    if exceeds_depth(doc, max_depth):
        raise JsonTooDeep(max_depth)
    return json.loads(doc, object_pairs_hook=object_pairs_hook)
