"""A segment's most frequent terms as flat arrays in a side file, read without decoding.

The first phrase of common words in a new process decoded every Whoosh W3 block of its words
(unpickle, decompress: ~2,400 blocks for two words in title and content at 100,000 documents,
~400-500 ms of CPU; ten times that at a million), and the auditor's access filter did the same for
``folder_path:0``, a term of every document. Segments never change once written, so the
writer copies the postings of each large segment's most frequent terms once, as plain arrays,
into a side file beside the segment; a reader maps it into memory and slices the arrays.

The file is ``<segment id>.frq`` in the generation's directory (Whoosh's own cleanup removes it
with its segment). Layout: the arrays, each at an 8-byte boundary, then a JSON header, then
the header's length (``<Q``) and ``MAGIC``. The header names the side file's version, the
segment id and its document count; a file that does not match the segment it sits beside is
never read (the W3 blocks are decoded as before), and the next writer replaces it.

Per term: the documents (version 4: a bitmap of the segment's documents for a term without
positions in more than one document in 32, else the document numbers ``<u4``, as every version-3
file has them), the weights (one value for all, the term count times one factor, or ``<f4`` each), and for a field
with ``ArrayPositions`` the count of positions per document (``u1``/``<u2``/``<u4``) and the
positions (``<u2`` or ``<u4``), document by document.
Deleted documents stay in, as in the W3 postings: readers remove them with the live mask.

And for the ``PAIR_TERMS`` most frequent words of a text field (each at least
``PAIR_POSITIONS_PER_DOC`` positions per document), for each ordered pair of them, the documents
(``<u4``) where the second follows the first right after: a two-word phrase of such words is one
lookup. Matching it from positions costs ~50 ms at 100,000 documents and ~1 s at a million
(the keys of ~8 million positions a word, built, sorted and merged), for any process.

Which terms: in a segment of at least ``MIN_DOCS`` documents, the terms of ``MIN_DOCS`` or more
documents of the text fields (with positions) and of the fields an access filter reads, most
frequent first, until a text field's copied positions reach ``POSITIONS_PER_DOC`` per document
(an access field's postings ``POSTINGS_PER_DOC``). At 100,000 synthetic documents: the four most
frequent lemmas of the content, ``folder_path`` and the other access terms: 2% of the index.
"""

from __future__ import annotations

import json
import mmap
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from search.access import ACCESS_FIELDS
from search.positions import ArrayPositions, common_values, position_keys, positions_of
from search.whoosh_adapter import (
    FAST_PATH,
    leaf_matcher,
    posting_arrays,
    posting_blocks,
    release_mapped_pages,
    segment_folder,
    term_stats,
)

VERSION = 4  # 3: postings-only entries of text terms beyond the positions budget; 4: documents as a bitmap
READABLE_VERSIONS = (3, 4)  # a version-3 file reads as before (it has no bitmap): no reindex needed to upgrade
MAGIC = b"PECHFRQ1"
EXTENSION = ".frq"
MIN_DOCS = 4096  # a shorter posting list decodes in a few milliseconds: not worth a copy
POSITIONS_PER_DOC = 32  # per positional field, copied positions per document of the segment
POSTINGS_PER_DOC = 16  # per field without positions, copied postings per document
# per positional field, beyond its positions: postings (documents and counts) of the next most frequent terms, per
# document (a word of most documents not among the few whose positions are copied decoded ~7,800 W3 blocks, about
# a second, at its first query at 1,000,000 documents). A dense term's documents are a bitmap (version 4), so a
# posting costs little more than its count's byte: 64 a document cover the content's ~75 most frequent words of
# bench/search.py's documents (16 covered ~20, and a query of three words of rank 20-70 decoded 19,940 blocks,
# 1.4 s, at its first run at a million)
TEXT_POSTINGS_PER_DOC = 64
PAIR_TERMS = 4  # per positional field, the most frequent words whose adjacent pairs are kept
PAIR_POSITIONS_PER_DOC = 1.0  # ... among those with at least this many positions per document
PAIR_CHUNK_DOCS = 65536  # documents whose positions are paired at a time
# postings read between two releases of the segment's mapped pages (at a million documents the pass over the
# chosen terms kept 570 MB of the file resident, and a rebuild's peak RSS went from 918 MB to 1.2 GB)
RELEASE_AFTER_POSTINGS = 100_000
RECHECK_SECONDS = 5.0  # how long a reader trusts that a segment has no usable side file
CACHED_SEGMENTS = 64

