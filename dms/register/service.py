"""The register of organisations: executes the lifecycle of dms.register.rules. Each step runs in the caller's
transaction: the status change, a register event, the document filed from its template into the organisation's
register folder (a PDF, numbered by its workflow and sent to signing where the type's workflow has that), the
workflow history and the audit events. Bytes are stored before the commit that references them."""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, UTC
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dms.errors import N_, Conflict, Invalid, NotFound, localize
from dms.models import Certificate, Document, Folder, Organisation, RegisterEvent, Signature, User
from dms.pdfrender import RenderSpec, Signature as SignatureLine, format_date_ru, render_document_pdf
from dms.register.rules import (AGENCY_KIND, IN_FORCE, KINDS, REGISTER_NAME, REGISTER_ROOT, STATUSES, TRANSITIONS,
                                Filing, RegisterTransition, code_problem, fill, inn_valid, kind_label, kpp_valid,
                                ogrn_valid, status_label)
from dms.runtime import Runtime
from dms.security import Forbidden, P, has_permission, roles_with, visible_folder_ids
from dms.workflow.rules import workflow_for
from dms.audit import service as audit
from dms.documents import service as documents
from dms.documents import folders
from dms.workflow import service as wf_svc
from dms.workflow.hooks import effect, guard
from dms.idrange import digits



# --- who may see and do what -------------------------------------------------------------------------------------

def _root(session: Session) -> Folder | None:
    try:
        return folders.resolve(session, REGISTER_ROOT)
    except NotFound:
        return None


def _holds(session: Session, actor: User | None, permission: P, folder: Folder | None) -> bool:
    if folder is not None:
        return has_permission(session, actor, permission, folder)
    roles = actor.global_roles if actor is not None and actor.is_active else set()
    return bool(roles & roles_with(permission))


def missing_permission(session: Session, actor: User | None, t: RegisterTransition) -> P | None:
    """The first permission of the transition the actor lacks on the register's root folder, or None."""
    root = _root(session)
    return next((p for p in t.permissions if not _holds(session, actor, p, root)), None)


def _require(session: Session, actor: User | None, t: RegisterTransition) -> None:
    missing = missing_permission(session, actor, t)
    if missing is not None:
        raise Forbidden(missing, "для этого шага в Регистре")


def _folder_of(session: Session, org: Organisation) -> Folder | None:
    return session.get(Folder, org.folder_id) if org.folder_id else _root(session)


def can_view(session: Session, actor: User | None, org: Organisation) -> bool:
    return org.kind != AGENCY_KIND and _holds(session, actor, P.VIEW, _folder_of(session, org))


def get(session: Session, actor: User | None, org_id: int) -> Organisation:
    """An organisation of the register the actor may see: one that does not exist and one they may not see look
    the same."""
    org = session.get(Organisation, org_id)
    if org is None or not can_view(session, actor, org):
        raise NotFound("организация не найдена")
    return org


def by_code(session: Session, actor: User | None, code: str) -> Organisation:
    org_id = session.scalar(select(Organisation.id).where(Organisation.code == code.strip()))
    return get(session, actor, org_id or 0)


@dataclass
class Option:
    transition: RegisterTransition
    allowed: bool
    reason: str | None


def options(session: Session, actor: User | None, org: Organisation) -> list[Option]:
    """The transitions leaving the organisation's status, with whether the actor may take them and why not."""
    result = []
    for t in TRANSITIONS.values():
        if org.register_status not in t.sources:
            continue
        missing = missing_permission(session, actor, t)
        why = localize("нет права «%(permission)s»", {"permission": missing}) if missing else None
        if org.pending_status:
            why = localize("решение принято, ожидает подписи")
        result.append(Option(t, why is None, why))
    return result


def may_apply(session: Session, actor: User | None) -> bool:
    return missing_permission(session, actor, TRANSITIONS["apply"]) is None


# --- the steps ---------------------------------------------------------------------------------------------------

def _clean(value: Any, limit: int) -> str:
    return " ".join(str(value or "").split())[:limit]


def agency(session: Session) -> Organisation | None:
    """The agency (it keeps the register and is a party to agreements); the first one if several."""
    return session.scalars(select(Organisation).where(Organisation.kind == AGENCY_KIND)
                           .order_by(Organisation.id)).first()


