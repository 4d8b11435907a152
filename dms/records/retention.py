"""Retention rules as data: one per document type, how long it is kept and what happens at the end.

Loosely after Russian archive practice — the «Перечень типовых управленческих архивных документов» (приказ
Росархива от 20.12.2019 № 236): orders on the main activity are kept permanently; documents on qualifications
awarded to people are kept 75 years; contracts 5 years after they end; correspondence-like documents 5 years.
As in that practice, a period counts from 1 January of the year after the year its start date falls in
(«с 1 января года, следующего за годом окончания делопроизводства»).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from dms.i18n import pick


class Disposal(StrEnum):
    DESTROY = "destroy"
    KEEP = "keep"  # permanent storage: never proposed for destruction


@dataclass(frozen=True)
class RetentionRule:
    doc_type: str
    years: int | None          # None: permanently
    disposal: Disposal
    start_field: str | None    # a date metadata field the period starts from; else the registration date
    basis_ru: str              # where the period comes from, shown to the archivist
    basis_en: str = ""

    @property
    def label_ru(self) -> str:
        if self.years is None:
            return "постоянно"
        return f"{self.years} лет" + (f" (от «{self.start_field}»)" if self.start_field else "")

    @property
    def label(self) -> str:
        """The period in the current locale, its start named by the field's label."""
        from flask_babel import gettext

        from dms.documents.doctypes import DOC_TYPES
        if self.years is None:
            return gettext("постоянно")
        fields = {f.name: f.label for t in DOC_TYPES.values() for f in t.fields}
        period = gettext("%(years)s лет", years=self.years)
        if not self.start_field:
            return period
        return gettext("%(period)s от «%(field)s»", period=period, field=fields.get(self.start_field, self.start_field))

    @property
    def basis(self) -> str:
        return pick(self.basis_ru, self.basis_en)


RETENTION: dict[str, RetentionRule] = {r.doc_type: r for r in (
    RetentionRule("order", None, Disposal.KEEP, None, "приказы по основной деятельности — постоянно",
                  "orders on the main activity — permanently"),
    RetentionRule("certificate", 75, Disposal.DESTROY, "issue_date",
                  "документы о присвоении квалификации — 75 лет после выдачи",
                  "documents awarding a qualification — 75 years after issue"),
    RetentionRule("agreement", 5, Disposal.DESTROY, "term_to", "договоры, соглашения — 5 лет после окончания срока",
                  "contracts, agreements — 5 years after they end"),
    RetentionRule("report", 5, Disposal.DESTROY, None, "отчёты площадок и мониторинга — 5 лет",
                  "site and monitoring reports — 5 years"),
    RetentionRule("assessment_report", 5, Disposal.DESTROY, "assessment_date",
                  "отчёты о результатах оценки персонала — 5 лет после оценки",
                  "reports on the results of staff assessment — 5 years after the assessment"),
    RetentionRule("application", 5, Disposal.DESTROY, None, "заявления — 5 лет", "applications — 5 years"),
    RetentionRule("other", 10, Disposal.DESTROY, None, "прочие документы — 10 лет", "other documents — 10 years"),
)}


def rule_for(doc_type: str) -> RetentionRule:
    return RETENTION.get(doc_type, RETENTION["other"])


# The disposition act (dms.records.act) is filed as «Прочее» of this kind and kept permanently, as the Перечень
# keeps «акты о выделении к уничтожению документов, не подлежащих хранению»: no list ever proposes it.
ACT_KIND = "Акт о выделении к уничтожению"
ACT_RULE = RetentionRule("other", None, Disposal.KEEP, None,
                         "акты о выделении к уничтожению документов — постоянно",
                         "acts of disposal of documents — permanently")


def rule_of(doc_type: str, meta: dict[str, Any] | None) -> RetentionRule:
    """The rule of one document: its type's, but permanent for a disposition act."""
    if doc_type == ACT_RULE.doc_type and (meta or {}).get("kind") == ACT_KIND:
        return ACT_RULE
    return rule_for(doc_type)


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def start_date(rule: RetentionRule, meta: dict[str, Any], reg_date: date | None, created_at: datetime) -> date:
    """The date the period runs from: the rule's metadata field, else registration, else creation."""
    field_value = _as_date((meta or {}).get(rule.start_field)) if rule.start_field else None
    return field_value or reg_date or created_at.date()


def due_date(rule: RetentionRule, start: date) -> date | None:
    """The first day the document may be destroyed; None for permanent storage."""
    if rule.years is None or rule.disposal is not Disposal.DESTROY:
        return None
    return date(start.year + 1 + rule.years, 1, 1)
