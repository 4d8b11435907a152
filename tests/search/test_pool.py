"""The fast segment writer writes what Whoosh's own writer writes; phrases agree with Whoosh's."""

from __future__ import annotations

import random

from whoosh import index as whoosh_index
from whoosh import query as wq

from search import pool as pool_module
from search import postings as postings_module
from search.docsets import count
from search.index import SearchIndex
from search.pool import FastSegmentWriter, Run, TermPool
from search.query import QueryBuilder
from search.schema import build_schema, to_fields
from tests.search.conftest import add, doc

WORDS = [
    "приказ", "центр", "оценка", "эксперт", "реестр", "бланк", "отчет", "комиссия", "квалификация",
    "экзамен", "соискатель", "держатель", "практика", "Ёлкин", "Kvalifikation", "report",
]


def _documents(n: int, seed: int = 5):
    rng = random.Random(seed)
    return [
        doc(str(i), " ".join(rng.choices(WORDS, k=rng.randint(1, 6))),
            " ".join(rng.choices(WORDS, k=rng.randint(0, 120))),
            doc_type=rng.choice(("order", "report")), tags=tuple(rng.sample(WORDS, 2)),
            people=(rng.choice(("Иванов Иван", "Петрова Анна")),))
        for i in range(n)
    ]


def _segment_contents(directory) -> dict:  # noqa: ANN001
    """Everything a reader sees of a one-segment index: postings with their values, term
    statistics, field lengths, stored fields and columns."""
    ix = whoosh_index.open_dir(str(directory))
    with ix.reader() as reader:
        assert len(reader.leaf_readers()) == 1
        terms = {}
        for fieldname, text in reader.all_terms():
            info = reader.term_info(fieldname, text)
            m = reader.postings(fieldname, text)
            items = []
            while m.is_active():
                items.append((m.id(), round(m.weight(), 6), m.value()))
                m.next()
            terms[(fieldname, text)] = (items, info.doc_frequency(), info.weight(), info.max_weight(),
                                        info.min_length(), info.max_length(), info.min_id(), info.max_id())
        lengths = {(n, f): reader.doc_field_length(n, f) for n in range(reader.doc_count_all())
                   for f in ("title", "content", "people", "folder_path", "tags")}
        stored = [reader.stored_fields(n) for n in range(reader.doc_count_all())]
        columns = {f: list(reader.column_reader(f)) for f in ("id", "doc_type", "date")}
    return {"terms": terms, "lengths": lengths, "stored": stored, "columns": columns}


def _build(directory, documents, writer_of) -> None:  # noqa: ANN001
    directory.mkdir()
    ix = whoosh_index.create_in(str(directory), build_schema())
    writer = writer_of(ix)
    for d in documents:
        writer.add_document(**to_fields(d))
    writer.commit()


def test_fast_writer_spilling_runs_writes_the_same_segment_as_whoosh(tmp_path, monkeypatch):
    documents = _documents(120)
    monkeypatch.setattr(Run, "CHUNK", 5)  # runs are read back a few postings at a time
    monkeypatch.setattr(pool_module, "KEYS_PIECE", 3)  # and their term keys a few at a time
    _build(tmp_path / "whoosh", documents, lambda ix: ix.writer())
    # A pool of 20 KB spills a sorted run every few documents: the runs' merge is exercised.
    runs: list[int] = []
    original = TermPool._spill

    def counting_spill(self):  # noqa: ANN001, ANN202
        runs.append(1)
        original(self)

    TermPool._spill = counting_spill
    try:
        _build(tmp_path / "fast", documents, lambda ix: FastSegmentWriter(ix, limitmb=0.02))
    finally:
        TermPool._spill = original
    assert len(runs) > 10
    theirs, ours = _segment_contents(tmp_path / "whoosh"), _segment_contents(tmp_path / "fast")
    assert ours["terms"].keys() == theirs["terms"].keys()
    for key, value in theirs["terms"].items():
        assert ours["terms"][key] == value, key
    assert ours["lengths"] == theirs["lengths"]
    assert ours["stored"] == theirs["stored"]
    assert ours["columns"] == theirs["columns"]
    assert not list((tmp_path / "fast").glob("pool-*")), "run files are removed after the commit"


