"""Consent and age gate: the check room entry calls, attestations, and withdrawal."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.auth.consent_token import verify_consent_token
from relayroom.control.context import ControlContext
from relayroom.control.errors import InvalidInput
from relayroom.control.oplog.service import OplogService
from relayroom.control.principal import Principal
from relayroom.control.privacy.consent_ages import load_table
from relayroom.control.privacy.live import LiveControl, NoLiveRooms
from relayroom.control.privacy.refs import subject_ref
from relayroom.control.rooms.entry import ConsentDecision
from relayroom.storage.models import Application, ConsentAttestation, ConsentPolicy, ConsentRecord

log = logging.getLogger(__name__)

# Codes returned on the signalling channel (extra_code of CONSENT_REQUIRED); docs/privacy.md lists them.
CONSENT_MISSING = 7001
CONSENT_INVALID = 7002
CONSENT_UNDER_AGE = 7003
CONSENT_WITHDRAWN = 7004
ATTESTATION_MISSING = 7005


@dataclass(frozen=True)
class AttestationIn:
    dpa_version: str
    consent_mechanism: str
    age_gate_method: str
    parental_flow: bool


class ConsentService:
    """Implements the room manager's ConsentCheck on the database (nothing cached)."""

    def __init__(self, ctx: ControlContext, oplog: OplogService) -> None:
        self.ctx = ctx
        self.oplog = oplog
        self.live: LiveControl = NoLiveRooms()

    async def check(self, sdkappid: int, userid: str, consent_token: str | None) -> ConsentDecision:
        async with self.ctx.db.write() as s:
            app = await s.get(Application, sdkappid)
            if app is None or app.consent_policy is ConsentPolicy.OFF:
                return ConsentDecision(ok=True)
            if app.consent_policy is ConsentPolicy.ATTEST:
                if await self._attestation(s, sdkappid) is None:
                    return ConsentDecision(
                        False,
                        ATTESTATION_MISSING,
                        "the application has not attested that it collects consent",
                    )
                if not consent_token:
                    return ConsentDecision(ok=True)
            from relayroom.control.applications.service import ApplicationService  # local: avoids a cycle

            ctx = await ApplicationService.load_entry_context(self.ctx, s, sdkappid)
            keys = ctx.secret_keys if ctx else ()
            result = verify_consent_token(
                consent_token, sdkappid=sdkappid, userid=userid, keys=keys, now=int(self.ctx.clock.time())
            )
            ref = subject_ref(self.ctx.pseudonym_secret, sdkappid, userid)
            if not result.ok or result.claims is None:
                code = CONSENT_MISSING if result.reason.value == "missing" else CONSENT_INVALID
                return ConsentDecision(False, code, result.message)
            claims = result.claims
            withdrawn = (
                await s.execute(
                    select(ConsentRecord.ts)
                    .where(ConsentRecord.subject_ref == ref, ConsentRecord.event == "withdrawn")
                    .order_by(ConsentRecord.ts.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if withdrawn is not None and claims.time <= int(withdrawn.timestamp()):
                return ConsentDecision(
                    False,
                    CONSENT_WITHDRAWN,
                    "consent was withdrawn after this token was issued; issue a new one",
                )
            table = load_table()
            threshold = table.threshold(claims.jurisdiction)
            parental = bool(claims.parental_ref)
            if not parental and (claims.age is None or claims.age < threshold.age):
                await self._record(s, sdkappid, ref, "refused", claims, threshold.age, table.version)
                stated = "no age given" if claims.age is None else f"age {claims.age}"
                return ConsentDecision(
                    False,
                    CONSENT_UNDER_AGE,
                    f"{stated} is below the age of digital consent {threshold.age} in "
                    f"{threshold.jurisdiction}; parental consent is required",
                )
            exists = (
                await s.execute(
                    select(ConsentRecord.id).where(
                        ConsentRecord.subject_ref == ref,
                        ConsentRecord.event == "given",
                        ConsentRecord.token_time == claims.time,
                    )
                )
            ).first()
            if exists is None:
                await self._record(s, sdkappid, ref, "given", claims, threshold.age, table.version)
            return ConsentDecision(ok=True)

    async def _record(
        self, s: AsyncSession, sdkappid: int, ref: str, event: str, claims: Any, threshold: int, version: str
    ) -> None:
        s.add(
            ConsentRecord(
                sdkappid=sdkappid,
                subject_ref=ref,
                event=event,
                jurisdiction=claims.jurisdiction[:8],
                threshold_age=threshold,
                consenter="parent" if claims.parental_ref else "self",
                parental_evidence_ref=claims.parental_ref[:128] or None,
                notice_version=claims.notice[:64],
                token_time=claims.time,
                table_version=version,
                ts=self.ctx.clock.now(),
            )
        )

    async def _attestation(self, s: AsyncSession, sdkappid: int) -> ConsentAttestation | None:
        return (
            await s.execute(
                select(ConsentAttestation)
                .where(ConsentAttestation.sdkappid == sdkappid)
                .order_by(ConsentAttestation.attested_at.desc(), ConsentAttestation.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()

    async def get_attestation(self, s: AsyncSession, sdkappid: int) -> dict[str, Any] | None:
        a = await self._attestation(s, sdkappid)
        if a is None:
            return None
        return {
            "attested_by": a.attested_by,
            "attested_at": a.attested_at.isoformat(),
            "dpa_version": a.dpa_version,
            "consent_mechanism": a.consent_mechanism,
            "age_gate_method": a.age_gate_method,
            "parental_flow": a.parental_flow,
            "table_version": a.table_version,
        }

    async def attest(
        self, s: AsyncSession, principal: Principal, app: Application, body: AttestationIn
    ) -> dict[str, Any]:
        principal.require_owner(app.account_id)
        for name in ("dpa_version", "consent_mechanism", "age_gate_method"):
            if not getattr(body, name).strip():
                raise InvalidInput(f"{name} must not be empty")
        row = ConsentAttestation(
            sdkappid=app.sdkappid,
            attested_by=principal.actor,
            attested_at=self.ctx.clock.now(),
            dpa_version=body.dpa_version,
            consent_mechanism=body.consent_mechanism,
            age_gate_method=body.age_gate_method,
            parental_flow=body.parental_flow,
            table_version=load_table().version,
        )
        s.add(row)
        await s.flush()
        await self.oplog.append(
            s,
            principal=principal,
            action="app.consent.attest",
            account_id=app.account_id,
            obj={"type": "application", "id": app.sdkappid},
            after={"dpa_version": body.dpa_version, "parental_flow": body.parental_flow},
        )
        out = await self.get_attestation(s, app.sdkappid)
        assert out is not None
        return out

    async def withdraw(self, s: AsyncSession, principal: Principal, app: Application, userid: str) -> int:
        """Record the withdrawal (effective at once) and remove the user from the app's live rooms."""
        if not userid or len(userid) > 32:
            raise InvalidInput("userid must be 1-32 characters")
        ref = subject_ref(self.ctx.pseudonym_secret, app.sdkappid, userid)
        s.add(
            ConsentRecord(sdkappid=app.sdkappid, subject_ref=ref, event="withdrawn", ts=self.ctx.clock.now())
        )
        await self.oplog.append(
            s,
            principal=principal,
            action="consent.withdraw",
            account_id=app.account_id,
            obj={"type": "application", "id": app.sdkappid},
            extra={"subject_ref": ref},
        )
        return await self.live.remove_user(app.sdkappid, userid)

    async def records_for(self, s: AsyncSession, sdkappid: int, userid: str) -> list[dict[str, Any]]:
        ref = subject_ref(self.ctx.pseudonym_secret, sdkappid, userid)
        rows = (
            await s.execute(
                select(ConsentRecord).where(ConsentRecord.subject_ref == ref).order_by(ConsentRecord.ts)
            )
        ).scalars()
        return [
            {
                "event": r.event,
                "jurisdiction": r.jurisdiction,
                "threshold_age": r.threshold_age,
                "consenter": r.consenter,
                "parental_evidence_ref": r.parental_evidence_ref,
                "notice_version": r.notice_version,
                "token_time": r.token_time,
                "table_version": r.table_version,
                "ts": r.ts.isoformat(),
            }
            for r in rows
        ]
