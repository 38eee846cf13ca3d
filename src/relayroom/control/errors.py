"""Domain errors of the control plane: one tree, one handler, a stable code per error."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class AppError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotAuthenticated(AppError):
    status_code = 401
    code = "not_authenticated"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class InvalidInput(AppError):
    status_code = 422
    code = "invalid_input"


class LimitExceeded(AppError):
    status_code = 409
    code = "limit_exceeded"


class InvalidState(AppError):
    status_code = 409
    code = "invalid_state"


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorOut(BaseModel):
    """The body of every console API error."""

    error: ErrorDetail


# Documented on every operation (OpenAPI), so clients and schema checkers know the error body.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (400, "Bad request"),
        (401, "Not signed in (`not_authenticated`)"),
        (403, "Not allowed (`forbidden`)"),
        (404, "Not found, or another account's (`not_found`)"),
        (409, "`conflict`, `limit_exceeded` or `invalid_state`"),
        (413, "Body larger than the route's limit (`payload_too_large`)"),
        (422, "Invalid input (`invalid_input`)"),
        (429, "Too many sign-in attempts; see Retry-After"),
    )
}
