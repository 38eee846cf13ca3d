"""Privacy engine tables: purge jobs, receipts, tombstones, data-subject requests, consent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from relayroom.storage.models.base import Base
from relayroom.storage.types import UTCDateTime


class RetentionJob(Base):
    """A scheduled purge. Identifying columns (account_id, sdkappid) are cleared once it completes;
    only pseudonymous refs remain as evidence."""

    __tablename__ = "retention_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # account | application | subject
    trigger: Mapped[str] = mapped_column(String(32))  # account_deleted | app_terminated | use_ended | request
    account_id: Mapped[str | None] = mapped_column(String(36), index=True)
    sdkappid: Mapped[int | None] = mapped_column(BigInteger)
    account_ref: Mapped[str] = mapped_column(String(64))
    target_ref: Mapped[str] = mapped_column(String(64))  # pseudonymous ref of what is purged
    request_id: Mapped[str | None] = mapped_column(String(36))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # target (24 h default)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)  # hard: 7 days
    state: Mapped[str] = mapped_column(String(16), default="scheduled", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_breach: Mapped[bool] = mapped_column(Boolean, default=False)
    receipt_id: Mapped[str | None] = mapped_column(String(64))


class DeletionReceipt(Base):
    """A signed statement of what was deleted; holds no deleted data. Fetched by its unguessable id."""

    __tablename__ = "deletion_receipts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_ref: Mapped[str] = mapped_column(String(64), index=True)
    document: Mapped[str] = mapped_column(Text)  # signed JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Tombstone(Base):
    """Suppression list: lets a purge be re-applied after a backup restore, without the data."""

    __tablename__ = "tombstones"

    ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # account | application | subject
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    receipt_id: Mapped[str | None] = mapped_column(String(64))


class DataSubjectRequest(Base):
    """A deletion or access request filed by a customer (the controller).

    The subject's user id is sealed with the account's data key while the request is open and dropped
    when it completes; the pseudonymous subject_ref stays as evidence.
    """

    __tablename__ = "privacy_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(String(36), index=True)
    account_ref: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # access | deletion
    subject_kind: Mapped[str] = mapped_column(String(16))  # end_user | account
    sdkappid: Mapped[int | None] = mapped_column(BigInteger)
    subject_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    subject_ref: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)  # received|in_progress|completed|rejected
    reason: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(Text)  # JSON summary: categories and counts
    export_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # access: the export, sealed
    receipt_id: Mapped[str | None] = mapped_column(String(64))


class ConsentRecord(Base):
    """A pseudonymous consent event (given on entry with a token, or withdrawn)."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sdkappid: Mapped[int] = mapped_column(BigInteger, index=True)
    subject_ref: Mapped[str] = mapped_column(String(64), index=True)
    event: Mapped[str] = mapped_column(String(16))  # given | withdrawn | refused
    jurisdiction: Mapped[str | None] = mapped_column(String(8))
    threshold_age: Mapped[int | None] = mapped_column(Integer)
    consenter: Mapped[str | None] = mapped_column(String(8))  # self | parent
    parental_evidence_ref: Mapped[str | None] = mapped_column(String(128))
    notice_version: Mapped[str | None] = mapped_column(String(64))
    token_time: Mapped[int | None] = mapped_column(BigInteger)
    table_version: Mapped[str | None] = mapped_column(String(32))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)


class ConsentAttestation(Base):
    """The customer's statement that they collect end-user consent for an application."""

    __tablename__ = "consent_attestations"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sdkappid: Mapped[int] = mapped_column(BigInteger, index=True)
    attested_by: Mapped[str] = mapped_column(String(64))
    attested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dpa_version: Mapped[str] = mapped_column(String(64))
    consent_mechanism: Mapped[str] = mapped_column(Text)
    age_gate_method: Mapped[str] = mapped_column(String(200))
    parental_flow: Mapped[bool] = mapped_column(Boolean)
    table_version: Mapped[str] = mapped_column(String(32))
