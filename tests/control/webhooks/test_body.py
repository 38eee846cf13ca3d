"""The callback body layout (cJSON pretty print) and Sign, against the TRTC doc's test vector."""

from __future__ import annotations

from typing import Any

from relayroom.control.rooms.manager import RoomEvent, RoomEventType
from relayroom.control.webhooks import body
from relayroom.control.webhooks.events import Translator

VECTOR = (
    b'{\n\t"EventGroupId":\t2,\n\t"EventType":\t204,\n\t"CallbackTs":\t1664209748188,\n\t"EventInfo":\t{\n'
    b'\t\t"RoomId":\t8489,\n\t\t"EventTs":\t1664209748,\n\t\t"EventMsTs":\t1664209748180,\n'
    b'\t\t"UserId":\t"user_85034614",\n\t\t"Reason":\t0\n\t}\n}'
)


def test_doc_vector_body_bytes_and_sign() -> None:
    info = {
        "RoomId": 8489,
        "EventTs": 1664209748,
        "EventMsTs": 1664209748180,
        "UserId": "user_85034614",
        "Reason": 0,
    }
    raw = body.render(2, 204, 1664209748188, info)
    assert raw == VECTOR and len(raw) == 207
    assert body.sign("123654", raw) == "kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA="
    assert body.verify("123654", raw, "kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA=")


def test_cjson_strings_arrays_and_empty_objects() -> None:
    assert body.cjson_dumps({"a": 'q"\\\n\x01é'}) == '{\n\t"a":\t"q\\"\\\\\\n\\u0001é"\n}'
    assert (
        body.cjson_dumps({"l": [1, "x", True, None], "o": {}})
        == '{\n\t"l":\t[1, "x", true, null],\n\t"o":\t{\n\t}\n}'
    )
    assert body.cjson_dumps(1.5) == "1.5" and body.cjson_dumps(2.0) == "2"


def _ev(t: RoomEventType, user: str | None = None, **kw: Any) -> RoomEvent:
    return RoomEvent(type=t, room_key="1:n:7", sdkappid=1, room_id=7, at=100.0, user_id=user, **kw)


def test_exit_sends_only_104_but_a_stop_before_another_members_event_is_sent() -> None:
    tr = Translator()
    out = tr.translate(
        [
            _ev(RoomEventType.ROOM_CREATED),
            _ev(RoomEventType.USER_ENTERED, "a", role="anchor"),
            _ev(RoomEventType.STREAM_STARTED, "a", kind="audio", stream_type="main"),
            _ev(RoomEventType.STREAM_STARTED, "a", kind="video", stream_type="main"),
            _ev(RoomEventType.STREAM_STOPPED, "a", kind="video", stream_type="main"),  # unpublish
            _ev(RoomEventType.USER_ENTERED, "b", role="anchor"),
            _ev(RoomEventType.STREAM_STOPPED, "a", kind="audio", stream_type="main"),  # part of exit
            _ev(RoomEventType.USER_EXITED, "a", role="anchor", reason=0),
            _ev(RoomEventType.USER_EXITED, "b", role="anchor", reason=2),
            _ev(RoomEventType.ROOM_CLOSED),
        ]
    )
    assert [(e.type, e.user_id) for e in out] == [
        (101, "a"),
        (103, "a"),
        (203, "a"),
        (201, "a"),
        (202, "a"),
        (103, "b"),
        (104, "a"),
        (104, "b"),
        (102, None),
    ]
    assert out[-2].info["Reason"] == 3  # removed
    assert out[-1].info["RoomId"] == "7"
