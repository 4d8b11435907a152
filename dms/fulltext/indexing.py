"""The bridge from the database to the search index. Web processes only append to the outbox (in the
transaction of the change); one indexer drains it in batches: text extraction (outside any request, in a
sandboxed child process), then one index commit per batch, then the outbox rows are deleted. A crash between
the commit and the delete redoes the batch, which is harmless: upserts are idempotent."""
from __future__ import annotations

import fcntl
import logging
import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Iterable, Iterator

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from search.analysis import morphology
from search.errors import IndexLockedError, StaleIndexError
from search.extract import extract_text
from search.index import Delete, SearchIndex, Upsert
from search.pg import PgSearchIndex
from search.schema import IndexedDocument

from dms.models import Document, Folder, Organisation, OutboxEntry, Version, VersionText
from dms.runtime import Runtime
from dms.records import service as records

log = logging.getLogger("dms.indexer")

BATCH = 200
EXTRACT_TIMEOUT_S = 60
EXTRACT_MEMORY_MB = 768
# Metadata fields that name people (searchable as `people`).
PEOPLE_FIELDS = ("holder", "applicant", "assessed", "counterparty", "signatory")


def configured_index(rt: Runtime, *, create: bool) -> SearchIndex | PgSearchIndex:
    """The index of the configured backend (DMS_SEARCH_BACKEND): Whoosh in index_dir, or search.pg's tables in the
    application's PostgreSQL database."""
    if rt.settings.search_backend == "postgres":
        if rt.db.is_sqlite:
            raise RuntimeError("DMS_SEARCH_BACKEND=postgres needs the application database on PostgreSQL")
        return PgSearchIndex.create_or_open(rt.db.engine) if create else PgSearchIndex.open(rt.db.engine)
    return SearchIndex.create_or_open(rt.settings.index_dir) if create else SearchIndex.open(rt.settings.index_dir)


def open_index(rt: Runtime) -> SearchIndex | PgSearchIndex:
    index = rt.__dict__.get("_search_index")
    if index is None:
        index = configured_index(rt, create=True)
        morphology()  # the dictionary loads once here (0.3 s), not in the first user's search
        rt.__dict__["_search_index"] = index
    return index


def version_text(session: Session, rt: Runtime, version: Version) -> VersionText:
    """The cached text of a version, extracted now if it was not yet."""
    cached = session.get(VersionText, version.id)
    if cached is not None:
        return cached
    with tempfile.NamedTemporaryFile(prefix="dms-extract-") as tmp:
        with rt.store.open(version.object_key) as src:
            while chunk := src.read(1 << 20):
                tmp.write(chunk)
        tmp.flush()
        result = extract_text(tmp.name, version.media_type, timeout_s=EXTRACT_TIMEOUT_S,
                              max_memory_mb=EXTRACT_MEMORY_MB)
    if result.error:
        log.warning("text extraction failed for version %s (%s): %s", version.id, version.media_type, result.error)
    row = VersionText(version_id=version.id, text=result.text.replace("\x00", ""), method=result.method,
                      ocr_status=result.ocr_status, error=(result.error or None) and result.error[:2000])
    session.add(row)
    session.flush()
    return row


def to_indexed(doc: Document, text: str, org_codes: dict[int, str], folder_paths: dict[int, str]) -> IndexedDocument:
    meta = doc.meta or {}
    path = folder_paths.get(doc.folder_id, "")
    return IndexedDocument(
        id=str(doc.id), version=str(doc.revision), title=doc.title, content=text, doc_type=doc.doc_type,
        state=doc.state, org=org_codes.get(doc.organisation_id or 0, ""), folder_id=str(doc.folder_id),
        folder_path=tuple(p for p in path.strip("/").split("/") if p), owner=str(doc.created_by_id or ""),
        reg_number=doc.reg_number or "", cert_number=str(meta.get("number", "") or ""),
        blank_number=str(meta.get("blank_number", "") or ""),
        people=tuple(str(meta[k]) for k in PEOPLE_FIELDS if meta.get(k)),
        date=doc.reg_date or doc.created_at,
    )


def _lookups(session: Session) -> tuple[dict[int, str], dict[int, str]]:
    orgs = dict(session.execute(select(Organisation.id, Organisation.code)).all())
    paths = dict(session.execute(select(Folder.id, Folder.path)).all())
    return orgs, paths


