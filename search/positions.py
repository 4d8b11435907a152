"""A posting format whose positions decode with one numpy call.

Whoosh's Positions format pickles each posting's position deltas; reading them back costs a
pickle load per document, which makes a phrase of two common words take seconds over 100,000
documents. Here positions are absolute unsigned 32-bit integers after the usual 4-byte count,
so the positions of many documents are joined and read as one array.
"""

from __future__ import annotations

import struct

import numpy as np
from whoosh.formats import Positions

from search.whoosh_adapter import INT_SIZE, pack_uint

POSITION_DTYPE = np.dtype("<u4")
_COUNT_WORDS = 1  # the count before a posting's positions takes one 4-byte word
assert INT_SIZE == 4 * _COUNT_WORDS


class ArrayPositions(Positions):
    def word_values(self, value, analyzer, **kwargs):  # noqa: ANN001, ANN201
        """(word, frequency, weight, encoded positions) of each word; Whoosh's own result, faster."""
        if not isinstance(value, str) or kwargs.get("start_pos") or not hasattr(analyzer, "term_positions"):
            yield from super().word_values(value, analyzer, **kwargs)
            return
        positions: dict[str, list[int]] = analyzer.term_positions(value)
        boost = self.field_boost
        for word, poslist in positions.items():
            n = len(poslist)
            yield word, n, n * boost, pack_uint(n) + struct.pack(f"<{n}I", *poslist)

    def positions_of(self, value: object, analyzer: object) -> dict[bytes, list[int]] | None:
        """{term bytes: positions} of a text, for the index writer's fast path (its postings are
        ``word_values``'s: frequency ``len``, weight ``len * field_boost``, value ``encode``);
        None when ``word_values`` must run (not a string, or another analyzer)."""
        fast = getattr(analyzer, "index_term_positions", None)
        if fast is None or not isinstance(value, str):
            return None
        positions: dict[bytes, list[int]] = fast(value)
        return positions

    def encode(self, poslist: list[int]) -> bytes:
        return pack_uint(len(poslist)) + np.asarray(poslist, POSITION_DTYPE).tobytes()

    def decode_positions(self, valuestring: bytes) -> list[int]:
        return np.frombuffer(valuestring, POSITION_DTYPE, offset=INT_SIZE).tolist()

    def combine(self, vs: list[bytes]) -> bytes:
        merged: set[int] = set()
        for v in vs:
            merged.update(self.decode_positions(v))
        return self.encode(sorted(merged))


def positions_of(values: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(how many positions each posting has, all positions joined) of encoded postings.

    The values are joined as they are and read as one array of 4-byte words, the count word in
    front of each posting then dropped by a mask: no Python work per posting but ``len``.
    """
    words = np.fromiter(map(len, values), np.int64, len(values)) // 4
    joined = np.frombuffer(b"".join(values), POSITION_DTYPE)
    keep = np.ones(len(joined), bool)
    keep[np.cumsum(words) - words] = False  # the count word of each posting
    return words - _COUNT_WORDS, joined[keep].astype(np.int64)


def common_values(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The values in both of two sorted arrays of unique values, sorted: one stable sort of the two
    joined, which merges the two runs in linear time (binary searches of one array in the other
    cost more than twice as much at a million values: a cache miss each)."""
    if not len(a) or not len(b):
        return a[:0]
    joined = np.concatenate((a, b))
    joined.sort(kind="stable")
    return joined[1:][joined[1:] == joined[:-1]]


def position_keys(docs: np.ndarray, counts: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Sorted keys (document << 32 | position) of postings given as documents ascending, the count
    of positions of each and the positions, ascending within a document."""
    return (np.repeat(docs.astype(np.int64), counts) << 32) | positions.astype(np.int64)


__all__ = ["ArrayPositions", "common_values", "position_keys", "positions_of"]
