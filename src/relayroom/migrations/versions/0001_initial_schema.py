"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 00:30:01.889099

Accounts, console users and their tokens, applications with their keys, the operation log.
"""

from __future__ import annotations

import sqlalchemy as sa

from relayroom.migrations.tables import Index, Table, create, drop, sdkappid, serial, utc

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _status(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=16)


def _tables() -> list[Table]:
    """In creation order; dropped in reverse."""
    return [
        Table(
            "accounts",
            [
                sa.Column("id", sa.String(length=36), nullable=False),
                sa.Column("name", sa.String(length=200), nullable=True),
                sa.Column(
                    "status", _status("accountstatus", "active", "terminated", "purged"), nullable=False
                ),
                sa.Column("data_key_wrapped", sa.LargeBinary(), nullable=True),
                utc("created_at"),
                utc("terminated_at", nullable=True),
            ],
        ),
        Table(
            "oplog_entries",
            [
                sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
                utc("ts"),
                sa.Column("account_id", sa.String(length=36), nullable=True),
                sa.Column("account_ref", sa.String(length=64), nullable=False),
                sa.Column("action", sa.String(length=64), nullable=False),
                sa.Column("result", sa.String(length=16), nullable=False),
                sa.Column("payload", sa.Text(), nullable=True),
                sa.Column("salt", sa.LargeBinary(), nullable=True),
                sa.Column("payload_commit", sa.String(length=64), nullable=False),
                sa.Column("prev_hash", sa.String(length=64), nullable=False),
                sa.Column("entry_hash", sa.String(length=64), nullable=False),
                utc("redacted_at", nullable=True),
            ],
            primary_key=["seq"],
            indexes=[Index(["account_id"]), Index(["action"])],
        ),
        Table(
            "users",
            [
                sa.Column("id", sa.String(length=36), nullable=False),
                sa.Column("username", sa.String(length=128), nullable=False),
                sa.Column("password_hash", sa.String(length=255), nullable=False),
                sa.Column("is_admin", sa.Boolean(), nullable=False),
                sa.Column("disabled", sa.Boolean(), nullable=False),
                utc("created_at"),
            ],
            unique=[["username"]],
        ),
        Table(
            "api_tokens",
            [
                sa.Column("id", sa.String(length=36), nullable=False),
                sa.Column("user_id", sa.String(length=36), nullable=False),
                sa.Column("token_hash", sa.String(length=64), nullable=False),
                sa.Column("name", sa.String(length=100), nullable=False),
                utc("created_at"),
                utc("expires_at", nullable=True),
                utc("revoked_at", nullable=True),
            ],
            cascades=[("user_id", "users.id")],
            unique=[["token_hash"]],
            indexes=[Index(["user_id"])],
        ),
        Table(
            "applications",
            [
                sa.Column("sdkappid", sa.BigInteger(), autoincrement=False, nullable=False),
                sa.Column("account_id", sa.String(length=36), nullable=False),
                sa.Column("name", sa.String(length=200), nullable=False),
                sa.Column("description", sa.Text(), nullable=False),
                sa.Column("tags", sa.JSON(), nullable=False),
                sa.Column(
                    "status", _status("appstatus", "enabled", "disabled", "terminated"), nullable=False
                ),
                sa.Column("region", sa.String(length=64), nullable=False),
                sa.Column("permission_key_enabled", sa.Boolean(), nullable=False),
                sa.Column(
                    "consent_policy", _status("consentpolicy", "off", "attest", "enforce"), nullable=False
                ),
                utc("created_at"),
                utc("updated_at"),
                utc("terminated_at", nullable=True),
            ],
            primary_key=["sdkappid"],
            cascades=[("account_id", "accounts.id")],
            indexes=[Index(["account_id"])],
        ),
        Table(
            "cloud_credentials",
            [
                sa.Column("secret_id", sa.String(length=64), nullable=False),
                sa.Column("account_id", sa.String(length=36), nullable=False),
                sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
                sa.Column("enabled", sa.Boolean(), nullable=False),
                utc("created_at"),
                utc("last_used_at", nullable=True),
            ],
            primary_key=["secret_id"],
            cascades=[("account_id", "accounts.id")],
            indexes=[Index(["account_id"])],
        ),
        Table(
            "memberships",
            [
                serial(),
                sa.Column("account_id", sa.String(length=36), nullable=False),
                sa.Column("user_id", sa.String(length=36), nullable=False),
                sa.Column("role", _status("role", "owner", "member"), nullable=False),
                utc("created_at"),
            ],
            cascades=[("account_id", "accounts.id"), ("user_id", "users.id")],
            unique=[["account_id", "user_id"]],
            indexes=[Index(["account_id"]), Index(["user_id"])],
        ),
        Table(
            "app_secret_keys",
            [
                sa.Column("id", sa.String(length=36), nullable=False),
                sdkappid(),
                sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
                utc("created_at"),
                utc("retires_at", nullable=True),
            ],
            cascades=[("sdkappid", "applications.sdkappid")],
            indexes=[Index(["sdkappid"])],
        ),
    ]


def upgrade() -> None:
    create(_tables())


def downgrade() -> None:
    drop(_tables())
