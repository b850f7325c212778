"""audit seal: each audit row carries an HMAC of its hash under a key outside the database; on
PostgreSQL a trigger refuses UPDATE and DELETE on audit_events

Revision ID: f6b2d8e4a0c3
Revises: e5a1c7d3f9b2
Create Date: 2026-12-06 11:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "f6b2d8e4a0c3"
down_revision = "e5a1c7d3f9b2"
branch_labels = None
depends_on = None

_FUNCTION = """
CREATE OR REPLACE FUNCTION dsr_audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION)
        op.execute("CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
                   "FOR EACH ROW EXECUTE FUNCTION dsr_audit_events_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS dsr_audit_events_append_only()")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("mac")
