"""Discussions: threaded comments on any document one may view (seeds 000 and 001: the approbation results are
discussed «в формате форума»). @login mentions notify those mentioned who may view the document; the author may
edit for COMMENT_EDIT_MINUTES; a moderator (ManageSharing on the document's folder) hides a comment with a reason —
never deletes it. Every write is an audit event."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dms.errors import N_, Conflict, Invalid, NotFound
from dms.models import Document, OutboxEntry, User
from dms.security import Forbidden, P, has_permission
from dms.audit import service as audit
from dms.approvals import notify
from dms.approvals.models import Comment
from dms.approvals.rules import COMMENT_EDIT_MINUTES, Kind

MAX_LENGTH = 10_000
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.-]{2,64})")
# Bidi controls and other invisible format characters are refused: a comment must read as it is stored.
INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _clean(body: str) -> str:
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise Invalid("пустое сообщение", {"body": N_("обязательное поле")})
    if len(body) > MAX_LENGTH:
        raise Invalid("сообщение длиннее 10 000 знаков", {"body": N_("слишком длинно")})
    if INVISIBLE.search(body) or any(ord(ch) < 32 and ch not in "\n\t" for ch in body):
        raise Invalid("в сообщении есть управляющие или невидимые символы", {"body": N_("уберите их")})
    return body


def thread(session: Session, actor: User, doc: Document) -> list[Comment]:
    if not has_permission(session, actor, P.VIEW, doc):
        raise NotFound("документ не найден")
    return list(session.scalars(select(Comment).where(Comment.document_id == doc.id).order_by(Comment.id)))


def add(session: Session, actor: User, doc: Document, body: str, parent_id: int | None = None) -> Comment:
    if not has_permission(session, actor, P.VIEW, doc):
        raise NotFound("документ не найден")
    text = _clean(body)
    parent = None
    if parent_id is not None:
        parent = session.get(Comment, parent_id)
        if parent is None or parent.document_id != doc.id:
            raise Invalid("нет такого сообщения в обсуждении этого документа")
    comment = Comment(document_id=doc.id, parent_id=parent.id if parent else None, author_id=actor.id, body=text,
                      created_at=datetime.now(UTC))
    session.add(comment)
    session.add(OutboxEntry(document_id=doc.id, op="upsert"))  # the discussion is searchable with its document
    session.flush()
    audit.record(session, actor, "comment.add", "document", doc.id, comment=comment.id,
                 parent=parent.id if parent else None)
    excerpt = text[:200]
    told: set[int] = {actor.id}
    if parent is not None and parent.author_id not in told:
        author = session.get(User, parent.author_id)
        if author is not None and has_permission(session, author, P.VIEW, doc):
            notify.notify(session, author, Kind.COMMENT, doc, f"comment:{comment.id}",
                          by=actor.full_name or actor.login, excerpt=excerpt)
            told.add(author.id)
    for login in sorted(set(MENTION.findall(text))):
        user = session.scalars(select(User).where(User.login == login)).first()
        if user is None or user.id in told or not has_permission(session, user, P.VIEW, doc):
            continue  # a mention never tells anyone about a document they may not see
        notify.notify(session, user, Kind.MENTION, doc, f"comment:{comment.id}",
                      by=actor.full_name or actor.login, excerpt=excerpt)
        told.add(user.id)
    return comment


def edit(session: Session, actor: User, comment: Comment, body: str) -> Comment:
    if comment.author_id != actor.id:
        raise Forbidden(P.EDIT, N_("— изменить сообщение может только его автор"))
    created = comment.created_at if comment.created_at.tzinfo else comment.created_at.replace(tzinfo=UTC)
    if datetime.now(UTC) - created > timedelta(minutes=COMMENT_EDIT_MINUTES):
        raise Conflict("сообщение можно изменить в течение %(minutes)s минут после публикации",
                       minutes=COMMENT_EDIT_MINUTES)
    if comment.hidden_at is not None:
        raise Conflict("скрытое сообщение изменить нельзя")
    comment.body, comment.edited_at = _clean(body), datetime.now(UTC)
    session.add(OutboxEntry(document_id=comment.document_id, op="upsert"))
    audit.record(session, actor, "comment.edit", "document", comment.document_id, comment=comment.id)
    return comment


def hide(session: Session, actor: User, comment: Comment, reason: str) -> Comment:
    doc = session.get_one(Document, comment.document_id)
    if not has_permission(session, actor, P.MANAGE_SHARING, doc.folder):
        raise Forbidden(P.MANAGE_SHARING, N_("— скрывать сообщения может модератор папки"))
    reason = " ".join(reason.split())[:1000]
    if not reason:
        raise Invalid("укажите причину", {"reason": N_("обязательное поле")})
    comment.hidden_at, comment.hidden_by_id, comment.hidden_reason = datetime.now(UTC), actor.id, reason
    session.add(OutboxEntry(document_id=comment.document_id, op="upsert"))  # a hidden comment leaves the index
    audit.record(session, actor, "comment.hide", "document", comment.document_id, comment=comment.id,
                 reason=reason)
    return comment


def as_json(c: Comment, viewer: User) -> dict[str, Any]:
    hidden = c.hidden_at is not None
    return {"id": c.id, "parent_id": c.parent_id, "author_id": c.author_id,
            "body": None if hidden else c.body, "hidden": hidden, "hidden_reason": c.hidden_reason if hidden else None,
            "created_at": (c.created_at if c.created_at.tzinfo else c.created_at.replace(tzinfo=UTC)).isoformat(),
            "edited": c.edited_at is not None, "mine": c.author_id == viewer.id}
