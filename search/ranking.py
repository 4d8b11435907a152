"""The best page of results, scored a term at a time with numpy.

Whoosh scores matches one document at a time through a tree of Python matchers, which costs
seconds for a broad query over 100,000 documents. Here the matching documents are already
known (a set per segment, from ``docsets``); each query term's postings are read block by
block into arrays and its BM25F contribution (the formula and defaults of Whoosh's BM25F:
B=0.75, K1=1.2) is added to a score array in one vector operation. Sorting by date uses the
date column as an array.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from whoosh import query as wq
from whoosh.searching import Searcher

from search.postings import POSTINGS
from search.whoosh_adapter import field_lengths, numeric_column

B = 0.75
K1 = 1.2
SCORED_FIELDS = frozenset({"title", "content", "people", "reg_number", "cert_number"})
CACHE_ENTRIES = 64


@dataclass(frozen=True)
class ScoredTerm:
    fieldname: str
    text: str
    boost: float


@dataclass(frozen=True)
class Ranked:
    docnum: int  # global document number in the searcher
    score: float
    key: float  # what the order is by: the score or the date


def scored_terms(q: wq.Query) -> list[ScoredTerm]:
    """The terms that add to a document's score: positive terms and phrase words."""
    found: dict[tuple[str, str], float] = {}
    _collect(q, found, 1.0)
    return [ScoredTerm(f, t, b) for (f, t), b in found.items()]


def _collect(q: wq.Query, found: dict[tuple[str, str], float], boost: float) -> None:
    if isinstance(q, wq.Not):
        return
    if isinstance(q, wq.AndNot):
        _collect(q.a, found, boost)
        return
    boost *= getattr(q, "boost", 1.0)
    if isinstance(q, wq.Term):
        if q.fieldname in SCORED_FIELDS:
            key = (q.fieldname, q.text)
            found[key] = max(found.get(key, 0.0), boost)
    elif isinstance(q, wq.Phrase):
        for word in q.words:
            key = (q.fieldname, word)
            found[key] = max(found.get(key, 0.0), boost)
    elif not q.is_leaf():
        for child in q.children():
            _collect(child, found, boost)


def term_postings(leaf: Searcher, fieldname: str, text: str) -> tuple[np.ndarray, np.ndarray]:
    """(document numbers, term frequencies) of one term in one segment."""
    try:
        tbytes = leaf.schema[fieldname].to_bytes(text)
    except ValueError:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    return POSTINGS.postings(leaf, fieldname, tbytes)


class SegmentArrays:
    """Per segment: field lengths and the date column as arrays (cached; segments never change)."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self.entries = entries
        self._arrays: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, leaf: Searcher, kind: str) -> np.ndarray:
        segment = leaf.reader().segment()
        key = (segment.segment_id() if segment is not None else "", kind)
        if segment is not None:
            with self._lock:
                found = self._arrays.get(key)
                if found is not None:
                    self._arrays.move_to_end(key)
                    return found
        array = self._compute(leaf, kind)
        if segment is not None:
            with self._lock:
                self._arrays[key] = array
                while len(self._arrays) > self.entries:
                    self._arrays.popitem(last=False)
        return array

    @staticmethod
    def _compute(leaf: Searcher, kind: str) -> np.ndarray:
        reader = leaf.reader()
        size = reader.doc_count_all()
        if kind == "date":
            column = reader.column_reader("date", translate=False)
            values = numeric_column(column, size)
            if values is not None:
                return values
            return np.fromiter((column[n] or 0 for n in range(size)), np.int64, size)
        lengths = field_lengths(reader, kind)
        if lengths is not None:
            return lengths
        length = reader.doc_field_length
        return np.fromiter((length(n, kind, 0) or 0 for n in range(size)), np.float32, size)


def rank(
    searcher: Searcher,
    matched: Sequence[tuple[Searcher, int, np.ndarray]],
    terms: Iterable[ScoredTerm],
    sort: str,
    limit: int,
    arrays: SegmentArrays,
) -> list[Ranked]:
    """The first ``limit`` matched documents by score (ties: index order) or by date."""
    if not any(len(docs) for _, _, docs in matched):
        return []  # nothing to rank (and an empty index has no idf: Whoosh's formula divides by zero)
    terms = list(terms)
    doc_count = max(searcher.doc_count_all(), 1)
    idf = {(t.fieldname, t.text): searcher.idf(t.fieldname, t.text) for t in terms}
    avg = {f: (searcher.field_length(f) / doc_count) or 1.0 for f in {t.fieldname for t in terms}}
    best: list[Ranked] = []
    for leaf, offset, docs in matched:
        if not len(docs):
            continue
        candidates = docs
        if sort == "relevance":
            scores = _scores(leaf, candidates, terms, idf, avg, arrays)
            keys = scores.astype(np.float64)
        else:
            dates = arrays.get(leaf, "date")[candidates].astype(np.float64)
            keys = dates if sort == "date" else -dates
            scores = np.zeros(len(candidates), np.float32)
        for i in _top(keys, limit):
            best.append(Ranked(int(candidates[i]) + offset, float(scores[i]), float(keys[i])))
    best.sort(key=lambda r: (-r.key, r.docnum))
    return best[:limit]


def _scores(
    leaf: Searcher,
    candidates: np.ndarray,
    terms: list[ScoredTerm],
    idf: dict[tuple[str, str], float],
    avg: dict[str, float],
    arrays: SegmentArrays,
) -> np.ndarray:
    size = leaf.reader().doc_count_all()
    total = np.zeros(size, np.float32)
    for term in terms:
        ids, tf = term_postings(leaf, term.fieldname, term.text)
        if not len(ids):
            continue
        lengths = arrays.get(leaf, term.fieldname)[ids]
        norm = K1 * ((1 - B) + B * lengths / avg[term.fieldname])
        total[ids] += term.boost * idf[(term.fieldname, term.text)] * tf * (K1 + 1) / (tf + norm)
    return total[candidates]


def _top(keys: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the ``limit`` largest keys, largest first, ties in index order."""
    if limit <= 0:
        return np.empty(0, np.int64)
    if len(keys) > limit:
        threshold = keys[np.argpartition(-keys, limit - 1)[limit - 1]]
        part = np.flatnonzero(keys >= threshold)  # every tie at the cut, then index order
    else:
        part = np.arange(len(keys))
    order = np.lexsort((part, -keys[part]))
    return part[order][:limit]