Postings = tuple[np.ndarray, np.ndarray]
Positions = tuple[np.ndarray, np.ndarray]


def side_file(folder: str | os.PathLike[str], segment_id: str) -> Path:
    return Path(folder) / f"{segment_id}{EXTENSION}"


# -- writing ---------------------------------------------------------------------------------


def _smallest_uint(largest: int) -> np.dtype:
    for dtype in ("u1", "<u2", "<u4"):
        if largest <= np.iinfo(np.dtype(dtype)).max:
            return np.dtype(dtype)
    raise ValueError(f"{largest} does not fit in 32 bits")


def choose_terms(reader: Any, schema: Any) -> list[tuple[str, bytes, bool]]:
    """(field, term bytes, with positions) of the segment's terms worth a flat copy, most frequent first per
    field: of a text field, positions while they fit ``POSITIONS_PER_DOC``, then the postings alone (documents and
    counts: a word query, ranking) of the next terms while they fit ``TEXT_POSTINGS_PER_DOC``."""
    size = reader.doc_count_all()
    if size < MIN_DOCS:
        return []
    by_field: dict[str, list[tuple[int, float, bytes]]] = {}
    for fieldname in sorted(set(reader.indexed_field_names()) & set(schema.names())):
        field = schema[fieldname]
        if field.unique or (fieldname not in ACCESS_FIELDS and not isinstance(field.format, ArrayPositions)):
            continue  # a unique field's terms are of one document each
        stats = term_stats(reader, fieldname)
        if stats is None:
            return []
        by_field[fieldname] = [(df, weight, tbytes) for tbytes, df, weight in stats if df >= MIN_DOCS]
    chosen: list[tuple[str, bytes, bool]] = []
    for fieldname, found in sorted(by_field.items()):
        positional = isinstance(schema[fieldname].format, ArrayPositions)
        found.sort(key=lambda t: (-t[0], t[2]))
        budget = (POSITIONS_PER_DOC if positional else POSTINGS_PER_DOC) * size
        spent = 0
        boost = float(schema[fieldname].format.field_boost) or 1.0
        rest = iter(found)
        for df, weight, tbytes in rest:
            cost = int(round(weight / boost)) if positional else df  # positions: the total weight / boost
            if spent + cost > budget:
                if positional:  # this one and the next: their postings alone
                    postings_budget = TEXT_POSTINGS_PER_DOC * size - df
                    if postings_budget >= 0:
                        chosen.append((fieldname, tbytes, False))
                    for df, _, tbytes in rest:
                        postings_budget -= df
                        if postings_budget < 0:
                            break
                        chosen.append((fieldname, tbytes, False))
                break
            spent += cost
            chosen.append((fieldname, tbytes, positional))
    return chosen


class _Out:
    """Arrays appended to a file at 8-byte boundaries; ``put`` answers [offset, count, dtype]."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.at = 0

    def put(self, array: np.ndarray) -> list:
        pad = -self.at % 8
        if pad:
            self.f.write(b"\0" * pad)
            self.at += pad
        data = np.ascontiguousarray(array).tobytes()
        self.f.write(data)
        offset = self.at
        self.at += len(data)
        return [offset, len(array), array.dtype.str]


def _decode(m: Any, positional: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(documents, weights, positions per document, positions) of a W3 posting list."""
    blocks = posting_blocks(leaf_matcher(m))
    if blocks is None:
        raise TypeError("not a W3 posting list")
    docs, weights, values = posting_arrays(blocks, values=positional)
    if not positional:
        return docs, weights, None, None
    if len(values) != len(docs):
        raise ValueError("a posting without positions")
    counts, positions = positions_of(values)
    return docs, weights, counts, positions


