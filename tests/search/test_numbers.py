"""Registration and certificate numbers find exactly their document."""

from __future__ import annotations

from search.query import SearchRequest, search
from tests.search.conftest import add, doc

NUMBERS = ["01-02/123", "01-02/1234", "01-02/12", "1-02/123", "ЦОК-77.01-123"]


def found(index, q: str) -> list[str]:
    return [h.id for h in search(index, SearchRequest(q=q, allowed=None, page_size=50)).items]


def test_each_registration_number_finds_only_its_document(index):
    add(index, *(doc(f"d{i}", f"Приказ {i}", "о допуске", reg_number=n) for i, n in enumerate(NUMBERS)))
    for i, number in enumerate(NUMBERS):
        assert found(index, number) == [f"d{i}"]


def test_number_lookup_ignores_case_spaces_and_the_number_sign(index):
    add(index, doc("a", "Свидетельство", cert_number="ЦОК-77.01-123"), doc("b", "x", cert_number="ЦОК-77.01-124"))
    assert found(index, "цок-77.01-123") == ["a"]
    assert found(index, "cert:ЦОК-77.01-123") == ["a"]
    assert found(index, "свидетельство:цок-77.01-124") == ["b"]


def test_number_field_filter_matches_exactly(index):
    add(index, *(doc(f"d{i}", "Приказ", reg_number=n) for i, n in enumerate(NUMBERS)))
    result = search(index, SearchRequest(q="", allowed=None, filters={"reg_number": "№ 01-02/12"}))
    assert [h.id for h in result.items] == ["d2"]


def test_numbers_match_across_letter_case_dashes_and_spaces(index):
    add(
        index,
        doc("cert", "Свидетельство", cert_number="ЦОК-77.01-123"),
        doc("order", "Приказ", reg_number="01-02/123"),
        doc("blank", "Бланк", blank_number="АА 000123"),
        doc("near", "Свидетельство", cert_number="ЦОК-77.01-124"),
    )
    for q in ("цок 77.01 123", "ЦОК 77.01—123", "№ цок–77.01–123", 'cert:"цок-77.01 123"'):
        assert found(index, q) == ["cert"], q
    for q in ("01 02/123", "01-02 / 123", "№01‑02/123"):
        assert found(index, q) == ["order"], q
    for q in ("аа-000123", "АА 000123", "бланк:АА-000123"):
        assert found(index, q) == ["blank"], q


def test_a_number_query_goes_to_the_number_fields_first(index):
    # The text of «mentions» holds the same characters as words; the number field wins outright.
    add(
        index,
        doc("mentions", "Письмо", "См. свидетельство цок 77.01 123 и приказ 01 02 123 в приложении."),
        doc("cert", "Свидетельство", cert_number="ЦОК-77.01-123"),
    )
    assert found(index, "ЦОК 77.01 123") == ["cert"]
    # a number no document holds as a number is looked for in the text
    assert found(index, "01-02/123") == ["mentions"]
