"""Console API: an application's callback URLs (room events, media events) and key, and its delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from relayroom.control.deps import (
    DB_INT_MAX,
    PrincipalDep,
    ReadSession,
    SdkAppIdPath,
    WebhooksDep,
    WriteSession,
)

router = APIRouter(prefix="/api/v1", tags=["callbacks"])


class CallbackOut(BaseModel):
    sdkappid: int
    url: str = Field(description="Room events (101-105)")
    media_url: str = Field(default="", description="Media events (201-206)")
    key_set: bool
    updated_at: datetime | None = None
    key: str | None = Field(default=None, description="Only when generate_key was asked for: shown once.")


class CallbackIn(BaseModel):
    url: str | None = Field(
        default=None,
        description="Room events URL, and media events URL too unless media_url is given: http(s), at most "
        "2083 characters; '' disables",
    )
    media_url: str | None = Field(
        default=None, description="Media events URL only (same rules); '' disables media events"
    )
    key: str | None = Field(default=None, description="1-32 characters of [A-Za-z0-9]; '' removes the key")
    generate_key: bool = Field(default=False, description="Generate a 32-character key and return it once")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_group: int
    event_type: int
    user_id: str | None
    state: Literal["pending", "delivered", "failed", "dropped"]
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    first_attempt_at: datetime | None
    next_attempt_at: datetime
    finished_at: datetime | None


@router.get("/applications/{sdkappid}/callback", response_model=CallbackOut)
async def get_callback(
    sdkappid: SdkAppIdPath, webhooks: WebhooksDep, principal: PrincipalDep, session: ReadSession
) -> CallbackOut:
    """The callback URL and whether a key is set (the key itself is never returned)."""
    cfg = await webhooks.get_config(session, principal, sdkappid)
    return CallbackOut(**cfg)


@router.put("/applications/{sdkappid}/callback", response_model=CallbackOut)
async def put_callback(
    sdkappid: SdkAppIdPath,
    body: CallbackIn,
    webhooks: WebhooksDep,
    principal: PrincipalDep,
    session: WriteSession,
) -> CallbackOut:
    """Set the callback URLs and/or key (owners only; one ``url`` is valid for both event groups; the
    key is stored encrypted; recorded in the oplog)."""
    cfg, key = await webhooks.set_config(
        session,
        principal,
        sdkappid,
        url=body.url,
        key=body.key,
        generate_key=body.generate_key,
        media_url=body.media_url,
    )
    return CallbackOut(**cfg, key=key)


@router.get("/applications/{sdkappid}/callback/deliveries", response_model=list[DeliveryOut])
async def list_deliveries(
    sdkappid: SdkAppIdPath,
    webhooks: WebhooksDep,
    principal: PrincipalDep,
    session: ReadSession,
    state: Literal["pending", "delivered", "failed", "dropped"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
) -> list[DeliveryOut]:
    """The delivery log, newest first: state, attempts, last HTTP status (never bodies or signatures)."""
    rows = await webhooks.list_deliveries(
        session, principal, sdkappid, state=state, limit=limit, before_id=before_id
    )
    return [DeliveryOut.model_validate(r) for r in rows]
