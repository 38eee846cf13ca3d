"""JSON with a nesting limit: the depth check agrees with the parser on every document, and every place
that parses JSON from outside goes through it."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayroom.jsonlimits import MAX_JSON_DEPTH, JsonTooDeep, exceeds_depth, loads

SRC = Path(__file__).resolve().parent.parent / "src" / "relayroom"


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


# Strings full of what a naive scanner would trip over: brackets, quotes, backslashes, non-ASCII.
tricky_text = st.text(alphabet=st.sampled_from(list('[]{}"\\,:aé€\U0001f600 \n')), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tricky_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4),
    max_leaves=60,
)


@settings(max_examples=400, deadline=None)
@given(value=json_values, limit=st.integers(min_value=0, max_value=8), ascii_only=st.booleans())
def test_the_depth_check_agrees_with_the_document_for_any_json(
    value: Any, limit: int, ascii_only: bool
) -> None:
    doc = json.dumps(value, ensure_ascii=ascii_only)
    assert exceeds_depth(doc, limit) == (depth(value) > limit)
    assert exceeds_depth(doc.encode(), limit) == (depth(value) > limit)


@settings(max_examples=100, deadline=None)
@given(inner=json_values, extra=st.integers(min_value=0, max_value=3))
def test_a_document_just_over_the_limit_is_refused_and_one_at_the_limit_parses(
    inner: Any, extra: int
) -> None:
    wrapped: Any = inner
    for i in range(MAX_JSON_DEPTH - depth(inner) + extra):
        wrapped = [wrapped] if i % 2 else {"k": wrapped}
    doc = json.dumps(wrapped)
    if depth(wrapped) > MAX_JSON_DEPTH:
        with pytest.raises(JsonTooDeep):
            loads(doc)
    else:
        assert loads(doc) == wrapped


def test_a_thousand_levels_raise_a_value_error_not_a_recursion_error() -> None:
    for doc in ("[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000, "[" * 100_000):
        with pytest.raises(ValueError, match="nested deeper than 32"):
            loads(doc)


def test_brackets_inside_strings_and_escapes_do_not_count() -> None:
    assert loads(json.dumps(["[" * 500, "{" * 500, '\\"[[[' * 50])) is not None
    assert not exceeds_depth('["\\\\", ' + '"[' * 40 + '"]')  # an escaped backslash ends no string early


# Modules whose json.loads reads only what RelayRoom itself wrote (its database, its worker channel).
# Every other parse of JSON must go through relayroom.jsonlimits.
_TRUSTED_JSON_SOURCES = {
    "media/channel.py": "the worker channel: our own processes over a pipe",
    "control/oplog/chain.py": "oplog content written by the control plane",
    "control/oplog/endpoints.py": "oplog content written by the control plane",
    "control/webhooks/service.py": "outbox rows written by the control plane",
    "control/privacy/requests.py": "rows and sealed exports written by the control plane",
    "control/privacy/retention.py": "receipts written by the control plane",
    "control/privacy/consent_ages.py": "the packaged table of ages of consent",
    "cli/oplog_cmd.py": "a checkpoint file the operator passes on the command line",
    "cli/privacy_cmd.py": "a receipt file the operator passes on the command line",
    "client/client.py": "the client SDK reading its own server's messages",
}


def test_every_json_parse_of_outside_input_goes_through_the_depth_limit() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel == "jsonlimits.py" or rel in _TRUSTED_JSON_SOURCES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("loads", "load")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "json"
            ):
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, f"json.loads on outside input without a depth limit: {offenders}"


def test_the_trusted_list_names_only_files_that_exist() -> None:
    for rel in _TRUSTED_JSON_SOURCES:
        assert (SRC / rel).is_file(), rel
