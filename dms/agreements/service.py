"""Agreements with practice holders (seed 000: «заключение соглашений с держателем практики»).

An agreement is drafted from a template into the holder organisation's folder, sent to signing (it gets its
number), certified by the agency's signatory (the certification signature reserves the holder's field) and then
countersigned by the holder: either by their representative signing here (local role Counterparty on the holder's
folder, a certificate of our CA and a PIN) or by a clerk accepting the copy the holder signed elsewhere. It enters
into force only when both signatures on the current version check out (the guard «both_signatures_valid»); its
term is not a state of its own: an agreement in force past its end date is shown as «срок истёк» (status()).
The text drafted from the template is printed again with its number and date as a new version when it is numbered,
before anyone signs it (the signed bytes carry the number).
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from datetime import date, datetime, UTC
from typing import IO, Any
from collections.abc import Mapping

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from signing.trust import TrustStore
from signing.validate import STATUS_RU, SignatureReport, validate_pdf

from dms import pdfrender
from dms.errors import N_, Conflict, DmsError, Invalid, NotFound, TooLarge, UnsupportedMediaType, localize
from dms.i18n import pick
from dms.idrange import parse_id
from dms.models import Document, Folder, Organisation, Signature, User, Version
from dms.runtime import RUNTIME_KEY, Runtime
from dms.security import P, access_filter, apply_filter_sql, has_permission, require
from dms.workflow.rules import workflow_for
from dms.audit import service as audit
from dms.documents import service as documents
from dms.documents import folders
from dms.signatures import pki
from dms.register import service as register
from dms.workflow import service as wf_svc
from dms.signatures.service import RETENTION as SIGNED_RETENTION
from dms.workflow.hooks import effect, guard

DOC_TYPE = "agreement"
HOLDER_KIND = "practice_holder"
HOLDERS_FOLDER = "/Соглашения/Держатели практик"
PDF = "application/pdf"
AGENCY_STEP = "sign"
ACCEPT_STEP = "accept_countersigned"
# What may follow the agency's certification signature without touching the agreement's content.
ALLOWED_AFTER_AGENCY = frozenset({"none", "form_filling", "lta_updates"})


class TrustListError(DmsError):
    status = 503


def _runtime(session: Session) -> Runtime | None:
    return session.info.get(RUNTIME_KEY)


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _ru(day: date) -> str:
    return day.strftime("%d.%m.%Y")


# --- drafting from the template ------------------------------------------------------------------------------

@dataclass(frozen=True)
class DraftForm:
    holder: Organisation
    subject: str
    term_from: date
    term_to: date
    title: str


def holders(session: Session) -> list[Organisation]:
    return list(session.scalars(select(Organisation).where(Organisation.kind == HOLDER_KIND)
                                .order_by(Organisation.name)))


def parse_draft(session: Session, raw: Mapping[str, Any]) -> DraftForm:
    """The drafting form (web or API) checked field by field; every problem is reported at once, in Russian."""
    errors: dict[str, str] = {}
    holder = None
    holder_id = parse_id(str(raw.get("holder_id", "")))
    if holder_id is not None:
        holder = session.get(Organisation, holder_id)
    if holder is None or holder.kind != HOLDER_KIND:
        errors["holder_id"] = N_("выберите держателя практики из списка")
    subject = " ".join(str(raw.get("subject", "")).split())
    if not subject or len(subject) > 5000:
        errors["subject"] = N_("опишите предмет соглашения (до 5000 символов)")
    days: dict[str, date | None] = {}
    for name in ("term_from", "term_to"):
        days[name] = _day(str(raw.get(name, "")).strip())
        if days[name] is None:
            errors[name] = N_("ожидается дата в формате ГГГГ-ММ-ДД")
    if days["term_from"] and days["term_to"] and days["term_to"] < days["term_from"]:
        errors["term_to"] = N_("срок окончания раньше начала")
    title = " ".join(str(raw.get("title", "")).split())
    if len(title) > 1000:
        errors["title"] = N_("название длиннее 1000 символов")
    if errors:
        raise Invalid("проект соглашения не составлен: исправьте поля формы", errors)
    assert holder is not None and days["term_from"] and days["term_to"]
    return DraftForm(holder, subject, days["term_from"], days["term_to"],
                     title or f"Соглашение о признании практики с {holder.short_name or holder.name}")


def render(agency: Organisation | None, form: DraftForm, reg_number: str | None = None,
           reg_date: date | None = None) -> bytes:
    """The agreement's text from the template, as a PDF in Russian (with its number and date once it has them)."""
    agency_name = agency.name if agency else pki.DEFAULT_ORGANISATION
    holder = form.holder
    paragraphs = [
        f"{agency_name} (далее — Агентство), с одной стороны, и {holder.name} (далее — Держатель практики), "
        "с другой стороны, заключили настоящее соглашение о нижеследующем.",
        f"1. Предмет соглашения. {form.subject}",
        "2. Держатель практики передаёт в Регистр системы оценки и сертификации профессиональных квалификаций "
        "сведения о выданных им документах и об изменениях своей практики в согласованном сторонами порядке.",
        "3. Агентство осуществляет мониторинг функционирования практики и информирует Держателя практики о его "
        "результатах.",
        f"4. Соглашение действует с {pdfrender.format_date_ru(form.term_from)} по "
        f"{pdfrender.format_date_ru(form.term_to)}.",
        "5. Соглашение вступает в силу после его подписания электронными подписями обеих сторон: сначала "
        "Агентством, затем Держателем практики в предусмотренном для него поле подписи.",
        "6. Соглашение может быть прекращено досрочно по соглашению сторон или по решению одной из сторон с "
        "указанием причины.",
    ]
    table = [["Сторона", "Организация", "Код"],
             ["Агентство", agency_name, agency.code if agency else "—"],
             ["Держатель практики", holder.name, holder.code]]
    spec = pdfrender.RenderSpec(org_name=agency_name, doc_kind="СОГЛАШЕНИЕ", title=form.title,
                                paragraphs=paragraphs, city=(agency.city if agency and agency.city else "Москва"),
                                table=table, footer="Подписывается электронными подписями сторон",
                                reg_number=reg_number, reg_date=reg_date)
    return pdfrender.render_document_pdf(spec)


