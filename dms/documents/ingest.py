"""Batch filing of files: each file's bytes go to the store first (sniffed, bounded, hashed once while stored);
the documents of up to BATCH_FILES stored files (or of BATCH_SECONDS of storing) are then committed in one
transaction, recorded together (documents + versions + audit events + index outbox: a few statements for the
batch), a refused file alone reported and the others filed (_commit says how). Nothing is reported as filed before
its transaction committed; a crash before the commit leaves only unreferenced objects (found by `dms check`), never
a document without bytes.

Why batches (issue 20.3): one transaction per document paid a commit, the chain head's lock and the permission
lookups of the folder for every file; one savepoint and seven ORM flushes per document then cost ~6 ms CPU a
file, several times the store's own put on the filesystem store."""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from collections.abc import Callable, Iterable, Iterator

from sqlalchemy.orm import Session

from dms.errors import DmsError, NotFound
from dms.models import Folder, User
from dms.runtime import Runtime
from dms.security import Forbidden, P, require
from dms.documents import service as documents
from dms.documents import folders
from dms.people import users

BATCH_FILES = 100
BATCH_SECONDS = 2.0
AHEAD = 100  # files stored ahead of the transactions at most (their bytes in the store, not yet a document)


@dataclass
class Source:
    """One file to file: `label` names it in the results, `open` gives its bytes."""
    label: str
    filename: str
    title: str
    open: Callable[[], IO[bytes]]


def _path_source(path: Path) -> Source:
    return Source(str(path), path.name, path.stem.replace("_", " "), lambda: open(path, "rb"))


def ingest_files(rt: Runtime, login: str, folder_path: str, doc_type: str, files: Iterable[Path],
                 meta: dict | None = None) -> Iterator[dict]:
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        folder = folders.resolve(s, folder_path)
        require(s, actor, P.ADD, folder)  # refuse the whole batch up front, before any byte is stored
        actor_id, folder_id = actor.id, folder.id
    yield from ingest_sources(rt, actor_id, folder_id, doc_type, (_path_source(p) for p in files), meta)


def ingest_sources(rt: Runtime, actor_id: int, folder_id: int, doc_type: str, sources: Iterable[Source],
                   meta: dict | None = None, batch_files: int | None = None,
                   batch_seconds: float | None = None) -> Iterator[dict]:
    """One result per source, in order: {"id", "version", "sha256", "size", "file"} or {"file", "error"}.

    The files are read, sniffed and stored by one thread ahead of the transactions (at most AHEAD files stored
    and not yet committed): the store's writes (waiting on the disk's fsync or the network) overlap the
    database's work instead of adding to it. Each document is still committed only after its bytes are stored."""
    batch_files = batch_files or BATCH_FILES
    batch_seconds = BATCH_SECONDS if batch_seconds is None else batch_seconds
    pending: list[Stored] = []
    started = time.monotonic()
    for item in _stored_ahead(rt, sources, max(AHEAD, batch_files)):
        pending.append(item)
        if len(pending) >= batch_files or time.monotonic() - started >= batch_seconds:
            yield from _commit(rt, actor_id, folder_id, doc_type, pending, meta)
            pending, started = [], time.monotonic()
    if pending:
        yield from _commit(rt, actor_id, folder_id, doc_type, pending, meta)


def _store_one(rt: Runtime, src: Source) -> tuple[Source, documents.StoredUpload | None, str | None]:
    try:
        with src.open() as stream:
            return src, documents.store_upload(rt.store, stream, src.filename, rt.settings.max_upload_bytes), None
    except (DmsError, Forbidden, OSError) as exc:
        return src, None, getattr(exc, "message", None) or str(exc)


_DONE = object()


def _stored_ahead(rt: Runtime, sources: Iterable[Source],
                  ahead: int) -> Iterator[tuple[Source, documents.StoredUpload | None, str | None]]:
    """The sources stored in order by a helper thread, up to `ahead` of the consumer. An error the per-file
    handling does not take (the store down) is raised here, in the consumer; a consumer that stops early stops
    the helper."""
    out: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def _put(item: object) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for src in sources:
                if stop.is_set() or not _put(_store_one(rt, src)):
                    return
            _put(_DONE)
        except BaseException as exc:  # noqa: BLE001  (handed to the consumer, raised there)
            _put(exc)

    helper = threading.Thread(target=produce, name="ingest-store", daemon=True)
    helper.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        helper.join()


Stored = tuple[Source, documents.StoredUpload | None, str | None]


def _commit(rt: Runtime, actor_id: int, folder_id: int, doc_type: str, pending: list[Stored],
            meta: dict | None) -> list[dict]:
    """The documents of stored files in one transaction; the results once it committed. Each file's own rules (its
    bytes stored, its title and metadata) are checked first and a refused file is reported alone; the others are
    filed together (documents.create_many + new_versions: a few statements for the batch, not seven flushes a
    file). Should the batch be refused all the same (a rule only the database knows), each file is filed again in
    its own savepoint, so a refusal still takes only its own file."""
    errors: dict[int, str] = {}
    with rt.db.session() as s:
        actor = s.get(User, actor_id)
        if actor is None:
            raise NotFound("нет пользователя %(id)s", id=actor_id)
        folder = folders.get(s, folder_id)
        good: list[tuple[int, str, documents.StoredUpload]] = []
        for n, (src, stored, error) in enumerate(pending):
            if stored is None:
                errors[n] = error or ""
                continue
            try:
                documents.check_new(doc_type, src.title, meta)
                good.append((n, src.title, stored))
            except DmsError as exc:
                errors[n] = exc.message
        filed: dict[int, tuple[int, int]] = {}
        try:
            with s.begin_nested():
                filed = _file(s, actor, folder, doc_type, good, meta)
        except (DmsError, Forbidden):
            for item in good:
                try:
                    with s.begin_nested():
                        filed.update(_file(s, actor, folder, doc_type, [item], meta))
                except (DmsError, Forbidden) as exc:
                    errors[item[0]] = getattr(exc, "message", None) or str(exc)
    results: list[dict] = []
    for n, (src, stored, _) in enumerate(pending):
        if n in filed and stored is not None:
            doc_id, number = filed[n]
            results.append({"id": doc_id, "version": number, "sha256": stored.sha256, "size": stored.size,
                            "file": src.label})
        else:
            results.append({"file": src.label, "error": errors.get(n, "")})
    return results


def _file(s: Session, actor: User, folder: Folder, doc_type: str,
          items: list[tuple[int, str, documents.StoredUpload]], meta: dict | None) -> dict[int, tuple[int, int]]:
    """Documents and their first versions for `items` (their position, title, stored bytes): position -> (document
    id, version number)."""
    if not items:
        return {}
    docs = documents.create_many(s, actor, folder, doc_type, [(title, meta) for _, title, _ in items])
    for doc in docs:
        # documents.add_version less its ensure_mutable (two lookups per file): a document made in this
        # savepoint is neither a declared record nor in the trash; its Edit permission is checked.
        require(s, actor, P.EDIT, doc)
    made = documents.new_versions(s, actor, [(doc, stored) for doc, (_, _, stored) in zip(docs, items, strict=True)])
    return {n: (doc.id, version.number) for (n, _, _), doc, version in zip(items, docs, made, strict=True)}
