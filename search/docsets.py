"""Matching documents as sorted numpy arrays, computed with set algebra instead of matchers.

Totals, facet counts and ranking need every matching document, not only the best ten; walking
Whoosh matchers posting by posting costs microseconds each in Python. Here a Term becomes its
posting array (``postings.POSTINGS``), And/Or/Not become array intersections, unions and
differences, a phrase checks positions only for documents holding all its words (and visible
to the user), and anything else falls back to the query's own matcher.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import numpy.ma  # noqa: F401  np.unique imports it at its first call: here, not in a process's first search
from whoosh import query as wq
from whoosh.searching import Searcher

from search.access import Restricted
from search.phrase import GappedPhrase
from search.positions import ArrayPositions, common_values
from search.postings import POSTINGS

FACET_CACHE_ENTRIES = 64
Docs = np.ndarray  # sorted, unique int64 document numbers of one segment
Within = np.ndarray | None  # boolean mask of the documents worth looking at


def query_docs(q: wq.Query, leaf: Searcher, within: Within = None) -> Docs:
    """The document numbers of one segment (``leaf``) that ``q`` matches.

    ``within`` (the visible documents) only lets expensive parts such as phrases skip work:
    the caller still intersects the result with it.
    """
    handler = _HANDLERS.get(type(q))
    if handler is not None:
        return handler(q, leaf, within)
    if isinstance(q, Restricted):
        visible = visible_mask(leaf, q)
        docs = query_docs(q.child, leaf, visible)
        return docs[visible[docs]]
    return _matcher_docs(leaf, q)


def visible_mask(leaf: Searcher, q: Restricted) -> np.ndarray:
    return q.cache.mask(leaf, q.key, lambda: query_docs(q.filter_query, leaf))


def _matcher_docs(leaf: Searcher, q: wq.Query) -> Docs:
    ids = np.fromiter(q.matcher(leaf).all_ids(), np.int64)
    return np.unique(ids)


def live_docs(leaf: Searcher) -> Docs:
    return np.flatnonzero(POSTINGS.live_mask(leaf)).astype(np.int64)


def _term(q: wq.Term, leaf: Searcher, within: Within) -> Docs:
    field = leaf.schema[q.fieldname] if q.fieldname in leaf.schema else None  # noqa: SIM401 - a Schema, not a dict
    if field is None:
        return np.empty(0, np.int64)
    try:
        tbytes = field.to_bytes(q.text)
    except ValueError:
        return np.empty(0, np.int64)
    return POSTINGS.postings(leaf, q.fieldname, tbytes)[0]


def _mask(leaf: Searcher, docs: Docs) -> np.ndarray:
    """``docs`` as a boolean array over the segment: set operations in linear time, no sorting."""
    mask = np.zeros(leaf.reader().doc_count_all(), bool)
    mask[docs] = True
    return mask


def _and(q: wq.And, leaf: Searcher, within: Within) -> Docs:
    positives = [s for s in q.subqueries if not isinstance(s, wq.Not)]
    negatives = [s.query for s in q.subqueries if isinstance(s, wq.Not)]
    # Cheap parts first, so that a phrase only checks documents the rest already matched.
    positives.sort(key=lambda s: isinstance(s, wq.Phrase))
    result = query_docs(positives[0], leaf, within) if positives else live_docs(leaf)
    for sub in positives[1:]:
        if not len(result):
            return result
        narrowed = _mask(leaf, result)
        if within is not None:
            narrowed &= within
        result = result[_mask(leaf, query_docs(sub, leaf, narrowed))[result]]
    for sub in negatives:
        if not len(result):
            return result
        result = result[~_mask(leaf, query_docs(sub, leaf, within))[result]]
    return result


def _or(q: wq.Or, leaf: Searcher, within: Within) -> Docs:
    parts = [query_docs(sub, leaf, within) for sub in q.subqueries]
    parts = [p for p in parts if len(p)]
    if not parts:
        return np.empty(0, np.int64)
    if len(parts) == 1:
        return parts[0]
    union = np.zeros(leaf.reader().doc_count_all(), bool)
    for part in parts:
        union[part] = True
    return np.flatnonzero(union).astype(np.int64)


def _not(q: wq.Not, leaf: Searcher, within: Within) -> Docs:
    return np.flatnonzero(POSTINGS.live_mask(leaf) & ~_mask(leaf, query_docs(q.query, leaf, within))).astype(np.int64)


def _and_not(q: wq.AndNot, leaf: Searcher, within: Within) -> Docs:
    kept = query_docs(q.a, leaf, within)
    return kept[~_mask(leaf, query_docs(q.b, leaf, within))[kept]]


def _and_maybe(q: wq.AndMaybe, leaf: Searcher, within: Within) -> Docs:
    return query_docs(q.a, leaf, within)


def _every(q: wq.Every, leaf: Searcher, within: Within) -> Docs:
    if q.fieldname in (None, "", "*"):
        return live_docs(leaf)
    return _matcher_docs(leaf, q)


def _null(q: object, leaf: Searcher, within: Within) -> Docs:
    return np.empty(0, np.int64)


def _phrase(q: wq.Phrase, leaf: Searcher, within: Within) -> Docs:
    """Documents holding the words at their offsets (each at most ``slop`` - 1 positions further
    than its offset from the previous word); an offset may hold alternative words."""
    reader = leaf.reader()
    if q.fieldname not in leaf.schema:
        return np.empty(0, np.int64)
    field = leaf.schema[q.fieldname]
    if not isinstance(field.format, ArrayPositions):
        found = _matcher_docs(leaf, q)  # Whoosh's own phrase matcher (no such field in our schema)
        return found if within is None else found[within[found]]
    if isinstance(q, GappedPhrase):
        groups = [(offset, [field.to_bytes(w) for w in words]) for offset, words in q.groups()]
    else:
        groups = [(i, [field.to_bytes(w)]) for i, w in enumerate(q.words)]
    groups = [(offset, [w for w in words if (q.fieldname, w) in reader]) for offset, words in groups]
    if not groups or any(not words for _, words in groups):
        return np.empty(0, np.int64)
    if len(groups) > 1:  # positions will be read: decode each word's blocks once for both
        for _, words in groups:
            for w in words:
                POSTINGS.decode_for_phrase(leaf, q.fieldname, w)
    candidates: Docs | None = None
    for _, words in groups:
        docs = _union(leaf, [POSTINGS.postings(leaf, q.fieldname, w)[0] for w in words])
        candidates = docs if candidates is None else candidates[_mask(leaf, docs)[candidates]]
    assert candidates is not None
    if within is not None:
        candidates = candidates[within[candidates]]
    if len(groups) == 1 or not len(candidates):
        return candidates
    slop = max(int(q.slop), 1)
    if slop == 1 and len(groups) == 2 and groups[1][0] - groups[0][0] == 1:
        pairs = [POSTINGS.pair_docs(leaf, q.fieldname, a, b) for a in groups[0][1] for b in groups[1][1]]
        looked_up = [p for p in pairs if p is not None]
        if len(looked_up) == len(pairs):  # two frequent words side by side: looked up, not matched
            return candidates[_mask(leaf, _union(leaf, looked_up))[candidates]]
    if slop == 1:
        return _adjacent(leaf, q.fieldname, groups, candidates)
    return _near(leaf, q.fieldname, groups, candidates, slop)


def _union(leaf: Searcher, parts: list[Docs]) -> Docs:
    if len(parts) == 1:
        return parts[0]
    union = np.zeros(leaf.reader().doc_count_all(), bool)
    for part in parts:
        union[part] = True
    return np.flatnonzero(union).astype(np.int64)


def _keys(leaf: Searcher, fieldname: str, words: list[bytes], mask: np.ndarray, shift: int = 0) -> np.ndarray:
    """Sorted keys (document << 32 | position - shift) of the words' positions in masked documents."""
    parts = []
    for word in words:
        docs, positions = POSTINGS.positions(leaf, fieldname, word)
        keep = mask[docs] & (positions >= shift)
        # Postings come in document order and positions ascend within a document, so the keys
        # of one word are already sorted.
        parts.append((docs[keep].astype(np.int64) << 32) | (positions[keep].astype(np.int64) - shift))
    return parts[0] if len(parts) == 1 else np.unique(np.concatenate(parts))


