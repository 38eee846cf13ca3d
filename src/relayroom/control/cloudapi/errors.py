"""TRTC / Tencent Cloud API 3.0 error codes (spec/trtc-compat.md §2.4), raised as CloudApiError."""

from __future__ import annotations

from collections.abc import Mapping


class CloudApiError(Exception):
    def __init__(self, code: str, message: str, details: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = dict(details or {})  # more fields of the Error object (e.g. RegionUrl)


# common
AUTH_INVALID_AUTHORIZATION = "AuthFailure.InvalidAuthorization"
AUTH_SECRET_ID_NOT_FOUND = "AuthFailure.SecretIdNotFound"
AUTH_SIGNATURE_EXPIRE = "AuthFailure.SignatureExpire"
AUTH_SIGNATURE_FAILURE = "AuthFailure.SignatureFailure"
# RelayRoom's own: a state-changing request whose signature was already accepted (cloudapi/replay.py)
AUTH_SIGNATURE_REPLAY = "AuthFailure.SignatureReplay"
INTERNAL_ERROR = "InternalError"
INVALID_ACTION = "InvalidAction"
INVALID_PARAMETER = "InvalidParameter"
INVALID_PARAMETER_VALUE = "InvalidParameterValue"
MISSING_PARAMETER = "MissingParameter"
NO_SUCH_VERSION = "NoSuchVersion"
REQUEST_LIMIT_EXCEEDED = "RequestLimitExceeded"
REQUEST_SIZE_LIMIT_EXCEEDED = "RequestSizeLimitExceeded"
RESOURCE_UNAVAILABLE = "ResourceUnavailable"
UNKNOWN_PARAMETER = "UnknownParameter"
UNSUPPORTED_PROTOCOL = "UnsupportedProtocol"
UNSUPPORTED_REGION = "UnsupportedRegion"  # the SdkAppId is another region's (control/regions.py)
# TRTC-specific (errorcodes.py of the SDK)
ROOM_NOT_EXIST = "FailedOperation.RoomNotExist"
UNAUTHORIZED_SDKAPPID = "UnauthorizedOperation.SdkAppId"
PAGE_SIZE_OVERSIZE = "InvalidParameter.PageSizeOversize"
START_TIME_EXPIRE = "InvalidParameter.StartTimeExpire"
START_TIME_OVERSIZE = "InvalidParameter.StartTimeOversize"
QUERY_SCALE_OVERSIZE = "InvalidParameter.QueryScaleOversize"
USER_IDS_MORE_THAN_SIX = "InvalidParameter.UserIdsMorethanSix"
OUT_OF_RANGE = "InvalidParameter.OutOfRange"

# Parameters that have their own InvalidParameter.X / MissingParameter.X codes in the SDK.
SPECIFIC_INVALID = {"SdkAppId", "RoomId", "StrRoomId", "UserId", "UserIds"}
SPECIFIC_MISSING = {"SdkAppId", "RoomId", "UserId", "UserIds", "CommId"}


def missing(name: str) -> CloudApiError:
    code = f"{MISSING_PARAMETER}.{name}" if name in SPECIFIC_MISSING else MISSING_PARAMETER
    return CloudApiError(code, f"The request is missing a required parameter `{name}`.")


def invalid(name: str, why: str) -> CloudApiError:
    code = f"{INVALID_PARAMETER}.{name}" if name in SPECIFIC_INVALID else INVALID_PARAMETER
    return CloudApiError(code, f"Invalid parameter `{name}`: {why}.")
