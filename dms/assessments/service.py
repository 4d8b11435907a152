"""Assessment reports (seed 004, 4.5: «Сформированные отчеты могут быть переданы участникам процедуры оценки ...
только после проведения обратной связи»).

Who is assessed is said once, as data: the report's metadata names the person's login, and the report is filed in
that person's own folder, where they hold the local role Assessed. That role grants nothing by default; only the
state «released» of the assessment_report lifecycle (after the step «record_feedback») grants it View and
Download. So the document check, listings, search, downloads and the API all keep the report from the person until
the feedback session is recorded, because they all read the same tables.
"""
from __future__ import annotations

from datetime import date
from typing import Any
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from dms.errors import N_, Invalid, NotFound
from dms.models import Document, Folder, LocalRole, User
from dms.security import P, access_filter, apply_filter_sql, has_permission, inherited_chain
from dms.documents import service as documents
from dms.documents import folders
from dms.documents import sharing
from dms.workflow import service as wf_svc
from dms.workflow.hooks import guard

DOC_TYPE = "assessment_report"
ASSESSED_ROLE = "Assessed"
REPORTS_FOLDER = "/Отчёты по результатам оценки"
FEEDBACK_STEP = "record_feedback"


def assessed_person(session: Session, login: str) -> User:
    """The person a report is about: a limited account (no global role, which would show them every report)."""
    login = (login or "").strip()
    person = session.scalars(select(User).where(User.login == login)).first() if login else None
    if person is None:
        raise Invalid("нет пользователя «%(login)s»: оцениваемому нужна учётная запись",
                      {"assessed": N_("нет такого пользователя")}, login=login)
    if person.global_roles:
        raise Invalid("у «%(login)s» есть глобальная роль (%(roles)s): такой пользователь увидел бы отчёт до "
                      "обратной связи", {"assessed": N_("нужна ограниченная учётная запись")}, login=login,
                      roles=", ".join(sorted(person.global_roles)))
    return person


def person_folder(session: Session, actor: User, person: User) -> Folder:
    """The person's own folder under the reports folder (named by login), with their local role Assessed."""
    parent = folders.ensure(session, REPORTS_FOLDER)
    folder = session.scalars(select(Folder).where(Folder.parent_id == parent.id,
                                                  Folder.name == person.login)).first()
    if folder is None:
        folder = folders.create(session, actor, parent, person.login)
    sharing.grant(session, actor, folder, f"user:{person.id}", ASSESSED_ROLE)
    return folder


def may_file(session: Session, actor: User) -> bool:
    """Whether `actor` may file reports: add folders and documents under the reports folder and grant the role
    Assessed there (or, before the folder exists, on the root)."""
    try:
        where = folders.resolve(session, REPORTS_FOLDER)
    except NotFound:
        where = folders.root(session)
    return all(has_permission(session, actor, p, where) for p in (P.ADD, P.MANAGE_SHARING))


def create(session: Session, actor: User, assessed_login: str, title: str, meta: Mapping[str, Any] | None = None,
           upload: documents.StoredUpload | None = None) -> Document:
    """A new report about `assessed_login`, filed in that person's folder (in the caller's transaction)."""
    person = assessed_person(session, assessed_login)
    folder = person_folder(session, actor, person)
    clean = {k: v for k, v in dict(meta or {}).items() if v not in (None, "")}
    clean["assessed"] = person.login
    clean.setdefault("person_name", person.full_name or person.login)
    doc = documents.create(session, actor, folder, DOC_TYPE, title, clean)
    if upload is not None:
        documents.add_version(session, actor, doc, upload, "Отчёт по результатам оценки")
    return doc


@guard("assessed_person_folder")
def _assessed_person_folder(session: Session, actor: User, doc: Document) -> str | None:
    return release_problem(session, doc)


def release_problem(session: Session, doc: Document) -> str | None:
    """The guard of releasing a report: exactly the person it names holds Assessed where it is filed, so that
    releasing it shows it to that person and to nobody else outside the staff."""
    login = (doc.meta or {}).get("assessed", "")
    person = session.scalars(select(User).where(User.login == login)).first()
    if person is None:
        return f"оцениваемый «{login}» не найден"
    holders = set(session.scalars(select(LocalRole.principal).where(
        LocalRole.folder_id.in_(inherited_chain(session, doc.folder)), LocalRole.role == ASSESSED_ROLE)))
    if holders != {f"user:{person.id}"}:
        return f"отчёт лежит не в личной папке оцениваемого «{login}»: после обратной связи его увидели бы другие"
    return None


def record_feedback(session: Session, actor: User, doc: Document, held_on: str, note: str,
                    expected_revision: int | None = None) -> None:
    """The feedback session took place: its date goes to the metadata and the report is released to the person."""
    if doc.doc_type != DOC_TYPE:
        raise Invalid("это не отчёт по результатам оценки")
    try:
        day = date.fromisoformat((held_on or "").strip())
    except ValueError:
        raise Invalid("дата обратной связи: ожидается ГГГГ-ММ-ДД", {"feedback_date": N_("неверная дата")}) from None
    if day > date.today():
        raise Invalid("дата обратной связи ещё не наступила", {"feedback_date": N_("дата в будущем")})
    note = " ".join((note or "").split())
    if not note:
        raise Invalid("опишите, как прошла обратная связь", {"note": N_("обязательное поле")})
    doc.meta = {**doc.meta, "feedback_date": day.isoformat()}
    wf_svc.execute(session, actor, doc, FEEDBACK_STEP, f"Обратная связь {day.strftime('%d.%m.%Y')}: {note}",
                   expected_revision)


def visible(session: Session, actor: User, limit: int = 200) -> list[Document]:
    """The assessment reports `actor` may view (the person assessed: their own, once released)."""
    from dms.records.service import not_trashed_clause
    stmt = select(Document).where(Document.doc_type == DOC_TYPE, not_trashed_clause())
    stmt = apply_filter_sql(stmt, access_filter(session, actor, P.VIEW))
    return list(session.scalars(stmt.order_by(Document.updated_at.desc(), Document.id.desc()).limit(limit)))
