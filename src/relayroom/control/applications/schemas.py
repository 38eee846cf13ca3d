from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from relayroom.storage.models import AppStatus, ConsentPolicy


class AppCreateIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    tags: dict[str, str] = Field(default_factory=dict)
    region: str | None = Field(
        default=None, description="one of the deployment's regions; default: this node's"
    )


class AppUpdateIn(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    tags: dict[str, str] | None = None
    permission_key_enabled: bool | None = None
    consent_policy: ConsentPolicy | None = None


class AppOut(BaseModel):
    sdkappid: int
    account_id: str
    name: str
    description: str
    tags: dict[str, str]
    status: AppStatus
    region: str
    permission_key_enabled: bool
    consent_policy: ConsentPolicy
    created_at: datetime
    updated_at: datetime
    terminated_at: datetime | None


class AppCreatedOut(AppOut):
    secret_key: str = Field(description="the SDKSecretKey; reveal it again later with GET .../key")


class KeyOut(BaseModel):
    sdkappid: int
    key: str
    created_at: str
    previous_keys_valid_until: list[str]


class RotateIn(BaseModel):
    grace_seconds: int = Field(default=0, ge=0, le=7 * 86400, description="old key keeps verifying this long")


class RotateOut(BaseModel):
    sdkappid: int
    key: str
    previous_key_valid_until: str | None


class UserSigIn(BaseModel):
    userid: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    expire: int = Field(default=86400, ge=1, le=180 * 86400, description="seconds")


class PrivateMapKeyIn(UserSigIn):
    roomid: int | None = Field(default=None, ge=1, le=4294967294)
    strroomid: str | None = Field(default=None, min_length=1, max_length=64)
    privilege: int = Field(
        default=255, ge=0, le=255, description="bits: 1 create, 2 enter, 4/8 audio, 16/32 video"
    )


class TokenOut(BaseModel):
    sdkappid: int
    userid: str
    token: str
    expires_at: int
