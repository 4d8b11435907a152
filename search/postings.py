"""Posting lists as numpy arrays, decoded once and kept in a bounded cache.

Decoding a Whoosh posting block (unpickle, decompress, delta-decode) costs tens of
microseconds; a frequent word has thousands of blocks. The decoded document numbers and term
frequencies of a term in a segment never change (segments are immutable; deletions are applied
separately through the live-document mask), so they are cached by segment id, least recently
used dropped first, up to ``MAX_CACHED_POSTINGS`` postings (8 bytes each).

The blocks of Whoosh 2.7.4's W3 posting reader are read through ``whoosh_adapter`` (the one
module that uses Whoosh's private names); the tests compare every count and score with Whoosh's own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from whoosh.searching import Searcher

from search.frequent import SIDE_FILES
from search.positions import positions_of
from search.whoosh_adapter import FAST_PATH, leaf_matcher, posting_arrays, posting_blocks

MAX_CACHED_POSTINGS = 8_000_000
MAX_CACHED_POSITIONS = 4_000_000  # word positions of phrase words, 8 bytes each
EMPTY_IDS = np.empty(0, np.int64)
EMPTY_WEIGHTS = np.empty(0, np.float32)
EMPTY_POSITIONS = np.empty(0, np.uint32)

Postings = tuple[np.ndarray, np.ndarray]


def _decode(m: Any) -> Postings:
    blocks = posting_blocks(m)
    if blocks is None:
        ids: list[int] = []
        weights: list[float] = []
        while m.is_active():
            ids.append(m.id())
            weights.append(m.weight())
            m.next()
        return np.array(ids, np.int64), np.array(weights, np.float32)
    found_ids, found_weights, _ = posting_arrays(blocks)
    return found_ids, found_weights


def _decode_positions(m: Any) -> tuple[np.ndarray, np.ndarray]:
    """(document of each position, position) of all postings, values in ``ArrayPositions``."""
    doc_parts: list[np.ndarray] = []
    values: list[bytes] = []
    blocks = posting_blocks(m)
    if blocks is None:
        for doc, value in m.all_items():
            doc_parts.append(np.array([doc], np.uint32))
            values.append(value)
    else:
        for deltas, _, block_values in blocks:
            doc_parts.append(np.cumsum(np.asarray(deltas, np.int64)).astype(np.uint32))
            values.extend(block_values)
    if not values:
        return EMPTY_POSITIONS, EMPTY_POSITIONS
    counts, positions = positions_of(values)
    return np.repeat(np.concatenate(doc_parts), counts), positions.astype(np.uint32)


def _decode_with_positions(blocks: Any) -> tuple[Postings, tuple[np.ndarray, np.ndarray]]:
    """``_decode`` and ``_decode_positions`` of the same W3 blocks in one pass (a block's ids,
    weights and values are unpickled together: a phrase needs both, and read them twice)."""
    ids, weights, values = posting_arrays(blocks, values=True)
    if not values:
        return (ids, weights), (EMPTY_POSITIONS, EMPTY_POSITIONS)
    counts, positions = positions_of(values)
    return (ids, weights), (np.repeat(ids.astype(np.uint32), counts), positions.astype(np.uint32))


class _Bounded:
    """Least recently used entries dropped first once their sizes add up to more than ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> tuple[np.ndarray, np.ndarray] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: tuple, value: tuple[np.ndarray, np.ndarray]) -> None:
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = value
            self._size += len(value[0])
            while self._size > self.limit and len(self._entries) > 1:
                _, (first, _) = self._entries.popitem(last=False)
                self._size -= len(first)


