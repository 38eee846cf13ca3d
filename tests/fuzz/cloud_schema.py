"""A hand-written OpenAPI description of the TRTC cloud API actions RelayRoom serves on ``POST /``.

Tencent Cloud API 3.0 has one URL and names the action in the ``X-TC-Action`` header, which OpenAPI
cannot express; each action is therefore a path ``/<Action>`` here, and the fuzzer (api.py) sends the
generated body to ``/`` with the action header and a TC3 signature. Field names and types are those of
the official SDK's ``trtc/v20190722/models.py`` (SetUserBlocked*, absent from that SDK version, as
docs/cloud-api.md describes them). Every response is HTTP 200, ``Content-Type: application/json``
exactly, with ``{"Response": {...}}`` holding either the action's fields or ``Error``, and a RequestId.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema_rs

INT: dict[str, Any] = {"type": "integer"}
STR: dict[str, Any] = {"type": "string"}
BOOL: dict[str, Any] = {"type": "boolean"}
NUM: dict[str, Any] = {"type": "number"}


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    out["required"] = list(props) if required is None else required
    return out


ROOM_STATE = _obj(
    {
        "CommId": STR,
        "RoomString": STR,
        "CreateTime": INT,
        "DestroyTime": INT,
        "IsFinished": BOOL,
        "UserId": STR,
    }
)
USER_INFORMATION = _obj(
    {
        "RoomStr": STR,
        "UserId": STR,
        "JoinTs": INT,
        "LeaveTs": INT,
        "DeviceType": STR,
        "SdkVersion": STR,
        "ClientIp": STR,
        "Finished": BOOL,
    }
)
EVENT_MESSAGE = _obj({"Type": INT, "Time": INT, "EventId": INT, "ParamOne": INT, "ParamTwo": INT})
QUALITY_DATA = _obj(
    {"Content": _list(_obj({"Time": INT, "Value": NUM})), "UserId": STR, "PeerId": STR, "DataType": STR}
)
SCALE = _obj({"Time": INT, "UserNumber": INT, "UserCount": INT, "RoomNumbers": INT})
ABNORMAL = _obj(
    {
        "UserId": STR,
        "ExperienceId": INT,
        "RoomId": STR,
        "AbnormalEventList": _list(_obj({"AbnormalEventId": INT, "PeerId": STR})),
        "EventTime": INT,
    }
)
USAGE = _obj({"TimeKey": STR, "TimeStampKey": INT, "UsageValue": _list(NUM)})

_TIME = {"StartTime": INT, "EndTime": INT}
_PAGE = {"PageNumber": INT, "PageSize": INT}
# action: (request properties, required request properties, response properties)
ACTIONS: dict[str, tuple[dict[str, Any], list[str], dict[str, Any]]] = {
    "DismissRoom": ({"SdkAppId": INT, "RoomId": INT}, ["SdkAppId", "RoomId"], {}),
    "DismissRoomByStrRoomId": ({"SdkAppId": INT, "RoomId": STR}, ["SdkAppId", "RoomId"], {}),
    "RemoveUser": (
        {"SdkAppId": INT, "RoomId": INT, "UserIds": _list(STR)},
        ["SdkAppId", "RoomId", "UserIds"],
        {},
    ),
    "RemoveUserByStrRoomId": (
        {"SdkAppId": INT, "RoomId": STR, "UserIds": _list(STR)},
        ["SdkAppId", "RoomId", "UserIds"],
        {},
    ),
    "SetUserBlocked": (
        {"SdkAppId": INT, "RoomId": INT, "UserId": STR, "IsMute": INT},
        ["SdkAppId", "RoomId", "UserId", "IsMute"],
        {},
    ),
    "SetUserBlockedByStrRoomId": (
        {"SdkAppId": INT, "StrRoomId": STR, "UserId": STR, "IsMute": INT},
        ["SdkAppId", "StrRoomId", "UserId", "IsMute"],
        {},
    ),
    "DescribeRoomInfo": (
        {"SdkAppId": INT, **_TIME, "RoomId": STR, **_PAGE},
        ["SdkAppId", "StartTime", "EndTime"],
        {"Total": INT, "RoomList": _list(ROOM_STATE)},
    ),
    "DescribeUserInfo": (
        {"CommId": STR, **_TIME, "SdkAppId": INT, "UserIds": _list(STR), **_PAGE},
        ["CommId", "StartTime", "EndTime", "SdkAppId"],
        {"Total": INT, "UserList": _list(USER_INFORMATION)},
    ),
    "DescribeUserEvent": (
        {"CommId": STR, **_TIME, "UserId": STR, "RoomId": STR, "SdkAppId": INT},
        ["CommId", "StartTime", "EndTime", "UserId", "RoomId", "SdkAppId"],
        {"Data": _list(_obj({"Content": _list(EVENT_MESSAGE), "PeerId": STR}))},
    ),
    "DescribeCallDetailInfo": (
        {"CommId": STR, **_TIME, "SdkAppId": INT, "UserIds": _list(STR), "DataType": _list(STR), **_PAGE},
        ["CommId", "StartTime", "EndTime", "SdkAppId"],
        {"Total": INT, "UserList": _list(USER_INFORMATION), "Data": _list(QUALITY_DATA)},
    ),
    "DescribeScaleInfo": (
        {"SdkAppId": INT, **_TIME},
        ["SdkAppId", "StartTime", "EndTime"],
        {"Total": INT, "ScaleList": _list(SCALE)},
    ),
    "DescribeUnusualEvent": (
        {"SdkAppId": INT, **_TIME, "RoomId": STR},
        ["SdkAppId", "StartTime", "EndTime"],
        {"Total": INT, "AbnormalExperienceList": _list(ABNORMAL)},
    ),
    "DescribeTrtcUsage": (
        {"StartTime": STR, "EndTime": STR, "SdkAppId": INT},
        ["StartTime", "EndTime"],
        {"UsageKey": _list(STR), "UsageList": _list(USAGE)},
    ),
    "DescribeTrtcRoomUsage": (
        {"SdkAppid": INT, "StartTime": STR, "EndTime": STR},
        ["SdkAppid", "StartTime", "EndTime"],
        {"Data": STR},
    ),
}

ERROR = _obj(
    {
        "Error": _obj(
            {"Code": {"type": "string", "pattern": r"^[A-Z][A-Za-z]*(\.[A-Za-z0-9]+)?$"}, "Message": STR}
        ),
        "RequestId": STR,
    }
)


def response_schema(action: str) -> dict[str, Any]:
    fields = ACTIONS[action][2]
    return _obj({"Response": {"oneOf": [ERROR, _obj({**fields, "RequestId": STR})]}})


def schema() -> dict[str, Any]:
    """The OpenAPI 3.0 document schemathesis generates requests from."""
    paths = {}
    for action, (props, required, _) in ACTIONS.items():
        paths[f"/{action}"] = {
            "post": {
                "operationId": action,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            # unknown parameters are refused (UnknownParameter), as Tencent's API does
                            "schema": {
                                "type": "object",
                                "properties": props,
                                "required": required,
                                "additionalProperties": False,
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "API 3.0 envelope",
                        "content": {"application/json": {"schema": response_schema(action)}},
                    }
                },
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "RelayRoom TRTC cloud API (as fuzzed)", "version": "2019-07-22"},
        "paths": paths,
    }


# Codes the server may answer with (control/cloudapi/errors.py, TRTC's documented codes).
_CODE_HEADS = {
    "AuthFailure",
    "InvalidAction",
    "InvalidParameter",
    "InvalidParameterValue",
    "MissingParameter",
    "NoSuchVersion",
    "RequestLimitExceeded",
    "ResourceUnavailable",
    "FailedOperation",
    "UnauthorizedOperation",
    "UnknownParameter",
}
_VALIDATORS: dict[str, Any] = {}


def error_code(content: bytes) -> str | None:
    try:
        body = json.loads(content)
        code = body["Response"]["Error"]["Code"]
    except (ValueError, KeyError, TypeError):
        return None
    return str(code)


def check_response(action: str, status: int, headers: Mapping[str, str], content: bytes) -> str | None:
    """What is wrong with this answer, or None."""
    if status != 200:
        return f"HTTP {status} (the API 3.0 envelope is always 200)"
    if headers.get("content-type") != "application/json":
        return f"Content-Type {headers.get('content-type')!r}, not exactly application/json"
    try:
        body = json.loads(content)
    except ValueError:
        return "body is not JSON"
    validator = _VALIDATORS.get(action)
    if validator is None:
        validator = _VALIDATORS[action] = jsonschema_rs.validator_for(response_schema(action))
    errors = [str(e) for e in validator.iter_errors(body)]
    if errors:
        return f"response does not match the schema: {errors[:3]}"
    code = error_code(content)
    if code is not None and code.split(".")[0] not in _CODE_HEADS:
        return f"error code {code}: {body['Response']['Error'].get('Message')}"
    return None
