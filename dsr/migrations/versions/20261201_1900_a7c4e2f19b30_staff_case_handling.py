"""staff case handling: the law named in an exemption refusal, four-eyes erasure approval

Revision ID: a7c4e2f19b30
Revises: 55916be88787
Create Date: 2026-12-01 19:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a7c4e2f19b30"
down_revision = "55916be88787"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subject_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rejection_law", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("approval_proposed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("approval_proposed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_subject_requests_approval_proposed_by_id_staff_users"),
                                    "staff_users", ["approval_proposed_by_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("subject_requests", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_subject_requests_approval_proposed_by_id_staff_users"),
                                 type_="foreignkey")
        batch_op.drop_column("approval_proposed_at")
        batch_op.drop_column("approval_proposed_by_id")
        batch_op.drop_column("rejection_law")
