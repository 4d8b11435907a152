"""Russian and English queries find other forms of their words."""

from __future__ import annotations

import pickle

from search.analysis import text_analyzer
from search.query import SearchRequest, search
from tests.search.conftest import add, doc


def ids(index, q: str) -> set[str]:
    result = search(index, SearchRequest(q=q, allowed=None, page_size=50))
    return {hit.id for hit in result.items}


def test_inflected_phrase_finds_document_with_other_case_forms(index):
    add(
        index,
        doc("a", "Соглашение", "Соглашение заключено с держателем практики на три года."),
        doc("b", "Отчёт", "Отчёт о пилотной апробации модели мониторинга."),
    )
    assert ids(index, "держатель практики") == {"a"}


def test_genitive_finds_nominative_and_back(index):
    add(
        index,
        doc("a", "Выдача", "Выдано свидетельство о квалификации."),
        doc("b", "Реестр", "Реестр центров оценки квалификаций."),
    )
    assert ids(index, "свидетельства") == {"a"}
    add(index, doc("c", "Бланки", "Бланки свидетельств строгой отчётности."))
    assert ids(index, "свидетельство") == {"a", "c"}


def test_yo_and_ye_spellings_are_the_same_word(index):
    add(index, doc("a", "Отчёт о проверке", "Подписал Пётр"), doc("b", "Приказ", "Подписал Иван"))
    assert ids(index, "отчет") == {"a"}
    assert ids(index, "Петр") == {"a"}
    assert ids(index, "ОТЧЁТЫ") == {"a"}


def test_english_words_are_stemmed_with_the_english_stemmer(index):
    add(index, doc("a", "Audit", "Certificates were running late."), doc("b", "Other", "nothing"))
    assert ids(index, "certificate run") == {"a"}


def test_stop_words_do_not_break_phrases(index):
    add(
        index,
        doc("a", "Соглашение", "Настоящее соглашение с держателем практики подписано."),
        doc("b", "Письмо", "Держатель направил соглашение; практики нет."),
    )
    assert ids(index, '"соглашение с держателем практики"') == {"a"}


def test_stem_filter_survives_pickling_into_the_index_schema():
    analyzer = pickle.loads(pickle.dumps(text_analyzer()))
    assert [t.text for t in analyzer("держателем практики")] == ["держател", "практик"]
