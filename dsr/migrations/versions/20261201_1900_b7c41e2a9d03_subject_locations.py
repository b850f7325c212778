"""subject locations: where the lookup job found the subject, per connected system

Revision ID: b7c41e2a9d03
Revises: b7e2c4d1a9f3
Create Date: 2026-12-01 19:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'b7c41e2a9d03'
down_revision = 'b7e2c4d1a9f3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('subject_locations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('system_key', sa.String(length=64), nullable=False),
    sa.Column('found', sa.Boolean(), nullable=False),
    sa.Column('ref', sa.JSON(), nullable=True),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.Column('located_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['subject_requests.id'],
                            name=op.f('fk_subject_locations_request_id_subject_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject_locations')),
    sa.UniqueConstraint('request_id', 'system_key', name=op.f('uq_subject_locations_request_id_system_key'))
    )
    with op.batch_alter_table('subject_locations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subject_locations_request_id'), ['request_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('subject_locations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subject_locations_request_id'))
    op.drop_table('subject_locations')
