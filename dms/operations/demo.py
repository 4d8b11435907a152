"""`dms demo`: organisations, users for each role, a folder tree and realistic documents as real PDFs.
Idempotent: what exists is kept; passwords are shown only for users created by this run."""
from __future__ import annotations

import dataclasses
import io
import secrets
import sys
from typing import Any

from datetime import date, timedelta

from sqlalchemy import func, select
from tqdm import tqdm

from dms.operations import demo_content
from dms.documents import doctypes
from dms.models import BlankRange, Document, Organisation, User
from dms.pdfrender import RenderSpec
from dms.runtime import Runtime
from dms.workflow.rules import workflow_for
from dms.certificates import service as certs
from dms.reports import demo as demo_reports
from dms.documents import service as documents
from dms.documents import folders
from dms.signatures import pki
from dms.documents import sharing
from dms.people import users
from dms.workflow import service as wf_svc
from dms.certificates.rows import ExamResult

# (login, full name, global roles, local grants [(folder, role)], organisation code)
DEMO_USERS: tuple[tuple[str, str, tuple[str, ...], tuple[tuple[str, str], ...], str], ...] = (
    ("admin", "Администратор системы", ("Administrator",), (), "МАРК"),
    ("clerk", "Смирнова Анна Викторовна", ("Clerk",), (), "МАРК"),
    ("director", "Лебедева Ирина Павловна", ("Signatory",), (), "МАРК"),
    ("auditor", "Орлов Дмитрий Сергеевич", ("Auditor",), (), "МАРК"),
    ("cok1", "Кузнецова Мария Олеговна", (), (("/ЦОК-77-001", "Editor"),), "ЦОК-77-001"),
    # the practice holder's representative: Counterparty on their organisation's agreements folder (granted below)
    ("holder", "Волков Андрей Ильич", (), (), "ДП-66-001"),
)
# Agreements with the holder ДП-66-001, drafted by the clerk from the template and signed by the director; the
# holder's representative countersigns those marked True (in force), the other waits in their worklist.
DEMO_AGREEMENTS: tuple[tuple[str, int, int, bool], ...] = (
    ("О взаимном признании результатов независимой оценки квалификации сварщиков", -60, 3 * 365, True),
    ("О совместном проведении профессиональных экзаменов по квалификациям сварочного производства", -5, 2 * 365,
     False),
)

# The register history of the demo organisations, taken through dms.register.rules's lifecycle by the demo clerk:
# code -> the steps after the application (transition, reason, whether the director signs its document).
DEMO_REGISTER: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "ЦОК-77-001": (("include", "решение экспертной комиссии от 12.02.2025", True),),
    "ЦОК-50-002": (("include", "решение экспертной комиссии от 05.03.2025", True),
                   ("start_audit", "план проверок на 2025 год", True),
                   ("finish_audit", "нарушений не выявлено; сведения в Регистре достоверны", False)),
    "ЦОК-40-003": (("include", "решение экспертной комиссии от 20.03.2025", True),
                   ("start_audit", "обращение соискателя о нарушении порядка проведения экзамена", False)),
    "ЭМЦ-77-001": (("include", "решение экспертной комиссии от 14.04.2025", True),),
    "ДП-66-001": (("include", "соглашение о признании практики сертификации", True),),
    "ДП-54-002": (),
    "ДПО-40-001": (("include", "решение экспертной комиссии от 02.06.2025", True),),
    "ПП-16-001": (("include", "участие в апробации модели сертификации квалификаций", True),
                  ("exclude", "завершение апробации модели на пилотной площадке", False)),
}

# The state a demo document of each type is shown in when it carries a registration number.
REGISTERED_STATE = {"order": "registered", "application": "registered", "other": "registered",
                    "report": "submitted"}


def _kpp(inn: str) -> str:
    """A KPP of the organisation's tax office (the INN's first four digits), reason 01 (the main office)."""
    return f"{inn[:4]}01001" if len(inn) == 10 else ""


