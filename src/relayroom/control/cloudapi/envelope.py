"""The API 3.0 response envelope: always HTTP 200 and ``Content-Type: application/json`` exactly.

The official Python SDK raises TencentCloudSDKException only for exactly that content type; with a
charset parameter it silently returns an empty response object (spec §2.3), so errors would be lost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response


def _response(payload: dict[str, Any]) -> Response:
    body = json.dumps({"Response": payload}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    resp = Response(body, status_code=200)
    resp.headers["Content-Type"] = "application/json"
    return resp


def ok(request_id: str, data: dict[str, Any]) -> Response:
    return _response({**data, "RequestId": request_id})


def error(request_id: str, code: str, message: str, details: Mapping[str, str] | None = None) -> Response:
    """``details``: more fields of the Error object, after Code and Message (the SDK reads those two)."""
    return _response(
        {"Error": {"Code": code, "Message": message, **(details or {})}, "RequestId": request_id}
    )
