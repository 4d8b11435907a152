"""The side file of a segment's frequent terms (``search.frequent``): the same answers as the W3
blocks it copies, after updates, deletes and merges; a stale or missing file is never read."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from search import frequent
from search.index import Delete, SearchIndex, Upsert
from search.postings import POSTINGS
from search.query import SearchRequest, search
from search.whoosh_adapter import FAST_PATH
from tests.search.conftest import add, doc

WORDS = ["центр", "оценка", "квалификация", "приказ", "эксперт", "реестр", "соглашение", "с", "держатель"]
WEIGHTS = [8, 7, 6, 5, 2, 2, 2, 2, 2]  # the first four are the content's most frequent: their pairs are kept
QUERIES = [
    '"центр оценка"', '"оценка квалификация"', '"соглашение с держатель"', '"приказ эксперт реестр"',
    '"центр оценка"~3', 'заголовок:"приказ эксперт"', '"реестр центр" OR "эксперт держатель"',
    '"центр оценка" NOT приказ', "центр", "оценка квалификация", "держатель",
]
FILTERS = [None, [{"folder_path": {"0"}}], [{"folder_path": {"2"}}, {"owner": {"u1"}}]]


@pytest.fixture(autouse=True)
def small_segments_get_side_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frequent, "MIN_DOCS", 16)
    monkeypatch.setattr(frequent, "PAIR_CHUNK_DOCS", 7)  # pairs found a few documents at a time
    _forget()


def _forget() -> None:
    """A new process's caches: nothing decoded, no side file opened."""
    POSTINGS.__init__()  # type: ignore[misc]
    frequent.SIDE_FILES.__init__()  # type: ignore[misc]


def _documents(count: int, seed: int, start: int = 0) -> list:
    rng = random.Random(seed)
    return [
        doc(str(n), " ".join(rng.choices(WORDS, k=4)), " ".join(rng.choices(WORDS, WEIGHTS, k=25)),
            folder_path=("0", str(n % 3)), owner=f"u{n % 4}")
        for n in range(start, start + count)
    ]


def _answers(index: SearchIndex, queries: list[str] = QUERIES) -> list:
    """Every query under every filter: total and the ranked page (ids and scores)."""
    _forget()
    found = []
    for allowed in FILTERS:
        for q in queries:
            result = search(index, SearchRequest(q=q, allowed=allowed, page_size=200, highlight=False,
                                                 suggest=False))
            found.append((q, result.total, [(hit.id, round(hit.score, 4)) for hit in result.items]))
    return found


def _answers_from_blocks(index: SearchIndex, monkeypatch: pytest.MonkeyPatch, queries: list[str] = QUERIES) -> list:
    with monkeypatch.context() as m:
        m.setattr(frequent.SIDE_FILES, "of", lambda reader: None)
        return _answers(index, queries)


def _answered_from_side_files(index: SearchIndex, expected: list, queries: list[str] = QUERIES) -> bool:
    FAST_PATH.clear()
    return _answers(index, queries) == expected and FAST_PATH["postings.frequent"] > 0


def _side_files(index: SearchIndex) -> list[Path]:
    return sorted((index.root / index.current_generation()).glob(f"*{frequent.EXTENSION}"))


def _segment_ids(index: SearchIndex) -> set[str]:
    return index.read(lambda s: {r.segment().segment_id() for r, _ in s.reader().leaf_readers()})


def test_side_file_answers_every_query_as_the_posting_blocks_do(index: SearchIndex, monkeypatch) -> None:
    stats = index.rebuild(_documents(300, seed=1), workers=0)
    assert stats.documents == 300
    assert [p.stem for p in _side_files(index)] == sorted(_segment_ids(index))
    expected = _answers_from_blocks(index, monkeypatch)
    assert _answered_from_side_files(index, expected)  # the side file was read, not the blocks
    assert FAST_PATH["postings.pairs"] > 0  # two frequent words side by side: a lookup


def test_terms_beyond_the_budget_are_decoded_from_the_blocks(index: SearchIndex, monkeypatch) -> None:
    monkeypatch.setattr(frequent, "POSITIONS_PER_DOC", 5)  # a few words of ~25 per document
    monkeypatch.setattr(frequent, "TEXT_POSTINGS_PER_DOC", 0)  # and no postings alone
    index.rebuild(_documents(300, seed=2), workers=0)
    expected = _answers_from_blocks(index, monkeypatch)
    FAST_PATH.clear()
    assert _answers(index) == expected
    assert FAST_PATH["postings.frequent"] > 0 and FAST_PATH["postings.blocks"] > 0


