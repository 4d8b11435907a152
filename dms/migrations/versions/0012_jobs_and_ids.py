"""Ids never reused (issue 13): on SQLite, folders, documents, versions, signatures and audit events are rebuilt
with AUTOINCREMENT, so a destroyed document's id (and its versions', signatures' and events') is never handed to a
new row. PostgreSQL's sequences never go back: nothing to do there. (Jobs of issue 17 may add tables here too.)

Revision ID: 0012
Revises: 0011
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


NEVER_REUSED = ("folders", "documents", "versions", "signatures", "audit_events")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # A copy of each table with AUTOINCREMENT (batch mode: create, copy, drop, rename; dms.migrate runs SQLite
    # migrations with foreign keys off and checks them after, as SQLite's ALTER TABLE procedure requires).
    for table in NEVER_REUSED:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in reversed(NEVER_REUSED):
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass
