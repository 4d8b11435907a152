"""The PostgreSQL backend keeps the search contract: stop words, phrases, lemmas, numbers, syntax, filters,
facets, highlights, suggestions, one writer, the index format; against the real PostgreSQL at 127.0.0.1."""

from __future__ import annotations

import os
import re
import uuid
from datetime import date

import pytest
from sqlalchemy import create_engine, text

from search.errors import IndexLockedError, InvalidDocumentError, InvalidRequestError, QuerySyntaxError, StaleIndexError
from search.index import Delete, Upsert
from search.pg import LAYOUT, PgSearchIndex, document_lexemes, document_vectors
from search.query import STOP_WORDS_ONLY, SearchRequest
from search.schema import INDEX_FORMAT, IndexedDocument, build_schema
from tests.search.conftest import doc
from tests.search.test_morphology import _forms
from tests.search.test_query import archive as whoosh_query_archive
from tests.search.test_stop_words import NATURAL
from tests.search.test_stop_words import archive as whoosh_stop_word_archive

PG_URL = os.environ.get("SEARCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_engine():
    engine = create_engine(PG_URL)
    try:
        with engine.connect() as c:
            c.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001
        pytest.skip(f"no PostgreSQL at {PG_URL}: {error}")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_index(pg_engine):
    """An index under a table prefix of its own, dropped afterwards."""
    index = PgSearchIndex.create_or_open(pg_engine, prefix=f"t{uuid.uuid4().hex[:12]}_")
    yield index
    index.drop()


def add(index: PgSearchIndex, *documents: IndexedDocument) -> None:
    index.apply([Upsert(d) for d in documents])


def found(index: PgSearchIndex, q: str, **kw) -> set[str]:
    kw.setdefault("allowed", None)
    return {h.id for h in index.search(SearchRequest(q=q, page_size=200, **kw)).items}


def ordered(index: PgSearchIndex, q: str, **kw) -> list[str]:
    kw.setdefault("allowed", None)
    return [h.id for h in index.search(SearchRequest(q=q, page_size=200, **kw)).items]


# -- stop words (tests/search/test_stop_words.py) -------------------------------------------------

@pytest.fixture
def stop_word_archive(pg_index):
    return whoosh_stop_word_archive.__wrapped__(pg_index)  # the same documents as the Whoosh test


@pytest.mark.parametrize("query", sorted(NATURAL))
def test_natural_query_finds_its_document_with_and_without_its_stop_words(stop_word_archive, query):
    without = " ".join(w for w in query.split() if len(w) > 2)
    assert NATURAL[query] in found(stop_word_archive, query)
    assert found(stop_word_archive, query) == found(stop_word_archive, without)


STOP_WORD_CASES = {
    "заголовок:приказ о": {"order", "control"},  # a stop word in a fielded query
    "приказ NOT включении и": {"control"},  # ... in a negated one
    '"соглашение с держателем"': {"agreement"},  # a phrase keeps the gap of its stop word
    '"соглашение с держателем практики"': {"agreement"},
    '"соглашение держателем"': set(),  # the gap holds one word
    "соглашение держателем": {"agreement", "apart"},
}


@pytest.mark.parametrize("query", list(STOP_WORD_CASES))
def test_stop_words_neither_empty_a_query_nor_close_a_phrase_gap(stop_word_archive, query):
    assert found(stop_word_archive, query) == STOP_WORD_CASES[query]


def test_a_query_of_stop_words_only_answers_a_notice(stop_word_archive):
    for q in ("о", "в на за", "И", "the of"):
        result = stop_word_archive.search(SearchRequest(q=q, allowed=None, facets=("doc_type",)))
        assert (result.total, result.items, result.notice) == (0, [], STOP_WORDS_ONLY), q
    assert stop_word_archive.search(SearchRequest(q="приказ о", allowed=None)).notice is None


# -- phrases (tests/search/test_phrases.py) ------------------------------------------------------

def test_proximity_phrase_finds_words_within_the_given_distance(pg_index):
    add(
        pg_index,
        doc("near", "a", "центр независимой оценки квалификации"),
        doc("far", "b", "центр один два три четыре оценка"),
        doc("reversed", "c", "оценка центр"),
        doc("adjacent", "d", "центр оценки"),
    )
    assert found(pg_index, '"центр оценка"') == {"adjacent"}
    assert found(pg_index, '"центр оценка"~3') == {"near", "adjacent"}
    assert found(pg_index, '"центр оценка"~5') == {"near", "far", "adjacent"}
    assert found(pg_index, 'текст:"центр оценка"~2 NOT заголовок:d') == {"near"}


def test_a_phrase_does_not_run_from_the_title_into_the_content(pg_index):
    add(pg_index, doc("split", "Отчет центра", "оценки проведены"), doc("whole", "Отчет", "центр оценки"))
    assert found(pg_index, '"центр оценки"') == {"whole"}


# -- lemmas (tests/search/test_morphology.py) ----------------------------------------------------

@pytest.mark.parametrize("lemma", ["проверка", "оценка", "человек", "подписать"])
def test_every_form_of_a_word_finds_every_other(pg_index, lemma):
    forms = _forms(lemma)
    assert len(forms) >= (30 if lemma == "подписать" else 10)
    add(pg_index, *(doc(f"d{i}", "Документ", f"Здесь стоит слово {form} в тексте.") for i, form in enumerate(forms)))
    add(pg_index, doc("other", "Другое", "Здесь нет того слова в тексте."))
    everyone = {f"d{i}" for i in range(len(forms))}
    for form in forms:
        assert found(pg_index, form) == everyone, form


def test_yo_and_an_ambiguous_form_find_each_lemma(pg_index):
    add(pg_index, doc("a", "Отчёт о проверке", "Подписал Пётр"), doc("steel", "Сталь", "марка"),
        doc("become", "Эксперт", "стать экспертом"))
    assert found(pg_index, "отчет") == {"a"}
    assert found(pg_index, "ОТЧЁТЫ") == {"a"}
    assert found(pg_index, "Петр") == {"a"}
    assert found(pg_index, "стали") == {"steel", "become"}  # «стали»: the steel's or they became


# -- numbers (tests/search/test_numbers.py) ------------------------------------------------------

def test_numbers_match_across_letter_case_dashes_and_spaces(pg_index):
    add(
        pg_index,
        doc("cert", "Свидетельство", cert_number="ЦОК-77.01-123"),
        doc("order", "Приказ", reg_number="01-02/123"),
        doc("blank", "Бланк", blank_number="АА 000123"),
        doc("near", "Свидетельство", cert_number="ЦОК-77.01-124"),
    )
    for q in ("цок 77.01 123", "ЦОК 77.01—123", "№ цок–77.01–123", 'cert:"цок-77.01 123"'):
        assert ordered(pg_index, q) == ["cert"], q
    for q in ("01 02/123", "01-02 / 123", "№01‑02/123"):
        assert ordered(pg_index, q) == ["order"], q
    for q in ("аа-000123", "АА 000123", "бланк:АА-000123"):
        assert ordered(pg_index, q) == ["blank"], q


def test_a_number_query_goes_to_the_number_fields_first(pg_index):
    add(
        pg_index,
        doc("mentions", "Письмо", "См. свидетельство цок 77.01 123 и приказ 01 02 123 в приложении."),
        doc("cert", "Свидетельство", cert_number="ЦОК-77.01-123"),
    )
    assert ordered(pg_index, "ЦОК 77.01 123") == ["cert"]
    assert ordered(pg_index, "01-02/123") == ["mentions"]


def test_number_field_filter_matches_exactly(pg_index):
    numbers = ["01-02/123", "01-02/1234", "01-02/12", "1-02/123"]
    add(pg_index, *(doc(f"d{i}", "Приказ", reg_number=n) for i, n in enumerate(numbers)))
    assert ordered(pg_index, "", filters={"reg_number": "№ 01-02/12"}) == ["d2"]
    for i, number in enumerate(numbers):
        assert ordered(pg_index, number) == [f"d{i}"]


# -- syntax, filters, sorting, pages, facets, highlights, suggestions (tests/search/test_query.py) --

@pytest.fixture
def archive(pg_index):
    return whoosh_query_archive.__wrapped__(pg_index)  # the same documents as the Whoosh test


def test_operators_fields_and_aliases(archive):
    assert found(archive, "приказ экспертов") == {"o2"}
    assert found(archive, "экзамена ИЛИ площадку") == {"c1", "a1"}
    assert found(archive, "приказ НЕ экспертов") == {"o1"}
    assert found(archive, '"экспертов центра"') == {"o2"}
    assert found(archive, '"центра экспертов"') == set()
    assert found(archive, "тип:order") == {"o1", "o2"}
    assert found(archive, "заголовок:свидетельство") == {"c1"}
    assert found(archive, "лицо:петров") == {"c1"}
    assert found(archive, "организация:цок-1 год:2022") == {"o1"}
    assert found(archive, "год:[2022 TO 2023]") == {"o1", "o2"}
    assert found(archive, "тег:центры") == {"o1"}
    assert found(archive, "квалифик*") == {"c1", "o1"}
    assert found(archive, "NOT тип:order") == {"c1", "a1"}


def test_filters_dates_sorting_and_pages(archive):
    assert found(archive, "", filters={"doc_type": ["order", "certificate"], "year": 2022}) == {"o1"}
    assert found(archive, "", date_from=date(2022, 1, 1), date_to=date(2023, 12, 31)) == {"o1", "o2"}
    assert ordered(archive, "", sort="date") == ["c1", "o2", "o1", "a1"]
    assert ordered(archive, "", sort="date_asc") == ["a1", "o1", "o2", "c1"]
    pages = [archive.search(SearchRequest(q="", allowed=None, page=p, page_size=3)) for p in (1, 2)]
    assert [len(p.items) for p in pages] == [3, 1] and {p.total for p in pages} == {4}
    assert {h.id for p in pages for h in p.items} == {"o1", "o2", "c1", "a1"}


def test_title_words_rank_above_content_words(archive):
    assert ordered(archive, "свидетельство")[0] == "c1"
    assert ordered(archive, "центр")[:1] == ["o1"]  # in the title and the content


def test_facets_count_type_state_organisation_and_year(archive):
    result = archive.search(SearchRequest(q="", allowed=None, facets=("doc_type", "org", "year")))
    assert result.facets == {
        "doc_type": {"order": 2, "agreement": 1, "certificate": 1},
        "org": {"ЦОК-1": 2, "ЦОК-2": 1, "ЭМЦ": 1},
        "year": {"2021": 1, "2022": 1, "2023": 1, "2024": 1},
    }


def test_highlight_marks_the_matched_word_forms_and_can_use_the_loader(archive):
    hit = archive.search(SearchRequest(q="эксперт", allowed=None)).items[0]
    assert '<mark class="hl">экспертов</mark>' in hit.highlight
    loaded = archive.search(SearchRequest(q="Москва", allowed=None),
                            text_loader=lambda i: "Полный текст: центр в Москве, улица.").items[0]
    assert '<mark class="hl">Москве</mark>' in loaded.highlight and "улица" in loaded.highlight


def test_did_you_mean_offers_a_close_existing_word(archive):
    result = archive.search(SearchRequest(q="свидетельсво", allowed=None))
    assert (result.total, result.suggestion) == (0, "свидетельство")
    assert archive.search(SearchRequest(q="свидетельсво", allowed=[{"doc_type": {"order"}}])).suggestion is None


def test_bad_requests_are_refused(archive):
    with pytest.raises(QuerySyntaxError):
        archive.search(SearchRequest(q="version:1", allowed=None))
    for bad in ({"sort": "random"}, {"page": 0}, {"page_size": 10_000}, {"facets": ("owner",)},
                {"allowed": [{}]}, {"allowed": [{"title": {"x"}}]}):
        with pytest.raises(InvalidRequestError):
            archive.search(SearchRequest(q="приказ", **{"allowed": None, **bad}))
    result = archive.search(SearchRequest(q="", allowed=[], facets=("doc_type",)))
    assert (result.total, result.items, result.facets) == (0, [], {"doc_type": {}})


# -- writing -------------------------------------------------------------------------------------

def test_upsert_replaces_delete_removes_and_versions_are_reported(pg_index):
    add(pg_index, doc("a", "Приказ", version="1"), doc("b", "Отчет"))
    pg_index.apply([Upsert(doc("a", "Соглашение", version="2")), Delete("b"), Delete("never")])
    assert pg_index.doc_versions() == {"a": "2"}
    assert found(pg_index, "приказ") == set() and found(pg_index, "соглашение") == {"a"}
    # the last operation on an id in a batch wins
    pg_index.apply([Upsert(doc("c", "Акт")), Delete("c")])
    assert pg_index.doc_ids() == {"a"}


def test_rebuild_replaces_everything_and_tables_are_created_idempotently(pg_index, pg_engine):
    add(pg_index, doc("old", "Приказ"))
    stats = pg_index.rebuild(doc(str(n), f"Отчет номер {n}", "проверка эксперта") for n in range(2500))
    assert stats.documents == 2500 and pg_index.doc_count() == 2500
    assert found(pg_index, "приказ") == set()
    assert len(found(pg_index, "проверок экспертов")) == 200  # page_size
    again = PgSearchIndex.create_or_open(pg_engine, prefix=pg_index.prefix)
    assert again.doc_count() == 2500
    add(again, doc("new", "Приказ"))
    assert found(again, "приказ") == {"new"}


def test_rebuild_in_worker_processes_writes_the_rows_a_sequential_rebuild_writes(pg_engine, monkeypatch):
    monkeypatch.setattr("search.parallel.WINDOW", 100)  # several windows (fewer than one are mapped in process)
    documents = [doc(str(n), f"Отчет номер {n}", f"проверка эксперта {n} держателем практики",
                     people=("Петров",)) for n in range(1300)]
    rows = {}
    for workers in (0, 2):
        index = PgSearchIndex.create_or_open(pg_engine, prefix=f"t{uuid.uuid4().hex[:12]}_")
        try:
            assert index.rebuild(iter(documents), workers=workers, maintenance_mb=128).documents == 1300
            with pg_engine.connect() as c:
                rows[workers] = c.execute(text(f"SELECT id, seq, title, tsv::text FROM {index.docs} "
                                               "ORDER BY seq")).all()
        finally:
            index.drop()
    assert rows[2] == rows[0] and [r.seq for r in rows[0]] == list(range(1, 1301))


def test_a_bad_document_in_a_rebuild_worker_keeps_the_live_table(pg_index, monkeypatch):
    monkeypatch.setattr("search.parallel.WINDOW", 20)
    add(pg_index, doc("live", "Приказ"))
    with pytest.raises(InvalidDocumentError):
        pg_index.rebuild(iter([doc(str(n), "Отчет") for n in range(50)] + [doc("", "без номера")]), workers=2)
    assert pg_index.doc_ids() == {"live"} and found(pg_index, "приказ") == {"live"}


def test_a_second_writer_is_refused_while_one_writes(pg_index, pg_engine):
    with pg_engine.begin() as c, pg_index.writer_lock(c), pytest.raises(IndexLockedError):
        add(pg_index, doc("a", "Приказ"))
    add(pg_index, doc("a", "Приказ"))
    assert pg_index.doc_ids() == {"a"}


def test_an_index_of_another_format_is_refused_until_rebuilt(pg_index, pg_engine):
    with pg_engine.begin() as c:
        c.execute(text(f"UPDATE {pg_index.meta} SET value = '1' WHERE key = 'format'"))
    with pytest.raises(StaleIndexError):
        PgSearchIndex.open(pg_engine, prefix=pg_index.prefix)
    with pytest.raises(StaleIndexError):
        add(pg_index, doc("a", "Приказ"))
    pg_index.rebuild([doc("a", "Приказ")])
    assert PgSearchIndex.open(pg_engine, prefix=pg_index.prefix).format() == pg_index.format()


def test_an_index_of_the_previous_table_layout_is_refused_until_rebuilt(pg_index, pg_engine):
    # Layout 1 (the adjacent pairs inside tsv) stored the bare format number.
    with pg_engine.begin() as c:
        c.execute(text(f"UPDATE {pg_index.meta} SET value = :v WHERE key = 'format'"), {"v": str(INDEX_FORMAT)})
    with pytest.raises(StaleIndexError, match="layout 1"):
        PgSearchIndex.open(pg_engine, prefix=pg_index.prefix)
    pg_index.rebuild([doc("a", "Соглашение с держателем практики")])
    reopened = PgSearchIndex.open(pg_engine, prefix=pg_index.prefix)
    assert (reopened.format(), reopened.layout()) == (INDEX_FORMAT, LAYOUT)
    assert found(reopened, '"держателем практики"') == {"a"}


def test_adjacent_pairs_live_in_their_own_column_and_exact_values_in_both():
    found = document_vectors(doc("x", "Держателем практики", "Проверок экспертов", reg_number="01-2/15"))
    assert "'держатель практика'" in found.pairs and "'проверка эксперт'" in found.pairs
    assert "держатель практика" not in found.tsv and "'держатель':1A" in found.tsv  # ts_rank reads no pairs
    for key in ("'id=x'", "'year=2024'", "'reg_number=01-2/15'"):
        assert key in found.keys and key in found.tsv and key in found.pairs


def test_the_access_filter_is_answered_by_the_gin_index_beside_words_and_pairs(pg_index, pg_engine):
    """The exact values merge into each column's tsquery: no plan checks them by reading a tsvector row by row."""
    from search.pg import Translator, _Params, access_condition
    from search.query import QueryBuilder

    builder = QueryBuilder(build_schema())
    allowed = [{"folder_path": {"1", "9"}}, {"owner": {"u7"}}]
    for q, columns in (("проверка", {"tsv"}), ('"держателем практики"', {"pairs"}),
                       ('"держатель практики" OR проверка', {"tsv", "pairs"})):
        t = Translator(_Params())
        where = t.sql(t.conjunction([t.query(builder.parse(q)), access_condition(allowed)]))
        values = [t.params.values[name] for name in re.findall(r":(p\d+)", where)]
        assert {c for c in ("tsv", "pairs") if f"{c} @@" in where} == columns, q
        assert where.count("@@") == len(columns), where  # no condition of the exact values alone
        assert all("folder_path=1" in v and "owner=u7" in v for v in values), (q, values)
    # ... and the statements run (the parameters of a branch rendered before the push-down stay unused)
    add(pg_index, doc("mine", "Проверка держателем практики", folder_path=("0", "1")),
        doc("owned", "Проверка", owner="u7"), doc("hidden", "Проверка держателем практики", folder_path=("0", "2")))
    for q in ("проверка", '"держателем практики"', '"держатель практики" OR проверка'):
        visible = {"mine", "owned"} if "OR" in q or q == "проверка" else {"mine"}
        assert found(pg_index, q, allowed=allowed) == visible, q


def test_the_tsvector_holds_our_lemmas_at_their_positions():
    tsv, corrected = document_lexemes(doc("x", "Держателем практики", "Проверок нет", people=("Петров",)))
    assert "'держатель':1A" in tsv and "'практика':2A" in tsv and "'практик':2A" in tsv
    assert "'петров':4B" in tsv and "'проверка':6 " in tsv + " "
    assert "'id=x'" in tsv and "'year=2024'" in tsv
    assert corrected == {"держатель", "практика", "практик", "проверка"}


def test_a_broad_query_ranks_its_newest_matches_unless_told_to_rank_all(pg_index, pg_engine):
    add(pg_index, doc("old", "Эксперт эксперт", "эксперт", date=date(2001, 1, 1)),
        *(doc(f"n{i}", "Письмо", f"эксперт и другие слова {i}", date=date(2020, 1, 1 + i)) for i in range(9)))
    window = PgSearchIndex.open(pg_engine, prefix=pg_index.prefix, rank_window=3)
    exact = PgSearchIndex.open(pg_engine, prefix=pg_index.prefix, rank_window=None)
    assert ordered(exact, "эксперт")[0] == "old"
    newest = window.search(SearchRequest(q="эксперт", allowed=None, page_size=3))
    assert newest.total == 10 and {h.id for h in newest.items} == {"n6", "n7", "n8"}
    assert ordered(window, "эксперт") == ordered(exact, "эксперт")  # a page beyond the window ranks all


def test_a_two_word_phrase_is_found_beyond_the_last_tsvector_position(pg_index):
    long_text = "слово " * 17_000 + "центр оценки квалификаций"
    add(pg_index, doc("long", "Отчет", long_text), doc("other", "Отчет", "центр и оценки"))
    assert found(pg_index, '"центр оценки"') == {"long"}  # position 17,000: PostgreSQL keeps 16,383 at most
    assert found(pg_index, '"оценка центр"') == set()
