"""app-wide user blocks kept in the database (every node and the CLI see them)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 04:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import relayroom.storage.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_user_blocks",
        sa.Column("sdkappid", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("blocked_at", relayroom.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["sdkappid"], ["applications.sdkappid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("sdkappid", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("app_user_blocks")
