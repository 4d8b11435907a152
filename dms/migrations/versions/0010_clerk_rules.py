"""clerk_rules (issue 15): an organisation's OGRN and KPP and the register decision waiting for its order's
signature; when a register step took effect (existing steps: when they were taken); the revoking order's date of a
certificate; a batch of certificates prepared by a clerk for a signatory. Existing registration numbers and number
counters are left as they are: new numbers follow the new patterns and continue their series.

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ogrn', sa.String(length=15), server_default='', nullable=False))
        batch_op.add_column(sa.Column('kpp', sa.String(length=9), server_default='', nullable=False))
        batch_op.add_column(sa.Column('pending_status', sa.String(length=32), server_default='', nullable=False))
    with op.batch_alter_table('register_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('effective_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE register_events SET effective_at = ts")
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoke_order_date', sa.Date(), nullable=True))
    with op.batch_alter_table('issue_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rows_json', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('signed_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_issue_batches_signed_by_id_users', 'users', ['signed_by_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('issue_batches', schema=None) as batch_op:
        batch_op.drop_constraint('fk_issue_batches_signed_by_id_users', type_='foreignkey')
        batch_op.drop_column('signed_by_id')
        batch_op.drop_column('rows_json')
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_column('revoke_order_date')
    with op.batch_alter_table('register_events', schema=None) as batch_op:
        batch_op.drop_column('effective_at')
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_column('pending_status')
        batch_op.drop_column('kpp')
        batch_op.drop_column('ogrn')
