"""staff language: each staff member chooses the language of the staff pages

Revision ID: d41f7b2c9e58
Revises: a5bc8a174766
Create Date: 2026-12-16 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "d41f7b2c9e58"
down_revision = "a5bc8a174766"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("language", sa.String(5), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("language")