def holder_folder(session: Session, actor: User, holder: Organisation) -> Folder:
    """The holder organisation's folder of agreements (under the holders' folder, assigned to the organisation),
    created on first use. Its representatives are granted the local role Counterparty here."""
    parent = folders.ensure(session, HOLDERS_FOLDER)
    found = session.scalars(select(Folder).where(Folder.parent_id == parent.id, Folder.organisation_id == holder.id)
                            .order_by(Folder.id)).first()
    return found or folders.create(session, actor, parent, f"{holder.short_name or holder.name} ({holder.code})",
                                   holder)


def may_draft(session: Session, actor: User) -> bool:
    """Whether `actor` may add agreements under the holders' folder (or, before it exists, under the root)."""
    try:
        where = folders.resolve(session, HOLDERS_FOLDER)
    except NotFound:
        where = folders.root(session)
    return has_permission(session, actor, P.ADD, where)


def draft(rt: Runtime, session: Session, actor: User, raw: Mapping[str, Any]) -> Document:
    """A new agreement in the holder's folder with the PDF generated from the template as its first version."""
    form = parse_draft(session, raw)
    folder = holder_folder(session, actor, form.holder)
    require(session, actor, P.ADD, folder)
    agency = register.agency(session)
    stored = documents.store_upload(rt.store, io.BytesIO(render(agency, form)), "soglashenie.pdf",
                                    rt.settings.max_upload_bytes)
    meta = {"counterparty": form.holder.code, "term_from": form.term_from.isoformat(),
            "term_to": form.term_to.isoformat(), "subject": form.subject}
    doc = documents.create(session, actor, folder, DOC_TYPE, form.title, meta, organisation=agency)
    documents.add_version(session, actor, doc, stored, TEMPLATE_COMMENT)
    return doc


TEMPLATE_COMMENT = "Проект по шаблону соглашения"
NUMBERED_COMMENT = "Текст соглашения с регистрационным номером и датой"


def _form_of(session: Session, doc: Document) -> DraftForm | None:
    """The drafting form as the agreement keeps it (its metadata and title); None if something is missing."""
    meta = doc.meta or {}
    holder = session.scalars(select(Organisation).where(Organisation.code == meta.get("counterparty"),
                                                        Organisation.kind == HOLDER_KIND)).first()
    term_from, term_to, subject = _day(meta.get("term_from")), _day(meta.get("term_to")), meta.get("subject")
    if holder is None or term_from is None or term_to is None or not subject:
        return None
    return DraftForm(holder, str(subject), term_from, term_to, doc.title)


