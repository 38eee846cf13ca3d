"""Deletion and access requests filed by customers (the controllers), about an end user or their account.

States: received → in_progress → completed | rejected. Processing runs right after filing (and again
from the scheduler for anything left in received/in_progress, e.g. after a crash).
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.control.context import ControlContext
from relayroom.control.errors import InvalidInput, NotFound
from relayroom.control.oplog.service import OplogService
from relayroom.control.principal import SYSTEM, Principal
from relayroom.control.privacy.consent import ConsentService
from relayroom.control.privacy.refs import account_ref, subject_ref
from relayroom.control.privacy.retention import RetentionService
from relayroom.storage.models import (
    Account,
    Application,
    CloudCredential,
    ConsentRecord,
    DataSubjectRequest,
    Membership,
    OplogEntry,
    Role,
    User,
)

DUE_DAYS = 30  # GDPR art 12(3): one month


def request_public(r: DataSubjectRequest) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind,
        "subject_kind": r.subject_kind,
        "sdkappid": r.sdkappid,
        "subject_ref": r.subject_ref,
        "state": r.state,
        "reason": r.reason,
        "received_at": r.received_at.isoformat(),
        "due_at": r.due_at.isoformat(),
        "completed_at": r.completed_at.isoformat() if r.completed_at else None,
        "result": json.loads(r.result) if r.result else None,
        "receipt_id": r.receipt_id,
        "export_available": r.export_sealed is not None,
    }


class RequestService:
    def __init__(
        self, ctx: ControlContext, oplog: OplogService, retention: RetentionService, consent: ConsentService
    ) -> None:
        self.ctx = ctx
        self.oplog = oplog
        self.retention = retention
        self.consent = consent

    def _ctx_seal(self, account: Account, request_id: str, what: str, value: str) -> bytes:
        return self.ctx.keyring.seal(account.id, account.data_key_wrapped, f"dsr:{request_id}:{what}", value)

    def _ctx_open(self, account: Account, request_id: str, what: str, blob: bytes) -> str:
        return self.ctx.keyring.open(account.id, account.data_key_wrapped, f"dsr:{request_id}:{what}", blob)

    async def file(
        self,
        s: AsyncSession,
        principal: Principal,
        account_id: str,
        *,
        kind: str,
        subject_kind: str,
        sdkappid: int | None,
        userid: str | None,
    ) -> DataSubjectRequest:
        principal.require_owner(account_id)
        if kind not in ("access", "deletion"):
            raise InvalidInput("kind must be 'access' or 'deletion'")
        if subject_kind not in ("end_user", "account"):
            raise InvalidInput("subject_kind must be 'end_user' or 'account'")
        account = await s.get(Account, account_id)
        if account is None:
            raise NotFound("no such account")
        rid = str(uuid.uuid4())
        now = self.ctx.clock.now()
        sealed = None
        if subject_kind == "end_user":
            if sdkappid is None or not userid:
                raise InvalidInput("an end-user request needs sdkappid and userid")
            if len(userid) > 32:
                raise InvalidInput("userid must be at most 32 characters")
            app = await s.get(Application, sdkappid)
            if app is None or app.account_id != account_id:
                raise NotFound(f"no application {sdkappid} in this account")
            ref = subject_ref(self.ctx.pseudonym_secret, sdkappid, userid)
            sealed = self._ctx_seal(account, rid, "subject", userid)
        else:
            if sdkappid is not None or userid:
                raise InvalidInput("an account request takes neither sdkappid nor userid")
            ref = account_ref(self.ctx.pseudonym_secret, account_id)
        req = DataSubjectRequest(
            id=rid,
            account_id=account_id,
            account_ref=account_ref(self.ctx.pseudonym_secret, account_id),
            kind=kind,
            subject_kind=subject_kind,
            sdkappid=sdkappid,
            subject_sealed=sealed,
            subject_ref=ref,
            state="received",
            received_at=now,
            due_at=now + timedelta(days=DUE_DAYS),
        )
        s.add(req)
        await s.flush()
        await self.oplog.append(
            s,
            principal=principal,
            action=f"privacy.request.{kind}",
            account_id=account_id,
            obj={"type": "privacy_request", "id": rid},
            after={"subject_kind": subject_kind, "subject_ref": ref},
        )
        return req

    async def get(self, s: AsyncSession, principal: Principal, request_id: str) -> DataSubjectRequest:
        req = await s.get(DataSubjectRequest, request_id)
        if req is None or req.account_id is None or req.account_id not in principal.roles:
            raise NotFound("no such request")
        return req

    async def list(self, s: AsyncSession, principal: Principal, account_id: str) -> list[DataSubjectRequest]:
        principal.role_in(account_id)
        rows = await s.execute(
            select(DataSubjectRequest)
            .where(DataSubjectRequest.account_id == account_id)
            .order_by(DataSubjectRequest.received_at.desc())
        )
        return list(rows.scalars())

    async def export(self, s: AsyncSession, principal: Principal, request_id: str) -> dict[str, Any]:
        req = await self.get(s, principal, request_id)
        account = await s.get(Account, req.account_id)
        if req.export_sealed is None or account is None:
            raise NotFound("this request has no export (not an access request, or not completed yet)")
        data: dict[str, Any] = json.loads(self._ctx_open(account, req.id, "export", req.export_sealed))
        return data

    async def process_pending(self) -> int:
        async with self.ctx.db.read() as s:
            ids = [
                r[0]
                for r in await s.execute(
                    select(DataSubjectRequest.id).where(
                        DataSubjectRequest.state.in_(("received", "in_progress"))
                    )
                )
            ]
        for rid in ids:
            await self.process(rid)
        return len(ids)

    async def process(self, request_id: str) -> None:
        async with self.ctx.db.write() as s:
            req = await s.get(DataSubjectRequest, request_id)
            if req is None or req.state in ("completed", "rejected"):
                return
            req.state = "in_progress"
        async with self.ctx.db.write() as s:
            req = await s.get(DataSubjectRequest, request_id)
            assert req is not None
            account = await s.get(Account, req.account_id) if req.account_id else None
            if account is None:
                req.state, req.reason, req.completed_at = (
                    "rejected",
                    "the account no longer exists",
                    self.ctx.clock.now(),
                )
                return
            if req.subject_kind == "end_user":
                await self._process_end_user(s, req, account)
            elif req.kind == "access":
                await self._account_export(s, req, account)
            else:
                # Deleting the account's own data is closing the account: same purge, same clock.
                job = await self.retention.terminate_account(
                    s, Principal(actor="system", roles={account.id: Role.OWNER}), account.id
                )
                job.request_id = req.id
                req.state = "in_progress"
                req.result = json.dumps({"purge_job": job.id, "purge_due": job.due_at.isoformat()})

    async def _process_end_user(self, s: AsyncSession, req: DataSubjectRequest, account: Account) -> None:
        assert req.sdkappid is not None and req.subject_sealed is not None
        userid = self._ctx_open(account, req.id, "subject", req.subject_sealed)
        sdkappid = req.sdkappid
        held: dict[str, Any] = {
            "subject": {"sdkappid": sdkappid, "userid": userid},
            "consent_records": await self.consent.records_for(s, sdkappid, userid),
            "live_room_participation": self.consent.live.presence(sdkappid, userid),
        }
        for provider in self.retention.subject_data_providers:
            held.update(await provider.export_subject(s, sdkappid, userid))
        now = self.ctx.clock.now()
        if req.kind == "access":
            held["generated_at"] = now.isoformat()
            held["note"] = "RelayRoom never stores audio, video or message payloads; none can be exported."
            req.export_sealed = self._ctx_seal(account, req.id, "export", json.dumps(held, default=str))
            req.result = json.dumps({k: len(v) for k, v in held.items() if isinstance(v, list)})
        else:
            ref = subject_ref(self.ctx.pseudonym_secret, sdkappid, userid)
            counts: dict[str, int] = {}
            rows = (
                (await s.execute(select(ConsentRecord).where(ConsentRecord.subject_ref == ref)))
                .scalars()
                .all()
            )
            for r in rows:
                await s.delete(r)
            counts["consent_records"] = len(rows)
            for provider in self.retention.subject_data_providers:
                counts.update(await provider.delete_subject(s, sdkappid, userid))
            counts["live_sessions_ended"] = await self.consent.live.remove_user(sdkappid, userid)
            req.result = json.dumps(counts)
            req.receipt_id = await self._receipt(s, req, counts, now)
        req.subject_sealed = None  # only the pseudonymous ref stays
        req.state = "completed"
        req.completed_at = now

    async def _account_export(self, s: AsyncSession, req: DataSubjectRequest, account: Account) -> None:
        apps = (
            (await s.execute(select(Application).where(Application.account_id == account.id))).scalars().all()
        )
        members = (
            await s.execute(
                select(User.username, Membership.role)
                .join(Membership)
                .where(Membership.account_id == account.id)
            )
        ).all()
        creds = (
            (await s.execute(select(CloudCredential).where(CloudCredential.account_id == account.id)))
            .scalars()
            .all()
        )
        log = (
            (
                await s.execute(
                    select(OplogEntry).where(OplogEntry.account_id == account.id).order_by(OplogEntry.seq)
                )
            )
            .scalars()
            .all()
        )
        now = self.ctx.clock.now()
        export = {
            "account": {"id": account.id, "name": account.name, "created_at": account.created_at.isoformat()},
            "applications": [
                {
                    "sdkappid": a.sdkappid,
                    "name": a.name,
                    "description": a.description,
                    "tags": a.tags,
                    "status": a.status.value,
                    "region": a.region,
                    "created_at": a.created_at.isoformat(),
                }
                for a in apps
            ],
            "members": [{"username": u, "role": r.value} for u, r in members],
            "cloud_api_credentials": [{"secret_id": c.secret_id, "enabled": c.enabled} for c in creds],
            "operation_log": [
                {
                    "seq": e.seq,
                    "ts": e.ts.isoformat(),
                    "action": e.action,
                    "content": json.loads(e.payload or "null"),
                }
                for e in log
            ],
            "generated_at": now.isoformat(),
            "note": "secret keys are not exported; reveal or rotate them in the console",
        }
        req.export_sealed = self._ctx_seal(account, req.id, "export", json.dumps(export, default=str))
        req.result = json.dumps({k: len(v) for k, v in export.items() if isinstance(v, list)})
        req.state = "completed"
        req.completed_at = now

    async def _receipt(
        self, s: AsyncSession, req: DataSubjectRequest, counts: dict[str, int], now: Any
    ) -> str:

        await self.oplog.append(
            s,
            principal=SYSTEM,
            action="privacy.request.completed",
            account_id=req.account_id,
            obj={"type": "privacy_request", "id": req.id},
            after={"counts": counts},
        )
        return await self.retention.issue_receipt(
            s,
            {
                "trigger": "deletion_request",
                "trigger_id": req.id,
                "scope": "end_user",
                "account_ref": req.account_ref,
                "target_ref": req.subject_ref,
                "data_categories": ["end-user identifiers held for usage and consent records"],
                "row_counts": counts,
                "requested_at": req.received_at.isoformat(),
                "method": "hard delete"
                + (" with SQLite secure_delete=ON" if self.ctx.db.dialect == "sqlite" else ""),
            },
            now,
        )