def _indexed(session: Session, rt: Runtime, docs: Iterable[Document], lookups) -> Iterator[IndexedDocument]:  # noqa: ANN001
    orgs, paths = lookups
    docs = list(docs)
    # The batch's versions and cached texts in two queries instead of two per document.
    ids = [d.current_version_id for d in docs if d.current_version_id]
    versions = {v.id: v for v in session.scalars(select(Version).where(Version.id.in_(ids)))} if ids else {}
    texts = {t.version_id: t for t in session.scalars(select(VersionText).where(VersionText.version_id.in_(ids)))} \
        if ids else {}
    discussed = _discussions(session, [d.id for d in docs])
    for doc in docs:
        text = ""
        if doc.current_version_id:
            try:
                cached = texts.get(doc.current_version_id)
                if cached is None:
                    cached = version_text(session, rt, versions[doc.current_version_id])
                text = cached.text
            except Exception as exc:  # noqa: BLE001  a broken file must not stop indexing: metadata stays findable
                log.warning("no text for document %s: %s", doc.id, exc)
        if doc.id in discussed:  # the discussion is found with its document (whoever may view one sees the other)
            text = f"{text}\n\n{discussed[doc.id]}"
        yield to_indexed(doc, text, orgs, paths)


def _discussions(session: Session, doc_ids: list[int]) -> dict[int, str]:
    """The visible comments of the batch's documents (dms.approvals.comments), one text per document, one query."""
    from dms.approvals.models import Comment
    out: dict[int, list[str]] = {}
    if doc_ids:
        for doc_id, body in session.execute(select(Comment.document_id, Comment.body).where(
                Comment.document_id.in_(doc_ids), Comment.hidden_at.is_(None)).order_by(Comment.id)):
            out.setdefault(doc_id, []).append(body)
    return {k: "\n".join(v) for k, v in out.items()}


@dataclass
class DrainStats:
    batches: int = 0
    upserted: int = 0
    deleted: int = 0
    seconds: float = 0.0


def drain_once(rt: Runtime, index: SearchIndex | PgSearchIndex, batch: int = BATCH) -> tuple[int, int]:
    """One batch from the outbox into the index; returns (upserts, deletes), (0, 0) when the outbox is empty."""
    with rt.db.session() as s:
        entries = s.execute(select(OutboxEntry.id, OutboxEntry.document_id).order_by(OutboxEntry.id)
                            .limit(batch)).all()
        if not entries:
            return 0, 0
        entry_ids = [e for e, _ in entries]
        ids = sorted({doc_id for _, doc_id in entries})
        hidden = records.trashed_ids(s, ids)
        docs = {d.id: d for d in s.scalars(select(Document).where(Document.id.in_(ids))) if d.id not in hidden}
        ops: list = [Delete(str(i)) for i in ids if i not in docs]
        ops += [Upsert(d) for d in _indexed(s, rt, docs.values(), _lookups(s))]
    # Texts extracted above are committed before the index commit; the outbox rows go after it.
    index.apply(ops)
    with rt.db.session() as s:
        # Exactly the rows read: a row with a smaller id committed meanwhile (PostgreSQL assigns ids at insert,
        # not at commit) must stay for the next batch.
        s.execute(delete(OutboxEntry).where(OutboxEntry.id.in_(entry_ids)))
    upserts = sum(isinstance(o, Upsert) for o in ops)
    return upserts, len(ops) - upserts


def drain(rt: Runtime, index: SearchIndex | PgSearchIndex | None = None, batch: int = BATCH) -> DrainStats:
    """Everything in the outbox now, batch by batch."""
    index = index or open_index(rt)
    stats = DrainStats()
    started = time.perf_counter()
    while True:
        up, down = drain_once(rt, index, batch)
        if not (up or down):
            break
        stats.batches += 1
        stats.upserted += up
        stats.deleted += down
    stats.seconds = time.perf_counter() - started
    return stats


STALE_WAIT_S = 30


def run_forever(rt: Runtime, stop: threading.Event, idle_sleep: float = 1.0) -> None:
    """The indexer loop (`dms indexer`, or a thread of `dms serve`). Survives transient errors; an index of an
    older format is never written into: the loop says so and waits for `dms reindex`."""
    index = None
    while not stop.is_set():
        try:
            index = index or open_index(rt)
            up, down = drain_once(rt, index)
        except StaleIndexError as exc:
            log.error("search index not updated: %s", exc)
            index = None
            up = down = 0
            stop.wait(STALE_WAIT_S)
        except IndexLockedError:
            log.info("index locked by another writer (a reindex?); waiting")
            up = down = 0
            stop.wait(5)
        except Exception:  # noqa: BLE001  the loop must outlive one bad batch; it is retried
            log.exception("indexing batch failed; retrying")
            up = down = 0
            stop.wait(5)
        if not (up or down):
            stop.wait(idle_sleep)


