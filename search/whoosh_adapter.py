"""Every private name of Whoosh that the search library uses, in one place.

Whoosh 2.7.4 is the last release and the library reads its internals for speed: the W3 posting
reader's blocks (``postings``), the W3 posting writer's block buffer and the segment writer's
per-document steps (``pool``), the size of a packed integer (``positions``). Nothing else in
``search/`` touches a name with a leading underscore of Whoosh's; a different Whoosh version is
refused here, at import, instead of giving wrong answers later (``tests/search/test_whoosh_adapter.py``
fails on any other version, and proves that the fast paths below are the ones taken).

``FAST_PATH`` counts how often each fast path and each fallback ran (a ``collections.Counter``;
cheap enough to keep on: one increment per posting list or term, not per posting).
"""

from __future__ import annotations

import io
import mmap
import pickle
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import whoosh
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher, W3PerDocReader, W3TermsReader, _lenfield
from whoosh.columns import NumericColumn
from whoosh.filedb import compound as whoosh_compound
from whoosh.filedb.filestore import OverlayStorage
from whoosh.filedb.structfile import BufferFile
from whoosh.util.numeric import _length_byte_cache
from whoosh.matching import FilterMatcher
from whoosh.reading import SegmentReader
from whoosh.system import _INT_SIZE, pack_uint
from whoosh.writing import SegmentWriter

SUPPORTED_VERSION = (2, 7, 4)
if tuple(whoosh.__version__) != SUPPORTED_VERSION:  # pragma: no cover - the pin makes this unreachable
    raise ImportError(
        f"search/ reads the internals of Whoosh {'.'.join(map(str, SUPPORTED_VERSION))}; "
        f"Whoosh {whoosh.versionstring()} is installed (pyproject.toml pins the version exactly)"
    )

INT_SIZE: int = _INT_SIZE  # bytes of the frequency Whoosh packs before a posting's value
FAST_PATH: Counter[str] = Counter()

__all__ = [
    "FAST_PATH",
    "INT_SIZE",
    "SUPPORTED_VERSION",
    "PooledSegmentWriter",
    "field_lengths",
    "leaf_matcher",
    "numeric_column",
    "pack_uint",
    "posting_arrays",
    "posting_blocks",
    "segment_folder",
    "term_stats",
    "write_term_postings",
]


# -- reading: the blocks of a posting list ---------------------------------------------------


def leaf_matcher(m: Any) -> Any:
    """The posting reader under the filter Whoosh wraps around a segment with deletions."""
    return m.child if type(m) is FilterMatcher else m


def posting_blocks(m: Any) -> Iterator[tuple[Any, Any, Any]] | None:
    """(id deltas, weights, values) of each block of a W3 posting reader, or None for another kind.

    The ids of a block are deltas whose first is absolute; weights are None (all 1), one float
    (all equal) or a sequence; values are the encoded values (or None when the format has none).
    """
    if not isinstance(m, W3LeafMatcher):
        FAST_PATH["postings.matcher"] += 1
        return None
    FAST_PATH["postings.blocks"] += 1
    return _blocks(m)


def _blocks(m: W3LeafMatcher) -> Iterator[tuple[Any, Any, Any]]:
    while True:
        m._read_data()
        data = m._data
        yield data[0], data[1], data[2]
        if m._lastblock:
            return
        m._goto(m._nextoffset)


def segment_folder(reader: Any) -> str | None:
    """The directory of a segment reader's files (a compound segment's reader reads through an
    overlay of the compound file on the directory); None when they are not in a directory."""
    storage = reader.storage() if isinstance(reader, SegmentReader) else None
    if isinstance(storage, OverlayStorage):
        storage = storage.b
    folder = getattr(storage, "folder", None)
    return folder if isinstance(folder, str) else None


