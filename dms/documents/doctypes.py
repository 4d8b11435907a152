"""Document types and their metadata fields: one table, read by validation, forms, the API and search."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from collections.abc import Callable

from dms.errors import localize
from dms.i18n import pick


@dataclass(frozen=True)
class Field:
    name: str
    label_ru: str
    label_en: str
    kind: str = "str"  # str | text | date | int | enum | answers (a report form, dms.reports.forms)
    required: bool = False
    choices: tuple[str, ...] = ()
    max_length: int = 500

    @property
    def label(self) -> str:
        return pick(self.label_ru, self.label_en)


@dataclass(frozen=True)
class DocType:
    code: str
    label_ru: str
    label_en: str
    fields: tuple[Field, ...]

    @property
    def label(self) -> str:
        return pick(self.label_ru, self.label_en)


DOC_TYPES: dict[str, DocType] = {t.code: t for t in (
    DocType("order", "Приказ", "Order", (
        Field("subject", "Предмет приказа", "Subject", "text"),
        Field("signatory", "Подписант", "Signatory"),
        Field("centre", "ЦОК", "Assessment centre"),
        Field("qualification", "Квалификация", "Qualification"),
        Field("exam_date", "Дата экзамена", "Exam date", "date"),
        Field("counterparty", "Контрагент", "Counterparty"),
    )),
    DocType("certificate", "Свидетельство о квалификации", "Certificate of qualification", (
        Field("holder", "Владелец", "Holder", required=True),
        Field("qualification", "Квалификация", "Qualification", required=True),
        Field("level", "Уровень квалификации", "Level", "int"),
        Field("centre", "ЦОК", "Assessment centre"),
        Field("issue_date", "Дата выдачи", "Issue date", "date"),
        Field("valid_until", "Действительно до", "Valid until", "date"),
        Field("blank_number", "Номер бланка", "Blank number"),
    )),
    DocType("agreement", "Соглашение", "Agreement", (
        Field("counterparty", "Контрагент", "Counterparty", required=True),
        Field("term_from", "Действует с", "In force from", "date"),
        Field("term_to", "Действует по", "In force until", "date"),
        Field("subject", "Предмет соглашения", "Subject", "text"),
    )),
    DocType("assessment_report", "Отчёт по результатам оценки", "Assessment report", (
        Field("assessed", "Логин оцениваемого", "Login of the person assessed", required=True, max_length=64),
        Field("person_name", "ФИО оцениваемого", "Name of the person assessed"),
        Field("assessment_date", "Дата процедуры оценки", "Date of the assessment", "date"),
        Field("feedback_date", "Дата обратной связи", "Date of the feedback session", "date"),
    )),
    DocType("report", "Отчёт", "Report", (
        Field("period", "Отчётный период", "Period"),
        Field("site", "Площадка", "Site"),
        Field("kind", "Вид отчёта", "Kind", "enum",
              choices=("pilot_site", "expert_site", "monitoring", "audit", "assessment", "other")),
        Field("block", "Блок модели", "Block of the model"),
        Field("assessed", "Оцениваемое лицо", "Person assessed"),
        Field("form_answers", "Ответы по форме отчёта", "Answers of the report form", "answers"),
    )),
    DocType("application", "Заявление", "Application", (
        Field("applicant", "Заявитель", "Applicant", required=True),
        Field("applicant_org", "Организация заявителя", "Applicant's organisation"),
        Field("qualification", "Квалификация", "Qualification"),
    )),
    DocType("other", "Прочее", "Other", (
        Field("note", "Примечание", "Note", "text"),
        Field("kind", "Вид документа", "Kind"),
        Field("holder", "Владелец", "Holder"),
        Field("hours", "Объём, часов", "Hours", "int"),
        Field("approved_by_order", "Утверждён приказом", "Approved by order"),
    )),
)}


class MetadataError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _as_str(field: Field, value: Any) -> str:
    text = str(value).strip()
    if len(text) > (10000 if field.kind == "text" else field.max_length):
        raise ValueError(localize("слишком длинное значение"))
    return text


def _as_date(_field: Field, value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise ValueError(localize("ожидается дата в формате ГГГГ-ММ-ДД")) from None


def _as_int(_field: Field, value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(localize("ожидается целое число")) from None


def _as_enum(field: Field, value: Any) -> str:
    text = str(value).strip()
    if text not in field.choices:
        raise ValueError(localize("допустимые значения: %(known)s", {"known": ", ".join(field.choices)}))
    return text


def _as_answers(_field: Field, value: Any) -> str:
    """Answers of a report form (dms.reports.forms), checked against the form's definition."""
    from dms.reports.forms import stored_answers
    return stored_answers(value)


CONVERTERS: dict[str, Callable[[Field, Any], Any]] = {
    "str": _as_str, "text": _as_str, "date": _as_date, "int": _as_int, "enum": _as_enum, "answers": _as_answers,
}


def get_type(code: str) -> DocType:
    try:
        return DOC_TYPES[code]
    except KeyError:
        raise MetadataError({"type": localize("неизвестный тип документа; допустимые: %(known)s",
                                              {"known": ", ".join(DOC_TYPES)})}) from None


def validate_metadata(doc_type: str, raw: dict[str, Any] | None) -> dict[str, Any]:
    """Clean metadata for a type: unknown keys and bad values are errors; empty optional values are dropped."""
    spec = get_type(doc_type)
    raw = dict(raw or {})
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    known = {f.name: f for f in spec.fields}
    for key in raw:
        if key not in known:
            errors[key] = localize("неизвестное поле для типа «%(type)s»", {"type": spec.label})
    for f in spec.fields:
        value = raw.get(f.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if f.required:
                errors[f.name] = localize("обязательное поле")
            continue
        try:
            clean[f.name] = CONVERTERS[f.kind](f, value)
        except ValueError as exc:
            errors[f.name] = str(exc)
    if errors:
        raise MetadataError(errors)
    return clean
