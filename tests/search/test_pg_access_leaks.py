"""On the PostgreSQL backend no hit, total, facet, highlight or suggestion shows a document the user may not
view, every document the user may view is found, and every answer is the Whoosh index's for the same
documents (the documents, filters and queries of tests/search/test_access_leaks.py)."""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import replace

import pytest

from search.analysis import word_stems
from search.index import Delete, SearchIndex, Upsert
from search.query import SearchRequest, search
from tests.search.test_access_leaks import (
    FACETS,
    FILTERS,
    MISSPELLINGS,
    PARENTS,
    QUERIES,
    SECRET,
    STATES,
    ancestors,
    random_document,
    visible,
    words_of,
)
from tests.search.test_pg_contract import pg_engine, pg_index  # noqa: F401 - fixtures


@pytest.fixture
def both(tmp_path, pg_index):  # noqa: F811
    """The same 180 documents in a Whoosh index and a PostgreSQL one, written in three batches."""
    whoosh = SearchIndex.create_or_open(tmp_path / "index")
    rng = random.Random(20241122)
    documents = {d.id: d for d in (random_document(rng, n) for n in range(180))}
    for start in range(0, 180, 60):
        batch = [Upsert(d) for d in list(documents.values())[start:start + 60]]
        whoosh.apply(batch)
        pg_index.apply(batch)
    yield whoosh, pg_index, documents, rng
    whoosh.close()


def visible_words(documents, allowed) -> set[str]:
    shown = [d for d in documents.values() if visible(d, allowed)]
    return set().union(*(words_of(d) for d in shown)) if shown else set()


def check(whoosh, pg, documents, allowed) -> None:
    seen = {doc_id for doc_id, d in documents.items() if visible(d, allowed)}
    for q in QUERIES:
        request = SearchRequest(q=q, allowed=allowed, page_size=200, facets=FACETS)
        ours, theirs = pg.search(request), search(whoosh, request)
        everyone = {h.id for h in pg.search(SearchRequest(q=q, allowed=None, page_size=200, highlight=False)).items}
        expected = everyone & seen
        assert {h.id for h in ours.items} == expected == {h.id for h in theirs.items}, q
        assert ours.total == len(expected) == theirs.total, q
        assert ours.facets == theirs.facets, q
        for name in FACETS:
            tally = Counter(str(documents[i].date.year) if name == "year" else getattr(documents[i], name)
                            for i in expected)
            assert ours.facets[name] == dict(tally), (q, name)
        for hit in ours.items:
            marked = set(re.findall(r"\w+", re.sub(r"<[^>]+>", " ", hit.highlight).lower()))
            assert marked <= words_of(documents[hit.id]) | {"hl"}, q
        assert pg.search(SearchRequest(q=q, allowed=allowed, page_size=3, highlight=False)).total == len(expected)
    stems = set(word_stems(" ".join(visible_words(documents, allowed))))
    for q in MISSPELLINGS:
        ours = pg.search(SearchRequest(q=q, allowed=allowed)).suggestion
        assert ours == search(whoosh, SearchRequest(q=q, allowed=allowed)).suggestion, q
        if ours is not None:
            assert set(word_stems(ours)) <= stems, (q, ours)
    secret = pg.search(SearchRequest(q="архиварис", allowed=allowed)).suggestion
    assert (secret == SECRET) == (SECRET in visible_words(documents, allowed))


@pytest.mark.parametrize("name", list(FILTERS))
def test_nothing_leaks_and_both_backends_answer_alike(both, name):
    whoosh, pg, documents, _ = both
    check(whoosh, pg, documents, FILTERS[name])


def test_filters_stay_exact_after_moves_state_changes_and_deletes(both):
    whoosh, pg, documents, rng = both
    changed = []
    for doc_id in rng.sample(sorted(documents), 60):
        folder = rng.choice(list(PARENTS))
        documents[doc_id] = replace(documents[doc_id], folder_id=folder, folder_path=ancestors(folder),
                                    state=rng.choice(STATES), version="2")
        changed.append(Upsert(documents[doc_id]))
    gone = rng.sample(sorted(documents), 20)
    for doc_id in gone:
        del documents[doc_id]
    for index in (whoosh, pg):
        index.apply(changed + [Delete(doc_id) for doc_id in gone])
    assert pg.doc_versions() == whoosh.doc_versions()
    for name in FILTERS:
        check(whoosh, pg, documents, FILTERS[name])


PHRASES = ('"центр оценка"', '"центр оценка"~2', '"центр оценка"~4', '"приказ эксперт реестр"~3',
           '"центр с оценкой"', '"центр с оценкой"~2', '"реестр экспертов" OR "приказ центра"',
           'текст:"эксперт реестр" NOT приказ', "центр* оценк*")


@pytest.mark.parametrize("q", PHRASES)
def test_phrases_and_prefixes_find_what_the_whoosh_index_finds(tmp_path, pg_index, q):  # noqa: F811
    rng = random.Random(3)
    words = ["центр", "оценка", "оценки", "приказ", "эксперт", "экспертов", "реестр", "с", "центра"]
    batch = [
        Upsert(replace(random_document(rng, n), title="x", content=" ".join(rng.choices(words, k=15))))
        for n in range(200)]
    whoosh = SearchIndex.create_or_open(tmp_path / "index")
    whoosh.apply(batch)
    pg_index.apply(batch)
    request = SearchRequest(q=q, allowed=None, page_size=200, highlight=False)
    theirs = {h.id for h in search(whoosh, request).items}
    assert {h.id for h in pg_index.search(request).items} == theirs
    assert 0 < len(theirs) < 200
    whoosh.close()