def _docs_entry(out: _Out, docs: np.ndarray, doc_count: int, bitmap: bool) -> dict:
    """The documents of a posting list: a bitmap of the segment's documents (``bits``, bit ``n`` of byte ``n // 8``,
    little-endian) when ``bitmap`` and it is smaller than their numbers, i.e. for a term of more than one document in
    32 (a bit a document against 4 bytes a posting), else the numbers (``docs``, ``<u4``). Only entries read once
    and then kept decoded by the postings cache take a bitmap (2.4 ms to turn into numbers at a million): a word's
    positions at a million outgrow the positions cache, and a pair is read at each phrase, so they keep numbers."""
    if bitmap and len(docs) * 32 > doc_count:
        mask = np.zeros(doc_count, bool)
        mask[docs] = True
        return {"bits": out.put(np.packbits(mask, bitorder="little"))}
    return {"docs": out.put(docs.astype("<u4"))}


def _weights_entry(out: _Out, weights: np.ndarray, counts: np.ndarray | None) -> dict:
    if len(weights) and np.all(weights == weights[0]):
        return {"const": float(weights[0])}
    if counts is not None and len(counts) and counts[0] > 0:
        factor = np.float32(weights[0] / np.float32(counts[0]))
        if np.array_equal(counts.astype(np.float32) * factor, weights):
            return {"counts": float(factor)}
    return {"array": out.put(weights.astype("<f4"))}


def write_side_file(reader: Any, schema: Any, folder: str | os.PathLike[str]) -> Path | None:
    """Writes the side file of a segment reader's frequent terms (atomically: a temporary file
    renamed); None when the segment has no term worth it. The caller holds the writer lock."""
    segment = reader.segment()
    terms = choose_terms(reader, schema)
    if segment is None or not terms:
        return None
    target = side_file(folder, segment.segment_id())
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    entries: list[dict] = []
    try:
        with open(temporary, "wb") as f:
            out = _Out(f)
            pairable: dict[str, list[tuple[bytes, np.ndarray, np.ndarray, np.ndarray]]] = {}
            read = 0
            for fieldname, tbytes, with_positions in terms:
                if read >= RELEASE_AFTER_POSTINGS:
                    release_mapped_pages(reader)  # the postings read so far leave this process's RSS
                    read = 0
                positional = isinstance(schema[fieldname].format, ArrayPositions)
                docs, weights, counts, positions = _decode(reader.postings(fieldname, tbytes), with_positions)
                read += len(docs)
                docs = docs.astype("<u4")
                entry: dict[str, Any] = {"field": fieldname, "term": tbytes.hex(),
                                         **_docs_entry(out, docs, reader.doc_count_all(), not with_positions)}
                if positional and not with_positions:  # the postings alone: the counts of positions, no positions
                    boost = np.float32(float(schema[fieldname].format.field_boost) or 1.0)
                    counts = np.rint(weights / boost)
                    entry["weights"] = _weights_entry(out, weights, counts)
                    if "counts" in entry["weights"]:
                        entry["counts"] = out.put(counts.astype(_smallest_uint(int(counts.max(initial=0)))))
                    entries.append(entry)
                    continue
                entry["weights"] = _weights_entry(out, weights, counts)
                if counts is not None and positions is not None:
                    counts = counts.astype(_smallest_uint(int(counts.max(initial=0))))
                    positions = positions.astype(_smallest_uint(max(int(positions.max(initial=0)), 0xFFFF)))
                    entry["counts"], entry["positions"] = out.put(counts), out.put(positions)
                    kept = pairable.setdefault(fieldname, [])
                    if len(kept) < PAIR_TERMS and len(positions) >= PAIR_POSITIONS_PER_DOC * reader.doc_count_all():
                        kept.append((tbytes, docs, counts, positions))
                entries.append(entry)
            release_mapped_pages(reader)
            pairs = [{"field": fieldname, "first": first.hex(), "second": second.hex(), "docs": out.put(docs)}
                     for fieldname, words in sorted(pairable.items())
                     for first, second, docs in _adjacent_pairs(words, reader.doc_count_all())]
            header = json.dumps({"version": VERSION, "segment": segment.segment_id(),
                                 "docs": reader.doc_count_all(), "terms": entries, "pairs": pairs}).encode()
            f.write(header)
            f.write(np.array([len(header)], "<u8").tobytes() + MAGIC)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    FAST_PATH["frequent.written"] += 1
    return target


