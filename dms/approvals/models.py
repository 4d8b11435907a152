"""Tables of approval routes, deputies, notifications and discussions (migration 0013)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dms.orm import Base, utcnow


class ApprovalRoute(Base):
    """One round of approval of one version of a document. A rejection ends the round; a new version starts the
    next one, and the earlier rounds stay (the approval sheet lists them all)."""
    __tablename__ = "approval_routes"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    round: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active, approved, rejected, recalled
    initiator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    sheet_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))


class ApprovalStage(Base):
    __tablename__ = "approval_stages"
    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("approval_routes.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300), default="")
    rule: Mapped[str] = mapped_column(String(8), default="all")
    share: Mapped[float] = mapped_column(Float, default=1.0)
    days: Mapped[int] = mapped_column(Integer, default=2)
    approvers: Mapped[list[str]] = mapped_column(JSON, default=list)  # logins and "group:NAME", as planned
    group_mode: Mapped[str] = mapped_column(String(8), default="any")
    status: Mapped[str] = mapped_column(String(16), default="waiting")  # waiting, active, done, rejected, cancelled
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class ApprovalTask(Base):
    """One approver's task in a stage. `principal` is the approver the route names; `assignee` is who acts — the
    principal, or their deputy for the period (the decision is recorded «за» the principal)."""
    __tablename__ = "approval_tasks"
    __table_args__ = (Index("ix_approval_tasks_open", "assignee_id", "status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("approval_routes.id"), index=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("approval_stages.id"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assignee_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The approver of the route this task serves: "user:ID", or "group:NAME" when any one member of a group may
    # decide (the first decision closes the others' tasks of the slot).
    slot: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, done, cancelled
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime] = mapped_column()
    decision: Mapped[str] = mapped_column(String(16), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reminded_due: Mapped[bool] = mapped_column(Boolean, default=False)
    reminded_overdue: Mapped[bool] = mapped_column(Boolean, default=False)


class Deputy(Base):
    """`deputy` takes the tasks that arrive for `user` from `date_from` to `date_to` inclusive."""
    __tablename__ = "deputies"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    deputy_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    date_from: Mapped[date] = mapped_column(Date)
    date_to: Mapped[date] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """One notice to one user. `dedupe_key` makes a notice of one event to one user unique, so a retried request
    or a rerun reminder never notifies twice; `email_state`: pending → sent (after commit, retried while the mail
    server is down), or none/digest."""
    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_notification_dedupe"),
                      Index("ix_notifications_user_unread", "user_id", "read_at"),
                      Index("ix_notifications_email", "email_state"))
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column()
    email_state: Mapped[str] = mapped_column(String(16), default="none")  # none/pending/sending/sent/digest/failed
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    email_error: Mapped[str] = mapped_column(String(500), default="")
    email_sent_at: Mapped[datetime | None] = mapped_column()
    email_claimed_at: Mapped[datetime | None] = mapped_column()


class NotificationSettings(Base):
    """A user's language for e-mails and their channel per kind of notice ({kind: channel})."""
    __tablename__ = "notification_settings"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), default="ru")
    channels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    last_digest_at: Mapped[datetime | None] = mapped_column()


class Comment(Base):
    """A message in the discussion of a document; `parent_id` threads replies. Hidden by a moderator with a reason,
    never deleted."""
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column()
    hidden_at: Mapped[datetime | None] = mapped_column()
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    hidden_reason: Mapped[str] = mapped_column(String(1000), default="")
