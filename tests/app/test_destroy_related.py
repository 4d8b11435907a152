"""Destroying a document takes everything that names it (issue 14's reviewer found a purge or disposition of a
document with a discussion, approval routes, notifications or B-LTA evidence failing on a foreign key): its
approval routes with their stages and tasks, comments, notifications, evidence records, signatures; a route of
another document that filed it as its approval sheet keeps its row and loses only the link."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from dms.approvals.models import ApprovalRoute, ApprovalStage, ApprovalTask, Comment, Notification
from dms.documents import service as documents
from dms.models import Document, EvidenceRecord
from dms.people import users
from dms.records import service as records


def _count(s, model, **where) -> int:  # noqa: ANN001
    stmt = select(func.count()).select_from(model)
    for column, value in where.items():
        stmt = stmt.where(getattr(model, column) == value)
    return s.scalar(stmt)


def test_a_purged_document_takes_its_routes_comments_notifications_and_evidence(rt, world) -> None:  # noqa: ANN001
    world.user("admin", "Administrator")
    world.folder("/Приказы")
    doc = world.document("admin", "/Приказы", b"%PDF-1.4\n%%EOF\n", doc_type="order", title="Приказ")
    other = world.document("admin", "/Приказы", b"%PDF-1.4\n%%EOF\n", doc_type="order", title="Другой приказ")
    now = datetime.now(UTC)
    with rt.db.session() as s:
        admin = users.get_user(s, "admin")
        d = s.get_one(Document, doc.id)
        route = ApprovalRoute(document_id=d.id, initiator_id=admin.id, version_id=d.current_version_id)
        foreign = ApprovalRoute(document_id=other.id, initiator_id=admin.id, sheet_document_id=d.id)
        s.add_all([route, foreign])
        s.flush()
        stage = ApprovalStage(route_id=route.id, position=1, approvers=["admin"])
        s.add(stage)
        s.flush()
        s.add(ApprovalTask(route_id=route.id, stage_id=stage.id, document_id=d.id, principal_id=admin.id,
                           assignee_id=admin.id, due_at=now + timedelta(days=2)))
        first = Comment(document_id=d.id, author_id=admin.id, body="Согласен")
        s.add(first)
        s.flush()
        s.add(Comment(document_id=d.id, author_id=admin.id, body="Ответ", parent_id=first.id))
        s.add(Notification(user_id=admin.id, kind="task", document_id=d.id, dedupe_key=f"t{d.id}"))
        s.add(EvidenceRecord(document_id=d.id, version_id=d.current_version_id, source_version_id=d.current_version_id,
                             timestamp_at=now, tsa_not_after=now + timedelta(days=3650),
                             renew_by=now + timedelta(days=2920)))
        records.trash(s, admin, documents.get(s, admin, d.id), "ошибочный")
        foreign_id = foreign.id
    with rt.db.session() as s:
        result = records.purge(s, users.get_user(s, "admin"), days=0, store=rt.store, now=now + timedelta(seconds=1))
        assert [p["document"] for p in result.purged] == [doc.id], result.skipped
    with rt.db.session() as s:
        assert s.get(Document, doc.id) is None
        for model in (ApprovalRoute, ApprovalTask, Comment, Notification, EvidenceRecord):
            assert _count(s, model, document_id=doc.id) == 0, model.__name__
        assert _count(s, ApprovalStage) == 0
        kept = s.get_one(ApprovalRoute, foreign_id)
        assert kept.document_id == other.id and kept.sheet_document_id is None
