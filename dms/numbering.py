"""Registration number patterns per document type: one table, overridable with DMS_NUMBER_PATTERNS
(a JSON object type -> pattern). Placeholders: {year}, {seq} (with a format such as {seq:04}), {org} (the
organisation's code, or "АГ" when the document has none)."""
from __future__ import annotations

import json
import os
import string

DEFAULT_PATTERNS: dict[str, str] = {
    "order": "ПР-{year}-{seq:04}",
    "certificate": "{org}-{year}-{seq:05}",
    "agreement": "СГ-{year}-{seq:03}",
    "report": "ОТ-{year}-{seq:04}",
    "assessment_report": "ОЦ-{year}-{seq:04}",
    "application": "ЗВ-{year}-{seq:04}",
    "other": "Д-{year}-{seq:04}",
}
ALLOWED_FIELDS = {"year", "seq", "org"}


class PatternError(ValueError):
    pass


def validate(pattern: str) -> str:
    fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    if "seq" not in fields or fields - ALLOWED_FIELDS:
        raise PatternError(f"шаблон номера «{pattern}»: нужен {{seq}}, допустимы только {{year}}, {{seq}}, {{org}}")
    format_number(pattern, 2026, 1, "X")
    return pattern


def patterns(env: dict[str, str] | None = None) -> dict[str, str]:
    env = os.environ if env is None else env
    table = dict(DEFAULT_PATTERNS)
    raw = env.get("DMS_NUMBER_PATTERNS")
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
