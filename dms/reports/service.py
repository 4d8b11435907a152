"""Reports filled in from the forms of dms.reports.forms. Saving a draft validates the answers against the form,
renders them to a PDF and stores it as the report's next version — bytes first, then one transaction (document,
metadata, version, audit). Submitting and accepting are the report workflow's own transitions
(dms.workflow.service). The aggregate view counts answers across sites over the reports the user may view."""
from __future__ import annotations

import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import ObjectStore

from dms import pdfrender
from dms.errors import N_, Conflict, Invalid
from dms.models import Document, Folder, Organisation, User
from dms.reports.forms import (CHOICE, NUMBER, TEXT, FormErrors, Question, ReportForm, Section, answer_text,
                               blocks_covered, dump_answers, get_form, load_answers, validate)
from dms.security import P, access_filter, apply_filter_sql, has_permission, require, roles_with, visible_folder_ids
from dms.workflow.rules import state_title
from dms.audit import service as audit
from dms.documents import service as docs
from dms.documents.listing import not_trashed

EDITABLE_STATES = ("draft", "returned")
PERIOD_LENGTH = 100
# Which reports the answer counts of the aggregate view take in, by the state they are in.
SCOPES: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "final": (N_("представленные и принятые"), ("submitted", "accepted")),
    "accepted": (N_("только принятые"), ("accepted",)),
    "all": (N_("все, включая черновики"), None),
}
MAX_FOLDER_CHOICES = 500


@dataclass
class Filled:
    """A form's answers with the report's header, checked."""
    form: ReportForm
    site: Organisation
    period: str
    answers: dict[str, Any]


def check(session: Session, form_code: str, site_code: str, period: str, answers: Mapping[str, Any] | None) -> Filled:
    """Every error at once, per field (header fields "form", "site", "period"; questions by their code)."""
    errors: dict[str, str] = {}
    try:
        form = get_form(str(form_code))
    except FormErrors as exc:
        raise Invalid("неизвестная форма отчёта", exc.errors) from None
    site = session.scalars(select(Organisation).where(Organisation.code == str(site_code or "").strip())).first()
    if site is None:
        errors["site"] = N_("выберите площадку из списка организаций")
    period = " ".join(str(period or "").split())
    if not period:
        errors["period"] = N_("укажите отчётный период")
    elif len(period) > PERIOD_LENGTH:
        errors["period"] = N_("отчётный период: не длиннее 100 символов")
    clean: dict[str, Any] = {}
    if answers is not None and not isinstance(answers, Mapping):
        errors["answers"] = N_("ожидается объект «код вопроса → ответ»")
    else:
        try:
            clean = validate(form, answers)
        except FormErrors as exc:
            errors.update(exc.errors)
    if errors or site is None:
        raise Invalid("отчёт не прошёл проверку: ошибок — %(count)s; исправьте отмеченные поля", errors,
                      count=len(errors))
    return Filled(form, site, period, clean)


def site_folder(session: Session, actor: User, site: Organisation) -> Folder | None:
    """The site organisation's own folder where the actor may add documents: the one the register names for the
    organisation, else its folder nearest to the root."""
    registered = getattr(site, "folder_id", None)
    candidates = sorted(session.scalars(select(Folder).where(Folder.organisation_id == site.id)),
                        key=lambda f: (f.id != registered, f.path.count("/"), f.id))
    own = session.get(Folder, registered) if registered else None
    if own is not None and all(f.id != registered for f in candidates):
        candidates.insert(0, own)
    return next((f for f in candidates if f is not None and has_permission(session, actor, P.ADD, f)), None)


def folder_choices(session: Session, actor: User) -> list[tuple[int, str]]:
    """(id, "/path") of the folders where the actor may add documents, for the form's folder select."""
    allowed = visible_folder_ids(session, actor, roles_with(P.ADD))
    rows = session.execute(select(Folder.id, Folder.name, Folder.parent_id, Folder.path)).all()
    names = {r.id: (r.name, r.parent_id) for r in rows}
    result = []
    for r in rows:
        if r.parent_id is None or (allowed is not None and r.id not in allowed):
            continue
        parts, cursor = [], r.id
        while cursor is not None and names[cursor][1] is not None:
            parts.append(names[cursor][0])
            cursor = names[cursor][1]
        result.append((r.id, "/" + "/".join(reversed(parts))))
    return sorted(result, key=lambda item: item[1])[:MAX_FOLDER_CHOICES]


