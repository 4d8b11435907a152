"""Approval routes, deputies, notifications and discussions (issue 19).

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'approval_routes',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('document_id', sa.Integer(), sa.ForeignKey('documents.id'), nullable=False),
        sa.Column('round', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('initiator_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('version_id', sa.Integer(), sa.ForeignKey('versions.id'), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('sheet_document_id', sa.Integer(), sa.ForeignKey('documents.id'), nullable=True),
    )
    op.create_index('ix_approval_routes_document_id', 'approval_routes', ['document_id'])
    op.create_table(
        'approval_stages',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('route_id', sa.Integer(), sa.ForeignKey('approval_routes.id'), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(300), nullable=False),
        sa.Column('rule', sa.String(8), nullable=False),
        sa.Column('share', sa.Float(), nullable=False),
        sa.Column('days', sa.Integer(), nullable=False),
        sa.Column('approvers', sa.JSON(), nullable=False),
        sa.Column('group_mode', sa.String(8), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_approval_stages_route_id', 'approval_stages', ['route_id'])
    op.create_table(
        'approval_tasks',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('route_id', sa.Integer(), sa.ForeignKey('approval_routes.id'), nullable=False),
        sa.Column('stage_id', sa.Integer(), sa.ForeignKey('approval_stages.id'), nullable=False),
        sa.Column('document_id', sa.Integer(), sa.ForeignKey('documents.id'), nullable=False),
        sa.Column('principal_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('assignee_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('slot', sa.String(100), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decision', sa.String(16), nullable=False),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decided_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('reminded_due', sa.Boolean(), nullable=False),
        sa.Column('reminded_overdue', sa.Boolean(), nullable=False),
    )
    op.create_index('ix_approval_tasks_route_id', 'approval_tasks', ['route_id'])
    op.create_index('ix_approval_tasks_stage_id', 'approval_tasks', ['stage_id'])
    op.create_index('ix_approval_tasks_document_id', 'approval_tasks', ['document_id'])
    op.create_index('ix_approval_tasks_open', 'approval_tasks', ['assignee_id', 'status'])
    op.create_table(
        'deputies',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('deputy_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('date_from', sa.Date(), nullable=False),
        sa.Column('date_to', sa.Date(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_deputies_user_id', 'deputies', ['user_id'])
    op.create_table(
        'notifications',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('kind', sa.String(32), nullable=False),
        sa.Column('document_id', sa.Integer(), sa.ForeignKey('documents.id'), nullable=True),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('dedupe_key', sa.String(200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('email_state', sa.String(16), nullable=False),
        sa.Column('email_attempts', sa.Integer(), nullable=False),
        sa.Column('email_error', sa.String(500), nullable=False),
        sa.Column('email_sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('email_claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint('dedupe_key', name='uq_notification_dedupe'),
    )
    op.create_index('ix_notifications_user_unread', 'notifications', ['user_id', 'read_at'])
    op.create_index('ix_notifications_email', 'notifications', ['email_state'])
    op.create_table(
        'notification_settings',
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), primary_key=True),
        sa.Column('language', sa.String(8), nullable=False),
        sa.Column('channels', sa.JSON(), nullable=False),
        sa.Column('last_digest_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        'comments',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('document_id', sa.Integer(), sa.ForeignKey('documents.id'), nullable=False),
        sa.Column('parent_id', sa.Integer(), sa.ForeignKey('comments.id'), nullable=True),
        sa.Column('author_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('hidden_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('hidden_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('hidden_reason', sa.String(1000), nullable=False),
    )
    op.create_index('ix_comments_document_id', 'comments', ['document_id'])


def downgrade() -> None:
    for table in ('comments', 'notification_settings', 'notifications', 'deputies', 'approval_tasks',
                  'approval_stages', 'approval_routes'):
        op.drop_table(table)
