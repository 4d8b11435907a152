"""The register of organisations (issue 7): each organisation's status reason, date and register folder; the
register's history (register_events). Existing organisations keep their status with no history.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 08:09:19.147482
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('register_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('transition', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=32), nullable=False),
    sa.Column('to_status', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('register_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_register_events_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_register_events_organisation_id'), ['organisation_id'], unique=False)

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_reason', sa.String(length=2000), server_default='', nullable=False))
        batch_op.add_column(sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('folder_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_organisations_folder_id'), ['folder_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisations_folder_id'))
        batch_op.drop_column('folder_id')
        batch_op.drop_column('status_changed_at')
        batch_op.drop_column('status_reason')

    with op.batch_alter_table('register_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_register_events_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_register_events_document_id'))

    op.drop_table('register_events')
