"""Russian and English queries find other forms of their words."""

from __future__ import annotations

import pickle

import pytest

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
    # «практики»: the practice or the practitioners (two lemmas, one position)
    tokens = [(t.text, t.pos) for t in analyzer("держателем практики", positions=True)]
    assert tokens == [("держатель", 0), ("практика", 1), ("практик", 1)]


def _forms(lemma: str) -> list[str]:
    from search.analysis import morphology

    parse = next(p for p in morphology().parse(lemma) if p.normal_form == lemma)
    return sorted({f.word for f in parse.lexeme})


@pytest.mark.parametrize("lemma", ["проверка", "оценка", "человек", "подписать"])
def test_every_form_of_a_word_finds_every_other(index, lemma):
    forms = _forms(lemma)
    assert len(forms) >= (30 if lemma == "подписать" else 10)
    add(index, *(doc(f"d{i}", "Документ", f"Здесь стоит слово {form} в тексте.") for i, form in enumerate(forms)))
    add(index, doc("other", "Другое", "Здесь нет того слова в тексте."))
    everyone = {f"d{i}" for i in range(len(forms))}
    for form in forms:
        assert ids(index, form) == everyone, form


def test_people_and_person_meet(index):
    add(index, doc("a", "Список", "Люди, допущенные к экзамену"), doc("b", "Иное", "Ничего"))
    assert ids(index, "человек") == {"a"}
    assert ids(index, "людьми") == {"a"}
    assert ids(index, "человеку") == {"a"}


def test_an_ambiguous_form_is_indexed_under_each_of_its_lemmas(index):
    add(index, doc("a", "Металл", "Марки стали для сварки"), doc("b", "Иное", "Ничего"))
    assert ids(index, "сталь") == {"a"}
    assert ids(index, "стать") == {"a"}


def test_unknown_words_fall_back_to_the_snowball_stem(index):
    from search.analysis import word_terms

    assert word_terms("апостилированием") == ("апостилирован",)  # not in the dictionary: Snowball
    add(index, doc("a", "x", "Апостилированием занимается отдел"), doc("b", "y", "Ничего"))
    assert ids(index, "апостилирование") == {"a"}


def test_highlights_mark_the_forms_in_the_text(index):
    from search.query import SearchRequest, search

    add(index, doc("a", "Акт", "Провели проверки; результаты проверок приложены. Люди подписали акт."))
    hit = search(index, SearchRequest(q="проверка человек подписанный", allowed=None)).items[0]
    for form in ("проверки", "проверок", "Люди", "подписали"):
        assert f'<mark class="hl">{form}</mark>' in hit.highlight
