"""The document index on disk: one writer at a time, readers cached, rebuilds swapped atomically.

Layout of the index root directory::

    root/writer.lock      held (flock) by the one process that writes
    root/current          symlink to the live generation, replaced atomically by a rebuild
    root/gen-000001/      a Whoosh index (one generation)
    root/gen-000001/index-format   the format it was written in (``schema.INDEX_FORMAT``)
    root/gen-000001/MAIN_<segment id>.frq   a large segment's frequent terms as flat arrays
                  (``search.frequent``; optional: written after each commit, read when it matches)

Readers resolve ``current`` when they open a searcher, so a rebuild never shows them a
half-built index; the previous generation is kept so that open searchers stay valid.

A generation written in another format (older terms) is refused for reading and writing with
``StaleIndexError`` (a generation without the file is format 1); only ``rebuild`` replaces it.
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from whoosh import index as whoosh_index
from whoosh.index import Index
from whoosh.reading import ReaderClosed
from whoosh.searching import Searcher

from search.access import VisibleDocsCache
from search.docsets import FacetCodes
from search.errors import IndexLockedError, IndexMissingError, InvalidDocumentError, StaleIndexError
from search.frequent import ensure_side_files
from search.parallel import DEFAULT_WORKERS, analysed_fields
from search.pool import FastSegmentWriter
from search.ranking import SegmentArrays
from search.schema import INDEX_FORMAT, IndexedDocument, build_schema, to_fields

CURRENT = "current"
LOCK_FILE = "writer.lock"
GENERATION_PREFIX = "gen-"
FORMAT_FILE = "index-format"
DEFAULT_LIMIT_MB = 128
KEPT_OLD_GENERATIONS = 1
# A search that meets a segment a merge removed, or a reader Whoosh closed, is run again on a
# fresh searcher this many times in all (with a short pause), then the error is raised.
READ_ATTEMPTS = 4
READ_RETRY_PAUSE_S = 0.02
VANISHED = (FileNotFoundError, ReaderClosed)

T = TypeVar("T")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upsert:
    """Add a document to the index, or replace the one with the same id."""

    document: IndexedDocument


@dataclass(frozen=True)
class Delete:
    """Remove a document from the index (a no-op when it is not there)."""

    doc_id: str


Operation = Upsert | Delete


@dataclass(frozen=True)
class ApplyStats:
    upserted: int
    deleted: int
    seconds: float


@dataclass(frozen=True)
class RebuildStats:
    documents: int
    seconds: float
    generation: str


class SearchIndex:
    """A Whoosh index in ``root``; safe to share between threads for reading."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.schema = build_schema()
        self._local = threading.local()
        # Caches of the read side, keyed by segment id (segments never change once written).
        self.visible_cache = VisibleDocsCache()
        self.facet_codes = FacetCodes()
        self.segment_arrays = SegmentArrays()

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create_or_open(cls, root: str | os.PathLike[str]) -> SearchIndex:
        """Opens the index in ``root``, creating an empty one first when there is none."""
        index = cls(root)
        index.root.mkdir(parents=True, exist_ok=True)
        if not index._current_path().exists():
            with index.writer_lock():
                if not index._current_path().exists():
                    generation = index._new_generation()
                    (index.root / generation).mkdir()
                    whoosh_index.create_in(str(index.root / generation), index.schema)
                    _write_format(index.root / generation)
                    index._point_current_to(generation)
        index.check_format()
        return index

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> SearchIndex:
        """Opens an existing index; raises IndexMissingError when there is none."""
        index = cls(root)
        if not index._current_path().exists():
            raise IndexMissingError(f"no search index in {index.root}; create it or run a reindex")
        index.check_format()
        return index

    def format(self) -> int:
        """The format the live generation was written in (1: before the format was recorded)."""
        try:
            return int((self.root / self.current_generation() / FORMAT_FILE).read_text().strip())
        except FileNotFoundError:
            return 1

    def check_format(self) -> None:
        """Raises StaleIndexError unless the live generation has this code's format."""
        found = self.format()
        if found != INDEX_FORMAT:
            raise StaleIndexError(
                f"the search index in {self.root} has format {found}, this version reads format "
                f"{INDEX_FORMAT}: rebuild it (dms reindex)",
                found=found,
                expected=INDEX_FORMAT,
            )

    def _current_path(self) -> Path:
        return self.root / CURRENT

    def current_generation(self) -> str:
        try:
            return os.readlink(self._current_path())
        except FileNotFoundError:
            raise IndexMissingError(f"no search index in {self.root}") from None

    def _open_whoosh(self) -> Index:
        generation = self.current_generation()
        if generation != getattr(self, "_checked_generation", None):
            self.check_format()
            self._checked_generation = generation
        return whoosh_index.open_dir(str(self.root / generation))

    # -- reading ---------------------------------------------------------------------------

    @contextmanager
    def searcher(self) -> Iterator[Searcher]:
        """A searcher on the latest committed state (reopened only when the index changed).

        Prefer ``read``: it also survives a searcher whose files a merge removed meanwhile."""
        yield self._fresh_searcher()

    def read(self, fn: Callable[[Searcher], T]) -> T:
        """``fn(searcher)``, run again on a freshly opened searcher when the searcher met a segment
        a concurrent merge removed (FileNotFoundError) or a reader that was closed (ReaderClosed).

        The failed searcher is dropped, never kept: issue 17 saw a web worker keep a searcher whose
        readers Whoosh had closed during a failed refresh, and answer 500 to every later search.
        At most ``READ_ATTEMPTS`` runs, then the error is raised.
        """
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return fn(self._fresh_searcher())
            except VANISHED:
                self._drop_searcher()
                if attempt == READ_ATTEMPTS:
                    raise
                time.sleep(READ_RETRY_PAUSE_S * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _fresh_searcher(self) -> Searcher:
        # One searcher per thread: Whoosh posting readers seek and read a shared file object.
        local = self._local
        generation = self.current_generation()
        current: Searcher | None = getattr(local, "searcher", None)
        if (current is not None and getattr(local, "generation", None) == generation and not current.is_closed
                and current.up_to_date()):
            return current
        # A new searcher, never ``refresh()``: Whoosh's refresh closes the old readers first and,
        # when opening the new ones fails (a segment merged away meanwhile), leaves a closed
        # searcher behind. The old one is not closed here (an enclosing ``searcher()`` block of
        # this thread may still hold it); it closes when garbage-collected.
        local.searcher = None
        opened = self._open_whoosh().searcher()
        local.searcher, local.generation = opened, generation
        return opened

    def _drop_searcher(self) -> None:
        self._local.searcher = None

    def close(self) -> None:
        """Closes this thread's searcher (others close when their threads end)."""
        current = getattr(self._local, "searcher", None)
        if current is not None:
            current.close()
            self._local.searcher = None


    def doc_count(self) -> int:
        return self.read(lambda s: s.doc_count())

    def doc_versions(self) -> dict[str, str]:
        """``{document id: indexed version}`` of every live document, for drift checks."""

        def versions_of(s: Searcher) -> dict[str, str]:
            reader = s.reader()
            ids = reader.column_reader("id", translate=True)
            versions = reader.column_reader("version", translate=True)
            return {ids[n]: versions[n] for n in reader.all_doc_ids()}

        return self.read(versions_of)

    def doc_ids(self) -> set[str]:
        return set(self.doc_versions())

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Holds the single-writer lock of this index root, or raises IndexLockedError."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IndexLockedError(
                    f"another process is writing the search index in {self.root}; "
                    "only one indexer may run at a time"
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            os.close(fd)

    def apply(self, operations: Iterable[Operation], *, limitmb: int = DEFAULT_LIMIT_MB) -> ApplyStats:
        """Applies one batch of upserts and deletes in one commit: all of it or none of it.

        Applying the same batch twice gives the same index, so a batch interrupted by a crash
        is simply applied again. Within a batch the last operation on an id wins.
        """
        started = time.perf_counter()
        last: dict[str, Operation] = {}
        for op in operations:
            last[_op_id(op)] = op
        upserts = [op.document for op in last.values() if isinstance(op, Upsert)]
        prepared = [to_fields(doc) for doc in upserts]
        with self.writer_lock():
            writer = FastSegmentWriter(self._open_whoosh(), limitmb=limitmb)
            try:
                if last:
                    # One searcher for every delete: Whoosh opens a new one per call otherwise (27 ms
                    # each at 20,000 documents: five seconds for a batch of 200).
                    deleter = writer.searcher()
                    try:
                        for doc_id in last:
                            writer.delete_by_term("id", doc_id, searcher=deleter)
                    finally:
                        deleter.close()
                for fields in prepared:
                    writer.add_document(**fields)
            except BaseException:
                writer.cancel()
                raise
            writer.commit()
            self._write_side_files()
        return ApplyStats(
            upserted=len(prepared),
            deleted=len(last) - len(prepared),
            seconds=time.perf_counter() - started,
        )

    def optimize(self) -> None:
        """Merges every segment into one (faster queries; run it off-peak)."""
        with self.writer_lock():
            self._open_whoosh().optimize()
            self._write_side_files()

    def build_side_files(self) -> list[Path]:
        """Writes the side file of frequent terms (``search.frequent``) of each large segment of the
        live generation that has none: what a commit does, for an index written before side files."""
        with self.writer_lock():
            return ensure_side_files(self._open_whoosh())

    def _write_side_files(self, ix: Index | None = None) -> None:
        """After a commit (the writer lock held): side files for new or merged segments. A failure
        leaves the commit as it is (readers decode those segments' blocks, the next commit tries again)."""
        try:
            ensure_side_files(ix if ix is not None else self._open_whoosh())
        except OSError as error:
            logger.warning("search index %s: side files of frequent terms not written: %s", self.root, error)

    def rebuild(
        self,
        documents: Iterable[IndexedDocument],
        *,
        limitmb: int = DEFAULT_LIMIT_MB,
        commit_every: int = 0,
        workers: int = DEFAULT_WORKERS,
    ) -> RebuildStats:
        """Builds a new generation from ``documents`` and swaps it in atomically.

        ``documents`` is consumed lazily, so memory stays bounded by ``limitmb`` (the writer's
        posting pool, spilled to sorted runs on disk beyond it) whatever the number of
        documents, and the result is one segment. ``commit_every`` commits a segment every so
        many documents and merges them all at the end (slower: every posting is written twice).
        ``workers`` processes analyse the texts (``search.parallel``; 0: all in this process);
        this process alone writes. The live index keeps serving (and refuses other writers)
        until the swap; on any error the new generation is removed and the live one is
        untouched.
        """
        started = time.perf_counter()
        count = 0
        with self.writer_lock():
            generation = self._new_generation()
            target = self.root / generation
            try:
                target.mkdir()
                ix = whoosh_index.create_in(str(target), self.schema)
                _write_format(target)
                writer = FastSegmentWriter(ix, limitmb=limitmb)
                for fields in analysed_fields(documents, workers):
                    writer.add_document(**fields)
                    count += 1
                    if commit_every and count % commit_every == 0:
                        writer.commit()
                        writer = FastSegmentWriter(ix, limitmb=limitmb)
                writer.commit(optimize=bool(commit_every))
                del writer
                _return_freed_memory()  # the writer's pools, before the side files read every posting list
                self._write_side_files(ix)
            except BaseException:
                shutil.rmtree(target, ignore_errors=True)
                raise
            self._point_current_to(generation)
            self._remove_old_generations()
        return RebuildStats(documents=count, seconds=time.perf_counter() - started, generation=generation)

    def _new_generation(self) -> str:
        numbers = [
            int(p.name[len(GENERATION_PREFIX):])
            for p in self.root.glob(f"{GENERATION_PREFIX}*")
            if p.name[len(GENERATION_PREFIX):].isdigit()
        ]
        return f"{GENERATION_PREFIX}{max(numbers, default=0) + 1:06d}"

    def _point_current_to(self, generation: str) -> None:
        temporary = self.root / f"{CURRENT}.{os.getpid()}.tmp"
        if temporary.is_symlink():
            temporary.unlink()
        os.symlink(generation, temporary)
        os.replace(temporary, self._current_path())
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _remove_old_generations(self) -> None:
        live = self.current_generation()
        older = sorted(
            (p for p in self.root.glob(f"{GENERATION_PREFIX}*") if p.name < live),
            key=lambda p: p.name,
        )
        for path in older[: max(0, len(older) - KEPT_OLD_GENERATIONS)]:
            shutil.rmtree(path, ignore_errors=True)


def _write_format(generation: Path) -> None:
    (generation / FORMAT_FILE).write_text(f"{INDEX_FORMAT}\n")


def _op_id(op: Operation) -> str:
    if isinstance(op, Upsert):
        return str(op.document.id)
    if isinstance(op, Delete):
        return str(op.doc_id)
    raise InvalidDocumentError(f"unknown index operation {op!r}; expected Upsert or Delete")


def _return_freed_memory() -> None:
    """Collects garbage and asks glibc's allocator to give freed heap pages back to the system
    (``malloc_trim``): the writer's pooled postings are freed, but the process would otherwise keep
    the pages, and the side files' pass would start from the writer's peak (1.2 GB at a million
    documents). Nothing happens where there is no glibc."""
    gc.collect()
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