def _adjacent(leaf: Searcher, fieldname: str, groups: list[tuple[int, list[bytes]]], candidates: Docs) -> Docs:
    """Candidates where the words of offset i sit at position p + i for some p, in array operations.

    The words' positions come from ``POSTINGS.positions`` (decoded once per segment and kept in
    a bounded cache), so a repeated phrase of common words costs array operations only.
    """
    mask = _mask(leaf, candidates)
    common: np.ndarray | None = None
    for shift, words in groups:
        keys = _keys(leaf, fieldname, words, mask, shift)
        common = keys if common is None else common_values(common, keys)
        if not len(common):
            return np.empty(0, np.int64)
    assert common is not None
    return np.unique(common >> 32)


def _near(leaf: Searcher, fieldname: str, groups: list[tuple[int, list[bytes]]], candidates: Docs,
          slop: int) -> Docs:
    """Candidates where each offset's words follow the previous offset's by its distance up to
    that distance + ``slop`` - 1 positions (Whoosh's slop: 1 is exact)."""
    mask = _mask(leaf, candidates)
    ends: np.ndarray | None = None
    previous = 0
    for offset, words in groups:
        keys = _keys(leaf, fieldname, words, mask)
        if ends is None:
            ends = keys
        else:
            distance = offset - previous
            near = np.zeros(len(keys), bool)
            for gap in range(distance, distance + slop):
                near |= np.isin(keys - gap, ends) & ((keys & 0xFFFFFFFF) >= gap)
            ends = keys[near]
        previous = offset
        if not len(ends):
            return np.empty(0, np.int64)
    assert ends is not None
    return np.unique(ends >> 32)