def print_number(session: Session, actor: User | None, doc: Document) -> Version | None:
    """Once numbered (sent to signing, or approved), the text drafted from the template gets its number and date in
    its body as a new version, before the agency signs. Only while the current version is that draft (version 1,
    made by draft()): a text uploaded in its place is left as it is."""
    rt = _runtime(session)
    current = session.get(Version, doc.current_version_id) if doc.current_version_id else None
    if rt is None or current is None or current.number != 1 or current.comment != TEMPLATE_COMMENT \
            or not doc.reg_number:
        return None
    form = _form_of(session, doc)
    if form is None:
        return None
    data = render(register.agency(session), form, doc.reg_number, doc.reg_date)
    stored = documents.store_upload(rt.store, io.BytesIO(data), current.filename, rt.settings.max_upload_bytes)
    version = documents.new_version(session, actor, doc, stored, comment=NUMBERED_COMMENT, event=None)
    audit.record(session, actor, "agreement.numbered_text", "document", doc.id, version=version.number,
                 source_version=current.number, reg_number=doc.reg_number, sha256=stored.sha256)
    return version


@effect("agreement_numbered")
def _numbered(session: Session, actor: User | None, doc: Document) -> None:
    print_number(session, actor, doc)


# --- the rule: both signatures, on the current version ----------------------------------------------------

def trust_store(rt: Runtime, session: Session) -> TrustStore:
    """Our CA, plus the roots of the setting DMS_TRUSTED_ROOTS (other CAs the holders' certificates come from)."""
    ours = pki.trust_store(rt, session)
    extra = [der for path in rt.settings.trusted_roots for der in _read_roots(path)]
    if not extra:
        return ours
    return ours.with_roots(extra)  # their certificates' revocation is fetched (CRL DP, with a timeout)


def _read_roots(path) -> list[bytes]:  # noqa: ANN001
    try:
        data = path.read_bytes()
        if b"-----BEGIN" in data:
            return [c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(data)]
        return [x509.load_der_x509_certificate(data).public_bytes(serialization.Encoding.DER)]
    except (OSError, ValueError) as exc:
        raise TrustListError("доверенный корневой сертификат «%(path)s» (DMS_TRUSTED_ROOTS) не читается: %(error)s",
                             path=str(path), error=str(exc)) from None


@dataclass
class Countersignature:
    """The check of a countersigned copy: what is wrong with it (nothing: both signatures hold)."""
    problems: list[str]
    agency: SignatureReport | None = None
    holder: SignatureReport | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _agency_problems(sig: SignatureReport | None) -> list[str]:
    if sig is None:
        return ["в файле нет подписи агентства"]
    if sig.status == "modified" or (sig.ok and sig.modification_level not in ALLOWED_AFTER_AGENCY):
        return ["после подписи агентства изменено содержимое соглашения"]
    if not sig.ok:
        return [f"подпись агентства: {STATUS_RU[sig.status]}"]
    return []


def _holder_problems(others: list[SignatureReport]) -> list[str]:
    if not others:
        return ["в файле нет подписи второй стороны"]
    if len(others) > 1:
        return [f"после подписи агентства добавлено подписей: {len(others)}; ожидается одна подпись второй стороны"]
    sig = others[0]
    problems = []
    if sig.status == "untrusted":
        problems.append("сертификат второй стороны не выдан доверенным удостоверяющим центром")
    elif not sig.ok:  # revocation unknown (indeterminate) blocks entering into force too
        problems.append(f"подпись второй стороны: {STATUS_RU[sig.status]}")
    if sig.coverage != "entire_file":
        problems.append("подпись второй стороны охватывает не весь файл")
    return problems


def check_countersigned(data: bytes, agency_bytes: bytes, agency: Signature, trust: TrustStore) -> Countersignature:
    """Is `data` exactly our agency-signed bytes plus the second party's signature, both valid and trusted, the
    last one covering the whole file?"""
    if not data.startswith(agency_bytes):
        return Countersignature(["файл не является продолжением версии, подписанной агентством (подписан не наш "
                                 "экземпляр или он пересохранён с изменениями)"])
    if len(data) == len(agency_bytes):
        return Countersignature(["в файле нет подписи второй стороны: это версия, подписанная только агентством"])
    report = validate_pdf(data, trust)
    if report.problem:
        return Countersignature([report.problem])
    signed = [s for s in report.signatures if s.kind == "signature"]
    ours = next((s for s in signed if s.field_name == agency.field_name), None)
    if ours is not None and ours.signer_fingerprint != agency.credential_fingerprint:
        return Countersignature(["подпись в поле агентства сделана не тем сертификатом, что подписывал агентство"])
    others = [s for s in signed if s is not ours]
    problems = _agency_problems(ours) + _holder_problems(others)
    if others and others[-1].signer_fingerprint == agency.credential_fingerprint:
        problems.append("вторую подпись поставил тот же сертификат, что и подпись агентства")
    return Countersignature(problems, ours, others[-1] if others else None)


