"""Signalling protocol v1: JSON envelopes and the data of each request (docs/signalling.md).

Client → server: ``{"v": 1, "id": <int|str>, "type": "<request>", "data": {...}}``.
Server → client: responses ``{"v": 1, "type": "response", "id": ..., "ok": true, "data": {...}}`` or
``{..., "ok": false, "error": {"code", "extraCode", "message"}}``, events
``{"v": 1, "type": "event", "event": "<name>", "data": {...}}``, and in a cluster redirects
``{"v": 1, "type": "redirect", "url": "<a node's public URL>", "reason": "owner" | "placement" | "drain"}``
(with the ``id`` of the enter request it answers, which is then refused with ROOM_ELSEWHERE).
"""

from __future__ import annotations

import enum
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from relayroom.control.rooms.errors import ErrorCode, RoomError
from relayroom.jsonlimits import MAX_JSON_DEPTH, JsonTooDeep
from relayroom.jsonlimits import loads as json_loads

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024  # an SDP with a few dozen m-lines fits easily


class ProtocolError(enum.IntEnum):
    """extraCode values of INVALID_PARAMETER (5000) for messages the server could not take."""

    MALFORMED_JSON = 1
    UNSUPPORTED_VERSION = 2
    UNKNOWN_TYPE = 3
    INVALID_FIELDS = 4
    FRAME_TOO_LARGE = 5
    BINARY_FRAME = 6
    JSON_TOO_DEEP = 7


CLIENT_TEXT_MAX = 64
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no control characters


class _Data(BaseModel):
    # Unknown fields are ignored so that newer clients can add optional fields within v1.
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


MediaKindField = Literal["audio", "video"]
StreamTypeField = Literal["main", "sub"]


class EnterData(_Data):
    sdk_app_id: StrictInt = Field(alias="sdkAppId")
    user_id: StrictStr = Field(alias="userId")
    user_sig: StrictStr = Field(alias="userSig")
    # Left loosely typed: the room rules give TRTC's specific codes (5012/5013/5016) for bad ids.
    room_id: Any = Field(default=None, alias="roomId")
    str_room_id: Any = Field(default=None, alias="strRoomId")
    scene: StrictStr = "rtc"
    role: StrictStr = "anchor"
    private_map_key: StrictStr | None = Field(default=None, alias="privateMapKey")
    auto_receive_audio: StrictBool = Field(default=True, alias="autoReceiveAudio")
    auto_receive_video: StrictBool = Field(default=False, alias="autoReceiveVideo")
    consent_token: StrictStr | None = Field(default=None, alias="consentToken")
    # The member encrypts its media end to end (docs/e2ee.md). Never a key: keys stay in the clients.
    e2ee: StrictBool = False
    # What the client is (DescribeUserInfo DeviceType / SdkVersion): printable text, at most 64 characters.
    device_type: StrictStr = Field(
        default="", alias="deviceType", max_length=CLIENT_TEXT_MAX, pattern=_PRINTABLE
    )
    sdk_version: StrictStr = Field(
        default="", alias="sdkVersion", max_length=CLIENT_TEXT_MAX, pattern=_PRINTABLE
    )
    # Cluster: how many redirects the client followed to get here (docs/cluster.md). After one, the
    # node does not send it on for load again (an owner redirect still comes).
    redirects: StrictInt = Field(default=0, ge=0, le=16)


class ResumeData(_Data):
    resume_token: StrictStr = Field(alias="resumeToken")


class TrackData(_Data):
    kind: MediaKindField
    stream_type: StreamTypeField = Field(default="main", alias="streamType")
    mid: StrictStr | None = None
    small: StrictBool = False  # the main camera's small stream, sent as a track of its own


class PublishData(_Data):
    sdp: StrictStr = Field(min_length=1)
    tracks: list[TrackData] = Field(default_factory=list, max_length=16)


class UnpublishData(_Data):
    producer_ids: list[StrictStr] | None = Field(default=None, alias="producerIds")


class SubscribeData(_Data):
    user_id: StrictStr = Field(alias="userId")
    stream_type: StreamTypeField = Field(default="main", alias="streamType")
    kind: MediaKindField
    small: StrictBool | None = None  # video main: the small stream (true) or the big one (false)


class AnswerData(_Data):
    negotiation_id: StrictInt = Field(alias="negotiationId")
    sdp: StrictStr = Field(min_length=1)