def _organisations(session) -> dict[str, Organisation]:  # noqa: ANN001
    by_code = {o.code: o for o in session.scalars(select(Organisation))}
    for spec in demo_content.demo_organisations():
        found = by_code.get(spec["code"])
        if found is not None:
            found.ogrn = found.ogrn or spec.get("ogrn", "")  # made before OGRN and KPP were kept
            found.kpp = found.kpp or _kpp(found.inn)
            continue
        org = Organisation(code=spec["code"], name=spec["name"], short_name=spec["short_name"], kind=spec["kind"],
                           register_status=spec.get("register_status") or "included", city=spec.get("city", ""),
                           inn=spec.get("inn", ""), ogrn=spec.get("ogrn", ""), kpp=_kpp(spec.get("inn", "")))
        session.add(org)
        by_code[org.code] = org
    session.flush()
    return by_code


def _users(session, orgs: dict[str, Organisation]) -> list[tuple[str, str, str]]:  # noqa: ANN001
    created = []
    for login, name, roles, grants, org_code in DEMO_USERS:
        if session.scalar(select(User.id).where(User.login == login)):
            continue
        password = secrets.token_urlsafe(10)
        user = users.create_user(session, login, password, roles, full_name=name, organisation=orgs.get(org_code))
        for path, role in grants:
            sharing.grant(session, None, folders.ensure(session, path), f"user:{user.id}", role)
        created.append((login, ", ".join(roles) or "локальные роли", password))
    return created


def _clean_meta(doc_type: str, meta: dict[str, Any]) -> dict[str, Any]:
    known = {f.name for f in doctypes.DOC_TYPES[doc_type].fields}
    return {k: v for k, v in meta.items() if k in known and v not in (None, "")}


def load(rt: Runtime, progress: bool = False) -> dict:
    with rt.db.session() as s:
        orgs = _organisations(s)
        for path in demo_content.demo_folders():
            top = folders.split_path(path)[0]
            folders.ensure(s, path, orgs.get(top))
        new_users = _users(s, orgs)
    items = demo_content.demo_documents(verify_base_url=rt.settings.base_url + "/verify/")
    new_docs = 0
    with rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        admin = users.get_user(s, "admin")
        existing = set(s.execute(select(Document.folder_id, Document.title)).all())
        for item in tqdm(items, desc="демо-документы", unit="док", file=sys.stderr, disable=not progress or None):
            if item.doc_type == "certificate":
                continue  # issued for real below: numbered, on blanks, signed, verifiable
            folder = folders.resolve(s, item.folder)
            if (folder.id, item.title) in existing:
                continue
            doc = documents.create(s, admin, folder, item.doc_type, item.title,
                                   _clean_meta(item.doc_type, dict(item.metadata)), orgs.get(item.org_code))
            doc.created_by_id = clerk.id
            registered = bool(item.reg_number and item.doc_type in REGISTERED_STATE)
            if registered:
                # numbered by the same patterns and counters as every registration (dms.workflow.numbering), in its year
                doc.reg_number, doc.reg_date = wf_svc.allocate_number(s, doc, item.reg_date), item.reg_date
                if isinstance(item.spec, RenderSpec):
                    item = dataclasses.replace(item, spec=dataclasses.replace(item.spec, reg_number=doc.reg_number))
            stored = documents.store_upload(rt.store, io.BytesIO(demo_content.render_demo_pdf(item)),
                                            item.filename or "document.pdf", rt.settings.max_upload_bytes)
            documents.add_version(s, admin, doc, stored)
            if registered:
                state = REGISTERED_STATE[item.doc_type]
                assert state in workflow_for(item.doc_type).states
                doc.state = state
            new_docs += 1
    new_docs += demo_reports.load(rt)  # filled from the report forms, submitted
    pin = pki.ensure_demo_signatory(rt, "director")
    new_docs += _register_history(rt, pin)
    issued = _certificates(rt, [i for i in items if i.doc_type == "certificate"], pin) if pin else 0
    holder_pin = _holder_agreements(rt, pin)
    new_docs += len(DEMO_AGREEMENTS) if holder_pin else 0
    with rt.db.session() as s:
        total = s.scalar(select(func.count()).select_from(Document)) or 0
    return {"new_users": new_users, "documents": total, "new_documents": new_docs + issued,
            "signatory_pin": pin, "holder_pin": holder_pin, "certificates": issued}


