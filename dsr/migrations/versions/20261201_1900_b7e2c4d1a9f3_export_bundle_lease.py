"""export bundle lease: a dead worker's assembly is found by the sweeper

Revision ID: b7e2c4d1a9f3
Revises: a7c4e2f19b30
Create Date: 2026-12-01 19:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "b7e2c4d1a9f3"
down_revision = "a7c4e2f19b30"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("export_bundles") as batch:
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("export_bundles") as batch:
        batch.drop_column("lease_until")
