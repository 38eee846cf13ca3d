"""Cloud-API credentials (SecretId/SecretKey) of an account."""

from __future__ import annotations

from fastapi import APIRouter, Response

from relayroom.control.deps import PrincipalDep, ReadSession, ServicesDep, WriteSession
from relayroom.control.keys.schemas import CredentialCreatedOut, CredentialOut
from relayroom.storage.models import CloudCredential

router = APIRouter(prefix="/api/v1", tags=["credentials"])


def cred_out(c: CloudCredential) -> CredentialOut:
    return CredentialOut(
        secret_id=c.secret_id,
        account_id=c.account_id,
        enabled=c.enabled,
        created_at=c.created_at,
        last_used_at=c.last_used_at,
    )


@router.get("/accounts/{account_id}/credentials", response_model=list[CredentialOut])
async def list_credentials(
    account_id: str, principal: PrincipalDep, services: ServicesDep, session: ReadSession
) -> list[CredentialOut]:
    return [cred_out(c) for c in await services.keys.list_credentials(session, principal, account_id)]


@router.post("/accounts/{account_id}/credentials", response_model=CredentialCreatedOut, status_code=201)
async def create_credential(
    account_id: str, principal: PrincipalDep, services: ServicesDep, session: WriteSession
) -> CredentialCreatedOut:
    cred, key = await services.keys.create_credential(session, principal, account_id)
    return CredentialCreatedOut(**cred_out(cred).model_dump(), secret_key=key)


@router.post("/credentials/{secret_id}/disable", response_model=CredentialOut)
async def disable_credential(
    secret_id: str, principal: PrincipalDep, services: ServicesDep, session: WriteSession
) -> CredentialOut:
    return cred_out(await services.keys.set_credential_enabled(session, principal, secret_id, False))


@router.post("/credentials/{secret_id}/enable", response_model=CredentialOut)
async def enable_credential(
    secret_id: str, principal: PrincipalDep, services: ServicesDep, session: WriteSession
) -> CredentialOut:
    return cred_out(await services.keys.set_credential_enabled(session, principal, secret_id, True))


@router.delete("/credentials/{secret_id}", status_code=204)
async def delete_credential(
    secret_id: str, principal: PrincipalDep, services: ServicesDep, session: WriteSession
) -> Response:
    await services.keys.delete_credential(session, principal, secret_id)
    return Response(status_code=204)
