"""public_document_tokens (issue 14, public check): every document gets a random public token (the public check of
a signed document is /verify/d/<token>, the QR code of its stamp) and the owner's choice whether the public page
shows its title. Existing documents, signed ones included, get their tokens here.

Revision ID: 0009
Revises: 0008
"""
import secrets

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_token', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('public_title', sa.Boolean(), server_default=sa.false(), nullable=False))
    documents = sa.table('documents', sa.column('id', sa.Integer), sa.column('public_token', sa.String))
    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.select(documents.c.id).where(documents.c.public_token.is_(None)))]
    for start in range(0, len(ids), 1000):
        bind.execute(documents.update().where(documents.c.id == sa.bindparam('doc_id'))
                     .values(public_token=sa.bindparam('token')),
                     [{'doc_id': i, 'token': secrets.token_urlsafe(24)} for i in ids[start:start + 1000]])
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.alter_column('public_token', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint('uq_documents_public_token', ['public_token'])


def downgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_constraint('uq_documents_public_token', type_='unique')
        batch_op.drop_column('public_title')
        batch_op.drop_column('public_token')
