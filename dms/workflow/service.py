"""Executes the lifecycles of dms.workflow.rules: guards, permission, state change, registration number, history,
audit and search outbox in the caller's transaction."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, UTC

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from dms.workflow import numbering
from dms.errors import N_, Conflict, Invalid, localize
from dms.models import Document, NumberCounter, Organisation, OutboxEntry, User, Version, WorkflowHistory
from dms.security import P, access_filter, apply_filter_sql, has_permission, permission_label
from dms.workflow.hooks import get_effect, get_guard, guard
from dms.workflow.rules import Transition, workflow_for
from dms.audit import service as audit


def _current_version(session: Session, doc: Document) -> Version | None:
    return session.get(Version, doc.current_version_id) if doc.current_version_id else None


@guard("has_pdf")
def _has_pdf(session: Session, actor: User, doc: Document) -> str | None:
    v = _current_version(session, doc)
    return None if v is not None and v.media_type == "application/pdf" else N_("у документа нет PDF-версии")


@guard("signer_not_author")
@guard("reviewer_not_author")
def _not_author(session: Session, actor: User, doc: Document) -> str | None:
    return None if doc.created_by_id != actor.id else N_("автор документа не может выполнить этот шаг сам")


# The other guards and effects the lifecycles name are registered by the capabilities that know them
# (dms.workflow.hooks.PROVIDERS): agreements (term, both signatures), assessments (the person's folder), the register
# (counterparty in force, a signed decision), approvals (a signed document ends its route).


@dataclass
class Option:
    transition: Transition
    allowed: bool
    reason: str | None  # why not, in words


def options(session: Session, actor: User, doc: Document) -> list[Option]:
    """Every transition leaving the current state, with whether `actor` may take it now and why not."""
    result = []
    for t in workflow_for(doc.doc_type).transitions.values():
        if doc.state not in t.sources:
            continue
        reason = None
        if t.service:
            reason = localize(t.service)
        elif not has_permission(session, actor, t.permission, doc):
            reason = localize("нет права «%(permission)s»", {"permission": permission_label(t.permission)})
        else:
            reason = next((localize(r) for g in t.guards if (r := get_guard(g)(session, actor, doc))), None)
        result.append(Option(t, reason is None, reason))
    return result


def _counter_key(doc_type: str, organisation: Organisation | None, year: int) -> dict:
    """The series a number belongs to: per organisation when the pattern prints the organisation's code, else one
    series per type and year across the archive, so that no pattern can give one number twice."""
    per_org = numbering.has_org(numbering.patterns()[doc_type])
    return {"doc_type": doc_type, "organisation_key": organisation.id if organisation and per_org else 0,
            "year": year}


def reserve_numbers(session: Session, doc_type: str, organisation: Organisation | None, count: int,
                    today: date | None = None) -> tuple[int, list[str]]:
    """The next `count` gapless numbers of the series (numbering.series): the counter row is locked until commit,
    so concurrent registrations queue, and a rolled-back transaction gives its numbers back."""
    year = (today or date.today()).year
    key = _counter_key(doc_type, organisation, year)
    pattern = numbering.patterns()[doc_type]
    start = 0
    if not numbering.has_org(pattern):
        # A pattern without the organisation continues after every per-organisation series of the year (a database
        # numbered before, or an override dropping {org}): its numbers cannot meet theirs.
        start = session.scalar(select(func.max(NumberCounter.last_value)).where(
            NumberCounter.doc_type == doc_type, NumberCounter.year == year)) or 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(NumberCounter).values(**key, last_value=start).on_conflict_do_nothing())
    counter = session.scalars(select(NumberCounter).filter_by(**key).with_for_update()).one()
    first = counter.last_value + 1
    counter.last_value += count
    org_code = organisation.code if organisation else numbering.NO_ORGANISATION
    return first, [numbering.format_number(pattern, year, seq, org_code) for seq in range(first, first + count)]


def release_numbers(session: Session, doc_type: str, organisation: Organisation | None, first: int, count: int,
                    today: date | None = None) -> bool:
    """Give back numbers first..first+count-1 of a failed batch if nobody took a number after them."""
    key = _counter_key(doc_type, organisation, (today or date.today()).year)
    counter = session.scalars(select(NumberCounter).filter_by(**key).with_for_update()).first()
    if counter is None or counter.last_value != first + count - 1:
        return False
    counter.last_value = first - 1
    return True


def allocate_number(session: Session, doc: Document, today: date | None = None) -> str:
    return reserve_numbers(session, doc.doc_type, doc.organisation, 1, today)[1][0]


def execute(session: Session, actor: User | None, doc: Document, name: str, comment: str = "",
            expected_revision: int | None = None, *, signed: bool = False, service: bool = False) -> WorkflowHistory:
    """Take a transition. `service`: called by the step's own service (dms.workflow.rules.Transition.service), which
    has checked its own rules; `actor` None is the system (the daily maintenance), allowed only there."""
    return execute_many(session, actor, [doc], name, comment, expected_revision, signed=signed, service=service)[0]


def execute_many(session: Session, actor: User | None, docs: list[Document], name: str, comment: str = "",
                 expected_revision: int | None = None, *, signed: bool = False,
                 service: bool = False) -> list[WorkflowHistory]:
    """The same transition for each of `docs` (a batch of certificates issued at once), each checked by every rule
    of execute() before any changes; their history, outbox rows and audit events then written together (one flush,
    one append to the audit chain) instead of once per document. execute() is this with one document."""
    if not docs:
        return []
    wf = workflow_for(docs[0].doc_type)
    t = wf.transitions.get(name)
    if t is None:
        raise Invalid("у документов этого типа нет перехода «%(name)s»; есть: %(names)s", name=name,
                      names=", ".join(wf.transitions))
    if t.service and not service:
        raise Conflict("«%(step)s» не выполняется как обычный переход: %(where)s", step=t.title,
                       where=localize(t.service))
    if actor is None and not service:
        raise Invalid("переход без пользователя выполняет только служба самого шага")
    if any(workflow_for(doc.doc_type) is not wf for doc in docs):
        raise Invalid("переход выполняется сразу только для документов одного жизненного цикла")
    from dms.documents.service import ensure_mutable_many
    ensure_mutable_many(session, docs)  # not a record, not in the trash: each of them, in two queries
    for doc in docs:
        _check(session, actor, doc, t, comment, expected_revision, signed=signed)
    entries, events = [], []
    for doc in docs:
        from_state = doc.state
        if t.assigns_number and not doc.reg_number:
            doc.reg_number = allocate_number(session, doc)
            doc.reg_date = date.today()
        doc.state = t.target
        doc.updated_at = datetime.now(UTC)
        entries.append(WorkflowHistory(document_id=doc.id, transition=t.name, from_state=from_state,
                                       to_state=t.target, actor_id=actor.id if actor else None,
                                       comment=comment[:2000]))
        events.append(audit.Event("workflow.transition", "document", doc.id, {
            "transition": t.name, "from_state": from_state, "to_state": t.target, "reg_number": doc.reg_number,
            "comment": comment[:2000]}))
    session.add_all(entries)
    session.add_all([OutboxEntry(document_id=doc.id, op="upsert") for doc in docs])
    try:
        session.flush()
    except StaleDataError:
        raise Conflict("документ изменён другим пользователем; повторите") from None
    audit.record_many(session, actor, events)
    for doc in docs:
        for effect in t.effects:
            get_effect(effect)(session, actor, doc)
    return entries


def _check(session: Session, actor: User | None, doc: Document, t: Transition, comment: str,
           expected_revision: int | None, *, signed: bool) -> None:
    """The rules of a transition for one document (record and trash are checked for the batch by execute_many):
    revision, source state, permission, comment, guards, signing."""
    if expected_revision is not None and expected_revision != doc.revision:
        raise Conflict("документ изменён другим пользователем; обновите страницу и повторите")
    wf = workflow_for(doc.doc_type)
    if doc.state not in t.sources:
        raise Conflict("переход «%(step)s» невозможен из состояния «%(state)s»", step=t.title,
                       state=wf.states[doc.state].title)
    if actor is not None and not has_permission(session, actor, t.permission, doc):
        from dms.security import Forbidden
        raise Forbidden(t.permission, localize("для перехода «%(step)s»", {"step": t.title}))
    if t.comment_required and not comment.strip():
        raise Invalid("для перехода «%(step)s» укажите причину в комментарии", {"comment": N_("обязательное поле")},
                      step=t.title)
    for name in t.guards + t.effect_guards:
        reason = get_guard(name)(session, actor, doc) if actor is not None else None
        if reason:
            raise Conflict("переход «%(step)s» невозможен: %(reason)s", step=t.title, reason=localize(reason))
    if t.permission is P.SIGN and not signed:
        raise Conflict("«%(step)s» выполняется подписанием документа (dms sign / кнопка «Подписать»)", step=t.title)


def history(session: Session, doc: Document) -> list[WorkflowHistory]:
    return list(session.scalars(select(WorkflowHistory).where(WorkflowHistory.document_id == doc.id)
                                .order_by(WorkflowHistory.id)))


def worklist(session: Session, actor: User, limit: int = 100) -> list[tuple[Document, Transition]]:
    """What waits for `actor`: documents in the source state of a worklist transition (signing, review)
    whose permission they hold there, by the same filter search uses; guards then drop what they may not do."""
    result: list[tuple[Document, Transition]] = []
    seen: set[int] = set()
    for permission in (P.SIGN, P.TRANSITION):
        flt = access_filter(session, actor, permission)
        from dms.records.service import not_trashed_clause
        stmt = apply_filter_sql(select(Document).where(not_trashed_clause()), flt).order_by(Document.updated_at)
        for doc in session.scalars(stmt.limit(limit * 4)):
            if doc.id in seen:
                continue
            for t in workflow_for(doc.doc_type).transitions.values():
                if t.worklist and t.permission is permission and doc.state in t.sources and \
                        all(get_guard(g)(session, actor, doc) is None for g in t.guards):
                    result.append((doc, t))
                    seen.add(doc.id)
                    break
            if len(result) >= limit:
                return result
    for doc, t in returned(session, actor, limit - len(result)):
        if doc.id not in seen:
            result.append((doc, t))
            seen.add(doc.id)
    return result


def _return_steps() -> set[str]:
    from dms.workflow.rules import WORKFLOWS
    return {t.name for wf in WORKFLOWS.values() for t in wf.transitions.values() if t.returns}


def returned(session: Session, actor: User, limit: int = 100) -> list[tuple[Document, Transition]]:
    """Documents sent back for rework (their latest step is a returning one) that wait for `actor`: their author,
    or whoever keeps the folder (holds Edit there, e.g. a centre's local Editor or the agency's Clerk); each with
    the step that takes it forward again."""
    from sqlalchemy import or_

    from dms.records.service import not_trashed_clause
    if limit <= 0:
        return []
    latest = select(WorkflowHistory.document_id, func.max(WorkflowHistory.id).label("last_id")) \
        .group_by(WorkflowHistory.document_id).subquery()
    stmt = select(Document).join(latest, latest.c.document_id == Document.id) \
        .join(WorkflowHistory, WorkflowHistory.id == latest.c.last_id) \
        .where(WorkflowHistory.transition.in_(_return_steps()), not_trashed_clause())
    editable = apply_filter_sql(stmt, access_filter(session, actor, P.EDIT))
    stmt = select(Document).where(or_(Document.id.in_(editable.with_only_columns(Document.id)),
                                      Document.id.in_(stmt.where(Document.created_by_id == actor.id)
                                                      .with_only_columns(Document.id))))
    result: list[tuple[Document, Transition]] = []
    for doc in session.scalars(stmt.order_by(Document.updated_at).limit(limit * 2)):
        wf = workflow_for(doc.doc_type)
        if not has_permission(session, actor, P.VIEW, doc):
            continue
        step = next((t for t in wf.transitions.values() if doc.state in t.sources and not t.service
                     and not t.returns and not t.confirm and t.permission is P.TRANSITION), None)
        if step is not None:
            result.append((doc, step))
        if len(result) >= limit:
            break
    return result
