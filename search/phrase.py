"""A phrase whose words sit at given offsets, with alternatives: what a Russian phrase needs.

A stop word inside a phrase is not indexed but keeps its position, so «соглашение с держателем»
is the word «соглашение» at offset 0 and «держатель» at offset 2; an ambiguous word gives each
of its lemmas at the same offset («стали» → «сталь» or «стать»). ``search.docsets`` matches it
with the position arrays; Whoosh's own phrase matcher knows neither gaps nor alternatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from whoosh import query as wq
from whoosh.matching import ListMatcher


class GappedPhrase(wq.Phrase):
    def __init__(
        self,
        fieldname: str,
        words: Sequence[str],
        offsets: Sequence[int] | None = None,
        slop: int = 1,
        boost: float = 1.0,
        char_ranges: Any = None,
    ) -> None:
        super().__init__(fieldname, list(words), slop=slop, boost=boost, char_ranges=char_ranges)
        self.offsets = list(offsets) if offsets is not None else list(range(len(self.words)))

    def groups(self) -> list[tuple[int, list[str]]]:
        """(offset, alternative words) in the order of the phrase."""
        found: dict[int, list[str]] = {}
        for word, offset in zip(self.words, self.offsets, strict=True):
            alternatives = found.setdefault(offset, [])
            if word not in alternatives:
                alternatives.append(word)
        return sorted(found.items())

    def is_plain(self) -> bool:
        return self.offsets == list(range(len(self.words)))

    def normalize(self) -> wq.Query:
        groups = self.groups()
        if not groups:
            return wq.NullQuery
        if len(groups) == 1:
            terms = [wq.Term(self.fieldname, w, boost=self.boost) for w in groups[0][1]]
            return terms[0] if len(terms) == 1 else wq.Or(terms)
        return self

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other) and self.offsets == getattr(other, "offsets", None)

    def __hash__(self) -> int:
        return super().__hash__() ^ hash(tuple(self.offsets))

    def __repr__(self) -> str:
        return f"GappedPhrase({self.fieldname!r}, {self.words!r}, offsets={self.offsets!r}, slop={self.slop})"

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        """Whoosh's phrase matcher for a plain phrase; else the documents ``search.docsets`` finds
        (searches never come here: this serves Whoosh's own APIs, e.g. ``docs_for_query``)."""
        if self.is_plain():
            return super().matcher(searcher, context)
        from search.docsets import query_docs

        return ListMatcher(query_docs(self, searcher).tolist(), all_weights=self.boost)


__all__ = ["GappedPhrase"]
