"""bundle parts: a partial answer's rest follows as part 2 (one bundle per case, kind and part), and each
bundle names the systems it answers for

Revision ID: 4c1ef2a6d908
Revises: c7e19a4d2b60
Create Date: 2026-12-15 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "4c1ef2a6d908"
down_revision = "c7e19a4d2b60"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("export_bundles") as batch:
        batch.add_column(sa.Column("part", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("systems", sa.JSON(), nullable=True))
        batch.drop_constraint("uq_export_bundles_request_id_kind", type_="unique")
        batch.create_unique_constraint("uq_export_bundles_request_id_kind_part", ["request_id", "kind", "part"])
    with op.batch_alter_table("export_bundles") as batch:
        batch.alter_column("part", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("export_bundles") as batch:
        batch.drop_constraint("uq_export_bundles_request_id_kind_part", type_="unique")
        batch.create_unique_constraint("uq_export_bundles_request_id_kind", ["request_id", "kind"])
        batch.drop_column("systems")
        batch.drop_column("part")
