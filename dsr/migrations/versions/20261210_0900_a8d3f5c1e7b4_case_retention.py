"""case retention: a closed case reduced to proof of handling after DSR_CASE_RETENTION_DAYS

Revision ID: a8d3f5c1e7b4
Revises: a3f7c2e9d4b1
Create Date: 2026-12-10 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a8d3f5c1e7b4"
down_revision = "a3f7c2e9d4b1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subject_requests") as batch:
        batch.add_column(sa.Column("reduced_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("email_digest", sa.String(length=64), nullable=True))
        batch.create_index("ix_subject_requests_email_digest", ["email_digest"])


def downgrade() -> None:
    with op.batch_alter_table("subject_requests") as batch:
        batch.drop_index("ix_subject_requests_email_digest")
        batch.drop_column("email_digest")
        batch.drop_column("reduced_at")
