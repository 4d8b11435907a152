""""Did you mean": corrections drawn only from words of documents the user may see.

The index keeps lemmas and stems, not words: a misspelt word (unknown to the dictionary) has its
Snowball stem corrected from the terms of visible documents; a corrected term that is a dictionary
lemma is offered as it is («свидетельсво» → «свидетельство»), a stem keeps the ending the user typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from whoosh import query as wq
from whoosh.searching import Searcher

from search.analysis import WORD_PATTERN, fold_yo, is_dictionary_word, word_stems
from search.docsets import count

CORRECTED_FIELDS = ("title", "content")
WORD_FIELDS = ("title", "content", "people")
OPERATORS = frozenset({"and", "or", "not", "andnot", "andmaybe", "и", "или", "не"})
CANDIDATES = 25
MAX_DISTANCE = 2
MIN_WORD = 3

_words = re.compile(rf"(?<![:\w]){WORD_PATTERN}(?![:\w])")

Restrict = Callable[[wq.Query], wq.Query]


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (adjacent transpositions count as one edit)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(
                previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)
            )
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def _visible_count(searcher: Searcher, q: wq.Query, restrict: Restrict) -> int:
    return count(searcher, restrict(q))


def _known(searcher: Searcher, word: str, restrict: Restrict) -> bool:
    stems = word_stems(word)
    if not stems:
        return True
    # One word: known when a visible document holds any of its terms (an ambiguous form has several).
    q = wq.Or([wq.Term(f, s) for f in WORD_FIELDS for s in stems])
    return _visible_count(searcher, q, restrict) > 0


def _correct(searcher: Searcher, word: str, restrict: Restrict) -> str | None:
    """A visible word close to ``word``: its stem corrected, the user's own ending kept."""
    stems = word_stems(word)
    if len(stems) != 1:
        return None
    stem = stems[0]
    ending = word[len(stem):] if word.startswith(stem) else ""
    reader = searcher.reader()
    candidates: set[str] = set()
    for fieldname in CORRECTED_FIELDS:
        candidates.update(
            reader.corrector(fieldname).suggest(stem, limit=CANDIDATES, maxdist=MAX_DISTANCE, prefix=1)
        )
    best: tuple[int, int, str] | None = None
    for candidate in sorted(candidates):
        distance = edit_distance(stem, candidate)
        if candidate == stem or (best is not None and distance > best[0]):
            continue
        # Ranked by how many visible documents hold the word, never by hidden ones.
        q = wq.Or([wq.Term(f, candidate) for f in CORRECTED_FIELDS])
        hits = _visible_count(searcher, q, restrict)
        if hits and (best is None or (distance, -hits, candidate) < best):
            best = (distance, -hits, candidate)
    if best is None:
        return None
    return best[2] if is_dictionary_word(best[2]) else best[2] + ending


def suggest_query(searcher: Searcher, text: str, restrict: Restrict) -> str | None:
    """The query text with unknown words replaced by close visible words, or None."""
    changed = False
    pieces: list[str] = []
    position = 0
    for match in _words.finditer(text):
        word = match.group(0)
        folded = fold_yo(word).lower()
        replacement = None
        if (
            len(folded) >= MIN_WORD
            and not folded.isdigit()
            and folded not in OPERATORS
            and not _known(searcher, folded, restrict)
        ):
            replacement = _correct(searcher, folded, restrict)
        pieces.append(text[position:match.start()])
        pieces.append(replacement if replacement else word)
        changed = changed or bool(replacement)
        position = match.end()
    pieces.append(text[position:])
    return "".join(pieces) if changed else None