def test_frequent_words_beyond_the_positions_budget_keep_their_postings_in_the_side_file(
        index: SearchIndex, monkeypatch) -> None:
    """A word of most documents whose positions do not fit is still a slice of the side file for a word query
    (no W3 block decoded); a phrase of it reads its positions from the blocks: answers equal to the blocks'."""
    monkeypatch.setattr(frequent, "POSITIONS_PER_DOC", 8)  # «центр» only: the rest as postings alone
    index.rebuild(_documents(300, seed=2), workers=0)
    side = frequent.SIDE_FILES.of(index.read(lambda s: s.reader().leaf_readers()[0][0]))
    assert side is not None
    kept = {term.decode() for field, term in side._terms if field == "content"}
    with_positions = {t for t in kept if side.has_positions("content", t.encode())}
    assert with_positions and {"оценка", "квалификация"} <= kept - with_positions
    expected = _answers_from_blocks(index, monkeypatch)
    assert _answers(index) == expected
    _forget()
    FAST_PATH.clear()
    found = search(index, SearchRequest(q="квалификация", allowed=None, page_size=10, highlight=False,
                                        suggest=False))
    assert found.total > 200 and FAST_PATH["postings.blocks"] == 0 and FAST_PATH["postings.frequent"] > 0


def test_updates_and_deletes_after_the_side_file_answer_as_the_blocks_do(index: SearchIndex, monkeypatch) -> None:
    index.rebuild(_documents(300, seed=3), workers=0)
    big = _side_files(index)
    index.apply([Delete(str(n)) for n in range(0, 300, 7)])
    index.apply([Upsert(d) for d in _documents(40, seed=4, start=100)])  # replaces 100..139
    index.apply([Upsert(d) for d in _documents(10, seed=5, start=1000)])
    assert set(big) <= set(_side_files(index))  # the large segment kept its file
    expected = _answers_from_blocks(index, monkeypatch)
    assert _answered_from_side_files(index, expected)


def test_a_merge_writes_the_side_file_of_the_merged_segment(index: SearchIndex, monkeypatch) -> None:
    index.rebuild(_documents(200, seed=6), workers=0)
    index.apply([Upsert(d) for d in _documents(60, seed=7, start=150)])
    index.apply([Delete(str(n)) for n in range(0, 200, 5)])
    before = _side_files(index)
    index.optimize()
    after = _side_files(index)
    assert len(_segment_ids(index)) == 1
    assert [p.stem for p in after] == sorted(_segment_ids(index))
    assert not set(before) & set(after)  # the merged-away segments' files went with them
    expected = _answers_from_blocks(index, monkeypatch)
    assert _answered_from_side_files(index, expected)


def test_a_stale_side_file_is_never_read(index: SearchIndex, monkeypatch) -> None:
    index.rebuild(_documents(200, seed=8), workers=0)
    (path,) = _side_files(index)
    expected = _answers_from_blocks(index, monkeypatch)
    # Another segment's file under this segment's name (same terms, another document count).
    other = SearchIndex.create_or_open(index.root.parent / "other")
    other.rebuild(_documents(210, seed=8), workers=0)
    (foreign,) = _side_files(other)
    path.write_bytes(foreign.read_bytes())
    FAST_PATH.clear()
    assert _answers(index) == expected
    assert FAST_PATH["frequent.stale"] >= 1 and FAST_PATH["postings.frequent"] == 0
    # The writer replaces it with the segment's own.
    assert index.build_side_files() == [path]
    assert _answered_from_side_files(index, expected)


def test_a_missing_side_file_falls_back_to_the_posting_blocks(index: SearchIndex, monkeypatch) -> None:
    index.rebuild(_documents(200, seed=9), workers=0)
    expected = _answers_from_blocks(index, monkeypatch)
    for path in _side_files(index):
        path.unlink()
    FAST_PATH.clear()
    assert _answers(index) == expected
    assert FAST_PATH["frequent.missing"] >= 1 and FAST_PATH["postings.frequent"] == 0
    # An index written before side files gets them from the single writer, without a rebuild.
    assert [p.stem for p in index.build_side_files()] == sorted(_segment_ids(index))
    assert index.build_side_files() == []  # nothing more to write
    assert _answered_from_side_files(index, expected)


def test_a_small_segment_has_no_side_file(index: SearchIndex) -> None:
    add(index, *_documents(10, seed=10))
    assert _side_files(index) == []