def organisations(session: Session) -> list[Organisation]:
    return list(session.scalars(select(Organisation).order_by(Organisation.kind, Organisation.code)))


def form_report(session: Session, actor: User, doc_id: int, permission: P = P.VIEW) -> tuple[Document, ReportForm,
                                                                                            dict[str, Any]]:
    """A report made from a form that the actor may view (and hold `permission` on)."""
    doc = docs.get(session, actor, doc_id, permission)
    loaded = load_answers(doc.meta) if doc.doc_type == "report" else None
    if loaded is None:
        raise Invalid("этот документ не заполнен по форме отчёта")
    return doc, loaded[0], loaded[1]


def title_of(filled: Filled) -> str:
    return f"{filled.form.title} — {filled.site.short_name or filled.site.name}, {filled.period}"[:1000]


def _meta(filled: Filled, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    meta = {k: v for k, v in (previous or {}).items() if k not in ("block",)}
    meta.update(period=filled.period, site=filled.site.code, kind=filled.form.kind,
                form_answers=dump_answers(filled.form, filled.answers))
    block = blocks_covered(filled.form, filled.answers)
    if block:
        meta["block"] = block
    return meta


def save(session: Session, store: ObjectStore, max_bytes: int, actor: User, filled: Filled, *,
         folder: Folder | None = None, doc: Document | None = None, expected_revision: int | None = None) -> Document:
    """A new draft (in `folder`, or the site's own folder) or the next version of an editable one: the PDF is
    rendered and stored, then the document, its metadata and version are written in the caller's transaction."""
    if doc is None:
        folder = folder or site_folder(session, actor, filled.site)
        if folder is None:
            raise Invalid("у площадки нет папки, в которую вам можно добавлять документы; выберите папку",
                          {"folder_id": N_("выберите папку")})
        require(session, actor, P.ADD, folder)
    else:
        require(session, actor, P.EDIT, doc)
        if doc.state not in EDITABLE_STATES:
            raise Conflict("по форме можно изменить только черновик или возвращённый отчёт; этот отчёт — "
                           "«%(state)s»", state=state_title(doc.doc_type, doc.state))
        if expected_revision is not None and expected_revision != doc.revision:
            raise Conflict("отчёт изменён другим пользователем; обновите страницу и повторите",
                           {"revision": doc.revision})
    pdf = render_pdf(filled, reg_number=doc.reg_number if doc else None, reg_date=doc.reg_date if doc else None,
                     author=actor.full_name or actor.login)
    stored = docs.store_upload(store, io.BytesIO(pdf), f"{filled.form.code}-{filled.site.code}.pdf", max_bytes)
    if doc is None:
        assert folder is not None  # chosen above for a new draft
        doc = docs.create(session, actor, folder, "report", title_of(filled), _meta(filled), filled.site)
        comment = "заполнено по форме"
    else:
        docs.update_metadata(session, actor, doc, title=title_of(filled), meta=_meta(filled, doc.meta))
        comment = "изменено по форме"
    version = docs.add_version(session, actor, doc, stored, comment)
    audit.record(session, actor, "report.form_saved", "document", doc.id, form=filled.form.code,
                 site=filled.site.code, period=filled.period, answers=len(filled.answers), version=version.number)
    return doc


# --- the PDF ---------------------------------------------------------------------------------------------------

def _section_lines(section: Section, answers: Mapping[str, Any]) -> list[str]:
    notes = {q.note_for: q for q in section.questions if q.note_for}
    lines = []
    for q in section.questions:
        if q.note_for or q.code not in answers:
            continue
        line = f"{q.label}: {answer_text(q, answers[q.code])}"
        note = notes.get(q.code)
        if note is not None and note.code in answers:
            line += f". Пояснение: {answers[note.code]}"
        lines.append(line)
    return lines


def render_pdf(filled: Filled, *, reg_number: str | None = None, reg_date: date | None = None,
               author: str = "") -> bytes:
    """The filled form as an A4 report: header, then each section with an answer, one paragraph per answer."""
    site = filled.site
    paragraphs = [filled.form.basis + ".",
                  f"Площадка: {site.name} ({site.code}). Отчётный период: {filled.period}."]
    for section in filled.form.sections:
        lines = _section_lines(section, filled.answers)
        if lines:
            paragraphs.append(("— " if section.level > 1 else "") + section.title)
            paragraphs.extend(lines)
    spec = pdfrender.RenderSpec(org_name=site.name, doc_kind="ОТЧЁТ", title=filled.form.title,
                                paragraphs=paragraphs, city=site.city or "", reg_number=reg_number,
                                reg_date=reg_date, footer=f"{site.code} · {filled.period}",
                                author=author)
    return pdfrender.render_document_pdf(spec)


# --- lists and the aggregate view -------------------------------------------------------------------------------

def _visible_reports(session: Session, actor: User):  # noqa: ANN202
    stmt = select(Document).where(Document.doc_type == "report", not_trashed())
    return apply_filter_sql(stmt, access_filter(session, actor, P.VIEW))


def my_reports(session: Session, actor: User, limit: int = 100) -> list[tuple[Document, ReportForm]]:
    stmt = _visible_reports(session, actor).where(Document.created_by_id == actor.id)
    result = []
    for doc in session.scalars(stmt.order_by(Document.updated_at.desc(), Document.id.desc())):
        loaded = load_answers(doc.meta)
        if loaded is not None:
            result.append((doc, loaded[0]))
        if len(result) >= limit:
            break
    return result


@dataclass
class ChoiceCount:
    question: Question
    counts: list[tuple[str, str, int]]          # (option code, label, reports)

    @property
    def total(self) -> int:
        return sum(n for _, _, n in self.counts)


@dataclass
class NumberSummary:
    question: Question
    count: int
    total: int
    low: int
    high: int

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


@dataclass
class SectionSummary:
    section: Section
    choices: list[ChoiceCount] = field(default_factory=list)
    numbers: list[NumberSummary] = field(default_factory=list)


@dataclass
class Recommendation:
    document: Document
    site: str
    question: Question
    text: str


@dataclass
class Aggregate:
    form: ReportForm
    scope: str
    reports: int                                  # reports whose answers are counted
    by_state: list[tuple[str, str, int]]          # (state, title, reports) over every state
    by_site: list[tuple[str, str, int]]           # (code, name, reports counted)
    sections: list[SectionSummary]
    recommendations: list[Recommendation]
    periods: list[str]
    sites: list[tuple[str, str]]


def aggregate(session: Session, actor: User, form_code: str, *, period: str = "", site: str = "",
              scope: str = "final") -> Aggregate:
    """Across sites, for one form: reports by state and by site, per question how many reports chose each
    option, number questions summed, free-text recommendations listed — only over reports the actor may view."""
    try:
        form = get_form(form_code)
    except FormErrors as exc:
        raise Invalid("неизвестная форма отчёта", exc.errors) from None
    if scope not in SCOPES:
        raise Invalid("неизвестный охват отчётов «%(scope)s»", {"scope": N_("неизвестное значение")}, scope=scope)
    states = SCOPES[scope][1]
    reports: list[tuple[Document, dict[str, Any]]] = []
    periods, sites = set(), set()
    for doc in session.scalars(_visible_reports(session, actor).order_by(Document.id)):
        loaded = load_answers(doc.meta)
        if loaded is None or loaded[0].code != form.code:
            continue
        periods.add(doc.meta.get("period", ""))
        sites.add(doc.meta.get("site", ""))
        if (period and doc.meta.get("period") != period) or (site and doc.meta.get("site") != site):
            continue
        reports.append((doc, loaded[1]))
    names = {o.code: o.short_name or o.name for o in session.scalars(
        select(Organisation).where(Organisation.code.in_(sites)))} if sites else {}
    state_counts = Counter(doc.state for doc, _ in reports)
    counted = [(doc, answers) for doc, answers in reports if states is None or doc.state in states]
    site_counts = Counter(doc.meta.get("site", "") for doc, _ in counted)
    return Aggregate(
        form=form, scope=scope, reports=len(counted),
        by_state=[(s, state_title("report", s), n) for s, n in sorted(state_counts.items())],
        by_site=[(code, names.get(code, code), n) for code, n in sorted(site_counts.items())],
        sections=_summaries(form, [answers for _, answers in counted]),
        recommendations=[Recommendation(doc, names.get(doc.meta.get("site", ""), doc.meta.get("site", "")), q,
                                        answers[q.code])
                         for doc, answers in counted for q in form.questions()
                         if q.recommendation and answers.get(q.code)],
        periods=sorted(p for p in periods if p),
        sites=sorted(((code, names.get(code, code)) for code in sites if code), key=lambda s: s[1]),
    )


def _summaries(form: ReportForm, all_answers: list[dict[str, Any]]) -> list[SectionSummary]:
    tallies: dict[str, Counter] = defaultdict(Counter)
    for answers in all_answers:
        for code, value in answers.items():
            tallies[code][value] += 1
    result = []
    for section in form.sections:
        summary = SectionSummary(section)
        for q in section.questions:
            if q.kind == CHOICE:
                summary.choices.append(ChoiceCount(q, [(c, label, tallies[q.code][c]) for c, label in q.options]))
            elif q.kind == NUMBER and tallies[q.code]:
                values = list(tallies[q.code].elements())
                summary.numbers.append(NumberSummary(q, len(values), sum(values), min(values), max(values)))
        if summary.choices or summary.numbers:
            result.append(summary)
    return result


def aggregate_json(agg: Aggregate) -> dict:
    return {
        "form": agg.form.code, "title": agg.form.title, "scope": agg.scope, "reports": agg.reports,
        "by_state": {state: n for state, _, n in agg.by_state},
        "by_site": [{"site": code, "name": name, "reports": n} for code, name, n in agg.by_site],
        "questions": [{"section": s.section.title, "code": c.question.code, "question": c.question.label,
                       "counts": {code: n for code, _, n in c.counts}, "answered": c.total}
                      for s in agg.sections for c in s.choices],
        "numbers": [{"code": n.question.code, "question": n.question.label, "reports": n.count, "sum": n.total,
                     "min": n.low, "max": n.high, "mean": round(n.mean, 2)} for s in agg.sections for n in s.numbers],
        "recommendations": [{"document_id": r.document.id, "reg_number": r.document.reg_number, "site": r.site,
                             "question": r.question.label, "text": r.text} for r in agg.recommendations],
    }


def form_json(form: ReportForm) -> dict:
    """A form's definition for API clients: sections, questions, options, limits and conditions."""
    def question(q: Question) -> dict:
        data: dict[str, Any] = {"code": q.code, "label": q.label, "kind": q.kind, "required": q.required}
        if q.options:
            data["options"] = [{"code": c, "label": label} for c, label in q.options]
        if q.kind == TEXT:
            data["max_length"] = q.max_length
        if q.kind == NUMBER:
            data.update(minimum=q.minimum, maximum=q.maximum)
        if q.when:
            data["applies_when"] = {"question": q.when[0], "answers": list(q.when[1])}
        return data
    return {"code": form.code, "title": form.title, "kind": form.kind, "basis": form.basis, "intro": form.intro,
            "sections": [{"code": s.code, "title": s.title, "level": s.level,
                          "questions": [question(q) for q in s.questions]} for s in form.sections]}


__all__ = ["Filled", "check", "save", "site_folder", "folder_choices", "organisations", "form_report", "render_pdf",
           "my_reports", "aggregate", "aggregate_json", "form_json", "SCOPES"]
