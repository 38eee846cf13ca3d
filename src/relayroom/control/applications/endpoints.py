"""Applications: create, list, read, update, disable/enable/terminate; their SDKSecretKeys."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, BackgroundTasks

from relayroom.control.applications.schemas import (
    AppCreatedOut,
    AppCreateIn,
    AppOut,
    AppUpdateIn,
    KeyOut,
    PrivateMapKeyIn,
    RotateIn,
    RotateOut,
    TokenOut,
    UserSigIn,
)
from relayroom.control.deps import PrincipalDep, ReadSession, SdkAppIdPath, ServicesDep, WriteSession
from relayroom.storage.models import Application, AppStatus

router = APIRouter(prefix="/api/v1", tags=["applications"])


def app_out(app: Application) -> AppOut:
    return AppOut(
        sdkappid=app.sdkappid,
        account_id=app.account_id,
        name=app.name,
        description=app.description,
        tags=dict(app.tags or {}),
        status=app.status,
        region=app.region,
        permission_key_enabled=app.permission_key_enabled,
        consent_policy=app.consent_policy,
        created_at=app.created_at,
        updated_at=app.updated_at,
        terminated_at=app.terminated_at,
    )


@router.get("/accounts/{account_id}/applications", response_model=list[AppOut])
async def list_apps(
    account_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    session: ReadSession,
    q: str | None = None,
    status: AppStatus | None = None,
    tag: str | None = None,
) -> list[AppOut]:
    apps = await services.apps.list(session, principal, account_id, q=q, status=status, tag=tag)
    return [app_out(a) for a in apps]


@router.post("/accounts/{account_id}/applications", response_model=AppCreatedOut, status_code=201)
async def create_app(
    account_id: str, body: AppCreateIn, principal: PrincipalDep, services: ServicesDep, session: WriteSession
) -> AppCreatedOut:
    app, key = await services.apps.create(
        session,
        principal,
        account_id,
        name=body.name,
        description=body.description,
        tags=body.tags,
        region=body.region,
    )
    return AppCreatedOut(**app_out(app).model_dump(), secret_key=key)


@router.get("/applications/{sdkappid}", response_model=AppOut)
async def get_app(
    sdkappid: SdkAppIdPath, principal: PrincipalDep, services: ServicesDep, session: ReadSession
) -> AppOut:
    return app_out(await services.apps.get(session, principal, sdkappid))


@router.patch("/applications/{sdkappid}", response_model=AppOut)
async def update_app(
    sdkappid: SdkAppIdPath,
    body: AppUpdateIn,
    principal: PrincipalDep,
    services: ServicesDep,
    session: WriteSession,
) -> AppOut:
    app = await services.apps.update(session, principal, sdkappid, **body.model_dump(exclude_unset=True))
    return app_out(app)


def _closing_route(action: str, status: AppStatus, doc: str) -> None:
    """Register POST /applications/{sdkappid}/<action>: set a status that stops entry at once, then
    close the app's rooms once the change is committed (disable and terminate differ only in status)."""

    async def endpoint(
        sdkappid: SdkAppIdPath,
        principal: PrincipalDep,
        services: ServicesDep,
        session: WriteSession,
        background: BackgroundTasks,
    ) -> AppOut:
        app = await services.apps.set_status(session, principal, sdkappid, status)
        background.add_task(services.consent.live.close_app_rooms, sdkappid)  # after the commit
        return app_out(app)

    endpoint.__name__ = endpoint.__qualname__ = f"{action}_app"
    endpoint.__doc__ = doc
    router.post(f"/applications/{{sdkappid}}/{action}", response_model=AppOut)(endpoint)


_closing_route("disable", AppStatus.DISABLED, "Entry stops at once; rooms of the app are closed.")


@router.post("/applications/{sdkappid}/enable", response_model=AppOut)
async def enable_app(
    sdkappid: SdkAppIdPath, principal: PrincipalDep, services: ServicesDep, session: WriteSession
) -> AppOut:
    return app_out(await services.apps.set_status(session, principal, sdkappid, AppStatus.ENABLED))


_closing_route(
    "terminate",
    AppStatus.TERMINATED,
    "Irreversible: the app stops authenticating at once and its data is purged (7 days at most).",
)


@router.get("/applications/{sdkappid}/key", response_model=KeyOut)
async def reveal_key(
    sdkappid: SdkAppIdPath, principal: PrincipalDep, services: ServicesDep, session: WriteSession
) -> KeyOut:
    """Owners only; every reveal is written to the operation log."""
    return KeyOut.model_validate(await services.keys.reveal_app_key(session, principal, sdkappid))


@router.post("/applications/{sdkappid}/key/rotate", response_model=RotateOut)
async def rotate_key(
    sdkappid: SdkAppIdPath,
    body: RotateIn,
    principal: PrincipalDep,
    services: ServicesDep,
    session: WriteSession,
) -> RotateOut:
    key, until = await services.keys.rotate_app_key(
        session, principal, sdkappid, timedelta(seconds=body.grace_seconds)
    )
    return RotateOut(sdkappid=sdkappid, key=key, previous_key_valid_until=until)


@router.post("/applications/{sdkappid}/usersig", response_model=TokenOut)
async def issue_usersig(
    sdkappid: SdkAppIdPath,
    body: UserSigIn,
    principal: PrincipalDep,
    services: ServicesDep,
    session: WriteSession,
) -> TokenOut:
    """The console's UserSig tool (like TRTC's): signed with the app's current key; owners only; logged."""
    token, expires_at = await services.apps.issue_usersig(
        session, principal, sdkappid, body.userid, body.expire
    )
    return TokenOut(sdkappid=sdkappid, userid=body.userid, token=token, expires_at=expires_at)


@router.post("/applications/{sdkappid}/privatemapkey", response_model=TokenOut)
async def issue_privatemapkey(
    sdkappid: SdkAppIdPath,
    body: PrivateMapKeyIn,
    principal: PrincipalDep,
    services: ServicesDep,
    session: WriteSession,
) -> TokenOut:
    """PrivateMapKey tool: room-bound privileges for an app with permission keys on; owners only; logged."""
    token, expires_at = await services.apps.issue_privatemapkey(
        session,
        principal,
        sdkappid,
        body.userid,
        body.expire,
        room_id=body.roomid,
        str_room_id=body.strroomid,
        privilege=body.privilege,
    )
    return TokenOut(sdkappid=sdkappid, userid=body.userid, token=token, expires_at=expires_at)
