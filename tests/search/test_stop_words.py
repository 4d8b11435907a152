"""A query's stop words never empty its result; phrases keep the gap a stop word leaves; a query of
stop words alone says so instead of searching."""

from __future__ import annotations

import pytest

from search.query import STOP_WORDS_ONLY, SearchRequest, search
from tests.search.conftest import add, doc

NATURAL = {
    "приказ о включении": "order",
    "включение в регистр": "register",
    "удостоверения о повышении квалификации": "course",
    "проверка на месте": "visit",
    "контроль за исполнением": "control",
}


@pytest.fixture
def archive(index):
    add(
        index,
        doc("order", "Приказ о включении организации в реестр", "Включить ЦОК в реестр центров."),
        doc("register", "Заявление", "Просим рассмотреть включение в регистр экспертов."),
        doc("course", "Копии", "Прилагаются удостоверения о повышении квалификации экспертов."),
        doc("visit", "Акт", "Проведена проверка на месте осуществления деятельности."),
        doc("control", "Приказ", "Контроль за исполнением приказа оставляю за собой."),
        doc("agreement", "Соглашение", "Настоящее соглашение с держателем практики заключено на три года."),
        doc("apart", "Письмо", "Соглашение направлено, затем держателем практики назначен эксперт."),
    )
    return index


def found(index, q: str) -> set[str]:
    return {h.id for h in search(index, SearchRequest(q=q, allowed=None, page_size=50)).items}


@pytest.mark.parametrize("query", sorted(NATURAL))
def test_natural_query_finds_its_document_with_and_without_its_stop_words(archive, query):
    assert NATURAL[query] in found(archive, query)
    without = " ".join(w for w in query.split() if len(w) > 2)
    assert NATURAL[query] in found(archive, without)
    assert found(archive, query) == found(archive, without)


def test_a_stop_word_in_a_fielded_or_negated_query_does_not_empty_it(archive):
    assert found(archive, "заголовок:приказ о") == {"order", "control"}
    assert found(archive, "приказ NOT включении и") == {"control"}


def test_phrase_keeps_the_gap_of_its_stop_word(archive):
    assert found(archive, '"соглашение с держателем"') == {"agreement"}
    assert found(archive, '"соглашение с держателем практики"') == {"agreement"}
    # the words next to each other are another phrase (the gap holds one word, any word, as in Lucene)
    assert found(archive, '"соглашение держателем"') == set()
    assert found(archive, "соглашение держателем") == {"agreement", "apart"}


def test_a_query_of_stop_words_only_answers_a_notice_not_everything_or_nothing(archive):
    for q in ("о", "в на за", "И", "the of"):
        result = search(archive, SearchRequest(q=q, allowed=None, facets=("doc_type",)))
        assert (result.total, result.items, result.notice) == (0, [], STOP_WORDS_ONLY), q
        assert result.as_dict()["notice"] == STOP_WORDS_ONLY
    assert search(archive, SearchRequest(q="приказ о", allowed=None)).notice is None
