"""Highlighted snippets: the words of a text whose terms (lemmas or stems) the query asked for, in <mark>.

One pass of the analyzer over the text, then at most ``fragments`` windows around the first
matches. Every character of the text that is not markup is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator

from whoosh import query as wq

from search.analysis import marked_spans

TEXT_FIELDS = frozenset({"title", "content", "people"})
BEFORE = 60
AFTER = 100
MAX_SCAN_CHARS = 100_000


def query_stems(q: wq.Query) -> frozenset[str]:
    """The stems a query looks for in free-text fields, leaving out negated parts."""
    found: set[str] = set()
    _collect(q, found)
    return frozenset(found)


def _collect(q: wq.Query, found: set[str]) -> None:
    if isinstance(q, wq.Not):
        return
    if isinstance(q, wq.AndNot):
        _collect(q.a, found)
    elif q.is_leaf():
        for fieldname, text in q.terms(phrases=True):
            if fieldname in TEXT_FIELDS:
                found.add(text if isinstance(text, str) else text.decode("utf-8"))
    else:
        for child in q.children():
            _collect(child, found)


def _spans(text: str, stems: frozenset[str]) -> Iterator[tuple[int, int]]:
    """(start, end) of each word whose terms meet ``stems``, lazily: a snippet stops reading (and
    analysing: the first analysis of a word form costs a dictionary parse) after its windows."""
    # A word is marked when one of its terms (an ambiguous form has several) is asked for.
    return marked_spans(text[:MAX_SCAN_CHARS], stems)


def snippet(text: str, stems: frozenset[str], fragments: int = 2) -> str:
    """HTML with up to ``fragments`` excerpts of ``text`` around words matching ``stems``."""
    if not text or not stems:
        return ""
    windows: list[list[tuple[int, int]]] = []
    for start, end in _spans(text, stems):
        if windows and start <= windows[-1][-1][1] + AFTER:
            windows[-1].append((start, end))
        elif len(windows) < fragments:
            windows.append([(start, end)])
        else:
            break
    if not windows:
        return ""
    return " … ".join(_render(text, window) for window in windows)


def whole(text: str, stems: frozenset[str]) -> str:
    """All of a short text (a title) with its matching words marked."""
    return _render_range(text, list(_spans(text, stems)), 0, len(text)) if text else ""


def _render(text: str, window: list[tuple[int, int]]) -> str:
    begin = max(0, window[0][0] - BEFORE)
    finish = min(len(text), window[-1][1] + AFTER)
    if begin > 0:
        begin = text.find(" ", begin, window[0][0]) + 1 or begin
    if finish < len(text):
        cut = text.rfind(" ", window[-1][1], finish)
        finish = cut if cut > 0 else finish
    body = _render_range(text, window, begin, finish)
    return ("…" if begin > 0 else "") + body + ("…" if finish < len(text) else "")


def _render_range(text: str, spans: Iterable[tuple[int, int]], begin: int, finish: int) -> str:
    parts: list[str] = []
    position = begin
    for start, end in spans:
        if start < begin or end > finish:
            continue
        parts.append(html.escape(text[position:start]))
        parts.append(f'<mark class="hl">{html.escape(text[start:end])}</mark>')
        position = end
    parts.append(html.escape(text[position:finish]))
    return " ".join("".join(parts).split())
