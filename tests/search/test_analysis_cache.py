"""The index writer's fast path (cached terms as bytes, positions pooled without Token objects)
indexes exactly what the plain analyzer gives: the same terms at the same positions."""

from __future__ import annotations

import pytest

from search import analysis
from search.analysis import STOP_WORDS, index_term_positions, term_positions, words
from search.schema import build_schema
from tests.search.conftest import ROOT

SEEDS = ROOT.parent / "shared" / "seeds"


def _seed_texts() -> list[str]:
    texts = [path.read_text(encoding="utf-8", errors="ignore") for path in sorted(SEEDS.glob("*.txt"))]
    if not texts:
        pytest.skip(f"the seed texts ({SEEDS}) are not here")
    return texts


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
