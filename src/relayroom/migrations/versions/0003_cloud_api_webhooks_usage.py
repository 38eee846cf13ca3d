"""cloud api webhooks usage

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 00:41:50.672308

Call history, usage buckets, the webhook outbox and the callback settings.
"""

from __future__ import annotations

import sqlalchemy as sa

from relayroom.migrations.tables import Index, Table, create, drop, sdkappid, serial, utc

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _tables() -> list[Table]:
    """What the cloud API reads back (history, usage) and what webhooks need."""
    return [
        Table(
            "call_quality_samples",
            [
                serial(),
                sa.Column("call_id", sa.Integer(), nullable=False),
                sdkappid(),
                sa.Column("user_id", sa.String(length=32), nullable=False),
                sa.Column("peer_id", sa.String(length=32), nullable=False),
                sa.Column("data_type", sa.String(length=32), nullable=False),
                sa.Column("ts", sa.BigInteger(), nullable=False),
                sa.Column("value", sa.Float(), nullable=False),
            ],
            indexes=[Index(["call_id", "user_id"], "ix_call_quality_samples_call_user"), Index(["sdkappid"])],
        ),
        Table(
            "call_rooms",
            [
                serial(),
                sdkappid(),
                sa.Column("room_id", sa.String(length=64), nullable=False),
                sa.Column("str_room", sa.Boolean(), nullable=False),
                sa.Column("create_ts", sa.BigInteger(), nullable=False),
                sa.Column("destroy_ts", sa.BigInteger(), nullable=True),
                sa.Column("creator", sa.String(length=32), nullable=False),
            ],
            indexes=[Index(["sdkappid", "create_ts"], "ix_call_rooms_app_time"), Index(["sdkappid"])],
        ),
        Table(
            "call_user_events",
            [
                serial(),
                sa.Column("call_id", sa.Integer(), nullable=False),
                sdkappid(),
                sa.Column("user_id", sa.String(length=32), nullable=False),
                sa.Column("ts_ms", sa.BigInteger(), nullable=False),
                sa.Column("event_id", sa.Integer(), nullable=False),
                sa.Column("type", sa.Integer(), nullable=False),
                sa.Column("param_one", sa.BigInteger(), nullable=False),
                sa.Column("param_two", sa.BigInteger(), nullable=False),
            ],
            indexes=[Index(["call_id"]), Index(["sdkappid"])],
        ),
        Table(
            "call_users",
            [
                serial(),
                sa.Column("call_id", sa.Integer(), nullable=False),
                sdkappid(),
                sa.Column("user_id", sa.String(length=32), nullable=False),
                sa.Column("role", sa.String(length=16), nullable=False),
                sa.Column("join_ts", sa.BigInteger(), nullable=False),
                sa.Column("leave_ts", sa.BigInteger(), nullable=True),
            ],
            indexes=[Index(["call_id"]), Index(["sdkappid"])],
        ),
        Table(
            "usage_buckets",
            [
                serial(),
                sdkappid(),
                sa.Column("granularity", sa.String(length=8), nullable=False),
                utc("bucket_start"),
                sa.Column("room_id", sa.String(length=64), nullable=False),
                sa.Column("str_room", sa.Boolean(), nullable=False),
                sa.Column("user_id", sa.String(length=32), nullable=False),
                *(
                    sa.Column(name, sa.Float(), nullable=False)
                    for name in ("audio_s", "sd_s", "hd_s", "fhd_s", "k2_s", "k4_s")
                ),
            ],
            constraints=[
                sa.UniqueConstraint(
                    "sdkappid",
                    "granularity",
                    "bucket_start",
                    "room_id",
                    "str_room",
                    "user_id",
                    name="uq_usage_bucket",
                )
            ],
            indexes=[Index(["sdkappid"])],
        ),
        Table(
            "webhook_deliveries",
            [
                serial(),
                sdkappid(),
                sa.Column("event_group", sa.Integer(), nullable=False),
                sa.Column("event_type", sa.Integer(), nullable=False),
                sa.Column("user_id", sa.String(length=32), nullable=True),
                sa.Column("event_info", sa.Text(), nullable=False),
                sa.Column("state", sa.String(length=16), nullable=False),
                utc("created_at"),
                utc("first_attempt_at", nullable=True),
                utc("next_attempt_at"),
                sa.Column("attempts", sa.Integer(), nullable=False),
                sa.Column("last_status", sa.Integer(), nullable=True),
                sa.Column("last_error", sa.String(length=200), nullable=True),
                utc("finished_at", nullable=True),
            ],
            indexes=[
                Index(["sdkappid"]),
                Index(["state", "next_attempt_at"], "ix_webhook_deliveries_state_next"),
            ],
        ),
        Table(
            "callback_configs",
            [
                sdkappid(),
                sa.Column("url", sa.Text(), nullable=False),
                sa.Column("key_ciphertext", sa.LargeBinary(), nullable=True),
                utc("updated_at"),
            ],
            primary_key=["sdkappid"],
            cascades=[("sdkappid", "applications.sdkappid")],
        ),
    ]


def upgrade() -> None:
    create(_tables())


def downgrade() -> None:
    drop(_tables())