_HANDLERS: dict[type, Callable[..., Docs]] = {
    wq.Term: _term,
    wq.And: _and,
    wq.Or: _or,
    wq.DisjunctionMax: _or,
    wq.Not: _not,
    wq.AndNot: _and_not,
    wq.AndMaybe: _and_maybe,
    wq.Every: _every,
    type(wq.NullQuery): _null,
    wq.Phrase: _phrase,
    GappedPhrase: _phrase,
}

Matched = list[tuple[Searcher, int, Docs]]


def matched_by_segment(searcher: Searcher, q: wq.Query) -> Matched:
    """(segment searcher, document number offset, matched documents) for every segment."""
    return [(leaf, offset, query_docs(q, leaf)) for leaf, offset in searcher.leaf_searchers()]


def count(searcher: Searcher, q: wq.Query) -> int:
    return sum(len(docs) for _, _, docs in matched_by_segment(searcher, q))


class FacetCodes:
    """Per segment and facet field: a code per document and the value of each code (cached)."""

    def __init__(self, entries: int = FACET_CACHE_ENTRIES) -> None:
        self.entries = entries
        self._codes: OrderedDict[tuple[str, str], tuple[np.ndarray, list[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def codes(self, leaf: Searcher, fieldname: str) -> tuple[np.ndarray, list[str]]:
        segment = leaf.reader().segment()
        key = (segment.segment_id() if segment is not None else "", fieldname)
        if segment is not None:
            with self._lock:
                found = self._codes.get(key)
                if found is not None:
                    self._codes.move_to_end(key)
                    return found
        computed = self._compute(leaf, fieldname)
        if segment is not None:
            with self._lock:
                self._codes[key] = computed
                while len(self._codes) > self.entries:
                    self._codes.popitem(last=False)
        return computed

    @staticmethod
    def _compute(leaf: Searcher, fieldname: str) -> tuple[np.ndarray, list[str]]:
        reader = leaf.reader()
        field = leaf.schema[fieldname]
        column = reader.column_reader(fieldname, translate=True)
        codes = np.full(reader.doc_count_all(), -1, np.int64)
        labels: list[str] = []
        index: dict[str, int] = {}
        for tbytes in field.sortable_terms(reader, fieldname):
            docs = POSTINGS.documents(leaf, fieldname, tbytes)  # arrays, not a matcher walked id by id
            if not len(docs):
                continue
            label = str(column[int(docs[0])])
            code = index.setdefault(label, len(labels))
            if code == len(labels):
                labels.append(label)
            codes[docs] = code
        return codes, labels


def facet_counts(matched: Matched, names: Sequence[str], facets: FacetCodes) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {name: {} for name in names}
    for leaf, _, docs in matched:
        if not len(docs):
            continue
        for name in names:
            codes, labels = facets.codes(leaf, name)
            of_docs = codes[docs]
            tally = np.bincount(of_docs[of_docs >= 0], minlength=len(labels))
            into = counts[name]
            for code in np.flatnonzero(tally):
                into[labels[code]] = into.get(labels[code], 0) + int(tally[code])
    return {
        name: dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))
        for name, values in counts.items()
    }
