"""every channel and someone acting for another: a request without e-mail (answered by post, its
postal address), representatives with their sealed authorisation, and a bundle handed over on a medium

Revision ID: c6e2a8f4b1d7
Revises: b3e7d1a5c9f4
Create Date: 2026-12-15 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c6e2a8f4b1d7"
down_revision = "b3e7d1a5c9f4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subject_requests") as batch:
        batch.alter_column("email", existing_type=sa.String(length=254), nullable=True)
        batch.add_column(sa.Column("postal_address", sa.String(length=250), nullable=True))
    with op.batch_alter_table("export_bundles") as batch:
        batch.add_column(sa.Column("medium", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("handover", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("handed_to", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("handed_over_on", sa.Date(), nullable=True))
    op.create_table(
        "representatives",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("postal_address", sa.String(length=250), nullable=True),
        sa.Column("relationship", sa.String(length=32), nullable=False),
        sa.Column("relationship_note", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("authorisation_key", sa.String(length=200), nullable=True),
        sa.Column("authorisation_filename", sa.String(length=120), nullable=True),
        sa.Column("authorisation_type", sa.String(length=40), nullable=True),
        sa.Column("authorisation_size", sa.BigInteger(), nullable=True),
        sa.Column("authorisation_sha256", sa.String(length=64), nullable=True),
        sa.Column("authorisation_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["subject_requests.id"],
                                name="fk_representatives_request_id_subject_requests", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by_id"], ["staff_users.id"],
                                name="fk_representatives_decided_by_id_staff_users"),
        sa.PrimaryKeyConstraint("id", name="pk_representatives"),
        sa.UniqueConstraint("request_id", name="uq_representatives_request_id"),
    )


def downgrade() -> None:
    op.drop_table("representatives")
    with op.batch_alter_table("export_bundles") as batch:
        batch.drop_column("handed_over_on")
        batch.drop_column("handed_to")
        batch.drop_column("handover")
        batch.drop_column("medium")
    with op.batch_alter_table("subject_requests") as batch:
        batch.drop_column("postal_address")
        batch.alter_column("email", existing_type=sa.String(length=254), nullable=False)
