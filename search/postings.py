"""Posting lists as numpy arrays, decoded once and kept in a bounded cache.

Decoding a Whoosh posting block (unpickle, decompress, delta-decode) costs tens of
microseconds; a frequent word has thousands of blocks. The decoded document numbers and term
frequencies of a term in a segment never change (segments are immutable; deletions are applied
separately through the live-document mask), so they are cached by segment id, least recently
used dropped first, up to ``MAX_CACHED_POSTINGS`` postings (8 bytes each).

This reads private attributes of Whoosh 2.7.4's W3 posting reader (``_read_data``, ``_data``,
``_goto``, ``_nextoffset``, ``_lastblock``); the dependency is pinned and the tests compare
every count and score with Whoosh's own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.matching import FilterMatcher
from whoosh.searching import Searcher

MAX_CACHED_POSTINGS = 8_000_000
EMPTY_IDS = np.empty(0, np.int64)
EMPTY_WEIGHTS = np.empty(0, np.float32)

Postings = tuple[np.ndarray, np.ndarray]


def _decode(m: object) -> Postings:
    if not isinstance(m, W3LeafMatcher):
        items = sorted(m.all_items())  # type: ignore[attr-defined]
        return (np.fromiter((i for i, _ in items), np.int64, len(items)),
                np.ones(len(items), np.float32))
    id_parts: list[np.ndarray] = []
    weight_parts: list[np.ndarray] = []
    while True:
        m._read_data()
        deltas, weights = m._data[0], m._data[1]
        ids = np.cumsum(np.asarray(deltas, np.int64))  # each block starts from an absolute id
        id_parts.append(ids)
        if weights is None:
            weight_parts.append(np.ones(len(ids), np.float32))
        elif isinstance(weights, float):
            weight_parts.append(np.full(len(ids), weights, np.float32))
        else:
            weight_parts.append(np.asarray(weights, np.float32))
        if m._lastblock:
            break
        m._goto(m._nextoffset)
    return np.concatenate(id_parts), np.concatenate(weight_parts)


class PostingsCache:
    def __init__(self, max_postings: int = MAX_CACHED_POSTINGS) -> None:
        self.max_postings = max_postings
        self._entries: OrderedDict[tuple[str, str, bytes], Postings] = OrderedDict()
        self._size = 0
        self._live: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def postings(self, leaf: Searcher, fieldname: str, tbytes: bytes) -> Postings:
        """(document numbers ascending, term frequencies) of a term, deleted documents left out."""
        reader = leaf.reader()
        if (fieldname, tbytes) not in reader:
            return EMPTY_IDS, EMPTY_WEIGHTS
        segment = reader.segment()
        key = (segment.segment_id(), fieldname, tbytes) if segment is not None else None
        found = None
        if key is not None:
            with self._lock:
                found = self._entries.get(key)
                if found is not None:
                    self._entries.move_to_end(key)
        if found is None:
            m = reader.postings(fieldname, tbytes)
            found = _decode(m.child if type(m) is FilterMatcher else m)
            if key is not None:
                self._remember(key, found)
        ids, weights = found
        if reader.has_deletions():
            keep = self.live_mask(leaf)[ids]
            return ids[keep], weights[keep]
        return ids, weights

    def _remember(self, key: tuple[str, str, bytes], value: Postings) -> None:
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = value
            self._size += len(value[0])
            while self._size > self.max_postings and len(self._entries) > 1:
                _, (ids, _) = self._entries.popitem(last=False)
                self._size -= len(ids)

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
