"""Lifecycles as data: transitions, guards, registration numbers, history, worklist."""
from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import select

from dms.errors import Conflict
from dms.models import Document
from dms.security import Forbidden, P
from dms.documents import service as documents
from dms.people import users
from dms.workflow import service as wf

from .pdfs import make_pdf


def _take(rt, login: str, doc_id: int, name: str, **kw):  # noqa: ANN001, ANN202
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        doc = documents.get(s, actor, doc_id)
        wf.execute(s, actor, doc, name, **kw)
        return doc


def test_order_lifecycle_numbers_on_register_and_freezes_on_signing(rt, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.user("director", "Signatory")
    world.folder("/Приказы")
    doc = world.document("clerk", "/Приказы", make_pdf("приказ"), doc_type="order", title="О проведении экзамена")
    registered = _take(rt, "clerk", doc.id, "register", comment="в журнал")
    assert registered.state == "registered"
    assert registered.reg_number == f"ПР-АГ-{date.today().year}-0001" and registered.reg_date == date.today()
    _take(rt, "clerk", doc.id, "send_to_signing")
    with rt.db.session() as s, pytest.raises(Forbidden):
        clerk = users.get_user(s, "clerk")
        documents.update_metadata(s, clerk, documents.get(s, clerk, doc.id), title="Правка на подписи")
    with pytest.raises(Conflict, match="подписанием"):
        _take(rt, "director", doc.id, "sign")  # signing is done by the signing service, not a bare transition
    with rt.db.session() as s:
        director = users.get_user(s, "director")
        assert [d.id for d, t in wf.worklist(s, director)] == [doc.id]
        hist = wf.history(s, s.get(Document, doc.id))
    assert [(h.transition, h.from_state, h.to_state) for h in hist] == [
        ("register", "draft", "registered"), ("send_to_signing", "registered", "on_signing")]
    assert hist[0].comment == "в журнал"


def test_guards_refuse_with_the_reason(rt, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Приказы")
    no_pdf = world.document("clerk", "/Приказы", "просто текст".encode(), doc_type="order", filename="a.txt")
    with pytest.raises(Conflict, match="нет PDF"):
        _take(rt, "clerk", no_pdf.id, "register")
    with rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        opts = {o.transition.name: o for o in wf.options(s, clerk, documents.get(s, clerk, no_pdf.id))}
    assert not opts["register"].allowed and "PDF" in opts["register"].reason


def test_submitted_report_is_accepted_by_its_reviewer_not_by_its_author(rt, world):  # noqa: ANN001
    world.user("author")
    world.user("reviewer")
    world.folder("/Отчёты")
    world.share("/Отчёты", "author", "Editor")
    world.share("/Отчёты", "reviewer", "Reviewer")
    rep = world.document("author", "/Отчёты", make_pdf("отчёт"), doc_type="report", title="Отчёт площадки")
    _take(rt, "author", rep.id, "submit")
    with pytest.raises(Forbidden):
        _take(rt, "author", rep.id, "accept")
    with rt.db.session() as s:
        reviewer = users.get_user(s, "reviewer")
        author = users.get_user(s, "author")
        doc = documents.get(s, reviewer, rep.id)
        assert documents.can(s, reviewer, P.EDIT, doc)
        assert not documents.can(s, author, P.EDIT, doc)
        assert [d.id for d, _ in wf.worklist(s, reviewer)] == [rep.id]
    assert _take(rt, "reviewer", rep.id, "accept").state == "accepted"


def test_unknown_transition_and_wrong_state_are_refused(rt, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Приказы")
    doc = world.document("clerk", "/Приказы", make_pdf("x"), doc_type="order")
    with pytest.raises(Exception, match="нет перехода"):
        _take(rt, "clerk", doc.id, "fly")
    with pytest.raises(Conflict, match="невозможен из состояния"):
        _take(rt, "clerk", doc.id, "send_to_signing")


def test_concurrent_registrations_get_distinct_consecutive_numbers(rt, world):  # noqa: ANN001
    """50 threads register 50 documents at once (on PostgreSQL when DMS_TEST_DATABASE_URL is set)."""
    world.user("clerk", "Clerk")
    world.folder("/Заявления")
    ids = [world.document("clerk", "/Заявления", None, doc_type="application", title=f"Заявление {i}",
                          meta={"applicant": f"Соискатель {i}"}).id for i in range(50)]
    barrier = threading.Barrier(len(ids))
    errors: list[BaseException] = []

    def register(doc_id: int) -> None:
        try:
            barrier.wait(timeout=30)
            _take(rt, "clerk", doc_id, "register")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    with rt.db.session() as s:
        numbers = sorted(s.scalars(select(Document.reg_number).where(Document.id.in_(ids))))
    year = date.today().year
    assert numbers == [f"ЗВ-АГ-{year}-{n:04d}" for n in range(1, 51)]


def test_number_patterns_are_configurable_and_validated(monkeypatch):  # noqa: ANN001
    from dms.workflow import numbering
    monkeypatch.setenv("DMS_NUMBER_PATTERNS", '{"order": "{org}/П-{seq:03}/{year}"}')
    assert numbering.format_number(numbering.patterns()["order"], 2026, 7, "ЦОК-1") == "ЦОК-1/П-007/2026"
    monkeypatch.setenv("DMS_NUMBER_PATTERNS", '{"order": "П-{year}"}')
    with pytest.raises(numbering.PatternError, match="seq"):
        numbering.patterns()


def test_a_transition_of_many_documents_checks_each_before_changing_any(rt, world):  # noqa: ANN001
    """execute_many (a batch of certificates issued at once): every rule is checked for every document before any
    changes — one without a PDF refuses the whole step and nothing is numbered; then each document gets its own
    number, history row and audit event, in a chain that still verifies."""
    from dms.audit import service as audit
    from dms.models import AuditEvent, OutboxEntry, WorkflowHistory

    world.user("clerk", "Clerk")
    world.folder("/Приказы")
    good = [world.document("clerk", "/Приказы", make_pdf(f"приказ {n}"), doc_type="order", title=f"Приказ {n}")
            for n in range(3)]
    no_pdf = world.document("clerk", "/Приказы", "просто текст".encode(), doc_type="order", filename="a.txt")
    with rt.db.session() as s, pytest.raises(Conflict, match="нет PDF"):
        clerk = users.get_user(s, "clerk")
        wf.execute_many(s, clerk, [documents.get(s, clerk, d.id) for d in [*good, no_pdf]], "register")
    with rt.db.session() as s:
        assert {s.get(Document, d.id).state for d in good} == {"draft"}
        assert not s.scalars(select(WorkflowHistory)).all()
        clerk = users.get_user(s, "clerk")
        wf.execute_many(s, clerk, [documents.get(s, clerk, d.id) for d in good], "register", "пакетом")
    with rt.db.session() as s:
        numbers = [s.get(Document, d.id).reg_number for d in good]
        year = date.today().year
        assert numbers == [f"ПР-АГ-{year}-000{n}" for n in (1, 2, 3)]
        hist = s.scalars(select(WorkflowHistory).order_by(WorkflowHistory.id)).all()
        assert [(h.document_id, h.to_state, h.comment) for h in hist] == [(d.id, "registered", "пакетом")
                                                                         for d in good]
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "workflow.transition")
                           .order_by(AuditEvent.id)).all()
        assert [(e.object_id, e.details["reg_number"]) for e in events] == list(zip([d.id for d in good], numbers,
                                                                                   strict=True))
        assert {o.document_id for o in s.scalars(select(OutboxEntry))} >= {d.id for d in good}
        assert list(audit.verify_chain(s)) == []