def _generated_code(session: Session, kind: str, region: str) -> str:
    """The next free code of the kind in the region: ЦОК-69-001, ЦОК-69-002, …"""
    prefix = f"{KINDS[kind].prefix}-{region}-"
    taken = set(session.scalars(select(Organisation.code).where(Organisation.code.startswith(prefix))))
    n = 1
    while f"{prefix}{n:03d}" in taken:
        n += 1
    return f"{prefix}{n:03d}"


def _validated(session: Session, fields: dict[str, Any]) -> dict[str, str]:
    kind = _clean(fields.get("kind"), 32)
    values = {"kind": kind, "name": _clean(fields.get("name"), 500),
              "short_name": _clean(fields.get("short_name"), 200),
              "inn": _clean(fields.get("inn"), 20), "city": _clean(fields.get("city"), 200),
              "code": _clean(fields.get("code"), 64).upper(), "ogrn": _clean(fields.get("ogrn"), 20),
              "kpp": _clean(fields.get("kpp"), 20).upper(), "region": _clean(fields.get("region"), 2)}
    errors = {}
    if kind not in KINDS:
        errors["kind"] = N_("вид организации: выберите из списка")
    if len(values["name"]) < 3:
        errors["name"] = N_("укажите полное наименование организации")
    if not inn_valid(values["inn"]):
        errors["inn"] = N_("ИНН: 10 цифр (организация) или 12 (индивидуальный предприниматель) с верными "
                           "контрольными цифрами")
    if not ogrn_valid(values["ogrn"]) or (len(values["inn"]) == 12) != (len(values["ogrn"]) == 15):
        errors["ogrn"] = N_("ОГРН: 13 цифр (организация) или ОГРНИП: 15 цифр (при ИНН из 12 цифр) с верной "
                            "контрольной цифрой")
    if len(values["inn"]) == 10 and not kpp_valid(values["kpp"]):
        errors["kpp"] = N_("КПП организации: 9 знаков — код налогового органа (4 цифры), причина постановки на "
                           "учёт (2 цифры или латинские буквы) и номер (3 цифры)")
    elif len(values["inn"]) == 12 and values["kpp"]:
        errors["kpp"] = N_("у индивидуального предпринимателя нет КПП")
    if not values["city"]:
        errors["city"] = N_("укажите город")
    example = f"{KINDS[kind].prefix if kind in KINDS else 'ЦОК'}-77-001"
    if values["code"] and code_problem(values["code"], kind):
        errors["code"] = localize(N_("код: вид-регион-номер, например %(example)s"), {"example": example})
    if not values["code"]:
        region = values["region"] or values["inn"][:2]
        if not (digits(region) and len(region) == 2 and region != "00"):
            errors["region"] = N_("укажите код региона (две цифры, например 77) или код организации")
        values["region"] = region
    if errors:
        raise Invalid("заявление не принято: исправьте отмеченные поля", errors)
    same_inn = session.scalars(select(Organisation).where(Organisation.inn == values["inn"])).first()
    if same_inn is not None and same_inn.register_status == "excluded":
        raise Conflict("организация с ИНН %(inn)s уже есть в Регистре (%(code)s) и исключена из него: подайте "
                       "заявление повторно на её странице", inn=values["inn"], code=same_inn.code)
    if same_inn is not None:
        raise Conflict("организация с ИНН %(inn)s уже есть в Регистре: %(code)s", inn=values["inn"], code=same_inn.code)
    if values["code"] and session.scalar(select(Organisation.id).where(Organisation.code == values["code"])):
        raise Conflict("код «%(code)s» уже занят", {"code": N_("занят")}, code=values["code"])
    values["code"] = values["code"] or _generated_code(session, kind, values["region"])
    values["short_name"] = values["short_name"] or values["name"]
    return values


def apply(rt: Runtime, session: Session, actor: User, fields: dict[str, Any], reason: str = "") -> RegisterEvent:
    """A new organisation applies: it enters the register as «applied» and its application is filed."""
    t = TRANSITIONS["apply"]
    _require(session, actor, t)
    values = _validated(session, fields)
    org = Organisation(code=values["code"], name=values["name"], short_name=values["short_name"],
                       kind=values["kind"], city=values["city"], inn=values["inn"], ogrn=values["ogrn"],
                       kpp=values["kpp"], register_status="applied")
    session.add(org)
    session.flush()
    return _step(rt, session, actor, org, t, reason, from_status="")


