"""extension months: an extension is one or two further months (Art. 12(3)), chosen by staff

Revision ID: d4e8f2a6b1c5
Revises: c3d9a1f0e7b2
Create Date: 2026-12-01 22:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "d4e8f2a6b1c5"
down_revision = "c3d9a1f0e7b2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subject_requests") as batch:
        batch.add_column(sa.Column("extension_months", sa.SmallInteger(), nullable=True))
    # Cases extended before the choice existed were extended by the full two months.
    op.execute("UPDATE subject_requests SET extension_months = 2 WHERE extended_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("subject_requests") as batch:
        batch.drop_column("extension_months")
