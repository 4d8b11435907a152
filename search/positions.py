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
    """(how many positions each posting has, all positions joined) of encoded postings."""
    counts = np.fromiter(((len(v) - INT_SIZE) // 4 for v in values), np.int64, len(values))
    joined = b"".join(v[INT_SIZE:] for v in values)
    return counts, np.frombuffer(joined, POSITION_DTYPE).astype(np.int64)


__all__ = ["ArrayPositions", "positions_of"]