def test_merged_segments_from_batches_keep_every_count(index):
    documents = _documents(400, seed=9)
    for start in range(0, 400, 40):  # ten commits: Whoosh's merge policy merges small segments
        add(index, *documents[start:start + 40])
    builder = QueryBuilder(index.schema)
    with index.searcher() as searcher:
        assert searcher.doc_count() == 400
        for text in ("приказ", "оценка эксперт", '"держатель практика"', "елкин", "тип:report",
                     "тег:экзамен", "лицо:иванов", '"приказ центр оценка"'):
            q = builder.parse(text)
            assert count(searcher, q) == len(list(searcher.docs_for_query(q))), text


def test_phrases_agree_with_whoosh_when_the_positions_cache_evicts(index, monkeypatch):
    add(index, *_documents(300, seed=13))
    builder = QueryBuilder(index.schema)
    phrases = ['"приказ центр"', '"центр приказ"', '"оценка эксперт реестр"', '"бланк бланк"',
               '"квалификация экзамен соискатель держатель"', '"report приказ"']
    # A cache too small for one word's positions: every phrase decodes again.
    tiny = postings_module.PostingsCache(max_positions=1)
    monkeypatch.setattr("search.docsets.POSTINGS", tiny)
    with index.searcher() as searcher:
        for _ in range(2):
            for text in phrases:
                q = builder.parse(text)
                assert any(isinstance(p, wq.Phrase) for p in q.leaves()) or isinstance(q, wq.Phrase)
                assert count(searcher, q) == len(list(searcher.docs_for_query(q))), text


def test_rebuild_with_a_small_pool_finds_what_batches_find(tmp_path):
    documents = _documents(150, seed=21)
    batched = SearchIndex.create_or_open(tmp_path / "batched")
    add(batched, *documents)
    rebuilt = SearchIndex.create_or_open(tmp_path / "rebuilt")
    rebuilt.rebuild(iter(documents), limitmb=0.05)
    builder = QueryBuilder(batched.schema)
    with batched.searcher() as a, rebuilt.searcher() as b:
        for text in ("приказ", '"оценка эксперт"', "соискатель NOT бланк", "лицо:петрова"):
            q = builder.parse(text)
            assert count(a, q) == count(b, q) > 0, text


def test_texts_analysed_in_worker_processes_give_the_same_segment(tmp_path, monkeypatch):
    monkeypatch.setattr("search.parallel.WINDOW", 40)  # several windows (fewer than one are mapped in process)
    documents = _documents(130, seed=17)
    sequential = SearchIndex.create_or_open(tmp_path / "sequential")
    sequential.rebuild(iter(documents), workers=0)
    parallel = SearchIndex.create_or_open(tmp_path / "parallel")
    parallel.rebuild(iter(documents), workers=2)
    assert _segment_contents(parallel.root / "current") == _segment_contents(sequential.root / "current")


def test_a_bad_document_in_a_worker_stops_the_rebuild_and_keeps_the_live_index(tmp_path, monkeypatch):
    monkeypatch.setattr("search.parallel.WINDOW", 40)
    import pytest

    from search.errors import InvalidDocumentError

    index = SearchIndex.create_or_open(tmp_path / "index")
    add(index, doc("live", "живой"))
    documents = _documents(60) + [doc("", "без номера")]
    with pytest.raises(InvalidDocumentError):
        index.rebuild(iter(documents), workers=2)
    with index.searcher() as searcher:
        assert [f["id"] for f in searcher.all_stored_fields()] == ["live"]
    assert len(list(index.root.glob("gen-*"))) == 1


def _pid_and_square(n: int) -> tuple[int, int]:
    import os

    return os.getpid(), n * n


def test_ordered_map_keeps_the_input_order_in_worker_processes_and_maps_one_window_in_process(monkeypatch):
    import os

    from search.parallel import ordered_map

    monkeypatch.setattr("search.parallel.WINDOW", 10)
    out = list(ordered_map(_pid_and_square, range(35), 2))
    assert [square for _, square in out] == [n * n for n in range(35)]
    assert os.getpid() not in {pid for pid, _ in out}
    assert {pid for pid, _ in ordered_map(_pid_and_square, range(9), 2)} == {os.getpid()}