def _adjacent_pairs(words: list[tuple[bytes, np.ndarray, np.ndarray, np.ndarray]], doc_count: int
                    ) -> Iterable[tuple[bytes, bytes, np.ndarray]]:
    """(first, second, documents where second follows first right after) of each ordered pair of
    the words (a word and itself too), as ``<u4``; ``PAIR_CHUNK_DOCS`` documents at a time, so that
    the keys of the words' positions stay small (64 MB a word at a million documents at once)."""
    starts = [np.concatenate(([0], np.cumsum(counts, dtype=np.int64))) for _, _, counts, _ in words]
    found: dict[tuple[bytes, bytes], list[np.ndarray]] = {(a[0], b[0]): [] for a in words for b in words}
    for low in range(0, doc_count, PAIR_CHUNK_DOCS):
        keys = []
        for (_, docs, counts, positions), start in zip(words, starts, strict=True):
            i, j = np.searchsorted(docs, [low, low + PAIR_CHUNK_DOCS])
            keys.append(position_keys(docs[i:j], counts[i:j], positions[start[i]:start[j]]))
        for (first, *_), first_keys in zip(words, keys, strict=True):
            follows = first_keys + 1
            for (second, *_), second_keys in zip(words, keys, strict=True):
                found[first, second].append(np.unique(common_values(follows, second_keys) >> 32))
    for (first, second), parts in found.items():
        yield first, second, np.concatenate(parts).astype("<u4") if parts else np.empty(0, "<u4")


def _usable(path: Path, segment_id: str, doc_count: int) -> bool:
    try:
        return FrequentTerms(path, segment_id, doc_count) is not None
    except (OSError, ValueError):
        return False


def ensure_side_files(ix: Any) -> list[Path]:
    """Writes the side file of every segment of a Whoosh index that needs one and has none that
    matches it (a new or merged segment, an index written before side files, a stale file).
    Whoosh removes a side file with its segment. The caller holds the writer lock."""
    folder = getattr(ix.storage, "folder", None)
    if folder is None:
        return []
    written: list[Path] = []
    with ix.reader() as top:
        for reader in _segment_readers(top):
            segment = reader.segment()
            if segment is None or reader.doc_count_all() < MIN_DOCS:
                continue
            path = side_file(folder, segment.segment_id())
            if path.exists() and _usable(path, segment.segment_id(), reader.doc_count_all()):
                continue
            made = write_side_file(reader, ix.schema, folder)
            if made is not None:
                written.append(made)
    return written


def _segment_readers(top: Any) -> Iterable[Any]:
    return [r for r, _ in top.leaf_readers()]


# -- reading ---------------------------------------------------------------------------------


