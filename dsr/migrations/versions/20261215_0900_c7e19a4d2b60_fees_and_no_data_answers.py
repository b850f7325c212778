"""fees and "no data" answers: a fee charged under Art. 12(5) or 15(3) (the request and its clock wait for
the payment), and the access or portability answer "we hold no data about you"

Revision ID: c7e19a4d2b60
Revises: c6e2a8f4b1d7
Create Date: 2026-12-15 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c7e19a4d2b60"
down_revision = "c6e2a8f4b1d7"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_fees",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("ground", sa.String(32), nullable=False),
        sa.Column("amount_ore", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payment_instructions", sa.Text(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=True),
        sa.Column("charged_by_id", sa.Integer(), nullable=True),
        sa.Column("charged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_by_id", sa.Integer(), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["subject_requests.id"],
                                name="fk_case_fees_request_id_subject_requests", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["letter_id"], ["messages.id"], name="fk_case_fees_letter_id_messages"),
        sa.ForeignKeyConstraint(["charged_by_id"], ["staff_users.id"], name="fk_case_fees_charged_by_id_staff_users"),
        sa.ForeignKeyConstraint(["settled_by_id"], ["staff_users.id"], name="fk_case_fees_settled_by_id_staff_users"),
        sa.PrimaryKeyConstraint("id", name="pk_case_fees"),
    )
    op.create_index("ix_case_fees_request_id", "case_fees", ["request_id"])
    with op.batch_alter_table("subject_requests") as batch:
        batch.add_column(sa.Column("answered_no_data_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subject_requests") as batch:
        batch.drop_column("answered_no_data_at")
    op.drop_index("ix_case_fees_request_id", table_name="case_fees")
    op.drop_table("case_fees")
