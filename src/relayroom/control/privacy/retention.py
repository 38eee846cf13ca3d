"""Termination, scheduled purges with catch-up, crypto-shredding, oplog redaction and receipts.

Rules (docs/privacy.md):
- Deleting (closing) an account ends its use of the service: every credential stops at once and the
  whole account is purged — keys, application records, operation-log content, consent records, users
  who belong to no other account — leaving a pseudonymous tombstone and a signed receipt.
- Terminating an application ends that application's use: it stops authenticating at once and its data
  (keys, record, operation-log content, consent records) is purged on the same clock. When it was the
  account's last live application, the account's use of the Feature has ended too: its cloud-API
  credentials are disabled at once and purged with it; the console login stays for a new application.
- Target: `purge_target_hours` (24 h) after the trigger; hard deadline 7 days. Due purges run before
  /healthz reports ready (catch-up), then every `schedule_minutes`. A purge found past its deadline
  still runs and writes an `sla_breach` entry.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.control.context import ControlContext
from relayroom.control.oplog import chain
from relayroom.control.oplog.service import OplogService
from relayroom.control.principal import SYSTEM, Principal
from relayroom.control.privacy.refs import account_ref, app_ref
from relayroom.storage.models import (
    Account,
    AccountStatus,
    ApiToken,
    Application,
    AppSecretKey,
    AppStatus,
    AppUserBlock,
    CloudCredential,
    ConsentAttestation,
    ConsentRecord,
    DataSubjectRequest,
    DeletionReceipt,
    Membership,
    OplogEntry,
    RetentionJob,
    Tombstone,
    User,
)

log = logging.getLogger(__name__)


class SubjectDataProvider(Protocol):
    """A store of per-application / per-end-user data (e.g. usage records) that purges must reach."""

    async def purge_apps(self, session: AsyncSession, sdkappids: list[int]) -> dict[str, int]: ...

    async def export_subject(self, session: AsyncSession, sdkappid: int, userid: str) -> dict[str, Any]: ...

    async def delete_subject(self, session: AsyncSession, sdkappid: int, userid: str) -> dict[str, int]: ...


@dataclass(frozen=True)
class PurgeOutcome:
    job_id: str
    receipt_id: str
    sla_breach: bool
    counts: dict[str, int]


def _object_pattern(kind: str, object_id: int | str) -> str:
    # canonical JSON (sorted keys, no spaces) of the oplog content's object; matched literally
    # (contains(..., autoescape=True)): a `_` or `%` in an id matches only itself
    return f'"object":{{"id":{json.dumps(object_id)},"type":"{kind}"}}'


class RetentionService:
    def __init__(
        self,
        ctx: ControlContext,
        oplog: OplogService,
        subject_data_providers: Sequence[SubjectDataProvider] = (),
    ) -> None:
        self.ctx = ctx
        self.oplog = oplog
        # Other subsystems holding data of applications and end users (usage metering), given at build.
        self.subject_data_providers: tuple[SubjectDataProvider, ...] = tuple(subject_data_providers)

    # --- scheduling ----------------------------------------------------------------------
    def _times(self, now: datetime) -> tuple[datetime, datetime]:
        r = self.ctx.settings.retention
        return now + timedelta(hours=r.purge_target_hours), now + timedelta(days=r.purge_deadline_days)

    async def schedule(
        self,
        session: AsyncSession,
        *,
        scope: str,
        trigger: str,
        account_id: str,
        sdkappid: int | None = None,
        request_id: str | None = None,
        due_now: bool = False,
    ) -> RetentionJob:
        now = self.ctx.clock.now()
        due, deadline = self._times(now)
        secret = self.ctx.pseudonym_secret
        job = RetentionJob(
            id=str(uuid.uuid4()),
            scope=scope,
            trigger=trigger,
            account_id=account_id,
            sdkappid=sdkappid,
            account_ref=account_ref(secret, account_id),
            target_ref=app_ref(secret, sdkappid) if sdkappid is not None else account_ref(secret, account_id),
            request_id=request_id,
            requested_at=now,
            due_at=now if due_now else due,
            deadline_at=deadline,
            state="scheduled",
            attempts=0,
            sla_breach=False,
        )
        session.add(job)
        await session.flush()
        return job

    async def terminate_account(
        self, session: AsyncSession, principal: Principal, account_id: str
    ) -> RetentionJob:
        """Close an account: credentials die now (same transaction), the purge is scheduled."""
        principal.require_owner(account_id)
        account = await session.get(Account, account_id)
        if account is None or account.status is not AccountStatus.ACTIVE:
            from relayroom.control.errors import NotFound

            raise NotFound("no such account")
        now = self.ctx.clock.now()
        account.status = AccountStatus.TERMINATED
        account.terminated_at = now
        await session.execute(
            update(Application)
            .where(Application.account_id == account_id, Application.status != AppStatus.TERMINATED)
            .values(status=AppStatus.TERMINATED, terminated_at=now, updated_at=now)
        )
        await session.execute(
            update(CloudCredential).where(CloudCredential.account_id == account_id).values(enabled=False)
        )
        # Console sessions of users who only belong to this account; others just lose the membership
        # (principal_for ignores memberships of non-active accounts).
        for user_id in await self._sole_members(session, account_id):
            await session.execute(
                update(ApiToken)
                .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        job = await self.schedule(session, scope="account", trigger="account_deleted", account_id=account_id)
        await self.oplog.append(
            session,
            principal=principal,
            action="account.delete",
            account_id=account_id,
            obj={"type": "account", "id": account_id},
            after={
                "status": "terminated",
                "purge_due": job.due_at.isoformat(),
                "purge_deadline": job.deadline_at.isoformat(),
            },
        )
        return job

    async def on_app_terminated(self, session: AsyncSession, app: Application) -> list[RetentionJob]:
        """Called in the terminating transaction: schedule the app purge, and the account's
        'use ended' purge of cloud-API credentials when no live application is left."""
        jobs = [
            await self.schedule(
                session,
                scope="application",
                trigger="app_terminated",
                account_id=app.account_id,
                sdkappid=app.sdkappid,
            )
        ]
        live = (
            await session.execute(
                select(func.count())
                .select_from(Application)
                .where(Application.account_id == app.account_id, Application.status != AppStatus.TERMINATED)
            )
        ).scalar_one()
        if live == 0:
            await session.execute(
                update(CloudCredential)
                .where(CloudCredential.account_id == app.account_id)
                .values(enabled=False)
            )
            jobs.append(
                await self.schedule(
                    session, scope="credentials", trigger="use_ended", account_id=app.account_id
                )
            )
        return jobs

    # --- running -------------------------------------------------------------------------
    async def due_jobs(self, now: datetime) -> list[str]:
        async with self.ctx.db.read() as s:
            rows = await s.execute(
                select(RetentionJob.id)
                .where(RetentionJob.state != "completed", RetentionJob.due_at <= now)
                .order_by(RetentionJob.due_at)
            )
            return [r[0] for r in rows]

    async def run_due(self, now: datetime | None = None) -> list[PurgeOutcome]:
        """Run every due purge to completion (idempotent; a crashed purge is simply run again)."""
        now = now or self.ctx.clock.now()
        outcomes = []
        for job_id in await self.due_jobs(now):
            outcome = await self.run_job(job_id, now)
            if outcome is not None:
                outcomes.append(outcome)
        if outcomes:
            await self._after_purge()
        return outcomes

    @staticmethod
    async def _claim(s: AsyncSession, job_id: str) -> RetentionJob | None:
        """The job's row, locked for this transaction; None when another node's purge holds it
        (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite has one writer and ignores the clause)."""
        found = await s.execute(
            select(RetentionJob).where(RetentionJob.id == job_id).with_for_update(skip_locked=True)
        )
        return found.scalar_one_or_none()

    async def run_job(self, job_id: str, now: datetime | None = None) -> PurgeOutcome | None:
        """Run one purge; None when it is done already or another node is running it now."""
        now = now or self.ctx.clock.now()
        async with self.ctx.db.write() as s:
            job = await self._claim(s, job_id)
            if job is None or job.state == "completed":
                return None
            job.state = "running"
            job.attempts += 1
            job.started_at = job.started_at or now
        # One transaction for the purge itself: a crash leaves the job "running", and the next run
        # repeats it from the start against whatever is left. The row stays locked until it commits: a
        # second node finds it locked (skips it) or completed.
        async with self.ctx.db.write() as s:
            job = await self._claim(s, job_id)
            if job is None or job.state == "completed":
                return None
            breach = now > job.deadline_at
            if job.scope == "account":
                counts = await self._purge_account(s, job)
            elif job.scope == "application":
                counts = await self._purge_application(s, job)
            elif job.scope == "credentials":
                counts = await self._purge_credentials(s, job)
            else:
                raise ValueError(f"unknown purge scope {job.scope!r}")
            if breach:
                job.sla_breach = True
                await self.oplog.append(
                    s,
                    principal=SYSTEM,
                    action="retention.sla_breach",
                    account_id=None,
                    extra={
                        "job": job.id,
                        "account_ref": job.account_ref,
                        "deadline": job.deadline_at.isoformat(),
                        "completed": now.isoformat(),
                    },
                )
            receipt_id = await self._write_receipt(s, job, counts, now)
            if job.request_id is not None:
                req = await s.get(DataSubjectRequest, job.request_id)
                if req is not None:
                    req.state, req.completed_at, req.receipt_id = "completed", now, receipt_id
                    req.result = json.dumps(counts)
            job.state = "completed"
            job.completed_at = now
            job.receipt_id = receipt_id
            job.account_id = None
            job.sdkappid = None
        log.info("purge completed", extra={"job": job_id, "scope": job.scope, "sla_breach": breach})
        return PurgeOutcome(job_id, receipt_id, breach, counts)

    async def _after_purge(self) -> None:
        """Deleted bytes must leave the WAL (SQLite) and the table files (PostgreSQL) too."""
        if self.ctx.db.dialect == "sqlite":
            await self.ctx.db.checkpoint_wal()
        elif self.ctx.db.dialect == "postgresql":
            # Rewrites the small tables that held wrapped data keys and secrets, so dead tuples with
            # them are gone from the heap. WAL archives/backups keep them until they expire: secrets in
            # them are sealed, and the wrapped key only opens with the master key (docs/privacy.md).
            async with self.ctx.db.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                for table in ("accounts", "app_secret_keys", "cloud_credentials", "oplog_entries"):
                    await conn.execute(text(f"VACUUM FULL {table}"))

    # --- the purges ------------------------------------------------------------------------
    async def _redact(self, s: AsyncSession, where: Any, job: RetentionJob) -> int:
        now = self.ctx.clock.now()
        seqs = [
            r[0]
            for r in await s.execute(select(OplogEntry.seq).where(where, OplogEntry.payload.is_not(None)))
        ]
        if not seqs:
            return 0
        await s.execute(
            update(OplogEntry)
            .where(OplogEntry.seq.in_(seqs))
            .values(payload=None, salt=None, account_id=None, redacted_at=now)
        )
        await self.oplog.append(
            s,
            principal=SYSTEM,
            action=chain.REDACT_ACTION,
            account_id=None,
            extra={"redacted_seqs": seqs, "job": job.id, "account_ref": job.account_ref},
        )
        return len(seqs)

    async def _count_delete(self, s: AsyncSession, model: Any, where: Any) -> int:
        n = (await s.execute(select(func.count()).select_from(model).where(where))).scalar_one()
        if n:
            await s.execute(delete(model).where(where))
        return int(n)

    async def _count_update(self, s: AsyncSession, model: Any, where: Any, **values: Any) -> int:
        n = (await s.execute(select(func.count()).select_from(model).where(where))).scalar_one()
        if n:
            await s.execute(update(model).where(where).values(**values))
        return int(n)

    async def _sole_members(self, s: AsyncSession, account_id: str) -> list[str]:
        members = [
            r[0]
            for r in await s.execute(select(Membership.user_id).where(Membership.account_id == account_id))
        ]
        out = []
        for uid in members:
            others = (
                await s.execute(
                    select(func.count())
                    .select_from(Membership)
                    .where(Membership.user_id == uid, Membership.account_id != account_id)
                )
            ).scalar_one()
            user = await s.get(User, uid)
            if others == 0 and user is not None and not user.is_admin:
                out.append(uid)
        return out

    async def _purge_app_rows(self, s: AsyncSession, sdkappids: list[int]) -> dict[str, int]:
        counts: dict[str, int] = {}
        if not sdkappids:
            return counts
        counts["consent_records"] = await self._count_delete(
            s, ConsentRecord, ConsentRecord.sdkappid.in_(sdkappids)
        )
        counts["consent_attestations"] = await self._count_delete(
            s, ConsentAttestation, ConsentAttestation.sdkappid.in_(sdkappids)
        )
        counts["app_secret_keys"] = await self._count_delete(
            s, AppSecretKey, AppSecretKey.sdkappid.in_(sdkappids)
        )
        counts["app_user_blocks"] = await self._count_delete(
            s, AppUserBlock, AppUserBlock.sdkappid.in_(sdkappids)
        )
        for provider in self.subject_data_providers:
            for name, n in (await provider.purge_apps(s, sdkappids)).items():
                counts[name] = counts.get(name, 0) + n
        counts["applications"] = await self._count_delete(s, Application, Application.sdkappid.in_(sdkappids))
        return counts

    async def _purge_account(self, s: AsyncSession, job: RetentionJob) -> dict[str, int]:
        account_id = job.account_id
        counts: dict[str, int] = {}
        if account_id is None:
            return counts
        sdkappids = [
            r[0]
            for r in await s.execute(select(Application.sdkappid).where(Application.account_id == account_id))
        ]
        counts["oplog_entries_redacted"] = await self._redact(s, OplogEntry.account_id == account_id, job)
        counts.update(await self._purge_app_rows(s, sdkappids))
        counts["cloud_credentials"] = await self._count_delete(
            s, CloudCredential, CloudCredential.account_id == account_id
        )
        sole = await self._sole_members(s, account_id)
        counts["memberships"] = await self._count_delete(s, Membership, Membership.account_id == account_id)
        if sole:
            for uid in sole:  # user.create / user.login entries name the user, not the account
                counts["oplog_entries_redacted"] += await self._redact(
                    s, OplogEntry.payload.contains(_object_pattern("user", uid), autoescape=True), job
                )
            await self._count_delete(s, ApiToken, ApiToken.user_id.in_(sole))
            counts["users"] = await self._count_delete(s, User, User.id.in_(sole))
        # Requests are kept as pseudonymised evidence: drop the sealed subject and export.
        counts["privacy_requests_pseudonymised"] = await self._count_update(
            s,
            DataSubjectRequest,
            DataSubjectRequest.account_id == account_id,
            account_id=None,
            sdkappid=None,
            subject_sealed=None,
            export_sealed=None,
        )
        # Crypto-shredding: the wrapped data key goes with the row; every sealed copy is now noise.
        await s.execute(
            update(Account).where(Account.id == account_id).values(data_key_wrapped=None, name=None)
        )
        counts["accounts"] = await self._count_delete(s, Account, Account.id == account_id)
        counts["data_keys_destroyed"] = 1
        s.add(Tombstone(ref=job.account_ref, kind="account", purged_at=self.ctx.clock.now()))
        return counts

    async def _purge_application(self, s: AsyncSession, job: RetentionJob) -> dict[str, int]:
        sdkappid = job.sdkappid
        counts: dict[str, int] = {}
        if sdkappid is None:
            return counts
        counts["oplog_entries_redacted"] = await self._redact(
            s, OplogEntry.payload.contains(_object_pattern("application", sdkappid), autoescape=True), job
        )
        counts.update(await self._purge_app_rows(s, [sdkappid]))
        if await s.get(Tombstone, job.target_ref) is None:
            s.add(Tombstone(ref=job.target_ref, kind="application", purged_at=self.ctx.clock.now()))
        return counts

    async def _purge_credentials(self, s: AsyncSession, job: RetentionJob) -> dict[str, int]:
        account_id = job.account_id
        if account_id is None:
            return {}
        live = (
            await s.execute(
                select(func.count())
                .select_from(Application)
                .where(Application.account_id == account_id, Application.status != AppStatus.TERMINATED)
            )
        ).scalar_one()
        if live:
            # The customer created a new application since: its use of the Feature goes on.
            return {"skipped_account_in_use": 1}
        secret_ids = [
            r[0]
            for r in await s.execute(
                select(CloudCredential.secret_id).where(CloudCredential.account_id == account_id)
            )
        ]
        counts = {"oplog_entries_redacted": 0}
        for sid in secret_ids:
            counts["oplog_entries_redacted"] += await self._redact(
                s, OplogEntry.payload.contains(_object_pattern("credential", sid), autoescape=True), job
            )
        counts["cloud_credentials"] = await self._count_delete(
            s, CloudCredential, CloudCredential.account_id == account_id
        )
        return counts

    async def issue_receipt(self, s: AsyncSession, body: dict[str, Any], now: datetime) -> str:
        """Sign and keep a deletion receipt: adds its id, type and the oplog chain head to ``body``."""
        seq, head = await self.oplog.head(s)
        receipt_id = "rcpt_" + secrets.token_hex(16)
        doc = self.ctx.signer.sign_document(
            {
                "type": "relayroom.deletion_receipt",
                "receipt_id": receipt_id,
                **body,
                "completed_at": now.isoformat(),
                "oplog_chain_head": {"seq": seq, "hash": head},
            }
        )
        s.add(
            DeletionReceipt(
                id=receipt_id, account_ref=str(body["account_ref"]), document=json.dumps(doc), created_at=now
            )
        )
        return receipt_id

    async def _write_receipt(
        self, s: AsyncSession, job: RetentionJob, counts: dict[str, int], now: datetime
    ) -> str:
        categories = {
            "account": [
                "customer temporary key information",
                "customer log data relating to applications",
                "console users",
            ],
            "application": [
                "customer temporary key information",
                "customer log data relating to applications",
            ],
            "credentials": ["customer temporary key information (cloud-API credentials)"],
        }[job.scope]
        method = (
            "hard delete with SQLite secure_delete=ON + WAL checkpoint(TRUNCATE)"
            if self.ctx.db.dialect == "sqlite"
            else "hard delete + VACUUM FULL of key tables (PostgreSQL)"
        )
        if job.scope == "account":
            method += "; account data key destroyed (crypto-shredding of every sealed secret)"
        return await self.issue_receipt(
            s,
            {
                "trigger": job.trigger,
                "trigger_id": job.request_id or job.id,
                "scope": job.scope,
                "account_ref": job.account_ref,
                "target_ref": job.target_ref,
                "data_categories": categories,
                "row_counts": counts,
                "requested_at": job.requested_at.isoformat(),
                "deadline_at": job.deadline_at.isoformat(),
                "sla_breach": now > job.deadline_at,
                "method": method,
                "backups_note": "database backups and WAL archives must expire within 7 days of this receipt",
            },
            now,
        )

    # --- status --------------------------------------------------------------------------
    async def status(self, account_id: str | None = None) -> list[dict[str, Any]]:
        async with self.ctx.db.read() as s:
            q = select(RetentionJob).order_by(RetentionJob.due_at)
            if account_id is not None:
                q = q.where(RetentionJob.account_id == account_id)
            rows = (await s.execute(q)).scalars()
            return [
                {
                    "job_id": j.id,
                    "scope": j.scope,
                    "trigger": j.trigger,
                    "account_ref": j.account_ref,
                    "sdkappid": j.sdkappid,
                    "state": j.state,
                    "requested_at": j.requested_at.isoformat(),
                    "due_at": j.due_at.isoformat(),
                    "deadline_at": j.deadline_at.isoformat(),
                    "completed_at": j.completed_at.isoformat() if j.completed_at else None,
                    "sla_breach": j.sla_breach,
                    "receipt_id": j.receipt_id,
                }
                for j in rows
            ]

    async def receipt(self, receipt_id: str) -> dict[str, Any] | None:
        async with self.ctx.db.read() as s:
            row = await s.get(DeletionReceipt, receipt_id)
            return json.loads(row.document) if row else None