def _holder_agreements(rt: Runtime, pin: str | None) -> str | None:
    """The holder's representative gets the Counterparty role on their organisation's agreements folder and a
    signing certificate; DEMO_AGREEMENTS are drafted, sent, signed by the director and, where marked, countersigned
    by the holder. Only on the run that made the director's certificate (its PIN is known); returns the holder's new
    PIN (to print once) or None."""
    from dms.agreements import service as agreements
    from dms.signatures import service as signatures
    if not pin:
        return None
    with rt.db.session() as s:
        clerk, holder = users.get_user(s, "clerk"), users.get_user(s, "holder")
        org = s.scalars(select(Organisation).where(Organisation.code == "ДП-66-001")).one()
        folder = agreements.holder_folder(s, clerk, org)
        sharing.grant(s, None, folder, f"user:{holder.id}", "Counterparty")
    holder_pin = pki.ensure_demo_signatory(rt, "holder")
    if holder_pin is None:
        return None
    today = date.today()
    for subject, starts, lasts, countersigned in DEMO_AGREEMENTS:
        with rt.db.session() as s:
            clerk, director = users.get_user(s, "clerk"), users.get_user(s, "director")
            doc = agreements.draft(rt, s, clerk, {
                "holder_id": str(org.id), "subject": subject,
                "term_from": (today + timedelta(days=starts)).isoformat(),
                "term_to": (today + timedelta(days=starts + lasts)).isoformat()})
            wf_svc.execute(s, clerk, doc, "send_to_signing")
            signatures.sign_document(rt, s, director, doc, pin)
            if countersigned:
                signatures.sign_document(rt, s, users.get_user(s, "holder"), doc, holder_pin)
    return holder_pin


def _register_history(rt: Runtime, pin: str | None) -> int:
    """Each demo organisation without a register history gets one (DEMO_REGISTER): its application, then its steps,
    every document filed and numbered by the real service; the director signs those marked (when the PIN is known,
    i.e. on the run that made the director's certificate). Returns the number of documents filed."""
    from dms.models import RegisterEvent
    from dms.register.rules import TRANSITIONS
    from dms.register import service as register
    from dms.signatures import service as signatures
    filed = 0
    with rt.db.session() as s:
        clerk, director = users.get_user(s, "clerk"), users.get_user(s, "director")
        started = set(s.scalars(select(RegisterEvent.organisation_id)))
        for code, steps in DEMO_REGISTER.items():
            org = s.scalars(select(Organisation).where(Organisation.code == code)).first()
            if org is None or org.id in started:
                continue
            register.start_history(rt, s, clerk, org, "документы об организации прилагаются")
            filed += 1
            for name, reason, signed in steps:
                event = register.take(rt, s, clerk, org, name, reason)
                doc = s.get(Document, event.document_id) if event.document_id else None
                filed += 1 if TRANSITIONS[name].filing is not None else 0
                if doc is not None and signed and pin:
                    signatures.sign_document(rt, s, director, doc, pin)
    return filed


def _certificates(rt: Runtime, items: list, pin: str) -> int:  # noqa: ANN001
    """The demo's certificates, through the real batch issue (the director signs); one is then revoked and
    one replaced by a duplicate, so that every status can be tried on the public page."""
    by_centre: dict[str, list[ExamResult]] = {}
    for item in items:
        meta = item.metadata
        by_centre.setdefault(item.org_code, []).append(ExamResult(
            row=len(by_centre.get(item.org_code, [])) + 2, full_name=meta["holder"],
            qualification=meta["qualification"], level=int(meta["level"]),
            exam_date=date.fromisoformat(meta["issue_date"]), protocol="П-1"))
    numbers = []
    with rt.db.session() as s:
        for code in by_centre:
            centre = certs.centre_by_code(s, code)
            if not s.scalar(select(func.count()).select_from(BlankRange).where(BlankRange.centre_id == centre.id)):
                series = "СК" + "".join(ch for ch in code if ch.isdigit())[:4]
                certs.allocate_blanks(s, None, centre, series, 1, 500)
    for code, rows in by_centre.items():
        numbers += [c["number"] for c in certs.issue(rt, "director", code, rows, pin, filename="демо").issued]
    if len(numbers) >= 3:
        with rt.db.session() as s:
            director = users.get_user(s, "director")
            cert = certs.get(s, director, numbers[1])
            certs.revoke(s, director, cert, "нарушение порядка проведения экзамена", "15-п", cert.issue_date)
        certs.replace(rt, "director", numbers[2], pin, "утрата бланка")
    return len(numbers) + (1 if len(numbers) >= 3 else 0)