def agency_signature(session: Session, doc: Document) -> Signature | None:
    return session.scalars(select(Signature).where(Signature.document_id == doc.id, Signature.kind == "pades",
                                                   Signature.transition == AGENCY_STEP)
                           .order_by(Signature.id.desc())).first()


@guard("both_signatures_valid")
def _both_signatures_valid(session: Session, actor: User, doc: Document) -> str | None:
    return countersignature_problem(session, doc)


@guard("term_not_ended")
def _term_not_ended(session: Session, actor: User, doc: Document) -> str | None:
    return term_problem(doc)


def countersignature_problem(session: Session, doc: Document) -> str | None:
    """The guard of entering into force: None when the current version carries both valid signatures."""
    rt = _runtime(session)
    if rt is None:
        return N_("подписи проверить нельзя: нет доступа к хранилищу")
    agency = agency_signature(session, doc)
    if agency is None:
        return N_("у соглашения нет подписи агентства")
    if doc.current_version_id == agency.version_id:
        return N_("нет подписи второй стороны: текущая версия подписана только агентством")
    current = session.get(Version, doc.current_version_id)
    if current is None:
        return N_("у соглашения нет текущей версии")
    data, base = rt.store.get_bytes(current.object_key), rt.store.get_bytes(agency.version.object_key)
    result = check_countersigned(data, base, agency, trust_store(rt, session))
    return "; ".join(result.problems) or None


def term_problem(doc: Document, today: date | None = None) -> str | None:
    """The guard that an agreement whose term has ended does not enter into force."""
    end = _day((doc.meta or {}).get("term_to"))
    if end is not None and (today or date.today()) > end:
        return f"срок соглашения истёк {_ru(end)}"
    return None


# --- the holder's copy signed elsewhere -------------------------------------------------------------------