def release_mapped_pages(reader: Any) -> bool:
    """Drops this process's mapping of the pages of a compound segment it has read (``madvise(DONTNEED)``
    on Whoosh's memory map of the file): they stay in the page cache and are read again from there if
    touched, but no longer count in this process's resident memory. A pass over every posting list (the
    side files' writer) otherwise keeps hundreds of megabytes of the file resident. False when the
    segment is not memory-mapped."""
    storage = reader.storage() if isinstance(reader, SegmentReader) else None
    if isinstance(storage, OverlayStorage):
        storage = storage.a
    source = getattr(storage, "_source", None)
    if not isinstance(source, mmap.mmap) or not hasattr(mmap, "MADV_DONTNEED"):
        return False
    try:
        source.madvise(mmap.MADV_DONTNEED)
    except (OSError, ValueError):
        return False
    return True


def term_stats(reader: Any, fieldname: str) -> Iterator[tuple[bytes, int, float]] | None:
    """(term bytes, document frequency, total weight) of every term of a field of a W3 segment
    reader, in order; None for another kind of reader. (Whoosh's public ``iter_field`` makes the
    prefix a term of the field first, which fails for a date field, and decodes each term.)"""
    terms = reader._terms if isinstance(reader, SegmentReader) else None
    if not isinstance(terms, W3TermsReader):
        return None
    return _field_stats(terms, fieldname)


def _field_stats(terms: W3TermsReader, fieldname: str) -> Iterator[tuple[bytes, int, float]]:
    if fieldname not in terms._fieldmap:
        return
    for (found, tbytes), info in terms.items_from(fieldname, b""):
        if found != fieldname:
            return
        yield tbytes, info.doc_frequency(), info.weight()


def posting_arrays(blocks: Iterator[tuple[Any, Any, Any]], values: bool = False
                   ) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """(document numbers as int64, weights as float32, encoded values if ``values``) of the
    blocks ``posting_blocks`` gives; a block's weights are None (all 1), one float or one each."""
    id_parts: list[np.ndarray] = []
    weight_parts: list[np.ndarray] = []
    found: list[bytes] = []
    for deltas, block_weights, block_values in blocks:
        ids = np.cumsum(np.asarray(deltas, np.int64))  # each block starts from an absolute id
        id_parts.append(ids)
        if block_weights is None:
            weight_parts.append(np.ones(len(ids), np.float32))
        elif isinstance(block_weights, float):
            weight_parts.append(np.full(len(ids), block_weights, np.float32))
        else:
            weight_parts.append(np.asarray(block_weights, np.float32))
        if values:
            found.extend(block_values)
    if not id_parts:
        return np.empty(0, np.int64), np.empty(0, np.float32), found
    return np.concatenate(id_parts), np.concatenate(weight_parts), found


# -- reading: a segment's files without copying them ----------------------------------------------


class ViewStream:
    """A read-only file over a memory view (what ``BytesIO(view)`` gives, without the copy)."""

    def __init__(self, view: Any) -> None:
        self._view = memoryview(view)
        self._at = 0

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._at, len(self._view))[whence]
        self._at = max(0, base + offset)
        return self._at

    def tell(self) -> int:
        return self._at

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._at + size)
        data = bytes(self._view[self._at:end]) if end > self._at else b""
        self._at = max(self._at, end)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        view, end = self._view, len(self._view)
        if size is not None and size >= 0:
            end = min(end, self._at + size)
        stop = self._at
        while stop < end and view[stop] != 10:
            stop += 1
        return self.read(min(stop + 1, end) - self._at)

    def close(self) -> None:
        self._view.release()

    def read_pickle(self) -> Any:
        """``pickle.load(self)`` through a small window of the view: the unpickler reads a file
        object a few bytes per call (a posting block's header: ~20 calls of Python ``read``)."""
        window = 1024
        while True:
            chunk = io.BytesIO(self._view[self._at:self._at + window])
            try:
                found = pickle.load(chunk)
            except (EOFError, pickle.UnpicklingError):
                if self._at + window >= len(self._view):
                    raise
                window *= 16
                continue
            self._at += chunk.tell()
            return found


