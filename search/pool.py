"""A faster segment writer for Whoosh: postings grouped by term in flat arrays, not sorted tuples.

Whoosh's ``PostingPool`` keeps every posting as a 5-tuple (about 200 bytes of Python objects),
sorts the tuples, pickles them one by one into runs on disk when ``limitmb`` is reached, merges
the runs with ``heapq`` and unpickles every posting again; then its field writer looks up the
document's field length in a column file once per posting. Together that was about half of
the time of a rebuild.

Here a posting costs five appends to flat arrays (term number, document, weight, value length,
value bytes: 20 bytes plus the value). A run is ordered with one numpy sort by (term, document)
and spilled to disk as arrays; at the end the runs are merged term by term (not posting by
posting) and written straight to the codec's field writer, with field lengths read once per
field into a list. The segment files are exactly what Whoosh writes (the tests compare every
posting with an index built by Whoosh's own writer).
"""

from __future__ import annotations

import contextlib
import heapq
import os
import pickle
import shutil
import struct
import tempfile
from array import array
from collections.abc import Iterator

import numpy as np

from search.parallel import Analyzed
from search.whoosh_adapter import INT_SIZE, PooledSegmentWriter, pack_uint, write_term_postings

KEYS_PIECE = 4096  # term keys of a run pickled together
TERM_OVERHEAD = 160  # bytes of a new term's dictionary entry and key, for the memory bound
POSTING_BYTES = 64  # 20 in the arrays, and the numpy arrays that sort a run

# (fieldname, term bytes, document numbers, weights, values) of one term, or of a part of it
# (consecutive parts of one term: documents ascending across them), documents ascending.
TermPostings = tuple[str, bytes, list[int], list[float], list[bytes]]