class FrequentTerms:
    """The side file of one segment, memory-mapped; raises ValueError when it is not that
    segment's (another segment, another document count, another version, cut short)."""

    def __init__(self, path: Path, segment_id: str, doc_count: int) -> None:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 16:
                raise ValueError(f"{path}: too short")
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if self._map[size - 8:] != MAGIC:
            raise ValueError(f"{path}: not a side file")
        header_size = int(np.frombuffer(self._map, "<u8", 1, size - 16)[0])
        if header_size > size - 16:
            raise ValueError(f"{path}: cut short")
        header = json.loads(bytes(self._map[size - 16 - header_size:size - 16]))
        if (header.get("version") not in READABLE_VERSIONS
                or (header.get("segment"), header.get("docs")) != (segment_id, doc_count)):
            raise ValueError(f"{path}: written for another segment or version")
        self._doc_count = doc_count
        self._data_end = size - 16 - header_size
        self._terms: dict[tuple[str, bytes], dict] = {
            (entry["field"], bytes.fromhex(entry["term"])): entry for entry in header["terms"]}
        self._pairs: dict[tuple[str, bytes, bytes], dict] = {
            (pair["field"], bytes.fromhex(pair["first"]), bytes.fromhex(pair["second"])): pair
            for pair in header["pairs"]}

    def pair_docs(self, fieldname: str, first: bytes, second: bytes) -> np.ndarray | None:
        """The documents (int64) where ``second`` comes right after ``first``, if the file has the pair."""
        entry = self._pairs.get((fieldname, first, second))
        return None if entry is None else self._docs(entry)

    def _docs(self, entry: dict, dtype: type = np.int64) -> np.ndarray:
        """An entry's documents (ascending), from its bitmap or its numbers."""
        if "bits" in entry:
            bits = self._array(entry["bits"])
            if len(bits) * 8 < self._doc_count:
                raise ValueError("a bitmap shorter than the segment")
            found = np.flatnonzero(np.unpackbits(bits, count=self._doc_count, bitorder="little"))
        else:
            found = self._array(entry["docs"])
        return found.astype(dtype, copy=False)

    def _array(self, spec: list) -> np.ndarray:
        offset, count, dtype = spec
        dtype = np.dtype(dtype)
        if offset + count * dtype.itemsize > self._data_end:
            raise ValueError("an array beyond the data")
        return np.frombuffer(self._map, dtype, count, offset)

    def __contains__(self, key: tuple[str, bytes]) -> bool:
        return key in self._terms

    def has_positions(self, fieldname: str, tbytes: bytes) -> bool:
        entry = self._terms.get((fieldname, tbytes))
        return entry is not None and "positions" in entry

    def top(self, fieldname: str, count: int) -> list[bytes]:
        """The ``count`` most frequent terms of a field the file holds, most frequent first."""
        return [term for field, term in self._terms if field == fieldname][:count]

    def postings(self, fieldname: str, tbytes: bytes) -> Postings | None:
        """(document numbers as int64, weights as float32), as ``postings._decode`` gives them."""
        entry = self._terms.get((fieldname, tbytes))
        if entry is None:
            return None
        docs = self._docs(entry)
        weights = entry["weights"]
        if "const" in weights:
            values = np.full(len(docs), weights["const"], np.float32)
        elif "counts" in weights:
            values = self._array(entry["counts"]).astype(np.float32) * np.float32(weights["counts"])
        else:
            values = self._array(weights["array"]).astype(np.float32)
        return docs, values

    def positions(self, fieldname: str, tbytes: bytes) -> Positions | None:
        """(document of each position, position) as uint32, as ``postings._decode_positions``."""
        entry = self._terms.get((fieldname, tbytes))
        if entry is None or "positions" not in entry:
            return None
        docs = self._docs(entry, np.uint32)
        counts = self._array(entry["counts"])
        return np.repeat(docs, counts), self._array(entry["positions"]).astype(np.uint32)


class SideFiles:
    """The side file of each segment a reader meets (None: none usable, looked for again after
    ``RECHECK_SECONDS``, so that a file the writer adds after a merge is found)."""

    def __init__(self, entries: int = CACHED_SEGMENTS) -> None:
        self.entries = entries
        self._found: OrderedDict[str, tuple[FrequentTerms | None, float]] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, reader: Any) -> FrequentTerms | None:
        segment = reader.segment()
        if segment is None or reader.doc_count_all() < MIN_DOCS:
            return None
        key = segment.segment_id()
        now = time.monotonic()
        with self._lock:
            cached = self._found.get(key)
            if cached is not None and (cached[0] is not None or now - cached[1] < RECHECK_SECONDS):
                self._found.move_to_end(key)
                return cached[0]
        folder = segment_folder(reader)
        found: FrequentTerms | None = None
        if folder is not None:
            try:
                found = FrequentTerms(side_file(folder, key), key, reader.doc_count_all())
            except FileNotFoundError:
                FAST_PATH["frequent.missing"] += 1
            except (OSError, ValueError):
                FAST_PATH["frequent.stale"] += 1
        with self._lock:
            self._found[key] = (found, now)
            self._found.move_to_end(key)
            while len(self._found) > self.entries:
                self._found.popitem(last=False)
        return found


SIDE_FILES = SideFiles()

__all__ = ["SIDE_FILES", "FrequentTerms", "SideFiles", "choose_terms", "ensure_side_files", "side_file",
           "write_side_file"]