class LazyBufferFile(BufferFile):
    """Whoosh's ``BufferFile`` (a file of a segment, a view of the memory-mapped compound file)
    read as a stream through ``ViewStream`` instead of a ``BytesIO`` of the view.

    Whoosh's makes it at open, and ``BytesIO(view)`` copies the view: opening a reader copied the
    whole postings and terms files into memory (~350 ms of CPU and the file's size in resident
    memory per reader at 100,000 documents, gigabytes at a million).
    """

    def __init__(self, buf: Any, name: str | None = None, onclose: Any = None) -> None:
        self._buf = buf
        self._name = name
        self._stream: ViewStream | None = None
        self.onclose = onclose
        self.is_real = False
        self.is_closed = False

    @property
    def file(self) -> ViewStream:
        if self._stream is None:
            self._stream = ViewStream(self._buf)
        return self._stream

    @file.setter
    def file(self, value: ViewStream) -> None:
        self._stream = value

    def read_pickle(self) -> Any:
        return self.file.read_pickle()

    def close(self) -> None:
        if self.is_closed:
            raise ValueError("This file is already closed")
        if self.onclose:
            self.onclose(self)
        if self._stream is not None:
            self._stream.close()
        self.is_closed = True


whoosh_compound.BufferFile = LazyBufferFile  # what CompoundStorage.open_file makes


# -- reading: whole columns as arrays ---------------------------------------------------------

_BYTE_TO_LENGTH = np.asarray(_length_byte_cache, np.float32)


def _fixed_column_bytes(column: Any, doc_count: int, itemsize: int) -> tuple[bytes, int] | None:
    """(the stored bytes, how many documents they cover) of a fixed-width column reader."""
    if not isinstance(column, NumericColumn.Reader) or column._fixedlen != itemsize:
        return None
    count = min(column._count, doc_count)
    return (column._dbfile.get(column._basepos, count * itemsize) if count else b""), count


def field_lengths(reader: Any, fieldname: str) -> np.ndarray | None:
    """The length of ``fieldname`` in each document of a W3 segment reader, as
    ``reader.doc_field_length(n, fieldname, 0)`` gives it one by one (read as one array: a
    million documents took seconds through it); None for another kind of reader."""
    perdoc = reader._perdoc if isinstance(reader, SegmentReader) else None
    if not isinstance(perdoc, W3PerDocReader):
        return None
    size = reader.doc_count_all()
    column = perdoc._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
    if column is None:
        return np.zeros(size, np.float32)
    found = _fixed_column_bytes(column, size, 1)
    if found is None:
        return None
    data, count = found
    codes = np.full(size, column._default, np.uint8)
    codes[:count] = np.frombuffer(data, np.uint8)
    FAST_PATH["columns.lengths"] += 1
    return _BYTE_TO_LENGTH[codes]


def numeric_column(column: Any, size: int) -> np.ndarray | None:
    """The values of a numeric column reader (``column[n]`` of each document) as int64; None
    for another kind of column."""
    if not isinstance(column, NumericColumn.Reader) or column._typecode not in "bBhHiIqQ":
        return None
    dtype = np.dtype(">" + column._typecode)
    found = _fixed_column_bytes(column, size, dtype.itemsize)
    if found is None:
        return None
    data, count = found
    values = np.full(size, column._default, dtype.newbyteorder("="))
    values[:count] = np.frombuffer(data, dtype)
    FAST_PATH["columns.numeric"] += 1
    return values.astype(np.int64)  # an unsigned 64-bit default (the maximum) wraps to -1


# -- writing: a term's postings a block at a time --------------------------------------------


def write_term_postings(
    fieldwriter: Any, docs: list[int], weights: list[float], values: list[bytes], field_lengths: list[int] | None
) -> None:
    """What Whoosh's ``add_posting`` does once per posting, a block at a time.

    Call between the field writer's ``start_term`` and ``finish_term``; fills the W3 posting
    writer's block buffer (ids, weights, values and the block statistics) and writes full blocks.
    """
    writer = fieldwriter._postwriter
    limit = writer._blocklimit
    at, count = 0, len(docs)
    while at < count:
        if len(writer._ids) >= limit:
            writer._write_block()
        end = min(count, at + limit - len(writer._ids))
        writer._ids.extend(docs[at:end])
        block_weights = weights[at:end]
        writer._weights.extend(block_weights)
        writer._maxweight = max(writer._maxweight, max(block_weights))
        writer._values.extend(v for v in values[at:end] if v)
        if field_lengths is not None:
            present = [n for n in (field_lengths[d] for d in docs[at:end]) if n]
            if present:
                least = min(present)
                if writer._minlength is None or least < writer._minlength:
                    writer._minlength = least
                writer._maxlength = max(writer._maxlength, max(present))
        at = end
    FAST_PATH["write.blocks"] += 1


