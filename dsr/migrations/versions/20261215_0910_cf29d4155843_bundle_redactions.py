"""bundle redactions: other people's data staff leave out of a bundle, with the reason (Art. 15(4))

Revision ID: cf29d4155843
Revises: 4c1ef2a6d908
Create Date: 2026-12-15 09:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "cf29d4155843"
down_revision = "4c1ef2a6d908"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bundle_redactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("system_key", sa.String(64), nullable=False),
        sa.Column("collection", sa.String(64), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["subject_requests.id"],
                                name="fk_bundle_redactions_request_id_subject_requests", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["staff_users.id"],
                                name="fk_bundle_redactions_created_by_id_staff_users"),
        sa.PrimaryKeyConstraint("id", name="pk_bundle_redactions"),
    )
    op.create_index("ix_bundle_redactions_request_id", "bundle_redactions", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_bundle_redactions_request_id", table_name="bundle_redactions")
    op.drop_table("bundle_redactions")