def _read_pdf(stream: IO[bytes], limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge("файл больше %(mb)s МБ", mb=limit // (1024 * 1024))
    if b"%PDF-" not in data[:1024]:
        raise UnsupportedMediaType("ожидается PDF-файл, подписанный второй стороной")
    return data


def accept_countersigned(rt: Runtime, session: Session, actor: User, doc: Document, stream: IO[bytes],
                         filename: str = "", comment: str = "", expected_revision: int | None = None) -> Version:
    """The copy the holder signed elsewhere becomes the new version and the agreement enters into force — only if
    it is our agency-signed bytes plus the holder's signature, both valid and trusted. A refusal changes nothing
    (the bytes are checked before anything is stored)."""
    if doc.doc_type != DOC_TYPE:
        raise Invalid("это не соглашение")
    documents.ensure_mutable(session, doc)
    documents.check_revision(doc, expected_revision)
    step = workflow_for(DOC_TYPE).transitions[ACCEPT_STEP]
    if doc.state not in step.sources:
        raise Conflict("принять экземпляр, подписанный второй стороной, можно только у соглашения, подписанного "
                       "агентством")
    require(session, actor, step.permission, doc)
    reason = term_problem(doc)
    if reason:
        raise Conflict("«%(step)s» невозможно: %(reason)s", step=step.title, reason=localize(reason))
    agency = agency_signature(session, doc)
    if agency is None or agency.version_id != doc.current_version_id:
        raise Conflict("текущая версия соглашения не та, что подписана агентством")
    data = _read_pdf(stream, rt.settings.max_upload_bytes)
    result = check_countersigned(data, rt.store.get_bytes(agency.version.object_key), agency,
                                 trust_store(rt, session))
    if not result.ok:
        raise Invalid("экземпляр не принят: %(problems)s", {"problems": result.problems},
                      problems="; ".join(result.problems))
    assert result.holder is not None
    info = rt.store.put_bytes(data)
    version = documents.new_version(
        session, actor, doc, documents.StoredUpload(info.key, info.sha256, info.size, PDF, agency.version.filename),
        comment=f"Экземпляр, подписанный второй стороной ({filename or 'загружен'})",
        expected_revision=expected_revision, retain_until=datetime.now(UTC) + SIGNED_RETENTION, event=None)
    number = version.number
    holder = result.holder
    session.add(Signature(document_id=doc.id, version_id=version.id, source_version_id=agency.version_id,
                          kind="pades", signer_id=None, credential_fingerprint=holder.signer_fingerprint or "",
                          level=holder.level or "B-B", field_name=(holder.field_name or "")[:64],
                          transition=ACCEPT_STEP, validation={"status": holder.status, "authentic": True,
                                                              "signature": _plain(holder)},
                          validated_at=datetime.now(UTC)))
    audit.record(session, actor, "agreement.countersigned_copy", "document", doc.id, version=number,
                 sha256=info.sha256, signer=holder.signer, serial=holder.signer_serial,
                 fingerprint=holder.signer_fingerprint)
    wf_svc.execute(session, actor, doc, ACCEPT_STEP, comment or "Экземпляр второй стороны проверен и принят")
    from dms.signatures import evidence
    evidence.protect_after_commit(rt, session, doc)  # the last signature: its B-LTA version after the commit
    return version


def _plain(sig: SignatureReport) -> dict:
    return {k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in asdict(sig).items()}


# --- status, listing ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Status:
    """The agreement's status in words, in both languages like the other labels kept as data."""
    code: str      # draft | on_signing | signed_by_agency | not_yet | in_force | expired | terminated
    label_ru: str
    label_en: str
    reason_ru: str = ""
    reason_en: str = ""

    @property
    def label(self) -> str:
        return pick(self.label_ru, self.label_en)

    @property
    def reason(self) -> str:
        return pick(self.reason_ru, self.reason_en)


def _terminated(session: Session, doc: Document) -> Status:
    entry = next((h for h in reversed(wf_svc.history(session, doc)) if h.to_state == "terminated"), None)
    why = ""
    if entry is not None:
        who = (entry.actor.full_name or entry.actor.login) if entry.actor else "—"
        why = f"{_ru(entry.ts.date())}, {who}: {entry.comment}"
    return Status("terminated", "прекращено", "terminated", why, why)


def status(session: Session, doc: Document, today: date | None = None) -> Status:
    """What the agreement is now, in words: its state, and for one in force, where today falls in its term."""
    today = today or date.today()
    start, end = _day(doc.meta.get("term_from")), _day(doc.meta.get("term_to"))
    if doc.state == "signed_by_agency":
        return Status("signed_by_agency", "подписано агентством", "signed by the agency",
                      "ожидает подписи второй стороны", "awaiting the second party's signature")
    if doc.state == "terminated":
        return _terminated(session, doc)
    if doc.state != "in_force":
        state = workflow_for(DOC_TYPE).states[doc.state]
        return Status(doc.state, state.title_ru.lower(), state.title_en.lower())
    if end is not None and today > end:
        return Status("expired", "срок истёк", "expired", f"срок действия закончился {_ru(end)}",
                      f"the term ended on {_ru(end)}")
    if start is not None and today < start:
        return Status("not_yet", "подписано обеими сторонами, срок ещё не начался",
                      "signed by both parties, the term has not begun", f"действует с {_ru(start)}",
                      f"in force from {_ru(start)}")
    until_ru, until_en = (f"; до {_ru(end)}", f"; until {_ru(end)}") if end else ("", "")
    return Status("in_force", "действует", "in force", "обе подписи действительны" + until_ru,
                  "both signatures are valid" + until_en)


def visible(session: Session, actor: User, limit: int = 200) -> list[Document]:
    """The agreements `actor` may view (a holder's representative: only their organisation's), newest first."""
    from dms.records.service import not_trashed_clause
    stmt = select(Document).where(Document.doc_type == DOC_TYPE, not_trashed_clause())
    stmt = apply_filter_sql(stmt, access_filter(session, actor, P.VIEW))
    return list(session.scalars(stmt.order_by(Document.updated_at.desc(), Document.id.desc()).limit(limit)))


def terminate(session: Session, actor: User, doc: Document, reason: str,
              expected_revision: int | None = None) -> None:
    """Termination is the workflow step «terminate» with its reason as the required comment (history, audit)."""
    if doc.doc_type != DOC_TYPE:
        raise Invalid("это не соглашение")
    wf_svc.execute(session, actor, doc, "terminate", reason.strip(), expected_revision)


def status_json(session: Session, doc: Document) -> dict:
    st = status(session, doc)
    return {"id": doc.id, "title": doc.title, "reg_number": doc.reg_number, "state": doc.state,
            "status": st.code, "status_ru": st.label_ru, "reason_ru": st.reason_ru,
            "counterparty": doc.meta.get("counterparty"), "term_from": doc.meta.get("term_from"),
            "term_to": doc.meta.get("term_to"), "revision": doc.revision}