def test_warming_loads_what_a_first_phrase_of_the_most_frequent_words_needs(index: SearchIndex) -> None:
    from search.query import warm

    assert warm(index) == ""  # an empty index: nothing to warm
    index.rebuild(_documents(300, seed=4), workers=0)
    _forget()
    phrase = warm(index, allowed=[{"folder_path": {"0"}}])
    assert phrase == '"центр оценка"'  # the content's two most frequent words
    FAST_PATH.clear()
    found = search(index, SearchRequest(q=phrase, allowed=[{"folder_path": {"0"}}], page_size=10))
    assert found.total > 0
    assert FAST_PATH["postings.frequent"] == 0 and FAST_PATH["postings.blocks"] == 0  # nothing left to load


def test_releasing_the_segments_mapped_pages_changes_no_byte_of_the_side_file(index: SearchIndex,
                                                                              monkeypatch) -> None:
    monkeypatch.setattr(frequent, "RELEASE_AFTER_POSTINGS", 10**12)  # never released
    index.rebuild(_documents(300, seed=5), workers=0)
    [path] = _side_files(index)
    kept = path.read_bytes()
    path.unlink()
    released: list[bool] = []

    def release(reader) -> bool:  # noqa: ANN001
        released.append(real(reader))
        return released[-1]

    real = frequent.release_mapped_pages
    monkeypatch.setattr(frequent, "release_mapped_pages", release)
    monkeypatch.setattr(frequent, "RELEASE_AFTER_POSTINGS", 1)  # before every term
    assert index.build_side_files() == [path]
    assert path.read_bytes() == kept
    assert len(released) > 2 and all(released)  # the segment is memory-mapped, and was released each time
    expected = _answers_from_blocks(index, monkeypatch)
    assert _answered_from_side_files(index, expected)


def _entries(index: SearchIndex) -> list[dict]:
    side = frequent.SIDE_FILES.of(index.read(lambda s: s.reader().leaf_readers()[0][0]))
    assert side is not None
    return list(side._terms.values()) + list(side._pairs.values())


def test_a_dense_terms_documents_are_a_bitmap_and_a_sparse_terms_their_numbers(index: SearchIndex,
                                                                                 monkeypatch) -> None:
    """Version 4: a term without positions in more than one document in 32 keeps a bit a document (a word of most
    documents cost 4 bytes a posting), a rarer one its document numbers; entries with positions and the pairs,
    read at every phrase, keep numbers. All answer as the posting blocks do."""
    monkeypatch.setattr(frequent, "MIN_DOCS", 8)
    monkeypatch.setattr(frequent, "POSITIONS_PER_DOC", 12)  # «центр», «оценка» with positions, the rest without
    documents = _documents(640, seed=11)
    for n in range(0, 640, 64):  # «редкий» in 10 documents of 640: fewer than one in 32
        documents[n] = replace(documents[n], content=documents[n].content + " редкий")
    index.rebuild(documents, workers=0)
    entries = _entries(index)
    rare = "редкий".encode().hex()
    read_each_phrase = [e for e in entries if "positions" in e or "first" in e]
    read_once = [e for e in entries if e not in read_each_phrase]
    assert any("first" in e for e in read_each_phrase) and any("positions" in e for e in read_each_phrase)
    assert all("docs" in e and "bits" not in e for e in read_each_phrase)
    assert [e["field"] for e in read_once if e["term"] == rare] == ["content"]
    assert all(("docs" in e) == (e["term"] == rare) and ("bits" in e) == (e["term"] != rare) for e in read_once)
    assert {"content", "folder_path", "owner"} <= {e["field"] for e in read_once if "bits" in e}
    queries = [*QUERIES, "редкий", "редкий центр", '"центр оценка" редкий']
    expected = _answers_from_blocks(index, monkeypatch, queries)
    assert _answered_from_side_files(index, expected, queries)
    assert FAST_PATH["postings.pairs"] > 0


def test_a_version_3_side_file_is_still_read(index: SearchIndex, monkeypatch) -> None:
    """An index written before bitmaps keeps its side files (numbers only, version 3): no reindex to upgrade."""
    with monkeypatch.context() as m:
        m.setattr(frequent, "VERSION", 3)
        m.setattr(frequent, "_docs_entry", lambda out, docs, *_: {"docs": out.put(docs.astype("<u4"))})
        index.rebuild(_documents(300, seed=12), workers=0)
    entries = _entries(index)
    assert entries and not any("bits" in e for e in entries)
    expected = _answers_from_blocks(index, monkeypatch)
    assert _answered_from_side_files(index, expected)
    assert index.build_side_files() == []  # usable as it is: not rewritten