def take(rt: Runtime, session: Session, actor: User, org: Organisation, name: str, reason: str = "") -> RegisterEvent:
    """Take a register transition on an organisation already in the register."""
    t = TRANSITIONS.get(name)
    if t is None or None in t.sources:
        raise Invalid("в Регистре нет шага «%(name)s»; есть: %(steps)s", name=name,
                      steps=", ".join(n for n, x in TRANSITIONS.items() if None not in x.sources))
    # The row stays locked until commit: two people taking a step at once queue, and the second sees the new status.
    session.refresh(org, with_for_update=True)
    if org.register_status not in t.sources:
        raise Conflict("шаг «%(step)s» невозможен из состояния «%(status)s»", step=t.title,
                       status=STATUSES[org.register_status].label if org.register_status in STATUSES
                       else org.register_status)
    _require(session, actor, t)
    if org.pending_status:
        waiting = waiting_document(session, org)
        raise Conflict("по %(code)s принято решение «%(status)s», приказ %(number)s ждёт подписи: следующий шаг — "
                       "после подписания (или отмены приказа)", code=org.code,
                       status=localize(status_label(org.pending_status)),
                       number=waiting.reg_number if waiting and waiting.reg_number else "")
    return _step(rt, session, actor, org, t, reason, from_status=org.register_status)


def start_history(rt: Runtime, session: Session, actor: User, org: Organisation, reason: str = "") -> RegisterEvent:
    """Begin the register history of an organisation that is in the table but has none (the demo's, or one made
    before the register existed): its application is filed and it becomes «applied»."""
    if session.scalar(select(RegisterEvent.id).where(RegisterEvent.organisation_id == org.id)):
        raise Conflict("у %(code)s уже есть история в Регистре", code=org.code)
    t = TRANSITIONS["apply"]
    _require(session, actor, t)
    return _step(rt, session, actor, org, t, reason, from_status="")


def _step(rt: Runtime, session: Session, actor: User, org: Organisation, t: RegisterTransition, reason: str,
          from_status: str) -> RegisterEvent:
    reason = _clean(reason, 2000)
    if t.reason_required and not reason:
        raise Invalid("укажите: %(field)s", {"reason": N_("обязательное поле")}, field=t.reason_label.lower())
    folder = _register_folder(session, org)
    doc: Document | None
    if t.filing is not None:
        doc = _file(rt, session, actor, org, folder, t, t.filing, reason or t.default_reason)
    else:
        doc = _document_of_last(session, org, t.refers_to)
    now = datetime.now(UTC)
    waits = decided_by_order(t) and doc is not None and doc.state != "signed"
    event = RegisterEvent(organisation_id=org.id, transition=t.name, from_status=from_status, to_status=t.target,
                          reason=reason, document_id=doc.id if doc else None, actor_id=actor.id, ts=now,
                          effective_at=None if waits else now)
    session.add(event)
    if waits:
        org.pending_status = t.target  # the status changes when the order is signed (decision_signed)
    else:
        _take_effect(session, actor, org, event, now)
    session.flush()
    audit.record(session, actor, f"register.{t.name}", "organisation", org.id, code=org.code,
                 from_status=from_status, to_status=t.target, reason=reason, waits_for_signature=waits,
                 document=doc.id if doc else None, reg_number=doc.reg_number if doc else None)
    return event


def decided_by_order(t: RegisterTransition) -> bool:
    """A decision taken by an order sent to signing: it takes effect when the order is signed."""
    return t.filing is not None and t.filing.doc_type == "order" and "send_to_signing" in t.filing.steps


def _take_effect(session: Session, actor: User | None, org: Organisation, event: RegisterEvent,
                 now: datetime) -> None:
    t = TRANSITIONS.get(event.transition)
    org.register_status, org.status_reason, org.status_changed_at = event.to_status, event.reason, now
    org.pending_status = ""
    event.effective_at = now
    if t is not None and t.settles and actor is not None:
        _settle_application(session, actor, org, t.settles, t.title_ru)


