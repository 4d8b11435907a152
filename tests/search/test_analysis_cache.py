"""The index writer's fast path (cached terms as bytes, positions pooled without Token objects)
indexes exactly what the plain analyzer gives: the same terms at the same positions."""

from __future__ import annotations

from pathlib import Path

from search import analysis
from search.analysis import STOP_WORDS, index_term_positions, term_positions, words
from search.schema import build_schema
from tests.search.conftest import ROOT

SEED_DIRS = (ROOT.parent / "shared" / "seeds", Path("/work/shared/seeds"))
CATALOG = ROOT / "dms" / "translations" / "en" / "LC_MESSAGES" / "messages.po"


def _seed_texts() -> list[str]:
    """The seed documents when the checkout sits beside them; else the ~1,300 Russian texts of the UI catalog (always
    in the repository), so that the comparison never passes by skipping."""
    for folder in SEED_DIRS:
        texts = [path.read_text(encoding="utf-8", errors="ignore") for path in sorted(folder.glob("*.txt"))]
        if texts:
            return texts
    msgids = [line[7:-1] for line in CATALOG.read_text(encoding="utf-8").splitlines() if line.startswith('msgid "')]
    assert len(msgids) > 500, "the catalog's Russian texts"
    return ["\n".join(msgids[i:i + 400]) for i in range(0, len(msgids), 400)]


def _uncached_positions(text: str) -> dict[bytes, list[int]]:
    """Terms straight from the dictionary and the stemmer, no cache of any kind."""
    found: dict[bytes, list[int]] = {}
    for position, word in enumerate(words(text)):
        if word in STOP_WORDS:
            continue
        terms = (word,) if word.isdigit() else analysis._word_terms.__wrapped__(word)
        for term in terms:
            found.setdefault(term.encode("utf-8"), []).append(position)
    return found


def test_cached_index_terms_equal_the_uncached_analysis_of_the_seed_texts():
    texts = _seed_texts()
    analysis._index_terms.clear()
    for text in texts:
        expected = _uncached_positions(text)
        assert len(expected) > 100
        cold = index_term_positions(text)  # fills the cache
        warm = index_term_positions(text)  # reads it
        assert cold == expected
        assert warm == expected
        assert list(warm) == list(expected)  # the same order of terms too
        assert {term.encode("utf-8"): at for term, at in term_positions(text).items()} == expected


def test_cached_index_terms_survive_the_cache_being_emptied(monkeypatch):
    text = _seed_texts()[0]
    expected = _uncached_positions(text)
    monkeypatch.setattr(analysis, "TERM_CACHE_SIZE", 50)  # emptied many times over one text
    analysis._index_terms.clear()
    assert index_term_positions(text) == expected
    assert len(analysis._index_terms) <= 50
    analysis._index_terms.clear()


def test_numbers_are_indexed_but_not_kept_in_the_term_cache():
    analysis._index_terms.clear()
    assert index_term_positions("приказ 12345 от 2024") == {"приказ".encode(): [0], b"12345": [1], b"2024": [3]}
    assert "12345" not in analysis._index_terms and "приказ" in analysis._index_terms
    assert analysis._index_terms["от"] == ()  # a stop word: a position, no term


def test_the_text_format_fast_path_gives_the_postings_of_word_values():
    schema = build_schema()
    for text in _seed_texts():
        for name in ("title", "content", "people"):
            field = schema[name]
            positions = field.format.positions_of(text, field.analyzer)
            assert positions is not None
            fast = [(term, len(at), len(at) * field.format.field_boost, field.format.encode(at))
                    for term, at in positions.items()]
            slow = [(term.encode("utf-8"), freq, weight, value)
                    for term, freq, weight, value in field.format.word_values(text, field.analyzer)]
            assert fast == slow


def test_highlights_analyse_only_possible_forms_and_mark_the_same_words_as_the_full_analysis():
    for text in _seed_texts():
        every_word = [(start, end, terms) for start, end, terms in analysis.word_spans(text)]
        all_terms = frozenset(term for _, _, terms in every_word for term in terms)
        groups = [all_terms] + [frozenset(terms) for _, _, terms in every_word[::37]]
        groups.append(frozenset({"человек", "проверка", "оценка", "подписать", "апостилирован"}))
        for wanted in groups:
            expected = [(start, end) for start, end, terms in every_word if not wanted.isdisjoint(terms)]
            assert list(analysis.marked_spans(text, wanted)) == expected, sorted(wanted)[:5]
        assert len(list(analysis.marked_spans(text, all_terms))) == len(every_word)


def test_highlights_mark_every_form_of_a_lemma_and_unknown_words_by_their_stem():
    text = "Люди и человек; проверок, проверками; подписанный, подписав; апостилированием; ЦОКи"
    marked = [text[start:end] for start, end in analysis.marked_spans(text, frozenset({"человек", "проверка"}))]
    assert marked == ["Люди", "человек", "проверок", "проверками"]
    wanted = frozenset({"подписать", *analysis.word_terms("апостилированием"), *analysis.word_terms("цоки")})
    marked = [text[start:end] for start, end in analysis.marked_spans(text, wanted)]
    assert marked == ["подписанный", "подписав", "апостилированием", "ЦОКи"]
