"""case access: what a browser has proven about a request, kept on the server (revocable), and the
single-use case links of letters

Revision ID: b3e7d1a5c9f4
Revises: 8fdfc61367bf
Create Date: 2026-12-07 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "b3e7d1a5c9f4"
down_revision = "8fdfc61367bf"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_accesses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("browser", sa.String(64), nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("factors", sa.String(40), nullable=False),
        sa.Column("case_link_message_id", sa.Integer(), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("download_proven_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["subject_requests.id"],
                                name="fk_case_accesses_request_id_subject_requests", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_case_accesses"),
        sa.UniqueConstraint("case_link_message_id", name="uq_case_accesses_case_link_message_id"),
    )
    op.create_index("ix_case_accesses_request_browser", "case_accesses", ["request_id", "browser"])


def downgrade() -> None:
    op.drop_index("ix_case_accesses_request_browser", table_name="case_accesses")
    op.drop_table("case_accesses")