def _waiting_event(session: Session, doc: Document) -> RegisterEvent | None:
    return session.scalars(select(RegisterEvent).where(RegisterEvent.document_id == doc.id,
                                                       RegisterEvent.effective_at.is_(None))
                           .order_by(RegisterEvent.id.desc()).limit(1)).first()


@guard("counterparty_in_register")
def counterparty_problem(session: Session, actor: User, doc: Document) -> str | None:
    """The guard of signing with a counterparty: the organisation the document names is in force in the Register
    (an exclusion or a decision waiting for its signature stops it)."""
    code = str((doc.meta or {}).get("counterparty") or "")
    org = session.scalars(select(Organisation).where(Organisation.code == code)).first() if code else None
    if org is None or (org.register_status in IN_FORCE and org.pending_status in ("", *IN_FORCE)):
        return None
    return N_("вторая сторона не действует в Регистре (исключена, не включена или решение ждёт подписи)")


@effect("register_decision")
def decision_signed(session: Session, actor: User | None, doc: Document) -> None:
    """The order deciding a register step is signed (a workflow effect of the order's «sign»): the organisation's
    status changes now."""
    event = _waiting_event(session, doc)
    if event is None:
        return
    org = session.get_one(Organisation, event.organisation_id)
    if org.pending_status != event.to_status:
        return
    _take_effect(session, actor, org, event, datetime.now(UTC))
    audit.record(session, actor, "register.effective", "organisation", org.id, code=org.code,
                 transition=event.transition, to_status=event.to_status, document=doc.id, reg_number=doc.reg_number)


@effect("register_decision_dropped")
def decision_dropped(session: Session, actor: User | None, doc: Document) -> None:
    """The order of a waiting decision is cancelled: the decision never takes effect and the status stays."""
    event = _waiting_event(session, doc)
    if event is None:
        return
    org = session.get_one(Organisation, event.organisation_id)
    if org.pending_status == event.to_status:
        org.pending_status = ""
    audit.record(session, actor, "register.decision_dropped", "organisation", org.id, code=org.code,
                 transition=event.transition, document=doc.id, reg_number=doc.reg_number)


def waiting_document(session: Session, org: Organisation) -> Document | None:
    """The order whose signature the organisation's pending decision waits for."""
    if not org.pending_status:
        return None
    doc_id = session.scalar(select(RegisterEvent.document_id).where(
        RegisterEvent.organisation_id == org.id, RegisterEvent.effective_at.is_(None))
        .order_by(RegisterEvent.id.desc()).limit(1))
    return session.get(Document, doc_id) if doc_id else None


def _register_folder(session: Session, org: Organisation) -> Folder:
    """The organisation's folder under the register's root, made (as the system) on its first step."""
    folder = session.get(Folder, org.folder_id) if org.folder_id else None
    if folder is None:
        root = folders.ensure(session, REGISTER_ROOT, agency(session))
        folder = session.scalars(select(Folder).where(Folder.parent_id == root.id, Folder.name == org.code)).first() \
            or folders.create(session, None, root, org.code, org)
        org.folder_id = folder.id
    return folder


