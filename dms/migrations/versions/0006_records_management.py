"""Records management (issue 7): legal holds, trash, record declarations, disposition lists.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 06:55:02.826624
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('disposition_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('proposed_by_id', sa.Integer(), nullable=True),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('executed_by_id', sa.Integer(), nullable=True),
    sa.Column('executed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['executed_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('legal_holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=True),
    sa.Column('folder_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=2000), nullable=False),
    sa.Column('placed_by_id', sa.Integer(), nullable=True),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_by_id', sa.Integer(), nullable=True),
    sa.Column('release_reason', sa.String(length=2000), nullable=False),
    sa.ForeignKeyConstraint(['folder_id'], ['folders.id'], ),
    sa.ForeignKeyConstraint(['placed_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['released_by_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_legal_holds_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_legal_holds_folder_id'), ['folder_id'], unique=False)

    op.create_table('disposition_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('doc_type', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=1000), nullable=False),
    sa.Column('reg_number', sa.String(length=100), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('rule', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['disposition_batches.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('disposition_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disposition_items_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_disposition_items_document_id'), ['document_id'], unique=False)

    op.create_table('record_declarations',
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=False),
    sa.Column('declared_by_id', sa.Integer(), nullable=True),
    sa.Column('declared_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['declared_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ),
    sa.PrimaryKeyConstraint('document_id')
    )
    op.create_table('trash_entries',
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=False),
    sa.Column('trashed_by_id', sa.Integer(), nullable=True),
    sa.Column('trashed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ),
    sa.ForeignKeyConstraint(['trashed_by_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('document_id')
    )
    with op.batch_alter_table('trash_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trash_entries_trashed_at'), ['trashed_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('trash_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trash_entries_trashed_at'))

    op.drop_table('trash_entries')
    op.drop_table('record_declarations')
    with op.batch_alter_table('disposition_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disposition_items_document_id'))
        batch_op.drop_index(batch_op.f('ix_disposition_items_batch_id'))

    op.drop_table('disposition_items')
    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_legal_holds_folder_id'))
        batch_op.drop_index(batch_op.f('ix_legal_holds_document_id'))

    op.drop_table('legal_holds')
    op.drop_table('disposition_batches')
