"""Exam results files: every row is validated first; one bad row refuses the whole file, naming the row."""
from __future__ import annotations

import io
from datetime import date

import pytest

from dms.errors import Invalid
from dms.certificates.rows import mask_name, read_results, snils_is_valid

HEADER = "ФИО;Дата рождения;СНИЛС;Квалификация;Уровень;ЦОК;Дата экзамена;Номер протокола\n"
GOOD = "Иванов Иван Иванович;01.02.1985;112-233-445 95;Сварщик ручной дуговой сварки;4;ЦОК-77-001;10.03.2026;П-15\n"


def test_a_valid_csv_in_cp1251_with_semicolons_is_read_whole():
    data = (HEADER + GOOD + "Петрова Анна Сергеевна;;;Сварщик ручной дуговой сварки;3;ЦОК-77-001;10.03.2026;П-15\n")
    rows = read_results(io.BytesIO(data.encode("cp1251")), "results.csv", today=date(2026, 11, 1))
    assert [r.full_name for r in rows] == ["Иванов Иван Иванович", "Петрова Анна Сергеевна"]
    assert rows[0].snils == "11223344595" and rows[0].birth_date == date(1985, 2, 1) and rows[0].level == 4


def test_one_bad_row_refuses_the_file_and_names_the_row():
    bad = "Сидоров;01.02.1985;;Сварщик;12;ЦОК-77-001;31.02.2026;\n"
    with pytest.raises(Invalid) as info:
        read_results(io.BytesIO((HEADER + GOOD + bad).encode()), "r.csv", today=date(2026, 11, 1))
    rows = info.value.details["rows"]
    assert all(r.startswith("строка 3:") for r in rows)
    assert any("ФИО" in r for r in rows) and any("уровень" in r for r in rows)
    assert any("дата экзамена" in r for r in rows) and any("протокол" in r for r in rows)


def test_wrong_snils_checksum_and_duplicates_are_row_errors():
    wrong = GOOD.replace("445 95", "445 96")
    with pytest.raises(Invalid) as info:
        read_results(io.BytesIO((HEADER + wrong + GOOD + GOOD).encode()), "r.csv", today=date(2026, 11, 1))
    rows = info.value.details["rows"]
    assert any("строка 2: СНИЛС" in r for r in rows) and any("строка 4: повторяет строку 3" in r for r in rows)


def test_xlsx_is_read_like_csv():
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.append(["ФИО", "Квалификация", "Уровень", "Дата экзамена", "Номер протокола"])
    ws.append(["Кузнецов Пётр Ильич", "Монтажник", 3, date(2026, 3, 10), "П-1"])
    buf = io.BytesIO()
    wb.save(buf)
    rows = read_results(io.BytesIO(buf.getvalue()), "r.xlsx", today=date(2026, 11, 1))
    assert rows[0].exam_date == date(2026, 3, 10) and rows[0].surname == "Кузнецов"


def test_missing_columns_and_garbage_are_refused_clearly():
    with pytest.raises(Invalid, match="нет столбцов"):
        read_results(io.BytesIO(b"a;b\n1;2\n"), "r.csv")
    with pytest.raises(Invalid, match="XLSX"):
        read_results(io.BytesIO(b"PK\x03\x04garbage"), "r.xlsx")
    with pytest.raises(Invalid):
        read_results(io.BytesIO(b"\xff\xfe\x00\x00\x81\x81"), "r.csv")


def test_public_name_is_masked_and_snils_check_digits():
    assert mask_name("Иванов Иван Иванович") == "Иванов И. И."
    assert mask_name("Ли Мин") == "Ли М."
    assert snils_is_valid("11223344595") and not snils_is_valid("11223344596")
