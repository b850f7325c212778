"""actions: plan approval on system tasks, restriction and objection on the case, Art. 19 notices

Revision ID: e5a1c9d7b3f2
Revises: f6b2d8e4a0c3
Create Date: 2026-12-06 12:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e5a1c9d7b3f2"
down_revision = "f6b2d8e4a0c3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("system_tasks") as batch:
        batch.add_column(sa.Column("plan_approved_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("plan_approved_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("plan_proposed_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_system_tasks_plan_approved_by_id_staff_users", "staff_users",
                                 ["plan_approved_by_id"], ["id"])
        batch.create_foreign_key("fk_system_tasks_plan_proposed_by_id_staff_users", "staff_users",
                                 ["plan_proposed_by_id"], ["id"])
    with op.batch_alter_table("subject_requests") as batch:
        batch.add_column(sa.Column("restricted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("restriction_lifted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("lift_notice_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("objection_grounds", sa.Text(), nullable=True))
        batch.add_column(sa.Column("objection_outcome", sa.String(20), nullable=True))
        batch.add_column(sa.Column("objection_decided_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("outcome_note", sa.Text(), nullable=True))
        batch.create_foreign_key("fk_subject_requests_objection_decided_by_id_staff_users", "staff_users",
                                 ["objection_decided_by_id"], ["id"])
    op.create_table(
        "recipient_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("system_key", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["subject_requests.id"],
                                name="fk_recipient_notices_request_id_subject_requests", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name="fk_recipient_notices_message_id_messages"),
        sa.ForeignKeyConstraint(["done_by_id"], ["staff_users.id"],
                                name="fk_recipient_notices_done_by_id_staff_users"),
        sa.PrimaryKeyConstraint("id", name="pk_recipient_notices"),
        sa.UniqueConstraint("request_id", "system_key", "recipient", "action",
                            name="uq_recipient_notices_request_id_system_key_recipient_action"),
    )
    op.create_index("ix_recipient_notices_request_id", "recipient_notices", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_recipient_notices_request_id", table_name="recipient_notices")
    op.drop_table("recipient_notices")
    with op.batch_alter_table("subject_requests") as batch:
        batch.drop_constraint("fk_subject_requests_objection_decided_by_id_staff_users", type_="foreignkey")
        for column in ("outcome_note", "objection_decided_by_id", "objection_outcome", "objection_grounds",
                       "lift_notice_id", "restriction_lifted_at", "restricted_at"):
            batch.drop_column(column)
    with op.batch_alter_table("system_tasks") as batch:
        batch.drop_constraint("fk_system_tasks_plan_proposed_by_id_staff_users", type_="foreignkey")
        batch.drop_constraint("fk_system_tasks_plan_approved_by_id_staff_users", type_="foreignkey")
        for column in ("plan_proposed_by_id", "plan_approved_by_id", "plan_approved_at"):
            batch.drop_column(column)
