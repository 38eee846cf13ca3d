"""Privacy API: account deletion, retention status, receipts, data-subject requests, consent, records."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import BaseModel, Field

from relayroom.control.deps import (
    MAX_SDKAPPID,
    PrincipalDep,
    ReadSession,
    SdkAppIdPath,
    ServicesDep,
    WriteSession,
)
from relayroom.control.errors import NotFound
from relayroom.control.privacy.consent import AttestationIn
from relayroom.control.privacy.consent_ages import load_table
from relayroom.control.privacy.records import processing_records
from relayroom.control.privacy.requests import request_public

router = APIRouter(prefix="/api/v1", tags=["privacy"])


class RequestIn(BaseModel):
    kind: Literal["access", "deletion"]
    subject_kind: Literal["end_user", "account"] = "end_user"
    sdkappid: int | None = Field(default=None, ge=1, le=MAX_SDKAPPID)
    userid: str | None = Field(default=None, max_length=32)


class AttestationBody(BaseModel):
    dpa_version: str = Field(min_length=1, max_length=64)
    consent_mechanism: str = Field(
        min_length=1, max_length=2000, description="how consent is collected (text or URL)"
    )
    age_gate_method: str = Field(min_length=1, max_length=200)
    parental_flow: bool


class WithdrawIn(BaseModel):
    userid: str = Field(min_length=1, max_length=32)


@router.delete("/accounts/{account_id}", status_code=202)
async def delete_account(
    account_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    session: WriteSession,
    background: BackgroundTasks,
) -> dict[str, Any]:
    """Close the account: every credential stops now; everything is purged within 7 days."""
    from sqlalchemy import select

    from relayroom.storage.models import Application

    sdkappids = [
        r[0]
        for r in await session.execute(
            select(Application.sdkappid).where(Application.account_id == account_id)
        )
    ]
    job = await services.retention.terminate_account(session, principal, account_id)
    for sdkappid in sdkappids:
        background.add_task(services.consent.live.close_app_rooms, sdkappid)
    return {
        "job_id": job.id,
        "purge_due": job.due_at.isoformat(),
        "purge_deadline": job.deadline_at.isoformat(),
    }


@router.get("/accounts/{account_id}/retention")
async def retention_status(
    account_id: str, principal: PrincipalDep, services: ServicesDep
) -> list[dict[str, Any]]:
    """Purges scheduled for this account's data: what is due when."""
    principal.role_in(account_id)
    return await services.retention.status(account_id)


@router.get("/privacy/receipts/{receipt_id}")
async def get_receipt(receipt_id: str, services: ServicesDep) -> dict[str, Any]:
    """Public by unguessable id: the former owner of a deleted account keeps only this id.

    A receipt holds no deleted data (pseudonymous refs, categories, counts, times, chain head)."""
    doc = await services.retention.receipt(receipt_id)
    if doc is None:
        raise NotFound("no such receipt")
    return doc


@router.get("/privacy/public-key")
async def deployment_public_key(services: ServicesDep) -> dict[str, str]:
    """The Ed25519 key that signs receipts and oplog checkpoints (verify offline)."""
    return {"alg": "Ed25519", "public_key": services.ctx.signer.public_key_b64}


@router.post("/accounts/{account_id}/privacy/requests", status_code=201)
async def file_request(
    account_id: str, body: RequestIn, principal: PrincipalDep, services: ServicesDep, session: WriteSession
) -> dict[str, Any]:
    req = await services.requests.file(
        session,
        principal,
        account_id,
        kind=body.kind,
        subject_kind=body.subject_kind,
        sdkappid=body.sdkappid,
        userid=body.userid,
    )
    return request_public(req)


@router.get("/accounts/{account_id}/privacy/requests")
async def list_requests(
    account_id: str, principal: PrincipalDep, services: ServicesDep, session: ReadSession
) -> list[dict[str, Any]]:
    return [request_public(r) for r in await services.requests.list(session, principal, account_id)]


@router.get("/privacy/requests/{request_id}")
async def get_request(
    request_id: str, principal: PrincipalDep, services: ServicesDep, session: ReadSession
) -> dict[str, Any]:
    return request_public(await services.requests.get(session, principal, request_id))


@router.post("/privacy/requests/{request_id}/process")
async def process_request(
    request_id: str, principal: PrincipalDep, services: ServicesDep, session: ReadSession
) -> dict[str, Any]:
    """Process now (requests are also processed by the scheduler)."""
    await services.requests.get(session, principal, request_id)
    await session.close()
    await services.requests.process(request_id)
    async with services.ctx.db.read() as s:
        return request_public(await services.requests.get(s, principal, request_id))


@router.get("/privacy/requests/{request_id}/export")
async def request_export(
    request_id: str, principal: PrincipalDep, services: ServicesDep, session: ReadSession
) -> dict[str, Any]:
    """The machine-readable export of an access request (everything held about the subject)."""
    return await services.requests.export(session, principal, request_id)


@router.get("/applications/{sdkappid}/consent")
async def get_consent_settings(
    sdkappid: SdkAppIdPath, principal: PrincipalDep, services: ServicesDep, session: ReadSession
) -> dict[str, Any]:
    app = await services.apps.get(session, principal, sdkappid)
    return {
        "sdkappid": sdkappid,
        "policy": app.consent_policy.value,
        "attestation": await services.consent.get_attestation(session, sdkappid),
        "table_version": load_table().version,
    }


@router.put("/applications/{sdkappid}/consent/attestation")
async def attest(
    sdkappid: SdkAppIdPath,
    body: AttestationBody,
    principal: PrincipalDep,
    services: ServicesDep,
    session: WriteSession,
) -> dict[str, Any]:
    app = await services.apps.get(session, principal, sdkappid)
    return await services.consent.attest(session, principal, app, AttestationIn(**body.model_dump()))


@router.post("/applications/{sdkappid}/consent/withdraw")
async def withdraw_consent(
    sdkappid: SdkAppIdPath,
    body: WithdrawIn,
    principal: PrincipalDep,
    services: ServicesDep,
    session: WriteSession,
) -> dict[str, Any]:
    """Effective at once: older consent tokens stop working and the user leaves the app's rooms."""
    app = await services.apps.get(session, principal, sdkappid)
    principal.require_owner(app.account_id)
    removed = await services.consent.withdraw(session, principal, app, body.userid)
    return {"sdkappid": sdkappid, "withdrawn": True, "sessions_ended": removed}


@router.get("/privacy/consent-ages")
async def consent_ages(principal: PrincipalDep) -> dict[str, Any]:
    """Ages of digital consent by jurisdiction (data with source, status and last-verified date)."""
    return load_table().as_dict()


@router.get("/privacy/processing-records")
async def get_processing_records(
    principal: PrincipalDep, services: ServicesDep, request: Request
) -> dict[str, Any]:
    """What personal data this deployment holds, why, where, how long, and who receives any."""
    return await processing_records(services.ctx)