ITEMS_CACHED = 4096  # distinct values of one field whose postings a writer remembers

# -- writing: a segment writer whose postings go to a pool of the caller's ----------------------


class PooledSegmentWriter(SegmentWriter):
    """Whoosh's ``SegmentWriter`` with a field's postings handed to ``self.pool`` at once.

    A subclass sets ``self.pool`` (with ``add_field(fieldname, docnum, items, boost) -> length``
    and ``terms()``; optionally ``add_positions(fieldname, docnum, positions, field_boost, boost)
    -> length`` for a field whose format has ``positions_of``, see ``search.positions``), and may
    name in ``preanalysed`` a type whose ``items`` are a field's postings analysed elsewhere (its
    stored value then comes as ``_stored_<field>``).
    ``write_terms(fieldwriter, schema, lengths, doc_count, terms)`` writes the pooled terms.
    """

    pool: Any
    preanalysed: type | None = None
    write_terms: Callable[..., None]  # a staticmethod of the subclass

    def add_document(self, **fields: Any) -> None:
        """Whoosh's ``SegmentWriter.add_document`` with a field's postings pooled in one call."""
        self._check_state()
        perdocwriter = self.perdocwriter
        schema = self.schema
        docnum = self.docnum
        add_field = self.pool.add_field
        add_positions = getattr(self.pool, "add_positions", None)
        preanalysed = self.preanalysed
        docboost = self._doc_boost(fields)
        fieldnames = sorted(name for name in fields if not name.startswith("_"))
        self._check_fields(schema, fieldnames)
        perdocwriter.start_doc(docnum)
        for fieldname in fieldnames:
            value = fields.get(fieldname)
            if value is None:
                continue
            field = schema[fieldname]
            ready = preanalysed is not None and isinstance(value, preanalysed)
            length = 0
            if field.indexed:
                boost = self._field_boost(fields, fieldname, docboost)
                fast: Callable[..., Any] | None = (
                    None if ready or add_positions is None else getattr(field.format, "positions_of", None))
                positions = None if fast is None else fast(value, field.analyzer)
                if positions is not None and add_positions is not None:
                    length = add_positions(fieldname, docnum, positions, field.format.field_boost, boost)
                else:
                    items = value.items if ready else self._index_items(fieldname, field, value)
                    length = add_field(fieldname, docnum, items, boost)
                if not field.scorable:
                    length = 0
            if field.separate_spelling() or field.vector:
                raise NotImplementedError(f"field {fieldname!r}: spelling fields and vectors are not written here")
            customval = fields.get(f"_stored_{fieldname}", None if ready else value)
            perdocwriter.add_field(fieldname, field, customval if field.stored else None, length)
            column = field.column_type
            if column and customval is not None:
                perdocwriter.add_column_value(fieldname, column, field.to_column_value(customval))
        perdocwriter.finish_doc()
        self._added = True
        self.docnum += 1
        FAST_PATH["write.document"] += 1

    def _index_items(self, fieldname: str, field: Any, value: Any) -> Any:
        """``field.index(value)`` (Whoosh's postings of a value of a keyword, number or date field),
        remembered per field (not a text's) for its first ``ITEMS_CACHED`` distinct values: a type, a state, a
        folder path or a date recurs over many documents, and Whoosh's analysis of it (tokens,
        date bits) cost more than pooling its postings."""
        if field.format.supports("positions"):  # a text: rarely repeated, and large
            return field.index(value)
        cache = self.__dict__.setdefault("_search_items", {}).setdefault(fieldname, {})
        try:
            found = cache.get(value)
        except TypeError:  # not hashable
            return field.index(value)
        if found is None:
            found = list(field.index(value))
            if len(cache) < ITEMS_CACHED:
                cache[value] = found
        return found

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        pdr = self.per_document_reader() if self.codec.length_stats else None
        try:
            self.write_terms(self.fieldwriter, self.schema, pdr, self.docnum, self.pool.terms())
        finally:
            self.fieldwriter.close()
            if pdr:
                pdr.close()
