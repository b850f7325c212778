"""identity hold: a request whose identity the codes cannot settle (systems disagree on the phone)
waits for staff

Revision ID: e5a1c7d3f9b2
Revises: d4e8f2a6b1c5
Create Date: 2026-12-06 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e5a1c7d3f9b2"
down_revision = "d4e8f2a6b1c5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subject_requests") as batch:
        batch.add_column(sa.Column("identity_hold", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subject_requests") as batch:
        batch.drop_column("identity_hold")
