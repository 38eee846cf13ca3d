"""cluster: call history rows carry their node; webhook outbox rows carry a delivery lease

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import relayroom.storage.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows written before this revision have no node (NULL): the first node to start closes them, as
    # every start did before.
    with op.batch_alter_table("call_rooms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("node_id", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_call_rooms_node_open", ["node_id", "destroy_ts"], unique=False)
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("lease_until", relayroom.storage.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("claimed_by")
    with op.batch_alter_table("call_rooms", schema=None) as batch_op:
        batch_op.drop_index("ix_call_rooms_node_open")
        batch_op.drop_column("node_id")
