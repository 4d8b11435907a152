"""The single writer, crash-safe batches, drift data and the atomic rebuild."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from search.errors import IndexLockedError, IndexMissingError, InvalidDocumentError
from search.index import Delete, SearchIndex, Upsert
from search.query import SearchRequest, search
from tests.search.conftest import ROOT, add, doc


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def titles(index: SearchIndex) -> dict[str, str]:
    result = search(index, SearchRequest(q="", allowed=None, page_size=200, highlight=False))
    return {h.id: h.title for h in result.items}


def test_opening_a_missing_index_says_so(tmp_path):
    with pytest.raises(IndexMissingError):
        SearchIndex.open(tmp_path / "nowhere")


def test_upsert_replaces_and_delete_removes(index):
    add(index, doc("a", "первый"), doc("b", "второй"))
    index.apply([Upsert(doc("a", "первый исправленный", version="2")), Delete("b"), Delete("zzz")])
    assert titles(index) == {"a": "первый исправленный"}
    assert index.doc_versions() == {"a": "2"}


def test_last_operation_on_an_id_in_a_batch_wins(index):
    index.apply([Upsert(doc("a", "один")), Upsert(doc("a", "два", version="2")), Upsert(doc("b", "б"))])
    index.apply([Upsert(doc("b", "б2", version="2")), Delete("b")])
    assert titles(index) == {"a": "два"}
    assert index.doc_count() == 1


def test_applying_a_batch_twice_gives_the_same_index(index):
    batch = [Upsert(doc(str(i), f"документ {i}", version="7")) for i in range(20)] + [Delete("3")]
    index.apply(batch)
    once = (titles(index), index.doc_versions())
    index.apply(batch)
    assert (titles(index), index.doc_versions()) == once
    assert index.doc_count() == 19


def test_a_document_without_id_or_version_is_refused(index):
    with pytest.raises(InvalidDocumentError):
        index.apply([Upsert(doc("", "без номера"))])
    with pytest.raises(InvalidDocumentError):
        index.apply([Upsert(doc("a", "без версии", version=""))])
    assert index.doc_count() == 0


def test_a_second_writer_is_refused_while_one_holds_the_index(index):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys, time
            from search.index import SearchIndex
            ix = SearchIndex.open(sys.argv[1])
            with ix.writer_lock():
                print("locked", flush=True)
                time.sleep(30)
        """), str(index.root)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(IndexLockedError, match="only one indexer"):
            add(index, doc("a", "не пройдёт"))
        with pytest.raises(IndexLockedError):
            index.rebuild([doc("a", "не пройдёт")])
    finally:
        holder.kill()
        holder.wait()
    add(index, doc("a", "теперь можно"))
    assert titles(index) == {"a": "теперь можно"}


def test_a_batch_interrupted_by_a_crash_leaves_nothing_and_is_redone(index):
    add(index, doc("old", "было"))
    crashed = run_python("""
        import os, sys
        from search.pool import FastSegmentWriter
        from search.index import SearchIndex, Upsert
        from search.schema import IndexedDocument
        add_document = FastSegmentWriter.add_document
        written = []
        def dying_add_document(self, **fields):
            if len(written) == 30:
                os._exit(9)  # the process dies while the writer is half way through the batch
            written.append(fields["id"])
            add_document(self, **fields)
        FastSegmentWriter.add_document = dying_add_document
        batch = [Upsert(IndexedDocument(id=str(i), version="1", title=f"новый {i}")) for i in range(50)]
        SearchIndex.open(sys.argv[1]).apply(batch)
    """, str(index.root))
    assert crashed.returncode == 9
    reopened = SearchIndex.open(index.root)
    assert titles(reopened) == {"old": "было"}
    reopened.apply([Upsert(doc(str(i), f"новый {i}")) for i in range(50)])
    assert len(titles(reopened)) == 51


def test_rebuild_swaps_atomically_and_old_readers_keep_their_view(index):
    add(index, doc("a", "старое"))
    reader = SearchIndex.open(index.root)
    with reader.searcher() as before:
        index.rebuild(doc(str(i), f"новое {i}") for i in range(30))
        assert before.doc_count() == 1  # a searcher opened before the swap still works
        assert sorted(before.lexicon("id")) == [b"a"]
    assert len(titles(reader)) == 30  # the next search sees the new generation
    assert set(titles(index)) == {str(i) for i in range(30)}


def test_failed_rebuild_leaves_the_live_index_untouched(index):
    add(index, doc("a", "живой"))
    generation = index.current_generation()

    def broken():
        yield doc("x", "первый")
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        index.rebuild(broken())
    assert index.current_generation() == generation
    assert titles(index) == {"a": "живой"}
    assert sorted(p.name for p in Path(index.root).glob("gen-*")) == [generation]


def test_rebuild_keeps_one_previous_generation_only(index):
    for round_ in range(3):
        index.rebuild([doc("a", f"раунд {round_}")])
    assert len(list(Path(index.root).glob("gen-*"))) == 2
    assert titles(index) == {"a": "раунд 2"}


def test_rebuild_with_periodic_commits_gives_the_same_documents(index):
    index.rebuild((doc(str(i), f"документ {i}") for i in range(25)), commit_every=10)
    assert index.doc_versions() == {str(i): "1" for i in range(25)}


def test_another_process_reads_the_index_with_the_pickled_analyzer(index):
    add(index, doc("a", "Соглашение", "с держателем практики"))
    found = run_python("""
        import sys
        from search.index import SearchIndex
        from search.query import SearchRequest, search
        result = search(SearchIndex.open(sys.argv[1]), SearchRequest(q="держатель", allowed=None))
        print(result.total)
    """, str(index.root))
    assert found.stdout.strip() == "1", found.stderr


def test_each_thread_reads_through_its_own_searcher(index):
    import threading

    add(index, doc("a", "приказ"))
    seen = []

    def grab() -> None:
        with index.searcher() as searcher:
            seen.append(searcher)

    threads = [threading.Thread(target=grab) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with index.searcher() as mine, index.searcher() as again:
        assert mine is again
    assert len({id(s) for s in seen + [mine]}) == 4


def test_an_index_of_an_older_format_is_refused_until_rebuilt(tmp_path):
    from search.errors import StaleIndexError
    from search.schema import INDEX_FORMAT

    root = tmp_path / "index"
    index = SearchIndex.create_or_open(root)
    add(index, doc("a", "Проверка"))
    assert index.format() == INDEX_FORMAT
    # An index written before the format was recorded (Snowball stems) has no format file.
    (root / index.current_generation() / "index-format").unlink()
    for opening in (SearchIndex.open, SearchIndex.create_or_open):
        with pytest.raises(StaleIndexError) as refused:
            opening(root)
        assert "dms reindex" in str(refused.value) and refused.value.found == 1
    stale = SearchIndex(root)
    with pytest.raises(StaleIndexError):
        stale.apply([Upsert(doc("b", "Оценка"))])  # never mixed: no writes into an old format
    with pytest.raises(StaleIndexError):
        search(stale, SearchRequest(q="проверка", allowed=None))
    stale.rebuild([doc("a", "Проверка"), doc("b", "Оценка")])
    rebuilt = SearchIndex.open(root)
    assert rebuilt.format() == INDEX_FORMAT
    assert [h.id for h in search(rebuilt, SearchRequest(q="проверок", allowed=None)).items] == ["a"]
