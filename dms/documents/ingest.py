"""Batch filing of files: each file's bytes go to the store first (sniffed, bounded, hashed once while stored);
the documents of up to BATCH_FILES stored files (or of BATCH_SECONDS of storing) are then committed in one
transaction, each inside its own savepoint (document + version + audit events + index outbox), so one refused file
does not take the others with it. Nothing is reported as filed before its transaction committed; a crash before the
commit leaves only unreferenced objects (found by `dms check`), never a document without bytes.

Why batches (issue 20.3): one transaction per document paid a commit, the chain head's lock and the permission
lookups of the folder for every file — several times the store's own put on the filesystem store."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from collections.abc import Callable, Iterable, Iterator

from dms.errors import DmsError, NotFound
from dms.models import User
from dms.runtime import Runtime
from dms.security import Forbidden, P, require
from dms.documents import service as documents
from dms.documents import folders
from dms.people import users

BATCH_FILES = 100
BATCH_SECONDS = 2.0


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
    """One result per source, in order: {"id", "version", "sha256", "size", "file"} or {"file", "error"}."""
    batch_files = batch_files or BATCH_FILES
    batch_seconds = BATCH_SECONDS if batch_seconds is None else batch_seconds
    pending: list[tuple[Source, documents.StoredUpload | None, str | None]] = []
    started = time.monotonic()
    for src in sources:
        try:
            with src.open() as stream:
                stored = documents.store_upload(rt.store, stream, src.filename, rt.settings.max_upload_bytes)
            pending.append((src, stored, None))
        except (DmsError, Forbidden, OSError) as exc:
            pending.append((src, None, getattr(exc, "message", None) or str(exc)))
        if len(pending) >= batch_files or time.monotonic() - started >= batch_seconds:
            yield from _commit(rt, actor_id, folder_id, doc_type, pending, meta)
            pending, started = [], time.monotonic()
    if pending:
        yield from _commit(rt, actor_id, folder_id, doc_type, pending, meta)


def _commit(rt: Runtime, actor_id: int, folder_id: int, doc_type: str,
            pending: list[tuple[Source, documents.StoredUpload | None, str | None]],
            meta: dict | None) -> list[dict]:
    """The documents of stored files in one transaction (a savepoint each); the results once it committed."""
    results: list[dict] = []
    with rt.db.session() as s:
        actor = s.get(User, actor_id)
        if actor is None:
            raise NotFound("нет пользователя %(id)s", id=actor_id)
        folder = folders.get(s, folder_id)
        for src, stored, error in pending:
            if stored is None:
                results.append({"file": src.label, "error": error})
                continue
            try:
                with s.begin_nested():
                    doc = documents.create(s, actor, folder, doc_type, src.title, meta)
                    version = documents.add_version(s, actor, doc, stored)
                results.append({"id": doc.id, "version": version.number, "sha256": version.sha256,
                                "size": version.size, "file": src.label})
            except (DmsError, Forbidden) as exc:
                results.append({"file": src.label, "error": getattr(exc, "message", None) or str(exc)})
    return results
