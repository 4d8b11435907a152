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
    _create_jobs_and_idempotency_keys()
    _batch_reservations()
    if op.get_bind().dialect.name != "sqlite":
        return
    # A copy of each table with AUTOINCREMENT (batch mode: create, copy, drop, rename; dms.migrate runs SQLite
    # migrations with foreign keys off and checks them after, as SQLite's ALTER TABLE procedure requires).
    for table in NEVER_REUSED:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade() -> None:
    with op.batch_alter_table("issue_batches") as batch:
        for column in ("heartbeat_at", "owner", "reservation"):
            batch.drop_column(column)
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    for column in ("created_by_id", "status", "kind"):
        op.drop_index(f"ix_jobs_{column}", table_name="jobs")
    op.drop_table("jobs")
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in reversed(NEVER_REUSED):
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass


def _create_jobs_and_idempotency_keys() -> None:
    """Issue 17: durable jobs (dms.jobs) and the first answers to POSTs with an Idempotency-Key."""
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(200), nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("message", sa.String(2000), nullable=False, server_default=""),
        sa.Column("checkpoint", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False, server_default=""),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    for column in ("kind", "status", "created_by_id"):
        op.create_index(f"ix_jobs_{column}", "jobs", [column])
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(300), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user_id", "endpoint", "key", name="uq_idempotency_key"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def _batch_reservations() -> None:
    """Issue 17.3: a certificate batch records its reservation and its process durably (resume or cancel)."""
    with op.batch_alter_table("issue_batches") as batch:
        batch.add_column(sa.Column("reservation", sa.Text(), nullable=True))
        batch.add_column(sa.Column("owner", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