class TermPool:
    """Collects a segment's postings and gives them back grouped by term, in Whoosh's order.

    Memory is bounded by ``limitmb``: beyond it the postings so far are sorted and written to a
    run directory under ``tempdir``; runs are merged at the end. Postings of one term must
    arrive in ascending document order (Whoosh's writer numbers documents as they come, and
    merged segments after them).
    """

    def __init__(self, limitmb: int = 128, tempdir: str | None = None) -> None:
        self.limit = limitmb * 1024 * 1024
        self._tempdir = tempfile.mkdtemp(prefix="pool-", dir=tempdir)
        self._runs: list[str] = []
        self._reset()

    def _reset(self) -> None:
        self._term_ids: dict[str, dict[bytes, int]] = {}
        self._keys: list[tuple[str, bytes]] = []
        self._terms = array("I")
        self._docs = array("I")
        self._posting_weights = array("d")
        self._value_lengths = array("I")
        self._value_bytes = bytearray()
        self._size = 0

    def add(self, item: tuple[str, bytes, int, float, bytes | None]) -> None:
        """Whoosh's interface (used when segments are merged): one posting."""
        fieldname, tbytes, docnum, weight, vbytes = item
        self.add_field(fieldname, docnum, ((tbytes, 1, weight, vbytes),), 1.0)

    def _field_terms(self, fieldname: str) -> dict[bytes, int]:
        ids = self._term_ids.get(fieldname)
        if ids is None:
            ids = self._term_ids[fieldname] = {}
        return ids

    def _new_term(self, ids: dict[bytes, int], fieldname: str, tbytes: bytes) -> int:
        term = ids[tbytes] = len(self._keys)
        self._keys.append((fieldname, tbytes))
        return term

    def _count_postings(self, docnum: int, count: int, size: int) -> None:
        """Counts ``count`` postings of document ``docnum`` (``size`` bytes) and spills if full."""
        self._docs.extend(array("I", (docnum,)) * count)
        self._size += size
        if self._size > self.limit:
            self._spill()

    def add_field(self, fieldname: str, docnum: int, items, boost: float) -> int:  # noqa: ANN001
        """The postings of one field of one document: ``items`` are Whoosh's (term bytes,
        frequency, weight, value); returns the field's length (the sum of frequencies)."""
        ids = self._field_terms(fieldname)
        terms, weights = self._terms, self._posting_weights
        value_lengths, values = self._value_lengths, self._value_bytes
        count = length = added = 0
        for tbytes, freq, weight, vbytes in items:
            term = ids.get(tbytes)
            if term is None:
                term = self._new_term(ids, fieldname, tbytes)
                added += TERM_OVERHEAD + len(tbytes)
            terms.append(term)
            weights.append(weight * boost)
            if vbytes:
                value_lengths.append(len(vbytes))
                values += vbytes
                added += len(vbytes)
            else:
                value_lengths.append(0)
            length += freq
            count += 1
        self._count_postings(docnum, count, added + POSTING_BYTES * count)
        return length

    def add_positions(self, fieldname: str, docnum: int, positions: dict[bytes, list[int]], field_boost: float,
                      boost: float) -> int:
        """The postings of one text field of one document from its {term bytes: positions}: what
        ``add_field`` stores for ``ArrayPositions.word_values``'s items (frequency ``n``, weight
        ``n * field_boost``, value the count and the positions), without making them; returns the
        field's length."""
        ids = self._field_terms(fieldname)
        terms, weights = self._terms, self._posting_weights
        value_lengths, values = self._value_lengths, self._value_bytes
        length = added = 0
        for tbytes, poslist in positions.items():
            term = ids.get(tbytes)
            if term is None:
                term = self._new_term(ids, fieldname, tbytes)
                added += TERM_OVERHEAD + len(tbytes)
            terms.append(term)
            n = len(poslist)
            weights.append(n * field_boost * boost)
            value_lengths.append(INT_SIZE + 4 * n)
            values += pack_uint(n)
            values += _pack_positions(n, poslist)
            length += n
        count = len(positions)
        values_size = INT_SIZE * count + 4 * length
        self._count_postings(docnum, count, added + values_size + POSTING_BYTES * count)
        return length

    # -- ordering and runs ---------------------------------------------------------------------

    def _sorted_run(self, directory: str) -> Run:
        """Writes the postings held in memory to ``directory``, ordered by (field, term, document)."""
        keys = self._keys
        by_key = sorted(range(len(keys)), key=keys.__getitem__)
        rank = np.empty(len(keys), np.int64)
        rank[by_key] = np.arange(len(keys))
        terms = rank[np.frombuffer(self._terms, np.uint32)]
        docs = np.frombuffer(self._docs, np.uint32)
        order = np.lexsort((docs, terms))  # stable: equal keys keep their order of arrival
        terms = terms[order]
        lengths = np.frombuffer(self._value_lengths, np.uint32)
        starts = (np.cumsum(lengths, dtype=np.int64) - lengths)[order]
        lengths = lengths[order]
        first = np.flatnonzero(np.diff(terms, prepend=-1))  # the first posting of each term
        run = Run(directory)
        run_keys = [keys[by_key[t]] for t in terms[first].tolist()]
        run_counts = np.diff(np.append(first, len(terms))).tolist()
        os.makedirs(directory, exist_ok=True)
        weights = np.frombuffer(self._posting_weights, np.float64)[order]
        for name, values in (("docs", docs[order]), ("weights", weights), ("lengths", lengths)):
            values.tofile(os.path.join(directory, name))
        # The values in the run's order too, so that the merge reads every file front to back.
        with open(os.path.join(directory, "values"), "wb") as f:
            _write_gathered(f, np.frombuffer(self._value_bytes, np.uint8), starts, lengths)
        with open(os.path.join(directory, "keys.pickle"), "wb") as f:
            # The total first, then the keys a piece at a time: a merge reads each run's keys as
            # it goes (the keys of ~120 runs of a million documents, unique ids and numbers
            # included, held at once took ~400 MB).
            pickle.dump(len(terms), f, protocol=pickle.HIGHEST_PROTOCOL)
            for lo in range(0, len(run_keys), KEYS_PIECE):
                pickle.dump((run_keys[lo:lo + KEYS_PIECE], run_counts[lo:lo + KEYS_PIECE]), f,
                            protocol=pickle.HIGHEST_PROTOCOL)
        return run

    def _spill(self) -> None:
        self._runs.append(self._sorted_run(os.path.join(self._tempdir, f"run-{len(self._runs):04d}")).directory)
        self._reset()

    def terms(self) -> Iterator[TermPostings]:
        """Every term's postings, fields and terms ascending, documents ascending within a term.

        A term held by several runs comes as consecutive parts (one per run, in document order),
        never joined: the most common term of a million documents would otherwise be a list of a
        million postings, and joining part by part copied it once per run (quadratic in runs).
        """
        if self._docs:
            self._spill()
        runs = [Run.load(path) for path in self._runs]
        if len(runs) == 1:
            yield from runs[0].terms()
            return
        # A run's chunk is a buffer of this many postings, so that all of them fit in a bounded
        # memory whatever the number of runs (a million documents spill about a hundred).
        chunk = min(Run.CHUNK, max(Run.MIN_CHUNK, Run.MERGE_BUFFER // len(runs)))
        # heapq.merge is stable: parts of one term come in the order of the runs (documents ascending).
        yield from heapq.merge(*(run.terms(chunk) for run in runs), key=_term_key)

    def iter_postings(self) -> Iterator[tuple[str, bytes, int, float, bytes]]:
        """Whoosh's interface: (fieldname, term bytes, document, weight, value) in order."""
        for fieldname, tbytes, docs, weights, values in self.terms():
            for doc, weight, value in zip(docs, weights, values, strict=False):
                yield fieldname, tbytes, doc, weight, value

    def cleanup(self) -> None:
        shutil.rmtree(self._tempdir, ignore_errors=True)
        self._runs = []
        self._reset()


class Run:
    """One sorted run on disk: term keys and counts, and the postings' arrays (memory-mapped)."""

    CHUNK = 1 << 16  # postings read from the run's files at a time
    MIN_CHUNK = 1 << 10
    MERGE_BUFFER = 1 << 21  # postings buffered over all the runs of a merge (~60 MB)

    def __init__(self, directory: str) -> None:
        self.directory = directory

    @classmethod
    def load(cls, directory: str) -> Run:
        """The run in ``directory`` (its keys are read as its terms are)."""
        return cls(directory)

    def _keys(self) -> Iterator[tuple[tuple[str, bytes], int]]:
        """((fieldname, term bytes), postings) of each term, read a piece at a time."""
        with open(os.path.join(self.directory, "keys.pickle"), "rb") as f:
            pickle.load(f)  # the total
            while True:
                try:
                    keys, counts = pickle.load(f)
                except EOFError:
                    return
                yield from zip(keys, counts, strict=True)

    def _total(self) -> int:
        with open(os.path.join(self.directory, "keys.pickle"), "rb") as f:
            total: int = pickle.load(f)
        return total

    def terms(self, chunk: int | None = None) -> Iterator[TermPostings]:
        """The run's terms in order, read from its files ``chunk`` postings at a time (held as
        numpy arrays, made lists one term at a time; not memory-mapped: mapped pages would count
        in the writer's resident memory)."""
        chunk = chunk or self.CHUNK
        total = self._total()
        with contextlib.ExitStack() as stack:
            files = {name: stack.enter_context(open(os.path.join(self.directory, name), "rb"))
                     for name in ("docs", "weights", "lengths", "values")}
            base = loaded = 0  # postings [base, loaded) are held
            docs = weights = lengths = ends = np.zeros(0, np.int64)
            blob = b""
            at = 0  # the term's first posting
            for (fieldname, tbytes), n in self._keys():
                end = at + n
                if end > loaded:
                    consumed = int(ends[at - base - 1]) if at > base else 0
                    base, loaded = at, min(total, max(end, at + chunk))
                    docs = _read(files["docs"], np.uint32, base, loaded)
                    weights = _read(files["weights"], np.float64, base, loaded)
                    lengths = _read(files["lengths"], np.uint32, base, loaded)
                    ends = np.cumsum(lengths, dtype=np.int64)
                    blob = blob[consumed:]
                    blob += files["values"].read(int(ends[-1]) - len(blob))
                i, j = at - base, end - base
                start = int(ends[i - 1]) if i else 0
                if n == 1:
                    values = [blob[start:int(ends[i])]]
                else:
                    values = []
                    for stop in ends[i:j].tolist():
                        values.append(blob[start:stop])
                        start = stop
                yield fieldname, tbytes, docs[i:j].tolist(), weights[i:j].tolist(), values
                at = end


def _term_key(term: TermPostings) -> tuple[str, bytes]:
    return term[0], term[1]


_ONE_POSITION = struct.Struct("<I").pack


def _pack_positions(n: int, poslist: list[int]) -> bytes:
    """The positions as ``ArrayPositions`` encodes them after the count (little-endian uint32)."""
    return _ONE_POSITION(poslist[0]) if n == 1 else struct.pack(f"<{n}I", *poslist)


def _write_gathered(f, blob: np.ndarray, starts: np.ndarray, lengths: np.ndarray, chunk: int = 1 << 16) -> None:  # noqa: ANN001
    """Writes the byte ranges [start, start + length) of ``blob`` one after another, a chunk
    of ranges at a time (an index array per chunk, not per byte of the whole run)."""
    for lo in range(0, len(starts), chunk):
        first, sizes = starts[lo:lo + chunk], lengths[lo:lo + chunk].astype(np.int64)
        total = int(sizes.sum())
        if total:
            # Output byte k of a range is blob[start + k - (where the range begins in the output)].
            begins = np.cumsum(sizes) - sizes
            f.write(blob[np.repeat(first - begins, sizes) + np.arange(total)].tobytes())


def _read(f, dtype: type, start: int, end: int) -> np.ndarray:  # noqa: ANN001
    """Items [start, end) of a file of ``dtype`` items."""
    size = np.dtype(dtype).itemsize
    f.seek(start * size)
    return np.fromfile(f, dtype, end - start)


class FastSegmentWriter(PooledSegmentWriter):
    """Whoosh's segment writer with the term pool above, postings written a block at a time."""

    preanalysed = Analyzed  # a text field analysed by a worker (search.parallel) comes as its postings

    def __init__(self, ix, limitmb: int = 128, **kwargs) -> None:  # noqa: ANN001
        super().__init__(ix, limitmb=limitmb, **kwargs)
        # Runs go beside the index (a failed rebuild removes its directory, runs included).
        self.pool = TermPool(limitmb=limitmb, tempdir=getattr(ix.storage, "folder", None))

    @staticmethod
    def write_terms(fieldwriter, schema, lengths, doc_count: int, terms: Iterator[TermPostings]) -> None:  # noqa: ANN001
        write_terms(fieldwriter, schema, lengths, doc_count, terms)


def write_terms(fieldwriter, schema, lengths, doc_count: int, terms: Iterator[TermPostings]) -> None:  # noqa: ANN001
    """What Whoosh's ``FieldWriter.add_postings`` does, a block of postings at a time
    (``whoosh_adapter.write_term_postings`` fills the W3 posting writer's block buffer)."""
    current: str | None = None
    field_lengths: list[int] | None = None
    term: bytes | None = None
    for fieldname, tbytes, docs, weights, values in terms:
        if fieldname != current:
            if term is not None:
                fieldwriter.finish_term()
                term = None
            if current is not None:
                fieldwriter.finish_field()
            fieldwriter.start_field(fieldname, schema[fieldname])
            current = fieldname
            field_lengths = _field_lengths(lengths, fieldname, doc_count) if schema[fieldname].scorable else None
        if tbytes != term:  # else: the next part of the same term (from the next run)
            if term is not None:
                fieldwriter.finish_term()
            fieldwriter.start_term(tbytes)
            term = tbytes
        write_term_postings(fieldwriter, docs, weights, values, field_lengths)
    if term is not None:
        fieldwriter.finish_term()
    if current is not None:
        fieldwriter.finish_field()


def _field_lengths(lengths, fieldname: str, doc_count: int) -> list[int]:  # noqa: ANN001
    if lengths is None:
        return [0] * doc_count
    length = lengths.doc_field_length
    return [length(n, fieldname, 0) or 0 for n in range(doc_count)]


__all__ = ["FastSegmentWriter", "TermPool", "write_terms"]