class MuteData(_Data):
    kind: MediaKindField
    muted: StrictBool
    stream_type: StreamTypeField = Field(default="main", alias="streamType")


class SwitchRoleData(_Data):
    role: StrictStr
    private_map_key: StrictStr | None = Field(default=None, alias="privateMapKey")


class CustomMessageData(_Data):
    cmd_id: StrictInt = Field(alias="cmdId")
    data: StrictStr  # standard base64


class EmptyData(_Data):
    pass


REQUEST_TYPES: dict[str, type[_Data]] = {
    "enter": EnterData,
    "resume": ResumeData,
    "exit": EmptyData,
    "publish": PublishData,
    "unpublish": UnpublishData,
    "subscribe": SubscribeData,
    "unsubscribe": SubscribeData,
    "answer": AnswerData,
    "mute": MuteData,
    "switchRole": SwitchRoleData,
    "customMessage": CustomMessageData,
    "heartbeat": EmptyData,
}


class Request:
    __slots__ = ("data", "id", "type")

    def __init__(self, id: int | str | None, type: str, data: _Data) -> None:
        self.id = id
        self.type = type
        self.data = data


class BadMessage(RoomError):
    """A message the server could not take; answered with the id when one could be read."""

    def __init__(self, extra: ProtocolError, message: str, request_id: int | str | None = None) -> None:
        super().__init__(ErrorCode.INVALID_PARAMETER, message, extra_code=int(extra))
        self.request_id = request_id


def parse_request(text: str) -> Request:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:  # lone surrogates: JSON's error
        raise BadMessage(ProtocolError.FRAME_TOO_LARGE, f"message larger than {MAX_FRAME_BYTES} bytes")
    try:
        raw = json_loads(text)
    except JsonTooDeep:
        raise BadMessage(
            ProtocolError.JSON_TOO_DEEP, f"message is nested deeper than {MAX_JSON_DEPTH} levels"
        ) from None
    except ValueError:
        raise BadMessage(ProtocolError.MALFORMED_JSON, "message is not valid JSON") from None
    if not isinstance(raw, dict):
        raise BadMessage(ProtocolError.MALFORMED_JSON, "message must be a JSON object")
    rid = raw.get("id")
    if isinstance(rid, bool) or not isinstance(rid, int | str | None):
        raise BadMessage(ProtocolError.INVALID_FIELDS, "id must be an integer or a string")
    if raw.get("v") != PROTOCOL_VERSION:
        raise BadMessage(
            ProtocolError.UNSUPPORTED_VERSION, f"unsupported protocol version; use v={PROTOCOL_VERSION}", rid
        )
    rtype = raw.get("type")
    model = REQUEST_TYPES.get(rtype) if isinstance(rtype, str) else None
    if model is None:
        raise BadMessage(ProtocolError.UNKNOWN_TYPE, "unknown request type", rid)
    data = raw.get("data", {})
    if not isinstance(data, dict):
        raise BadMessage(ProtocolError.INVALID_FIELDS, "data must be a JSON object", rid)
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        # Field names and error kinds only: values may be secrets (userSig) or payloads.
        where = ", ".join(
            f"{'.'.join(str(x) for x in e['loc'])}: {e['type']}" for e in exc.errors(include_input=False)
        )
        raise BadMessage(ProtocolError.INVALID_FIELDS, f"invalid fields ({where})", rid) from None
    assert isinstance(rtype, str)
    return Request(rid, rtype, parsed)


def response_ok(request_id: int | str | None, data: dict[str, Any] | None = None) -> str:
    return json.dumps(
        {"v": PROTOCOL_VERSION, "type": "response", "id": request_id, "ok": True, "data": data or {}}
    )


def response_error(request_id: int | str | None, error: RoomError) -> str:
    return json.dumps(
        {"v": PROTOCOL_VERSION, "type": "response", "id": request_id, "ok": False, "error": error.to_dict()}
    )


def redirect_message(url: str, reason: str, request_id: int | str | None = None) -> str:
    """Enter at ``url`` (another node's public URL) instead; ``request_id``: the enter it answers."""
    msg: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "redirect", "url": url, "reason": reason}
    if request_id is not None:
        msg["id"] = request_id
    return json.dumps(msg)


def event_message(event: str, data: dict[str, Any]) -> str:
    return json.dumps({"v": PROTOCOL_VERSION, "type": "event", "event": event, "data": data})
