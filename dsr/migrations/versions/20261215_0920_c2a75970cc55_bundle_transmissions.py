"""bundle transmissions: a portability bundle sent to the receiving controller the subject named (Art. 20(2))

Revision ID: c2a75970cc55
Revises: cf29d4155843
Create Date: 2026-12-15 09:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c2a75970cc55"
down_revision = "cf29d4155843"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bundle_transmissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bundle_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("receiver_name", sa.String(200), nullable=False),
        sa.Column("receiver_email", sa.String(254), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("download_count", sa.Integer(), nullable=False),
        sa.Column("last_downloaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["bundle_id"], ["export_bundles.id"],
                                name="fk_bundle_transmissions_bundle_id_export_bundles", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["request_id"], ["subject_requests.id"],
                                name="fk_bundle_transmissions_request_id_subject_requests", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["staff_users.id"],
                                name="fk_bundle_transmissions_created_by_id_staff_users"),
        sa.PrimaryKeyConstraint("id", name="pk_bundle_transmissions"),
        sa.UniqueConstraint("token", name="uq_bundle_transmissions_token"),
    )
    op.create_index("ix_bundle_transmissions_bundle_id", "bundle_transmissions", ["bundle_id"])
    op.create_index("ix_bundle_transmissions_request_id", "bundle_transmissions", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_bundle_transmissions_request_id", table_name="bundle_transmissions")
    op.drop_index("ix_bundle_transmissions_bundle_id", table_name="bundle_transmissions")
    op.drop_table("bundle_transmissions")
