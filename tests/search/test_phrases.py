"""Phrases: exact, with proximity (``"a b"~N``), and across the gap a stop word leaves."""

from __future__ import annotations

import random

import numpy as np

from search.positions import common_values
from search.query import QueryBuilder, SearchRequest, search
from tests.search.conftest import add, doc


def ids(index, q: str) -> set[str]:
    return {h.id for h in search(index, SearchRequest(q=q, allowed=None, page_size=200)).items}


def test_proximity_phrase_finds_words_within_the_given_distance(index):
    add(
        index,
        doc("near", "a", "центр независимой оценки квалификации"),
        doc("far", "b", "центр один два три четыре оценка"),
        doc("reversed", "c", "оценка центр"),
        doc("adjacent", "d", "центр оценки"),
    )
    assert ids(index, '"центр оценка"') == {"adjacent"}
    assert ids(index, '"центр оценка"~3') == {"near", "adjacent"}
    assert ids(index, '"центр оценка"~5') == {"near", "far", "adjacent"}
    assert ids(index, 'текст:"центр оценка"~2 NOT заголовок:d') == {"near"}


def test_exact_and_proximity_phrases_match_whoosh_own_phrase_matcher(index):
    rng = random.Random(3)
    words = ["центр", "оценка", "приказ", "эксперт", "реестр"]
    add(index, *(doc(str(n), "x", " ".join(rng.choices(words, k=15))) for n in range(200)))
    builder = QueryBuilder(index.schema)
    with index.searcher() as searcher:
        for text in ('"центр оценка"', '"приказ эксперт реестр"', '"центр оценка"~2', '"центр оценка"~4',
                     '"приказ эксперт реестр"~3'):
            theirs = {hit["id"] for hit in searcher.search(builder.parse(text), limit=None)}
            assert ids(index, text) == theirs, text


def test_adjacent_words_meet_where_numpy_intersection_says():
    rng = np.random.default_rng(18)
    for size_a, size_b in ((0, 5), (5, 0), (1, 1), (300, 2000), (5000, 4000)):
        a = np.unique(rng.integers(0, 3 << 32, size_a))
        b = np.unique(np.concatenate([rng.integers(0, 3 << 32, size_b), a[::3]]))[:size_b]
        assert np.array_equal(common_values(a, b), np.intersect1d(a, b)), (size_a, size_b)
