"""The access filter: which documents a user may see, applied inside the Whoosh matcher.

``allowed`` is ``None`` (no restriction) or a list of clauses; a document is visible iff it
matches at least one clause; a clause maps field -> allowed values (AND across fields, OR
within a field's values). An empty list means nothing is visible.

The filter becomes, per index segment, the set of visible document numbers (cached per
segment and filter), and every matcher of a search is wrapped so that it only ever stops on
visible documents: totals, facets, highlights and suggestions all come from that matcher.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh.matching import FilterMatcher, Matcher
from whoosh.searching import Searcher

from search.errors import InvalidRequestError

AccessClause = Mapping[str, Collection[str]]
Allowed = Sequence[AccessClause] | None

ACCESS_FIELDS = frozenset(
    {"id", "folder_id", "folder_path", "owner", "state", "doc_type", "org", "tags"}
)
CACHE_ENTRIES = 256


def access_key(allowed: Allowed) -> object:
    """A hashable canonical form of ``allowed``, the same for equal filters."""
    if allowed is None:
        return None
    return frozenset(
        frozenset((field, frozenset(str(v) for v in values)) for field, values in clause.items())
        for clause in allowed
    )


def validate(allowed: Allowed) -> None:
    if allowed is None:
        return
    if isinstance(allowed, (Mapping, str)):
        raise InvalidRequestError("the access filter must be a list of clauses or None")
    for clause in allowed:
        if not isinstance(clause, Mapping) or not clause:
            raise InvalidRequestError(
                "every access clause must name at least one field; pass allowed=None "
                "for an unrestricted search"
            )
        for field, values in clause.items():
            if field not in ACCESS_FIELDS:
                raise InvalidRequestError(f"the access filter cannot use the field {field!r}")
            if isinstance(values, str):
                raise InvalidRequestError(
                    f"access values for {field!r} must be a collection of strings, not a string"
                )


def field_terms(schema: Any, field: str, value: str) -> list[str]:
    """The indexed form(s) of ``value`` in ``field`` (the field's own analyzer)."""
    return list(schema[field].process_text(str(value), mode="query"))


def access_query(schema: Any, allowed: Allowed) -> wq.Query | None:
    """The Whoosh query matching exactly the visible documents (None: no restriction)."""
    validate(allowed)
    if allowed is None:
        return None
    clauses: list[wq.Query] = []
    for clause in allowed:
        parts: list[wq.Query] = []
        for field, values in sorted(clause.items()):
            terms = sorted({t for v in values for t in field_terms(schema, field, v)})
            parts.append(wq.Or([wq.Term(field, t) for t in terms]) if terms else wq.NullQuery)
        clauses.append(wq.And(parts))
    return wq.Or(clauses) if clauses else wq.NullQuery


class VisibleDocsCache:
    """Per-segment sets of visible document numbers, least recently used dropped first."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self.entries = entries
        self._sets: OrderedDict[tuple[str, object], Any] = OrderedDict()  # frozensets and masks
        self._lock = threading.Lock()

    def visible(self, leaf: Searcher, key: object, query: wq.Query) -> frozenset[int]:
        return self._cached(leaf, key, lambda: self._compute(leaf, query))

    def mask(self, leaf: Searcher, key: object, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The visible documents of a segment as a boolean array (``compute`` gives their numbers)."""

        def computed_mask() -> np.ndarray:
            mask = np.zeros(leaf.reader().doc_count_all(), bool)
            mask[compute()] = True
            return mask

        return self._cached(leaf, ("mask", key), computed_mask)

    def _cached(self, leaf: Searcher, key: object, compute: Callable[[], Any]) -> Any:
        """The segment's value under ``key``, computed once (not cached for a segmentless reader)."""
        segment = leaf.reader().segment()
        if segment is None:
            return compute()
        cache_key = (segment.segment_id(), key)
        with self._lock:
            found = self._sets.get(cache_key)
            if found is not None:
                self._sets.move_to_end(cache_key)
                return found
        value = compute()
        with self._lock:
            self._sets[cache_key] = value
            while len(self._sets) > self.entries:
                self._sets.popitem(last=False)
        return value

    @staticmethod
    def _compute(leaf: Searcher, query: wq.Query) -> frozenset[int]:
        # Deleted documents may stay in a cached set: the wrapped matchers skip them anyway.
        if query is wq.NullQuery:
            return frozenset()
        return frozenset(query.matcher(leaf).all_ids())


class VisibleMatcher(FilterMatcher):
    """Stops only on visible documents; block-quality skipping still works through it."""

    def next(self) -> bool:
        moved = self.child.next()
        return self._find_next() or moved

    def skip_to_quality(self, minquality: float) -> int:
        skipped = self.child.skip_to_quality(minquality)
        self._find_next()
        return skipped

    def supports_block_quality(self) -> bool:
        return self.child.supports_block_quality()

    def block_quality(self) -> float:
        return self.child.block_quality()


class Restricted(wq.WrappingQuery):
    """``child`` limited to the documents visible under an access filter."""

    def __init__(self, child: wq.Query, filter_query: wq.Query, key: object, cache: VisibleDocsCache):
        super().__init__(child)
        self.filter_query = filter_query
        self.key = key
        self.cache = cache

    def _rewrap(self, child: wq.Query) -> Restricted:
        return Restricted(child, self.filter_query, self.key, self.cache)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Restricted) and other.child == self.child and other.key == self.key
        )

    def __hash__(self) -> int:
        return hash((Restricted, self.child, self.key))

    def estimate_size(self, ixreader: Any) -> int:
        return self.child.estimate_size(ixreader)

    def matcher(self, searcher: Searcher, context: Any = None) -> Matcher:
        visible = self.cache.visible(searcher, self.key, self.filter_query)
        return VisibleMatcher(self.child.matcher(searcher, context), visible)


def restrict(
    q: wq.Query, schema: Any, allowed: Allowed, cache: VisibleDocsCache
) -> wq.Query:
    """``q`` limited to what ``allowed`` lets the user see."""
    filter_query = access_query(schema, allowed)
    if filter_query is None:
        return q
    return Restricted(q, filter_query, access_key(allowed), cache)
