"""Whoosh's internals are read in one module, only on the pinned version, and the fast paths are the ones taken."""

from __future__ import annotations

import ast
import re
from datetime import date
from pathlib import Path

import whoosh

from search import whoosh_adapter
from search.query import SearchRequest, search
from search.whoosh_adapter import FAST_PATH, SUPPORTED_VERSION
from search.ranking import SegmentArrays
from tests.search.conftest import ROOT, add, doc

# The private names of Whoosh the library reads or overrides (all of them live in whoosh_adapter.py).
WHOOSH_PRIVATE = frozenset({
    "_INT_SIZE", "_read_data", "_data", "_lastblock", "_goto", "_nextoffset", "_postwriter", "_blocklimit",
    "_write_block", "_ids", "_weights", "_maxweight", "_values", "_minlength", "_maxlength", "_check_state",
    "_doc_boost", "_check_fields", "_field_boost", "_added", "_flush_segment",
    # whole columns read as arrays: field lengths and numeric columns
    "_perdoc", "_cached_reader", "_lenfield", "_length_byte_cache", "_fixedlen", "_count", "_dbfile", "_basepos",
    "_default", "_typecode",
})


def test_installed_whoosh_is_the_one_version_the_adapter_supports():
    assert tuple(whoosh.__version__) == SUPPORTED_VERSION, (
        f"search/whoosh_adapter.py reads Whoosh {SUPPORTED_VERSION}'s internals; "
        f"Whoosh {whoosh.versionstring()} is installed: check every private name there before changing the pin"
    )
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pins = re.findall(r'"whoosh\s*([=<>!~]=?)\s*([0-9.]+)"', pyproject, re.IGNORECASE)
    assert pins == [("==", ".".join(map(str, SUPPORTED_VERSION)))]
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8").lower()
    assert f"whoosh=={'.'.join(map(str, SUPPORTED_VERSION))}" in lock


def _private_whoosh_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in WHOOSH_PRIVATE:
            found.add(node.attr)
        elif isinstance(node, ast.FunctionDef) and node.name in WHOOSH_PRIVATE:
            found.add(node.name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("whoosh"):
            found.update(alias.name for alias in node.names if alias.name.startswith("_"))
    return found


def test_no_module_but_the_adapter_touches_whoosh_private_names():
    modules = sorted((ROOT / "search").glob("*.py"))
    offenders = {p.name: sorted(_private_whoosh_names(p)) for p in modules if p.name != "whoosh_adapter.py"}
    assert {name: names for name, names in offenders.items() if names} == {}
    assert _private_whoosh_names(Path(whoosh_adapter.__file__)) == WHOOSH_PRIVATE


def test_writing_and_searching_take_the_block_fast_paths(index):
    FAST_PATH.clear()
    add(index, *(doc(str(n), f"Приказ {n}", "центр оценки квалификации " * (n % 7 + 1)) for n in range(300)))
    assert FAST_PATH["write.document"] == 300 and FAST_PATH["write.blocks"] > 0
    result = search(index, SearchRequest(q='"центр оценки" приказ', allowed=None))
    assert result.total == 300
    assert FAST_PATH["postings.blocks"] >= 3 and FAST_PATH["postings.matcher"] == 0


def test_whole_columns_read_as_arrays_equal_whoosh_per_document_values(index):
    FAST_PATH.clear()
    documents = [doc(str(n), f"Приказ {n} " + "о центре " * (n % 5), "оценка квалификации " * (n % 9),
                     people=("Иванов Иван",) if n % 3 else (), date=None if n % 4 == 0 else date(2020, 1, 1 + n % 28))
                 for n in range(250)]
    add(index, *documents[:200])
    add(index, *documents[200:])  # a second segment
    with index.searcher() as searcher:
        leaves = [leaf for leaf, _ in searcher.leaf_searchers()]
        assert len(leaves) == 2
        for leaf in leaves:
            reader = leaf.reader()
            size = reader.doc_count_all()
            for name in ("title", "content", "people", "folder_path", "tags"):
                expected = [reader.doc_field_length(n, name, 0) or 0 for n in range(size)]
                assert whoosh_adapter.field_lengths(reader, name).tolist() == expected, name
                assert SegmentArrays._compute(leaf, name).tolist() == expected, name
            column = reader.column_reader("date", translate=False)
            expected = [column[n] for n in range(size)]
            wrapped = [v - (1 << 64) if v >= 1 << 63 else v for v in expected]  # int64, as the ranking keeps it
            assert whoosh_adapter.numeric_column(column, size).tolist() == wrapped
            assert SegmentArrays._compute(leaf, "date").tolist() == wrapped
    assert FAST_PATH["columns.lengths"] >= 12 and FAST_PATH["columns.numeric"] >= 4  # title, content, people; date


def test_segment_files_are_read_through_the_mapped_view_as_bytesio_would_read_them():
    import io
    import pickle
    import random as random_module

    rng = random_module.Random(3)
    data = bytes(rng.randrange(256) for _ in range(5000)) + b"line one\nline two\n" + pickle.dumps({"a": [1, 2.5]})
    ours, theirs = whoosh_adapter.ViewStream(memoryview(data)), io.BytesIO(data)
    for _ in range(300):
        op = rng.choice(("seek", "read", "readline", "seek_end"))
        if op == "seek":
            at = rng.randrange(len(data) + 10)
            assert ours.seek(at) == theirs.seek(at)
        elif op == "seek_end":
            back = -rng.randrange(60)
            assert ours.seek(back, 2) == theirs.seek(back, 2)
        elif op == "read":
            size = rng.choice((-1, 0, 1, 7, 300))
            assert ours.read(size) == theirs.read(size)
        else:
            assert ours.readline() == theirs.readline()
        assert ours.tell() == theirs.tell()
    ours.seek(len(data) - len(pickle.dumps({"a": [1, 2.5]})))
    assert pickle.load(ours) == {"a": [1, 2.5]}
    big = [bytes(rng.randrange(256) for _ in range(50)) for _ in range(400)]  # beyond the first window
    blob = pickle.dumps(("header", 7)) + pickle.dumps(big) + b"tail"
    stream = whoosh_adapter.ViewStream(memoryview(blob))
    assert stream.read_pickle() == ("header", 7)
    assert stream.read_pickle() == big
    assert stream.read() == b"tail"


def test_compound_segment_files_are_views_read_like_whooshs_buffer_files(index):
    from whoosh.filedb import compound
    from whoosh.filedb.structfile import BufferFile

    assert compound.BufferFile is whoosh_adapter.LazyBufferFile  # what CompoundStorage.open_file makes
    data = bytes(range(256)) * 40
    ours, theirs = whoosh_adapter.LazyBufferFile(memoryview(data), name="x"), BufferFile(memoryview(data), name="x")
    assert ours.get(100, 50) == theirs.get(100, 50)
    for at in (0, 17, 4000):
        ours.seek(at)
        theirs.seek(at)
        assert (ours.read_varint(), ours.read_int(), ours.read(9), ours.tell()) == (
            theirs.read_varint(), theirs.read_int(), theirs.read(9), theirs.tell())
    assert isinstance(ours.file, whoosh_adapter.ViewStream)  # never a BytesIO copy of the view
    ours.close()
    add(index, *(doc(str(n), f"Приказ {n}", "центр оценки квалификации " * 3) for n in range(50)))
    assert search(index, SearchRequest(q='"центр оценки"', allowed=None)).total == 50