class PostingsCache:
    def __init__(self, max_postings: int = MAX_CACHED_POSTINGS,
                 max_positions: int = MAX_CACHED_POSITIONS) -> None:
        self._postings = _Bounded(max_postings)
        self._positions = _Bounded(max_positions)
        self._live: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _cached(self, cache: _Bounded, leaf: Searcher, fieldname: str, tbytes: bytes, decode) -> Postings | None:  # noqa: ANN001
        reader = leaf.reader()
        if (fieldname, tbytes) not in reader:
            return None
        segment = reader.segment()
        key = (segment.segment_id(), fieldname, tbytes) if segment is not None else None
        found = cache.get(key) if key is not None else None
        if found is None:
            found = self._flat(cache, reader, fieldname, tbytes)
            if found is None:
                m = reader.postings(fieldname, tbytes)
                found = decode(leaf_matcher(m))
            if key is not None:
                cache.put(key, found)
        return found

    def _flat(self, cache: _Bounded, reader: Any, fieldname: str, tbytes: bytes) -> Postings | None:
        """The term's postings (or positions) from the segment's side file of frequent terms, if
        it has them (``search.frequent``: the same arrays, no W3 block decoded)."""
        side = SIDE_FILES.of(reader)
        if side is None:
            return None
        found = side.positions(fieldname, tbytes) if cache is self._positions else side.postings(fieldname, tbytes)
        if found is not None:
            FAST_PATH["postings.frequent"] += 1
        return found

    def postings(self, leaf: Searcher, fieldname: str, tbytes: bytes) -> Postings:
        """(document numbers ascending, term frequencies) of a term, deleted documents left out."""
        found = self._cached(self._postings, leaf, fieldname, tbytes, _decode)
        if found is None:
            return EMPTY_IDS, EMPTY_WEIGHTS
        ids, weights = found
        reader = leaf.reader()
        if reader.has_deletions():
            keep = self.live_mask(leaf)[ids]
            return ids[keep], weights[keep]
        return ids, weights

    def documents(self, leaf: Searcher, fieldname: str, tbytes: bytes) -> np.ndarray:
        """Every document number of a term, deleted ones left in, read once for a caller that keeps its own
        result (the facet codes): from the cache, else the side file, else the blocks as arrays; not cached
        (a facet's terms hold every document of the segment between them)."""
        reader = leaf.reader()
        if (fieldname, tbytes) not in reader:
            return EMPTY_IDS
        segment = reader.segment()
        found = self._postings.get((segment.segment_id(), fieldname, tbytes)) if segment is not None else None
        if found is None:
            side = SIDE_FILES.of(reader)
            found = side.postings(fieldname, tbytes) if side is not None else None
        if found is None:
            found = _decode(leaf_matcher(reader.postings(fieldname, tbytes)))
        return found[0]

    def decode_for_phrase(self, leaf: Searcher, fieldname: str, tbytes: bytes) -> None:
        """Decodes a phrase word's postings and positions in one pass into both caches, unless
        either is cached already (then each is read on its own when asked for)."""
        reader = leaf.reader()
        segment = reader.segment()
        if segment is None or (fieldname, tbytes) not in reader:
            return
        key = (segment.segment_id(), fieldname, tbytes)
        if self._postings.get(key) is not None or self._positions.get(key) is not None:
            return
        side = SIDE_FILES.of(reader)
        if side is not None and side.has_positions(fieldname, tbytes):
            return  # each is sliced from the side file when asked for
        blocks = posting_blocks(leaf_matcher(reader.postings(fieldname, tbytes)))
        if blocks is None:
            return
        postings, positions = _decode_with_positions(blocks)
        self._postings.put(key, postings)
        self._positions.put(key, positions)

    def positions(self, leaf: Searcher, fieldname: str, tbytes: bytes) -> tuple[np.ndarray, np.ndarray]:
        """(document of each position, position) of a term in a field with ArrayPositions, in
        document order; deleted documents are left in (callers pick documents by a mask)."""
        found = self._cached(self._positions, leaf, fieldname, tbytes, _decode_positions)
        return found if found is not None else (EMPTY_POSITIONS, EMPTY_POSITIONS)

    def pair_docs(self, leaf: Searcher, fieldname: str, first: bytes, second: bytes) -> np.ndarray | None:
        """The documents (int64, ascending, deleted ones left in) where ``second`` follows ``first``
        right after, when the segment's side file has that pair of frequent words; else None."""
        side = SIDE_FILES.of(leaf.reader())
        found = None if side is None else side.pair_docs(fieldname, first, second)
        if found is not None:
            FAST_PATH["postings.pairs"] += 1
        return found

    def live_mask(self, leaf: Searcher) -> np.ndarray:
        """True for every document of the segment that is not deleted."""
        reader = leaf.reader()
        size = reader.doc_count_all()
        segment = reader.segment()
        key = (segment.segment_id() if segment is not None else "", reader.doc_count())
        with self._lock:
            found = self._live.get(key)
        if found is not None and len(found) == size:
            return found
        mask = np.ones(size, bool)
        if reader.has_deletions():
            deleted = [n for n in range(size) if reader.is_deleted(n)]
            mask[deleted] = False
        if segment is not None:
            with self._lock:
                self._live[key] = mask
                while len(self._live) > 256:
                    self._live.popitem(last=False)
        return mask


POSTINGS = PostingsCache()
