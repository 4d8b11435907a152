"""Registration number patterns per document type: one table, overridable with DMS_NUMBER_PATTERNS
(a JSON object type -> pattern). Placeholders: {year}, {seq} (with a format such as {seq:04}), {org} (the
organisation's code, or "АГ" when the document has none).

Numbers are unique per type across the whole archive. Each organisation keeps its own register journal (as the
records-management rules have it: a registration number is given by the organisation that registers the
document), so the default patterns print the organisation's code and count per organisation, type and year —
gapless in each journal, and the number says whose document it is. A pattern without {org} counts once per type
and year across the archive instead (dms.workflow.service.reserve_numbers), so no override can repeat a number."""
from __future__ import annotations

import json
import os
import string
from collections.abc import Mapping

DEFAULT_PATTERNS: dict[str, str] = {
    "order": "ПР-{org}-{year}-{seq:04}",
    "certificate": "{org}-{year}-{seq:05}",
    "agreement": "СГ-{org}-{year}-{seq:03}",
    "report": "ОТ-{org}-{year}-{seq:04}",
    "assessment_report": "ОЦ-{org}-{year}-{seq:04}",
    "application": "ЗВ-{org}-{year}-{seq:04}",
    "other": "Д-{org}-{year}-{seq:04}",
}
ALLOWED_FIELDS = {"year", "seq", "org"}
NO_ORGANISATION = "АГ"  # {org} of a document without an organisation


class PatternError(ValueError):
    pass


def validate(pattern: str) -> str:
    fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    if "seq" not in fields or fields - ALLOWED_FIELDS:
        raise PatternError(f"шаблон номера «{pattern}»: нужен {{seq}}, допустимы только {{year}}, {{seq}}, {{org}}")
    format_number(pattern, 2026, 1, "X")
    return pattern


def has_org(pattern: str) -> bool:
    """Does the pattern print the organisation's code (then each organisation has its own series)?"""
    return any(f == "org" for _, f, _, _ in string.Formatter().parse(pattern))


def patterns(env: Mapping[str, str] | None = None) -> dict[str, str]:
    source: Mapping[str, str] = os.environ if env is None else env
    table = dict(DEFAULT_PATTERNS)
    raw = source.get("DMS_NUMBER_PATTERNS")
    if raw:
        try:
            overrides = json.loads(raw)
        except ValueError:
            raise PatternError("DMS_NUMBER_PATTERNS: ожидается JSON-объект «тип: шаблон»") from None
        table.update({k: validate(v) for k, v in overrides.items()})
    return table


def format_number(pattern: str, year: int, seq: int, org: str) -> str:
    try:
        return pattern.format(year=year, seq=seq, org=org)
    except (KeyError, ValueError, IndexError) as exc:
        raise PatternError(f"шаблон номера «{pattern}»: {exc}") from None