def start_thread(rt: Runtime) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=run_as_the_indexer, args=(rt, stop), name="dms-indexer", daemon=True)
    thread.start()
    return thread, stop


def reindex(rt: Runtime, progress: Callable[[int], None] | None = None, chunk: int = 500) -> int:
    """Rebuild the whole index from the database into a side generation, then swap. Memory stays bounded:
    documents are read `chunk` at a time and the writer's pool is capped (it spills sorted runs to disk), so the
    result is one segment written once (bench/search.py --reindex measures this command). An index of an older
    format is replaced the same way (this is how it is migrated)."""
    index: SearchIndex | PgSearchIndex
    try:
        index = open_index(rt)
    except StaleIndexError:
        index = PgSearchIndex(rt.db.engine) if rt.settings.search_backend == "postgres" \
            else SearchIndex(rt.settings.index_dir)

    def documents() -> Iterator[IndexedDocument]:
        last_id = 0
        lookups = None  # organisation codes and folder paths, read once for the whole rebuild
        while True:
            with rt.db.session() as s:
                docs = s.scalars(select(Document).where(Document.id > last_id).order_by(Document.id)
                                 .limit(chunk)).all()
                if not docs:
                    return
                lookups = lookups or _lookups(s)
                hidden = records.trashed_ids(s, [d.id for d in docs])
                batch = list(_indexed(s, rt, [d for d in docs if d.id not in hidden], lookups))
                last_id = docs[-1].id
            yield from batch
            if progress:
                progress(len(batch))

    return index.rebuild(documents()).documents


def drift(rt: Runtime) -> dict:
    """Documents whose indexed revision differs from the database, not explained by pending outbox entries."""
    try:
        index = configured_index(rt, create=False)
        indexed = index.doc_versions() if index.doc_count() else {}
    except Exception as exc:  # noqa: BLE001  an unreadable index is drift, reported with its reason
        return {"drift": True, "error": f"{type(exc).__name__}: {exc}"}
    with rt.db.session() as s:
        current = {str(i): str(r) for i, r in s.execute(select(Document.id, Document.revision)
                                                        .where(records.not_trashed_clause()))}
        pending = {str(i) for i in s.scalars(select(OutboxEntry.document_id).distinct())}
    missing = sorted((set(current) - set(indexed)) - pending, key=int)
    extra = sorted((set(indexed) - set(current)) - pending, key=int)
    stale = sorted((i for i in set(current) & set(indexed) if current[i] != indexed[i] and i not in pending), key=int)
    return {"drift": bool(missing or extra or stale), "documents": len(current), "indexed": len(indexed),
            "pending": len(pending), "missing": missing[:100], "extra": extra[:100], "stale": stale[:100]}


def pending_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(OutboxEntry)) or 0


# --- one indexer per index (issue 17.4) ----------------------------------------------------------------------

INDEXER_LOCK_FILE = "indexer.lock"
STANDBY_POLL_S = 1.0


class IndexerLock:
    """The index's one indexer, for the life of its process: an exclusive flock on <index dir>/indexer.lock (the
    per-commit writer.lock of the search library stays for reindex). The kernel drops it when the process dies,
    however it dies, so a standby waiting on it takes over at once. The file names the holder (pid, host) for the
    standby's message."""

    def __init__(self, index_dir: Path):
        self.path = Path(index_dir) / INDEXER_LOCK_FILE
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def wait(self, stop: threading.Event, on_standby: Callable[[str], None] | None = None) -> bool:
        """Take the lock, waiting as a standby while another indexer holds it; False if `stop` came first."""
        told = False
        while not stop.is_set():
            if self.try_acquire():
                return True
            if not told and on_standby is not None:
                on_standby(self.holder())
                told = True
            stop.wait(STANDBY_POLL_S)
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def run_as_the_indexer(rt: Runtime, stop: threading.Event, on_standby: Callable[[str], None] | None = None,
                       on_active: Callable[[], None] | None = None) -> None:
    """`dms indexer` and the indexer thread of `dms serve`: wait as a standby while another indexer runs, then be
    the one (run_forever) until stopped."""
    lock = IndexerLock(rt.settings.index_dir)

    def standby(holder: str) -> None:
        log.info("another indexer holds %s (%s); waiting as a standby", lock.path, holder)
        if on_standby is not None:
            on_standby(holder)

    if not lock.wait(stop, standby):
        return
    try:
        if on_active is not None:
            on_active()
        run_forever(rt, stop)
    finally:
        lock.release()
