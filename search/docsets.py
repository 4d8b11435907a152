"""Sets of matching document numbers, computed with set algebra instead of matcher loops.

Totals and facet counts need every matching document, not only the best ten; walking Whoosh
matchers posting by posting costs microseconds each in Python. Here a Term becomes the set of
its postings (read block by block), And/Or/Not become set operations, and anything else falls
back to the query's own matcher. Counts are then ``len(a & b)`` in C.

This reads two private attributes of Whoosh 2.7.4's W3 posting reader (``_read_ids``,
``_goto``); the dependency is pinned and the tests compare every count with Whoosh's own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from whoosh import query as wq
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.matching import FilterMatcher, Matcher
from whoosh.searching import Searcher

from search.access import Restricted

FACET_CACHE_ENTRIES = 64


def _leaf_postings(m: W3LeafMatcher) -> list[int]:
    ids: list[int] = []
    while True:
        if m._ids is None:
            m._read_ids()
        ids.extend(m._ids)
        if m._lastblock:
            return ids
        m._goto(m._nextoffset)


def matcher_docs(m: Matcher) -> set[int]:
    """Every document number of a fresh matcher."""
    if isinstance(m, W3LeafMatcher):
        return set(_leaf_postings(m))
    if type(m) is FilterMatcher and isinstance(m.child, W3LeafMatcher):
        ids = set(_leaf_postings(m.child))
        return ids - m._ids if m._exclude else ids & m._ids
    return set(m.all_ids())


def live_docs(leaf: Searcher) -> set[int]:
    reader = leaf.reader()
    if reader.has_deletions():
        return set(reader.all_doc_ids())
    return set(range(reader.doc_count_all()))


def query_docs(q: wq.Query, leaf: Searcher) -> set[int]:
    """The document numbers of one segment (``leaf``) that ``q`` matches."""
    handler = _HANDLERS.get(type(q))
    if handler is not None:
        return handler(q, leaf)
    if isinstance(q, Restricted):
        return query_docs(q.child, leaf) & q.cache.visible(leaf, q.key, q.filter_query)
    return matcher_docs(q.matcher(leaf))


def _term(q: wq.Term, leaf: Searcher) -> set[int]:
    return matcher_docs(q.matcher(leaf))


def _and(q: wq.And, leaf: Searcher) -> set[int]:
    positives = [s for s in q.subqueries if not isinstance(s, wq.Not)]
    negatives = [s.query for s in q.subqueries if isinstance(s, wq.Not)]
    result = query_docs(positives[0], leaf) if positives else live_docs(leaf)
    for sub in positives[1:]:
        if not result:
            return result
        result &= query_docs(sub, leaf)
    for sub in negatives:
        if not result:
            return result
        result -= query_docs(sub, leaf)
    return result


def _or(q: wq.Or, leaf: Searcher) -> set[int]:
    result: set[int] = set()
    for sub in q.subqueries:
        result |= query_docs(sub, leaf)
    return result


def _not(q: wq.Not, leaf: Searcher) -> set[int]:
    return live_docs(leaf) - query_docs(q.query, leaf)


def _and_not(q: wq.AndNot, leaf: Searcher) -> set[int]:
    return query_docs(q.a, leaf) - query_docs(q.b, leaf)


def _and_maybe(q: wq.AndMaybe, leaf: Searcher) -> set[int]:
    return query_docs(q.a, leaf)


def _every(q: wq.Every, leaf: Searcher) -> set[int]:
    if q.fieldname in (None, "", "*"):
        return live_docs(leaf)
    return matcher_docs(q.matcher(leaf))


def _null(q: object, leaf: Searcher) -> set[int]:
    return set()


_HANDLERS: dict[type, Callable[..., set[int]]] = {
    wq.Term: _term,
    wq.And: _and,
    wq.Or: _or,
    wq.DisjunctionMax: _or,
    wq.Not: _not,
    wq.AndNot: _and_not,
    wq.AndMaybe: _and_maybe,
    wq.Every: _every,
    type(wq.NullQuery): _null,
}


def count(searcher: Searcher, q: wq.Query) -> int:
    return sum(len(query_docs(q, leaf)) for leaf, _ in searcher.leaf_searchers())


class FacetSets:
    """Per segment and field: display value -> the documents holding it (cached)."""

    def __init__(self, entries: int = FACET_CACHE_ENTRIES) -> None:
        self.entries = entries
        self._sets: OrderedDict[tuple[str, str], dict[str, frozenset[int]]] = OrderedDict()
        self._lock = threading.Lock()

    def values(self, leaf: Searcher, fieldname: str) -> dict[str, frozenset[int]]:
        segment = leaf.reader().segment()
        key = (segment.segment_id() if segment is not None else "", fieldname)
        if segment is not None:
            with self._lock:
                found = self._sets.get(key)
                if found is not None:
                    self._sets.move_to_end(key)
                    return found
        computed = self._compute(leaf, fieldname)
        if segment is not None:
            with self._lock:
                self._sets[key] = computed
                while len(self._sets) > self.entries:
                    self._sets.popitem(last=False)
        return computed

    @staticmethod
    def _compute(leaf: Searcher, fieldname: str) -> dict[str, frozenset[int]]:
        reader = leaf.reader()
        field = leaf.schema[fieldname]
        column = reader.column_reader(fieldname, translate=True)
        values: dict[str, set[int]] = {}
        for tbytes in field.sortable_terms(reader, fieldname):
            docs = matcher_docs(reader.postings(fieldname, tbytes))
            if not docs:
                continue
            display = str(column[next(iter(docs))])
            values.setdefault(display, set()).update(docs)
        return {value: frozenset(docs) for value, docs in values.items()}


def facet_counts(
    searcher: Searcher, q: wq.Query, names: tuple[str, ...] | list[str], sets: FacetSets
) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {name: {} for name in names}
    for leaf, _ in searcher.leaf_searchers():
        matched = query_docs(q, leaf)
        if not matched:
            continue
        for name in names:
            into = counts[name]
            for value, docs in sets.values(leaf, name).items():
                n = len(matched & docs) if len(docs) > len(matched) else len(docs & matched)
                if n:
                    into[value] = into.get(value, 0) + n
    return {
        name: dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))
        for name, values in counts.items()
    }
