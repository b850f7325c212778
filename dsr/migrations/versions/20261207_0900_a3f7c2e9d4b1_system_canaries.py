"""system canaries: the nightly check of each connected system (issue 14)

Revision ID: a3f7c2e9d4b1
Revises: e5a1c9d7b3f2
Create Date: 2026-12-07 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a3f7c2e9d4b1"
down_revision = "e5a1c9d7b3f2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "system_canaries",
        sa.Column("system_key", sa.String(64), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("problem", sa.String(500), nullable=True),
        sa.Column("records", sa.JSON(), nullable=True),
        sa.Column("shape", sa.JSON(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("system_key", name="pk_system_canaries"),
    )


def downgrade() -> None:
    op.drop_table("system_canaries")
