"""Searches keep answering while the one writer adds, deletes and merges segments under them.

A searcher whose segment files a merge removed (FileNotFoundError) or whose reader Whoosh closed
(ReaderClosed) is dropped and a fresh one opened (a bounded retry), never kept: issue 17 saw one
such failure make every later search of a web worker answer 500. The load test below did not hit
that race on the previous code on this machine (Whoosh retries a vanished file for 0.5 s before it
gives up); the two tests after it reproduce its two halves deterministically.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time

from search.index import Delete, SearchIndex, Upsert
from search.query import SearchRequest, search
from search.schema import IndexedDocument

WORDS = ["приказ", "центр", "оценка", "эксперт", "реестр", "бланк", "отчет", "комиссия", "практика", "держатель"]
BASE_DOCUMENTS = 20_000
COMMITS = 30  # Whoosh's merge policy merges small segments every few commits
SEARCH_THREADS = 4
QUERIES = ("приказ", "центр оценка", '"центр оценка"', "эксперт OR бланк", "реестр NOT отчет", "держатель практики")


def _doc(n: int, rng: random.Random) -> IndexedDocument:
    return IndexedDocument(id=str(n), version="1", title=rng.choice(WORDS), content=" ".join(rng.choices(WORDS, k=4)),
                           doc_type=rng.choice(("order", "report")), folder_path=("1", str(n % 7)))


def _write(root: str, commits: int, seed: int) -> None:
    """The indexer: another process (as in production), adding, deleting and merging."""
    rng = random.Random(seed)
    index = SearchIndex.open(root)
    next_id = BASE_DOCUMENTS + 1_000_000 * seed
    for _ in range(commits):
        added = [Upsert(_doc(next_id + i, rng)) for i in range(rng.randint(5, 40))]
        next_id += len(added)
        removed = [Delete(str(rng.randrange(BASE_DOCUMENTS))) for _ in range(rng.randint(1, 20))]
        index.apply(added + removed)  # Whoosh's policy merges the small segments as they pile up


def test_searches_in_threads_survive_a_writer_that_adds_deletes_and_merges(tmp_path):
    rng = random.Random(17)
    index = SearchIndex.create_or_open(tmp_path / "index")
    index.rebuild(_doc(n, rng) for n in range(BASE_DOCUMENTS))
    generation = index.root / index.current_generation()
    stop = threading.Event()
    errors: list[BaseException] = []
    counts = {"searches": 0}
    lock = threading.Lock()

    def searcher(seed: int) -> None:
        local = random.Random(seed)
        allowed = [{"folder_path": {str(seed % 7)}}, {"doc_type": {"report"}}]
        while not stop.is_set():
            try:
                result = search(index, SearchRequest(q=local.choice(QUERIES), allowed=allowed, facets=("doc_type",)))
                assert result.total >= 0
                with lock:
                    counts["searches"] += 1
            except BaseException as error:  # noqa: BLE001 - every failure is the finding
                errors.append(error)
                return

    segments: set[str] = set()
    # Forked before the search threads start (a fork copies no other thread, nor a lock one holds).
    writer = multiprocessing.get_context("fork").Process(target=_write, args=(str(index.root), COMMITS, 1))
    writer.start()
    threads = [threading.Thread(target=searcher, args=(seed,)) for seed in range(SEARCH_THREADS)]
    for thread in threads:
        thread.start()
    while writer.is_alive():
        segments.update(p.name for p in generation.glob("*.seg"))
        time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join()
    assert writer.exitcode == 0
    assert errors == []
    assert counts["searches"] >= 4 * SEARCH_THREADS, counts
    merged_away = segments - {p.name for p in generation.glob("*.seg")}
    assert merged_away, "the writer's commits merged no segment: the test did not test the race"
    # Every thread still answers after the writer stopped, with the final state.
    final = index.doc_count()
    assert final > BASE_DOCUMENTS - COMMITS * 20
    assert search(index, SearchRequest(q="", allowed=None)).total == final


def _small_index(tmp_path) -> SearchIndex:
    rng = random.Random(5)
    index = SearchIndex.create_or_open(tmp_path / "small")
    index.apply([Upsert(_doc(n, rng)) for n in range(200)])
    return index


def test_a_searcher_whose_reader_was_closed_is_dropped_and_reopened(tmp_path):
    index = _small_index(tmp_path)
    before = search(index, SearchRequest(q="приказ", allowed=None)).total
    stale = index._local.searcher
    stale.reader().close()  # what Whoosh's failed refresh left behind: readers closed, searcher kept
    assert search(index, SearchRequest(q="приказ", allowed=None)).total == before
    assert index._local.searcher is not stale
    assert search(index, SearchRequest(q="центр", allowed=None)).total > 0  # and it stays healthy


def test_a_vanished_segment_is_retried_a_bounded_number_of_times(tmp_path, monkeypatch):
    from search import index as index_module

    index = _small_index(tmp_path)
    expected = search(index, SearchRequest(q="приказ", allowed=None)).total
    index._drop_searcher()
    real_open = index._open_whoosh
    calls = {"n": 0}

    def vanishing_once():  # noqa: ANN202
        calls["n"] += 1
        if calls["n"] == 1:
            raise FileNotFoundError("_MAIN_3.toc")
        return real_open()

    monkeypatch.setattr(index, "_open_whoosh", vanishing_once)
    assert search(index, SearchRequest(q="приказ", allowed=None)).total == expected
    assert calls["n"] == 2

    def always_vanished():  # noqa: ANN202
        calls["n"] += 1
        raise FileNotFoundError("MAIN_abc.seg")

    index._drop_searcher()
    monkeypatch.setattr(index, "_open_whoosh", always_vanished)
    monkeypatch.setattr(index_module, "READ_RETRY_PAUSE_S", 0.0)
    calls["n"] = 0
    try:
        search(index, SearchRequest(q="приказ", allowed=None))
    except FileNotFoundError:
        pass
    else:
        raise AssertionError("an index whose files keep vanishing must fail, not loop")
    assert calls["n"] == index_module.READ_ATTEMPTS
    assert index._local.searcher is None  # the failed searcher is not kept
