"""media events callback URL; client device, SDK version and (truncated) IP of a stay

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("callback_configs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("media_url", sa.Text(), nullable=False, server_default=""))
    # Until now one URL received both groups: it stays valid for both.
    op.execute("UPDATE callback_configs SET media_url = url")
    with op.batch_alter_table("call_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_type", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("sdk_version", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("client_ip", sa.String(length=45), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("call_users", schema=None) as batch_op:
        batch_op.drop_column("client_ip")
        batch_op.drop_column("sdk_version")
        batch_op.drop_column("device_type")
    with op.batch_alter_table("callback_configs", schema=None) as batch_op:
        batch_op.drop_column("media_url")
