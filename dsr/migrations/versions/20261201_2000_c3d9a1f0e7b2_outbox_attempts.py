"""outbox attempts: failed attempts of a job, so retries with backoff live in the outbox (not in RQ)

Revision ID: c3d9a1f0e7b2
Revises: b7c41e2a9d03
Create Date: 2026-12-01 20:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c3d9a1f0e7b2"
down_revision = "b7c41e2a9d03"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_jobs") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("outbox_jobs") as batch:
        batch.drop_column("attempts")