def _file(rt: Runtime, session: Session, actor: User, org: Organisation, folder: Folder, t: RegisterTransition,
          filing: Filing, reason: str) -> Document:
    """The document of a step: created in the folder, its number taken first (so it is printed on the page), the
    PDF rendered from the template and stored, then the workflow steps that register it and send it to signing."""
    today = date.today()
    values = {"name": org.name, "short_name": org.short_name or org.name, "code": org.code, "inn": org.inn or "—",
              "city": org.city or "—", "kind": kind_label(org.kind), "reason": reason.rstrip("."),
              "date": format_date_ru(today)}
    keeper = agency(session)
    meta = {key: fill(value, values) for key, value in filing.meta}
    doc = documents.create(session, actor, folder, filing.doc_type, fill(filing.title, values), meta,
                           organisation=keeper)
    wf = workflow_for(filing.doc_type)
    if any(wf.transitions[s].assigns_number for s in filing.steps):
        numbered_as = session.get(Organisation, doc.organisation_id) if doc.organisation_id else None
        doc.reg_number = wf_svc.reserve_numbers(session, filing.doc_type, numbered_as, 1, today)[1][0]
        doc.reg_date = today
    issuer = org if filing.by_applicant else keeper
    spec = RenderSpec(
        org_name=issuer.name if issuer else REGISTER_NAME, doc_kind=filing.kind_label, title=doc.title,
        paragraphs=[fill(p, values) for p in filing.paragraphs], city=issuer.city if issuer else "",
        reg_number=doc.reg_number, reg_date=doc.reg_date,
        signature=SignatureLine("Руководитель организации" if filing.by_applicant else "Руководитель", ""),
        org_details=f"ИНН {issuer.inn}" if issuer and issuer.inn else "",
        footer=f"{REGISTER_NAME} · {org.code}", author=actor.full_name or actor.login)
    stored = documents.store_upload(rt.store, io.BytesIO(render_document_pdf(spec)),
                                    f"register-{t.name}-{org.id}.pdf", rt.settings.max_upload_bytes)
    documents.add_version(session, actor, doc, stored, comment=f"Регистр: {t.title_ru}")
    for step in filing.steps:
        wf_svc.execute(session, actor, doc, step, f"Регистр: {t.title_ru}")
    return doc


def _document_of_last(session: Session, org: Organisation, transition: str | None) -> Document | None:
    if transition is None:
        return None
    doc_id = session.scalar(select(RegisterEvent.document_id).where(
        RegisterEvent.organisation_id == org.id, RegisterEvent.transition == transition)
        .order_by(RegisterEvent.id.desc()).limit(1))
    return session.get(Document, doc_id) if doc_id else None


def _settle_application(session: Session, actor: User, org: Organisation, name: str, decision: str) -> None:
    """Take a workflow transition (inclusion: accept) on the latest application, where its workflow allows it now."""
    doc = session.scalar(select(Document).join(RegisterEvent, RegisterEvent.document_id == Document.id).where(
        RegisterEvent.organisation_id == org.id, Document.doc_type == "application")
        .order_by(RegisterEvent.id.desc()).limit(1))
    settle = workflow_for("application").transitions.get(name)
    if doc is not None and settle is not None and doc.state in settle.sources:
        wf_svc.execute(session, actor, doc, name, f"Регистр: {decision} ({org.code})")  # kept as written, like a note


# --- reading -----------------------------------------------------------------------------------------------------

@dataclass
class Row:
    org: Organisation
    documents: int
    certificates: int


SORTS = {
    "name": lambda r: r.org.name.lower(),
    "code": lambda r: r.org.code,
    "kind": lambda r: kind_label(r.org.kind),
    "city": lambda r: r.org.city.lower(),
    "status": lambda r: list(STATUSES).index(r.org.register_status) if r.org.register_status in STATUSES else 99,
    "changed": lambda r: r.org.status_changed_at or r.org.created_at,
    "documents": lambda r: r.documents,
    "certificates": lambda r: r.certificates,
}


def _documents_per_folder(session: Session, folder_ids: list[int]) -> dict[int, int]:
    from dms.records.service import not_trashed_clause
    if not folder_ids:
        return {}
    return dict(session.execute(select(Document.folder_id, func.count()).where(
        Document.folder_id.in_(folder_ids), not_trashed_clause()).group_by(Document.folder_id)).all())


def listing(session: Session, actor: User, *, kind: str | None = None, status: str | None = None,
            sort: str = "name", descending: bool = False) -> list[Row]:
    """The organisations of the register the actor may see, with the number of register documents and of
    certificates issued; filtered by kind and status, sorted by a column of SORTS."""
    if kind and kind not in KINDS:
        raise Invalid("вид организации: один из %(kinds)s", kinds=", ".join(KINDS))
    if status and status not in STATUSES:
        raise Invalid("состояние: одно из %(statuses)s", statuses=", ".join(STATUSES))
    if sort not in SORTS:
        raise Invalid("сортировка: одна из %(sorts)s", sorts=", ".join(SORTS))
    stmt = select(Organisation).where(Organisation.kind != AGENCY_KIND)
    if kind:
        stmt = stmt.where(Organisation.kind == kind)
    if status:
        stmt = stmt.where(Organisation.register_status == status)
    visible = visible_folder_ids(session, actor, roles_with(P.VIEW)) if actor.is_active else set()
    orgs = list(session.scalars(stmt))
    if visible is not None:
        root = _root(session)
        orgs = [o for o in orgs if (o.folder_id or (root.id if root else None)) in visible]
    docs = _documents_per_folder(session, [o.folder_id for o in orgs if o.folder_id])
    certs = dict(session.execute(select(Certificate.centre_id, func.count()).where(
        Certificate.centre_id.in_([o.id for o in orgs])).group_by(Certificate.centre_id)).all()) if orgs else {}
    rows = [Row(o, docs.get(o.folder_id, 0) if o.folder_id else 0, certs.get(o.id, 0)) for o in orgs]
    return sorted(rows, key=SORTS[sort], reverse=descending)


