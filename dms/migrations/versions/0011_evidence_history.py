"""evidence_history (issue 14, validation and renewal): which generation of an issuing CA signed each CRL (CAs now
roll over and old ones keep publishing until they expire); the invalidity date of a key-compromise revocation; the
B-LTA protections of signed documents and when each must be renewed.

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('revocation_lists', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issuer_key_id', sa.String(length=64), server_default='', nullable=False))
    with op.batch_alter_table('signing_credentials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('invalidity_date', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'evidence_records',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('document_id', sa.Integer(), nullable=False),
        sa.Column('version_id', sa.Integer(), nullable=False),
        sa.Column('source_version_id', sa.Integer(), nullable=False),
        sa.Column('timestamp_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('tsa_not_after', sa.DateTime(timezone=True), nullable=False),
        sa.Column('renew_by', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ),
        sa.ForeignKeyConstraint(['version_id'], ['versions.id'], ),
        sa.ForeignKeyConstraint(['source_version_id'], ['versions.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_evidence_records_document_id'), 'evidence_records', ['document_id'], unique=False)
    op.create_index(op.f('ix_evidence_records_renew_by'), 'evidence_records', ['renew_by'], unique=False)
    # Issue 15.7 (administration in the web; that area has no migration of its own — keep these lines when editing
    # this file): a one-time password given out by an administrator must be changed at the next login.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(), nullable=False))
    # Issue 15.6: the audit trail filtered by document (the audit page, a document's history) reads one index.
    op.create_index('ix_audit_events_object', 'audit_events', ['object_type', 'object_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_events_object', table_name='audit_events')  # issue 15.6, see upgrade()
    with op.batch_alter_table('users', schema=None) as batch_op:  # issue 15.7, see upgrade()
        batch_op.drop_column('must_change_password')
    op.drop_index(op.f('ix_evidence_records_renew_by'), table_name='evidence_records')
    op.drop_index(op.f('ix_evidence_records_document_id'), table_name='evidence_records')
    op.drop_table('evidence_records')
    with op.batch_alter_table('signing_credentials', schema=None) as batch_op:
        batch_op.drop_column('invalidity_date')
    with op.batch_alter_table('revocation_lists', schema=None) as batch_op:
        batch_op.drop_column('issuer_key_id')
