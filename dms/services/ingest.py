"""Batch filing of files: for each file, bytes to the store, then one transaction for document + version."""
from __future__ import annotations

from pathlib import Path
from collections.abc import Iterable, Iterator

from ..errors import DmsError, NotFound
from ..models import User
from ..runtime import Runtime
from ..security import Forbidden, P, require
from . import documents, folders, users


def ingest_files(rt: Runtime, login: str, folder_path: str, doc_type: str, files: Iterable[Path],
                 meta: dict | None = None) -> Iterator[dict]:
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        folder = folders.resolve(s, folder_path)
        require(s, actor, P.ADD, folder)  # refuse the whole batch up front, before any byte is stored
        actor_id, folder_id = actor.id, folder.id
    for path in files:
        try:
            yield ingest_one(rt, actor_id, folder_id, doc_type, path, meta)
        except (DmsError, Forbidden, OSError) as exc:
            yield {"file": str(path), "error": getattr(exc, "message", None) or str(exc)}


def ingest_one(rt: Runtime, actor_id: int, folder_id: int, doc_type: str, path: Path, meta: dict | None) -> dict:
    with open(path, "rb") as f:
        stored = documents.store_upload(rt.store, f, path.name, rt.settings.max_upload_bytes)
    with rt.db.session() as s:
        actor = s.get(User, actor_id)
        if actor is None:
            raise NotFound("нет пользователя %(id)s", id=actor_id)
        folder = folders.get(s, folder_id)
        doc = documents.create(s, actor, folder, doc_type, path.stem.replace("_", " "), meta)
        version = documents.add_version(s, actor, doc, stored)
        return {"id": doc.id, "version": version.number, "sha256": version.sha256, "size": version.size,
                "file": str(path)}
