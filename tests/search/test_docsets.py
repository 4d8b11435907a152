"""Set-algebra document counts equal Whoosh's own matcher counts, deletions included."""

from __future__ import annotations

import random

from whoosh import query as wq

from search.docsets import count
from search.index import Delete
from search.query import QueryBuilder
from tests.search.conftest import add, doc

WORDS = ["приказ", "центр", "оценка", "эксперт", "реестр", "бланк", "отчет", "комиссия"]
QUERIES = (
    "приказ", "приказ центр", "приказ OR реестр", "приказ NOT центр", "NOT приказ",
    '"центр оценка"', "тип:order", "оценка ANDNOT бланк", "оценка ANDMAYBE бланк",
    "прик*", "год:[2022 TO 2023]", "(приказ OR бланк) AND NOT (эксперт OR комиссия)", "",
)


def test_set_counts_match_whoosh_counts_with_deletions_across_segments(index):
    rng = random.Random(7)
    for batch in range(3):
        add(index, *(
            doc(f"{batch}-{n}", rng.choice(WORDS), " ".join(rng.choices(WORDS, k=12)),
                doc_type=rng.choice(("order", "report")))
            for n in range(150)
        ))
    index.apply([Delete(f"1-{n}") for n in range(0, 150, 3)])
    builder = QueryBuilder(index.schema)
    with index.searcher() as searcher:
        assert len(searcher.leaf_searchers()) > 1 and searcher.reader().has_deletions()
        for text in QUERIES:
            q = builder.parse(text)
            assert count(searcher, q) == len(list(searcher.docs_for_query(q))), text
        assert count(searcher, wq.NullQuery) == 0


def test_ranking_gives_whoosh_bm25f_scores_and_order(index):
    from search.query import SearchRequest, search

    rng = random.Random(11)
    add(index, *(
        doc(str(n), " ".join(rng.choices(WORDS, k=2)), " ".join(rng.choices(WORDS, k=rng.randint(3, 40))))
        for n in range(300)
    ))
    builder = QueryBuilder(index.schema)
    with index.searcher() as searcher:
        for text in ("приказ", "приказ центр", "реестр OR бланк", "бланк тип:order"):
            ours = search(index, SearchRequest(q=text, allowed=None, page_size=15, highlight=False))
            theirs = searcher.search(builder.parse(text), limit=None)
            whoosh_scores = {hit["id"]: hit.score for hit in theirs}
            assert ours.total == len(theirs), text
            for hit in ours.items:
                assert abs(hit.score - whoosh_scores[hit.id]) < 1e-3 * max(1.0, hit.score), text
            best = sorted(whoosh_scores.values(), reverse=True)[:15]
            assert [round(h.score, 3) for h in ours.items] == [round(s, 3) for s in best], text
        # A phrase is scored as the sum of its words' scores (Whoosh scores the phrase as one
        # term) and Whoosh adds 1 for a NOT clause, so only the matched sets are compared.
        for text in ('"центр оценка"', "эксперт NOT отчет"):
            ours = search(index, SearchRequest(q=text, allowed=None, page_size=200, highlight=False))
            theirs = searcher.search(builder.parse(text), limit=None)
            assert {h.id for h in ours.items} == {hit["id"] for hit in theirs}, text
