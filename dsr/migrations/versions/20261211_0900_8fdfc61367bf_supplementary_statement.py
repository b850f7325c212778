"""supplementary statement: Art. 16 incomplete data completed by the subject's statement

Revision ID: 8fdfc61367bf
Revises: a8d3f5c1e7b4
Create Date: 2026-12-11 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "8fdfc61367bf"
down_revision = "a8d3f5c1e7b4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subject_requests") as batch:
        batch.add_column(sa.Column("supplementary_statement", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subject_requests") as batch:
        batch.drop_column("supplementary_statement")
