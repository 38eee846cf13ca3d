"""An account's operation log, the chain status and signed checkpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from relayroom.control.deps import DB_INT_MAX, IntegrityDep, PrincipalDep, ReadSession, ServicesDep
from relayroom.control.errors import Forbidden, InvalidInput

router = APIRouter(prefix="/api/v1", tags=["operation log"])


class OplogEntryOut(BaseModel):
    seq: int
    ts: datetime
    action: str
    result: str
    content: dict[str, Any] | None  # None once purged
    entry_hash: str
    prev_hash: str


def _utc(value: datetime | None, name: str) -> datetime | None:
    """A time without a zone is UTC (as everywhere in the API); one too close to the ends of the
    calendar to convert is invalid input."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{name} is out of range") from None


@router.get("/accounts/{account_id}/oplog", response_model=list[OplogEntryOut])
async def list_oplog(
    account_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    session: ReadSession,
    action: str | None = Query(default=None, description="prefix, e.g. 'app.' or 'app.key.rotate'"),
    actor: str | None = Query(default=None, description="e.g. 'user:<id>'"),
    since: datetime | None = None,
    until: datetime | None = None,
    before_seq: int | None = Query(default=None, ge=1, le=DB_INT_MAX, description="page backwards"),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[OplogEntryOut]:
    principal.role_in(account_id)
    rows = await services.oplog.list_for_account(
        session,
        account_id,
        action=action,
        actor=actor,
        since=_utc(since, "since"),
        until=_utc(until, "until"),
        limit=limit,
        before_seq=before_seq,
    )
    return [
        OplogEntryOut(
            seq=e.seq,
            ts=e.ts,
            action=e.action,
            result=e.result,
            content=json.loads(e.payload) if e.payload else None,
            entry_hash=e.entry_hash,
            prev_hash=e.prev_hash,
        )
        for e in rows
    ]


@router.get("/accounts/{account_id}/oplog/verify")
async def verify_oplog(
    account_id: str, principal: PrincipalDep, services: ServicesDep, session: ReadSession
) -> dict[str, Any]:
    """Recomputes the deployment's whole chain under its key. Answers what this account may know:
    ``ok``, this account's entry count and newest entry, and ``broken_at``/``problem`` only when the
    break is one of this account's entries (never anything about other accounts' entries)."""
    principal.role_in(account_id)
    return await services.oplog.verify_for_account(session, account_id)


@router.get("/accounts/{account_id}/oplog/checkpoint")
async def oplog_checkpoint(
    account_id: str, principal: PrincipalDep, services: ServicesDep, session: ReadSession
) -> dict[str, Any]:
    """A signed (seq, hash) of this account's newest entry to keep: verifiable offline with
    `relayroom checkpoint verify`."""
    principal.role_in(account_id)
    return await services.oplog.account_checkpoint(session, account_id)


@router.get("/oplog/status")
async def oplog_status(principal: PrincipalDep, integrity: IntegrityDep) -> dict[str, Any]:
    """Deployment admins: the chain's state as the server last checked it (at start, and before each
    automatic checkpoint)."""
    if not principal.is_admin:
        raise Forbidden("only a deployment admin can see the whole operation log's state")
    return integrity.status.as_dict()