def row(session: Session, org: Organisation) -> Row:
    docs = _documents_per_folder(session, [org.folder_id]) if org.folder_id else {}
    certs = session.scalar(select(func.count()).select_from(Certificate).where(Certificate.centre_id == org.id))
    return Row(org, docs.get(org.folder_id, 0) if org.folder_id else 0, certs or 0)


@dataclass
class Step:
    event: RegisterEvent
    document: Document | None
    signatures: int


def history(session: Session, org: Organisation) -> list[Step]:
    events = list(session.scalars(select(RegisterEvent).where(RegisterEvent.organisation_id == org.id)
                                  .order_by(RegisterEvent.id)))
    ids = [e.document_id for e in events if e.document_id]
    docs = {d.id: d for d in session.scalars(select(Document).where(Document.id.in_(ids)))} if ids else {}
    signed = dict(session.execute(select(Signature.document_id, func.count()).where(
        Signature.document_id.in_(ids)).group_by(Signature.document_id)).all()) if ids else {}
    return [Step(e, docs.get(e.document_id or 0), signed.get(e.document_id or 0, 0)) for e in events]


def document_json(doc: Document | None, signatures: int) -> dict | None:
    if doc is None:
        return None
    from dms.workflow.rules import state_title
    return {"id": doc.id, "type": doc.doc_type, "title": doc.title, "reg_number": doc.reg_number,
            "reg_date": doc.reg_date.isoformat() if doc.reg_date else None, "state": doc.state,
            "state_label": state_title(doc.doc_type, doc.state), "signatures": signatures,
            "folder_id": doc.folder_id}


def event_json(session: Session, event: RegisterEvent, document: Document | None = None,
               signatures: int | None = None) -> dict:
    if document is None and event.document_id:
        document = session.get(Document, event.document_id)
    if signatures is None:
        signatures = session.scalar(select(func.count()).select_from(Signature).where(
            Signature.document_id == event.document_id)) if event.document_id else 0
    return {"id": event.id, "organisation_id": event.organisation_id, "transition": event.transition,
            "title": TRANSITIONS[event.transition].title_ru if event.transition in TRANSITIONS else event.transition,
            "from_status": event.from_status or None, "to_status": event.to_status, "reason": event.reason,
            "actor": event.actor.login if event.actor else None, "ts": event.ts.isoformat(),
            "effective_at": event.effective_at.isoformat() if event.effective_at else None,
            "document": document_json(document, signatures or 0)}


def organisation_json(r: Row) -> dict:
    o = r.org
    return {"id": o.id, "code": o.code, "name": o.name, "short_name": o.short_name, "kind": o.kind,
            "kind_label": kind_label(o.kind), "city": o.city, "inn": o.inn, "status": o.register_status,
            "status_label": status_label(o.register_status), "status_reason": o.status_reason,
            "status_changed_at": o.status_changed_at.isoformat() if o.status_changed_at else None,
            "folder_id": o.folder_id, "documents": r.documents, "certificates": r.certificates, "ogrn": o.ogrn,
            "kpp": o.kpp, "pending_status": o.pending_status or None}


def detail_json(session: Session, actor: User, org: Organisation) -> dict:
    return {**organisation_json(row(session, org)),
            "history": [event_json(session, s.event, s.document, s.signatures) for s in history(session, org)],
            "transitions": [{"name": o.transition.name, "title": o.transition.title_ru, "allowed": o.allowed,
                             "reason_required": o.transition.reason_required, "why_not": o.reason}
                            for o in options(session, actor, org)]}
