"""deployment settings (the demo application's id)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployment_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_deployment_settings")),
    )
    # A deployment set up before this revision: its demo application is the one first start created
    # (name "Demo", description "Created on first start", in the first account). None found: no demo
    # application, and the dev UserSig endpoint refuses.
    conn = op.get_bind()
    row = conn.execute(
        sa.text(
            "SELECT a.sdkappid FROM applications a JOIN accounts c ON c.id = a.account_id "
            "WHERE a.name = 'Demo' AND a.description = 'Created on first start' "
            "ORDER BY c.created_at, a.created_at LIMIT 1"
        )
    ).first()
    if row is not None:
        conn.execute(
            sa.text("INSERT INTO deployment_settings (key, value) VALUES ('demo_sdkappid', :v)"),
            {"v": str(row[0])},
        )


def downgrade() -> None:
    op.drop_table("deployment_settings")
