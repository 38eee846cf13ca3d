"""Properties of the signalling decoder (hypothesis): every request a client can build parses back to the
same fields, and any frame (any JSON value, any text, deep nesting) gives a Request or BadMessage with
an error response that serialises, never another exception."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayroom.control.signaling import protocol

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = st.text(max_size=40)
KIND = st.sampled_from(["audio", "video"])
STREAM = st.sampled_from(["main", "sub"])
INT = st.integers(-(2**63), 2**63 - 1)

# request type -> strategy of a valid `data` object (JSON field names as clients send them)
DATA: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "enter": st.fixed_dictionaries(
        {"sdkAppId": INT, "userId": TEXT, "userSig": TEXT},
        optional={
            "roomId": st.integers(0, 2**32) | TEXT,
            "strRoomId": TEXT,
            "scene": st.sampled_from(["rtc", "live"]),
            "role": st.sampled_from(["anchor", "audience"]),
            "privateMapKey": TEXT | st.none(),
            "autoReceiveAudio": st.booleans(),
            "autoReceiveVideo": st.booleans(),
            "consentToken": TEXT | st.none(),
            "e2ee": st.booleans(),
        },
    ),
    "resume": st.fixed_dictionaries({"resumeToken": TEXT}),
    "exit": st.just({}),
    "heartbeat": st.just({}),
    "publish": st.fixed_dictionaries(
        {"sdp": st.text(min_size=1, max_size=100)},
        optional={
            "tracks": st.lists(
                st.fixed_dictionaries(
                    {"kind": KIND}, optional={"streamType": STREAM, "mid": TEXT | st.none()}
                ),
                max_size=16,
            )
        },
    ),
    "unpublish": st.fixed_dictionaries({}, optional={"producerIds": st.lists(TEXT) | st.none()}),
    "subscribe": st.fixed_dictionaries({"userId": TEXT, "kind": KIND}, optional={"streamType": STREAM}),
    "unsubscribe": st.fixed_dictionaries({"userId": TEXT, "kind": KIND}, optional={"streamType": STREAM}),
    "answer": st.fixed_dictionaries({"negotiationId": INT, "sdp": st.text(min_size=1, max_size=100)}),
    "mute": st.fixed_dictionaries({"kind": KIND, "muted": st.booleans()}, optional={"streamType": STREAM}),
    "switchRole": st.fixed_dictionaries({"role": TEXT}, optional={"privateMapKey": TEXT | st.none()}),
    "customMessage": st.fixed_dictionaries({"cmdId": INT, "data": TEXT}),
}
requests = st.sampled_from(sorted(DATA)).flatmap(
    lambda t: st.tuples(st.just(t), INT | TEXT | st.none(), DATA[t])
)


def _dumped(model: protocol._Data) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_unset=True, mode="json")


@PROPS
@given(requests)
def test_every_valid_request_parses_back_to_its_fields(
    req: tuple[str, int | str | None, dict[str, Any]],
) -> None:
    rtype, rid, data = req
    parsed = protocol.parse_request(json.dumps({"v": 1, "id": rid, "type": rtype, "data": data}))
    assert (parsed.id, parsed.type) == (rid, rtype)
    assert _dumped(parsed.data) == json.loads(json.dumps(data))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
ENVELOPES = st.fixed_dictionaries(
    {},
    optional={
        "v": st.sampled_from([1, 2, "1", True, None]) | JSON,
        "id": INT | TEXT | st.booleans() | JSON,
        "type": st.sampled_from(sorted(DATA)) | JSON,
        "data": JSON | st.sampled_from(sorted(DATA)).flatmap(lambda t: DATA[t]),
    },
)


def _take(text: str) -> None:
    try:
        protocol.parse_request(text)
    except protocol.BadMessage as exc:
        body = json.loads(protocol.response_error(exc.request_id, exc))
        assert body["ok"] is False and body["error"]["code"] == 5000 and body["error"]["extraCode"] > 0


@PROPS
@given(JSON | ENVELOPES)
def test_any_json_value_gives_a_request_or_badmessage(value: Any) -> None:
    _take(json.dumps(value))


@PROPS
@given(st.text(max_size=300))
def test_any_text_gives_a_request_or_badmessage(text: str) -> None:
    _take(text)


@PROPS
@given(st.integers(1, 30_000), st.sampled_from(["[", '{"a":']))
def test_deep_nesting_is_a_badmessage_not_a_recursion_error(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    _take(opener * depth + "1" + closer * depth)
