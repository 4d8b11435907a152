"""Query syntax, filters, sorting, pages, facets, highlights and errors."""

from __future__ import annotations

from datetime import date

import pytest

from search.errors import InvalidRequestError, QuerySyntaxError
from search.query import SearchRequest, search
from tests.search.conftest import add, doc


@pytest.fixture
def archive(index):
    add(
        index,
        doc("o1", "Приказ о создании центра", "Создать центр оценки квалификаций в Москве.",
            doc_type="order", state="signed", org="ЦОК-1", date=date(2022, 5, 1), tags=("центры",)),
        doc("o2", "Приказ об аттестации экспертов", "Аттестовать экспертов центра оценки.",
            doc_type="order", state="draft", org="ЦОК-2", date=date(2023, 6, 1)),
        doc("c1", "Свидетельство о квалификации", "Свидетельство выдано Петрову по итогам экзамена.",
            doc_type="certificate", state="issued", org="ЦОК-1", date=date(2024, 7, 1),
            people=("Петров Иван",)),
        doc("a1", "Соглашение с держателем практики", "Держатель практики предоставляет площадку.",
            doc_type="agreement", state="in_force", org="ЭМЦ", date=date(2021, 1, 15)),
    )
    return index


def run(index, q: str = "", **kw):
    kw.setdefault("allowed", None)
    return search(index, SearchRequest(q=q, **kw))


def ids(result) -> list[str]:
    return [h.id for h in result.items]


def test_terms_are_joined_with_and_by_default(archive):
    assert ids(run(archive, "приказ экспертов")) == ["o2"]


def test_or_and_not_operators_in_english_and_russian(archive):
    assert set(ids(run(archive, "экзамена OR площадку"))) == {"c1", "a1"}
    assert set(ids(run(archive, "экзамена ИЛИ площадку"))) == {"c1", "a1"}
    assert set(ids(run(archive, "приказ NOT экспертов"))) == {"o1"}
    assert set(ids(run(archive, "приказ НЕ экспертов"))) == {"o1"}


def test_phrase_needs_the_words_side_by_side(archive):
    assert ids(run(archive, '"экспертов центра"')) == ["o2"]
    assert ids(run(archive, '"центра экспертов"')) == []
    assert ids(run(archive, "центра экспертов")) == ["o2"]


def test_field_syntax_and_russian_aliases(archive):
    assert set(ids(run(archive, "тип:order"))) == {"o1", "o2"}
    assert ids(run(archive, "заголовок:свидетельство")) == ["c1"]
    assert ids(run(archive, "лицо:петров")) == ["c1"]


def test_filters_narrow_the_results(archive):
    assert set(ids(run(archive, "", filters={"doc_type": "order"}))) == {"o1", "o2"}
    assert ids(run(archive, "", filters={"doc_type": ["order"], "state": "SIGNED"})) == ["o1"]
    assert ids(run(archive, "", filters={"year": 2024})) == ["c1"]
    assert ids(run(archive, "", filters={"tags": "Центры"})) == ["o1"]
    assert set(ids(run(archive, "", date_from=date(2023, 1, 1)))) == {"o2", "c1"}


def test_sort_by_date_newest_first_and_oldest_first(archive):
    assert ids(run(archive, "", sort="date")) == ["c1", "o2", "o1", "a1"]
    assert ids(run(archive, "", sort="date_asc")) == ["a1", "o1", "o2", "c1"]


def test_pages_cover_all_results_once(archive):
    seen = []
    for page in (1, 2):
        result = run(archive, "", sort="date", page=page, page_size=3)
        assert result.total == 4
        seen += ids(result)
    assert seen == ["c1", "o2", "o1", "a1"]


def test_facets_count_type_state_organisation_and_year(archive):
    result = run(archive, "", facets=("doc_type", "org", "year", "state"))
    assert result.facets["doc_type"] == {"order": 2, "certificate": 1, "agreement": 1}
    assert result.facets["org"] == {"ЦОК-1": 2, "ЦОК-2": 1, "ЭМЦ": 1}
    assert result.facets["year"] == {"2021": 1, "2022": 1, "2023": 1, "2024": 1}
    assert sum(result.facets["state"].values()) == 4


def test_highlight_marks_the_matched_word_forms(archive):
    result = run(archive, "держатели")
    assert ids(result) == ["a1"]
    assert "<mark" in result.items[0].highlight and "Держатель</mark>" in result.items[0].highlight


def test_highlight_can_come_from_the_full_text_loader(archive):
    long_text = "вступление " * 5000 + "редкоесловохвост"
    result = search(archive, SearchRequest(q="свидетельство", allowed=None),
                    text_loader=lambda doc_id: long_text + " свидетельство")
    assert "свидетельство</mark>" in result.items[0].highlight


def test_did_you_mean_offers_a_close_existing_word(archive):
    result = run(archive, "свидетельсво")
    assert result.total == 0
    assert result.suggestion == "свидетельство"


def test_unsearchable_field_is_a_syntax_error(archive):
    with pytest.raises(QuerySyntaxError):
        run(archive, "version:1")


def test_bad_sort_page_and_facet_are_refused(archive):
    for bad in ({"sort": "random"}, {"page": 0}, {"page_size": 10_000}, {"facets": ("owner",)}):
        with pytest.raises(InvalidRequestError):
            run(archive, "приказ", **bad)


def test_an_access_clause_without_fields_is_refused(archive):
    with pytest.raises(InvalidRequestError):
        run(archive, "приказ", allowed=[{}])


def test_an_empty_access_list_shows_nothing(archive):
    result = run(archive, "", allowed=[], facets=("doc_type",))
    assert (result.total, result.items, result.facets) == (0, [], {"doc_type": {}})


def test_an_empty_index_answers_nothing_found_rather_than_failing(tmp_path):
    from search.index import SearchIndex
    from search.query import SearchRequest, search as run
    index = SearchIndex.create_or_open(tmp_path / "empty")
    result = run(index, SearchRequest(q="приказ", allowed=None, facets=("doc_type",)))
    assert result.total == 0 and result.items == [] and result.suggestion is None
