"""Exam results from CSV or XLSX, validated row by row before anything is issued: a file with one bad row is
refused whole, with the list of row errors."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, BinaryIO
from collections.abc import Iterator

from dms.errors import Invalid

MAX_ROWS = 20_000
MAX_FILE_BYTES = 20 * 1024 * 1024

# Column -> accepted header spellings (Russian and English), lower-case.
COLUMNS: dict[str, tuple[str, ...]] = {
    "full_name": ("фио", "ф.и.о.", "full_name", "holder", "соискатель", "фамилия имя отчество"),
    "birth_date": ("дата рождения", "birth_date", "date_of_birth"),
    "snils": ("снилс", "snils"),
    "qualification": ("квалификация", "qualification", "наименование квалификации"),
    "level": ("уровень", "level", "уровень квалификации"),
    "centre": ("цок", "centre", "center", "код цок"),
    "exam_date": ("дата экзамена", "exam_date"),
    "protocol": ("номер протокола", "протокол", "protocol", "protocol_number"),
}
REQUIRED = ("full_name", "qualification", "level", "exam_date", "protocol")
NAME_RE = re.compile(r"^[А-ЯЁA-Z][а-яёa-z]+(?:-[А-ЯЁA-Z][а-яёa-z]+)?$")


@dataclass(frozen=True)
class ExamResult:
    row: int
    full_name: str
    qualification: str
    level: int
    exam_date: date
    protocol: str
    centre: str = ""
    birth_date: date | None = None
    snils: str = ""

    @property
    def surname(self) -> str:
        return self.full_name.split()[0]


def snils_is_valid(digits: str) -> bool:
    """The insurance number's check digits (numbers up to 001-001-998 carry no meaningful check)."""
    if len(digits) != 11 or not (digits.isascii() and digits.isdigit()):
        return False
    body, check = digits[:9], int(digits[9:])
    if int(body) <= 1001998:
        return True
    total = sum(int(d) * (9 - i) for i, d in enumerate(body))
    expected = total % 101
    return (0 if expected == 100 else expected) == check


def normalise_snils(raw: str) -> str:
    return re.sub(r"[\s-]", "", raw)


def mask_name(full_name: str) -> str:
    """«Иванов Иван Иванович» -> «Иванов И. И.»: what the public page shows."""
    parts = full_name.split()
    if not parts:
        return ""
    return " ".join([parts[0]] + [p[0] + "." for p in parts[1:3]])


def normalise_surname(surname: str) -> str:
    return surname.strip().lower().replace("ё", "е")


def _parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for fmt in ("%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"дата «{text}» не распознана (ДД.ММ.ГГГГ)")


def _header_map(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i, name in enumerate(header):
        key = str(name or "").strip().lower()
        for column, spellings in COLUMNS.items():
            if key in spellings:
                found[column] = i
    missing = [c for c in REQUIRED if c not in found]
    if missing:
        raise Invalid("в файле нет столбцов: %(missing)s", {"columns": "; ".join(COLUMNS[c][0] for c in COLUMNS)},
                      missing=", ".join(COLUMNS[c][0] for c in missing))
    return found


def _validate(row_number: int, cells: dict[str, Any], today: date) -> tuple[ExamResult | None, list[str]]:
    problems: list[str] = []
    full_name = " ".join(str(cells.get("full_name") or "").split())
    parts = full_name.split()
    if len(parts) < 2 or not all(NAME_RE.match(p) for p in parts):
        problems.append(f"ФИО «{full_name}»: фамилия и имя (и отчество) с заглавной буквы")
    qualification = " ".join(str(cells.get("qualification") or "").split())
    if not qualification or len(qualification) > 500:
        problems.append("не указана квалификация")
    level = 0
    try:
        level = int(str(cells.get("level") or "").strip().split(".")[0])
        if not 1 <= level <= 9:
            raise ValueError
    except ValueError:
        problems.append(f"уровень «{cells.get('level')}»: целое число от 1 до 9")
    exam_date = birth_date = None
    try:
        exam_date = _parse_date(cells.get("exam_date"))
        if exam_date > today:
            problems.append("дата экзамена в будущем")
    except ValueError as exc:
        problems.append(f"дата экзамена: {exc}")
    if cells.get("birth_date"):
        try:
            birth_date = _parse_date(cells["birth_date"])
            if not date(1900, 1, 1) < birth_date < today:
                problems.append("дата рождения вне допустимого диапазона")
        except ValueError as exc:
            problems.append(f"дата рождения: {exc}")
    snils = normalise_snils(str(cells.get("snils") or ""))
    if snils and not snils_is_valid(snils):
        problems.append("СНИЛС: неверный номер или контрольное число")
    protocol = str(cells.get("protocol") or "").strip()
    if not protocol or len(protocol) > 100:
        problems.append("не указан номер протокола")
    if problems or exam_date is None:
        return None, [f"строка {row_number}: {p}" for p in problems]
    return ExamResult(row=row_number, full_name=full_name, qualification=qualification, level=level,
                      exam_date=exam_date, protocol=protocol, centre=str(cells.get("centre") or "").strip(),
                      birth_date=birth_date, snils=snils), []


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise Invalid("CSV: кодировка не распознана (ожидается UTF-8 или Windows-1251)")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=";,\t")
    except csv.Error:
        dialect = csv.excel
    yield from csv.reader(io.StringIO(text), dialect)


def _xlsx_rows(data: bytes) -> Iterator[list[Any]]:
    from openpyxl import load_workbook
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001  openpyxl raises many kinds on a broken file
        raise Invalid("XLSX: файл повреждён или это не книга Excel") from None
    try:
        for row in wb.worksheets[0].iter_rows(values_only=True):
            yield list(row)
    finally:
        wb.close()


def read_results(stream: BinaryIO, filename: str, today: date | None = None) -> list[ExamResult]:
    """Every row validated; raises Invalid naming every bad row, or returns all rows."""
    data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise Invalid("файл больше %(mb)s МБ", mb=MAX_FILE_BYTES // (1024 * 1024))
    is_xlsx = data[:4] == b"PK\x03\x04"
    rows = _xlsx_rows(data) if is_xlsx else _csv_rows(data)
    today = today or date.today()
    header = next(rows, None)
    if header is None:
        raise Invalid("файл пуст")
    columns = _header_map([str(h or "") for h in header])
    results: list[ExamResult] = []
    errors: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(rows, start=2):
        if not any(str(c or "").strip() for c in raw):
            continue
        if len(results) + len(errors) >= MAX_ROWS:
            raise Invalid("в файле больше %(n)s строк", n=MAX_ROWS)
        cells = {c: (raw[i] if i < len(raw) else None) for c, i in columns.items()}
        result, problems = _validate(number, cells, today)
        if result is not None:
            key = (result.full_name.lower(), result.qualification.lower())
            if key in seen:
                problems = [f"строка {number}: повторяет строку {seen[key]} (тот же человек и квалификация)"]
            else:
                seen[key] = number
                results.append(result)
        errors.extend(problems)
    if errors:
        raise Invalid("файл не принят: ошибок в строках — %(n)s; ничего не выдано", {"rows": errors[:200]},
                      n=len(errors))
    if not results:
        raise Invalid("в файле нет строк с результатами")
    return results
