"""privacy engine

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 00:38:04.205039

Consent records and attestations, privacy requests, retention jobs, deletion receipts, tombstones.
"""

from __future__ import annotations

import sqlalchemy as sa

from relayroom.migrations.tables import Index, Table, create, drop, sdkappid, serial, utc

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _tables() -> list[Table]:
    """The privacy engine's state, in creation order."""
    return [
        Table(
            "consent_attestations",
            [
                serial(),
                sdkappid(),
                sa.Column("attested_by", sa.String(length=64), nullable=False),
                utc("attested_at"),
                sa.Column("dpa_version", sa.String(length=64), nullable=False),
                sa.Column("consent_mechanism", sa.Text(), nullable=False),
                sa.Column("age_gate_method", sa.String(length=200), nullable=False),
                sa.Column("parental_flow", sa.Boolean(), nullable=False),
                sa.Column("table_version", sa.String(length=32), nullable=False),
            ],
            indexes=[Index(["sdkappid"])],
        ),
        Table(
            "consent_records",
            [
                serial(),
                sdkappid(),
                sa.Column("subject_ref", sa.String(length=64), nullable=False),
                sa.Column("event", sa.String(length=16), nullable=False),
                sa.Column("jurisdiction", sa.String(length=8), nullable=True),
                sa.Column("threshold_age", sa.Integer(), nullable=True),
                sa.Column("consenter", sa.String(length=8), nullable=True),
                sa.Column("parental_evidence_ref", sa.String(length=128), nullable=True),
                sa.Column("notice_version", sa.String(length=64), nullable=True),
                sa.Column("token_time", sa.BigInteger(), nullable=True),
                sa.Column("table_version", sa.String(length=32), nullable=True),
                utc("ts"),
            ],
            indexes=[Index(["sdkappid"]), Index(["subject_ref"])],
        ),
        Table(
            "deletion_receipts",
            [
                sa.Column("id", sa.String(length=64), nullable=False),
                sa.Column("account_ref", sa.String(length=64), nullable=False),
                sa.Column("document", sa.Text(), nullable=False),
                utc("created_at"),
            ],
            indexes=[Index(["account_ref"])],
        ),
        Table(
            "privacy_requests",
            [
                sa.Column("id", sa.String(length=36), nullable=False),
                sa.Column("account_id", sa.String(length=36), nullable=True),
                sa.Column("account_ref", sa.String(length=64), nullable=False),
                sa.Column("kind", sa.String(length=16), nullable=False),
                sa.Column("subject_kind", sa.String(length=16), nullable=False),
                sdkappid(nullable=True),
                sa.Column("subject_sealed", sa.LargeBinary(), nullable=True),
                sa.Column("subject_ref", sa.String(length=64), nullable=False),
                sa.Column("state", sa.String(length=16), nullable=False),
                sa.Column("reason", sa.Text(), nullable=True),
                utc("received_at"),
                utc("due_at"),
                utc("completed_at", nullable=True),
                sa.Column("result", sa.Text(), nullable=True),
                sa.Column("export_sealed", sa.LargeBinary(), nullable=True),
                sa.Column("receipt_id", sa.String(length=64), nullable=True),
            ],
            indexes=[Index(["account_id"]), Index(["state"])],
        ),
        Table(
            "retention_jobs",
            [
                sa.Column("id", sa.String(length=36), nullable=False),
                sa.Column("scope", sa.String(length=16), nullable=False),
                sa.Column("trigger", sa.String(length=32), nullable=False),
                sa.Column("account_id", sa.String(length=36), nullable=True),
                sdkappid(nullable=True),
                sa.Column("account_ref", sa.String(length=64), nullable=False),
                sa.Column("target_ref", sa.String(length=64), nullable=False),
                sa.Column("request_id", sa.String(length=36), nullable=True),
                utc("requested_at"),
                utc("due_at"),
                utc("deadline_at"),
                sa.Column("state", sa.String(length=16), nullable=False),
                sa.Column("attempts", sa.Integer(), nullable=False),
                utc("started_at", nullable=True),
                utc("completed_at", nullable=True),
                sa.Column("sla_breach", sa.Boolean(), nullable=False),
                sa.Column("receipt_id", sa.String(length=64), nullable=True),
            ],
            indexes=[Index(["account_id"]), Index(["due_at"]), Index(["state"])],
        ),
        Table(
            "tombstones",
            [
                sa.Column("ref", sa.String(length=64), nullable=False),
                sa.Column("kind", sa.String(length=16), nullable=False),
                utc("purged_at"),
                sa.Column("receipt_id", sa.String(length=64), nullable=True),
            ],
            primary_key=["ref"],
        ),
    ]


def upgrade() -> None:
    create(_tables())


def downgrade() -> None:
    drop(_tables())
