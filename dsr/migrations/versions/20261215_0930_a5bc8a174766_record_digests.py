"""record digests: keyed hashes of each released record's key and content, so a repeat access request
can be answered with what changed (a delta bundle)

Revision ID: a5bc8a174766
Revises: c2a75970cc55
Create Date: 2026-12-15 09:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a5bc8a174766"
down_revision = "c2a75970cc55"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("export_bundles") as batch:
        batch.add_column(sa.Column("changes_since_request_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("digests_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("digest_key", sa.String(16), nullable=True))
        batch.create_foreign_key("fk_export_bundles_changes_since_request_id_subject_requests", "subject_requests",
                                 ["changes_since_request_id"], ["id"])
    op.create_table(
        "record_digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bundle_id", sa.Integer(), nullable=False),
        sa.Column("system_key", sa.String(64), nullable=False),
        sa.Column("collection", sa.String(64), nullable=False),
        sa.Column("key_digest", sa.String(32), nullable=False),
        sa.Column("content_digest", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(["bundle_id"], ["export_bundles.id"],
                                name="fk_record_digests_bundle_id_export_bundles", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_record_digests"),
    )
    op.create_index("ix_record_digests_bundle_id", "record_digests", ["bundle_id"])


def downgrade() -> None:
    op.drop_index("ix_record_digests_bundle_id", table_name="record_digests")
    op.drop_table("record_digests")
    with op.batch_alter_table("export_bundles") as batch:
        batch.drop_constraint("fk_export_bundles_changes_since_request_id_subject_requests", type_="foreignkey")
        batch.drop_column("digest_key")
        batch.drop_column("digests_at")
        batch.drop_column("changes_since_request_id")
