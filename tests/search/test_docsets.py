"""Set-algebra document counts equal Whoosh's own matcher counts, deletions included."""

from __future__ import annotations

import random

from whoosh import query as wq

from search.docsets import count
from search.index import Delete
from search.query import QueryBuilder
from tests.search.conftest import add, doc

WORDS = "приказ центр оценка эксперт реестр бланк отчет комиссия".split()
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
