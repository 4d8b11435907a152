"""Documents and their versions. Bytes go to the object store first; then one transaction references them,
so a crash in between leaves at most an unreferenced object (found by `dms check`), never a document
without bytes."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, UTC
from typing import IO, Any, cast
from collections.abc import Sequence

from sqlalchemy import CursorResult, Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from storage import ObjectStore

from dms.documents import doctypes
from dms.documents import uploads
from dms.errors import N_, Conflict, Invalid, NotFound
from dms.models import Document, Folder, Organisation, OutboxEntry, User, Version
from dms.runtime import RUNTIME_KEY
from dms.security import Forbidden, P, has_permission, require
from dms.workflow.rules import workflow_for
from dms.audit import service as audit
from dms.uow import after_commit


@dataclass
class StoredUpload:
    key: str
    sha256: str
    size: int
    media_type: str
    filename: str


def store_upload(store: ObjectStore, stream: IO[bytes], filename: str | None, max_bytes: int) -> StoredUpload:
    """Sniff, bound and store untrusted bytes. The object may end up unreferenced if the caller fails later."""
    media_type, safe_name, body = uploads.open_upload(stream, filename, max_bytes)
    info = store.put(body)
    return StoredUpload(info.key, info.sha256, info.size, media_type, safe_name)


def get(session: Session, actor: User | None, document_id: int, permission: P = P.VIEW) -> Document:
    """Load a document the actor may view: one that does not exist and one they may not see look the same."""
    doc = session.get(Document, document_id)
    if doc is None or not has_permission(session, actor, P.VIEW, doc):
        raise NotFound("документ не найден")
    if permission is not P.VIEW:
        require(session, actor, permission, doc)
    return doc


VERSION_NUMBER_UNIQUE = "uq_version_number"  # versions (document_id, number): dms.models.Version


def check_revision(doc: Document, expected_revision: int | None) -> None:
    if expected_revision is not None and expected_revision != doc.revision:
        raise Conflict("документ изменён другим пользователем; обновите страницу и повторите",
                       {"revision": doc.revision})


def _touch(session: Session, doc: Document) -> None:
    doc.updated_at = datetime.now(UTC)
    session.add(OutboxEntry(document_id=doc.id, op="upsert"))


def check_new(doc_type: str, title: str, meta: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """A new document's title and metadata as they will be filed, or Invalid (before anything is written)."""
    title = " ".join((title or "").split())
    if not title or len(title) > 1000:
        raise Invalid("укажите название документа (до 1000 символов)", {"title": N_("обязательное поле")})
    try:
        return title, doctypes.validate_metadata(doc_type, meta)
    except doctypes.MetadataError as exc:
        raise Invalid("метаданные не прошли проверку", exc.errors) from None


def create(session: Session, actor: User, folder: Folder, doc_type: str, title: str,
           meta: dict[str, Any] | None = None, organisation: Organisation | None = None) -> Document:
    return create_many(session, actor, folder, doc_type, [(title, meta)], organisation)[0]


# Built once: a statement made per call costs more to build and to key for the compiled cache than to run.
_INSERT_DOCUMENTS = insert(Document).returning(Document, sort_by_parameter_order=True)
_INSERT_OUTBOX = insert(cast(Table, OutboxEntry.__table__))


def create_many(session: Session, actor: User, folder: Folder, doc_type: str,
                entries: Sequence[tuple[str, dict[str, Any] | None]],
                organisation: Organisation | None = None) -> list[Document]:
    """Documents (title, metadata) of one type in one folder, each with its outbox entry and its
    "document.create" event, in a handful of statements whatever their number (the one way a document is
    created: create() is this with one entry). All or nothing: the first invalid entry raises Invalid."""
    require(session, actor, P.ADD, folder)
    checked = [check_new(doc_type, title, meta) for title, meta in entries]
    org_id = organisation.id if organisation else (folder.organisation_id or actor.organisation_id)
    state = workflow_for(doc_type).initial
    docs = list(session.scalars(_INSERT_DOCUMENTS, [
        {"doc_type": doc_type, "title": title, "folder_id": folder.id, "organisation_id": org_id, "state": state,
         "meta": clean, "created_by_id": actor.id, "revision": 1} for title, clean in checked]))
    session.execute(_INSERT_OUTBOX, [{"document_id": doc.id, "op": "upsert"} for doc in docs])
    audit.record_many(session, actor, [
        audit.Event("document.create", "document", doc.id, {"type": doc_type, "title": doc.title, "folder": folder.id})
        for doc in docs])
    return docs


def add_version(session: Session, actor: User, doc: Document, upload: StoredUpload, comment: str = "",
                expected_revision: int | None = None) -> Version:
    """An upload: stored bytes become the document's next version (Edit on a document that may change; in the
    caller's transaction)."""
    require(session, actor, P.EDIT, doc)
    ensure_mutable(session, doc)
    return new_version(session, actor, doc, upload, comment=comment, expected_revision=expected_revision)


def new_version(session: Session, actor: User | None, doc: Document, stored: StoredUpload, *, comment: str = "",
                expected_revision: int | None = None, retain_until: datetime | None = None,
                event: str | None = "version.upload", touch: bool = True) -> Version:
    """The one way a version is made (uploads, signing, agreements' countersigned copies, certificates, B-LTA
    protection), in the caller's transaction, the caller having checked its own permission: new_versions with one
    document, the revision checked when the caller has one."""
    check_revision(doc, expected_revision)
    return new_versions(session, actor, [(doc, stored)], comment=comment, retain_until=retain_until, event=event,
                        touch=touch)[0]


_DOCUMENTS = cast(Table, Document.__table__)
_POINT_AT_VERSION = update(_DOCUMENTS).where(_DOCUMENTS.c.id == bindparam("b_id"),
                                            _DOCUMENTS.c.revision == bindparam("b_rev"))
_SET_CURRENT = _POINT_AT_VERSION.values(current_version_id=bindparam("b_version"), revision=bindparam("b_next"))
_SET_CURRENT_TOUCHED = _SET_CURRENT.values(updated_at=bindparam("b_now"))
_INSERT_VERSIONS = insert(Version).returning(Version, sort_by_parameter_order=True)


def new_versions(session: Session, actor: User | None, items: Sequence[tuple[Document, StoredUpload]], *,
                 comment: str = "", retain_until: datetime | None = None, event: str | None = "version.upload",
                 touch: bool = True) -> list[Version]:
    """The next version of each document (distinct documents), in a handful of statements whatever their number:
    the next number, the version row, the document's current version (its revision checked and moved: a document
    another transaction changed meanwhile is a Conflict), the outbox entry that indexes it, the retention.
    `retain_until`: the bytes are signed — the store keeps them immutable until then, applied once the
    transaction commits (dms.uow.after_commit; a rollback leaves an unprotected object `dms check` finds).
    `event`: the audit event recorded with each version's facts (None: the caller records its own, richer one).
    `touch`: the documents' "updated" moves (False for the archive's own protection of signed bytes)."""
    if not items:
        return []
    ids = [doc.id for doc, _ in items]
    if len(set(ids)) != len(ids):
        raise ValueError("new_versions: one version per document per call")
    last = dict(session.execute(select(Version.document_id, func.max(Version.number))
                                .where(Version.document_id.in_(ids)).group_by(Version.document_id)).all())
    created_by = actor.id if actor is not None else None
    try:
        made = list(session.scalars(_INSERT_VERSIONS, [
            {"document_id": doc.id, "number": (last.get(doc.id) or 0) + 1, "object_key": stored.key,
             "sha256": stored.sha256, "size": stored.size, "media_type": stored.media_type,
             "filename": stored.filename, "comment": comment[:1000], "created_by_id": created_by}
            for doc, stored in items]))
    except IntegrityError as exc:  # PostgreSQL: another transaction committed this number first (SQLite queues)
        if VERSION_NUMBER_UNIQUE not in str(exc.orig):
            raise
        raise Conflict("документ изменён другим пользователем; повторите загрузку") from None
    now = datetime.now(UTC)
    moved = [{"b_id": doc.id, "b_rev": doc.revision, "b_next": doc.revision + 1, "b_version": version.id,
              "b_now": now} for (doc, _), version in zip(items, made, strict=True)]
    result = session.execute(_SET_CURRENT_TOUCHED if touch else _SET_CURRENT, moved)
    if cast(CursorResult, result).rowcount != len(items):  # a revision another transaction moved meanwhile
        raise Conflict("документ изменён другим пользователем; повторите загрузку")
    for (doc, _), version, change in zip(items, made, moved, strict=True):
        set_committed_value(doc, "revision", change["b_next"])
        set_committed_value(doc, "current_version_id", version.id)
        set_committed_value(doc, "current_version", version)
        if touch:
            set_committed_value(doc, "updated_at", now)
    if retain_until is not None:
        retain_many(session, [stored.key for _, stored in items], retain_until)
    session.execute(_INSERT_OUTBOX, [{"document_id": i, "op": "upsert"} for i in ids])
    if event is not None:
        audit.record_many(session, actor, [
            audit.Event(event, "document", doc.id, {"version": v.number, "sha256": v.sha256, "size": v.size,
                                                    "media_type": v.media_type, "filename": v.filename})
            for (doc, _), v in zip(items, made, strict=True)])
    return made


def retain(session: Session, key: str, until: datetime) -> None:
    """Keep a signed object immutable in the store until `until`, once this transaction commits (every signed
    object: a signed version through new_version, a detached .p7s). retain_many with one key."""
    retain_many(session, [key], until)


def retain_many(session: Session, keys: list[str], until: datetime) -> None:
    """retain() of several objects: one after-commit step that protects them together (ObjectStore.protect_many)."""
    store = session.info[RUNTIME_KEY].store
    keys = list(keys)
    after_commit(session, lambda: store.protect_many(keys, until))


def update_metadata(session: Session, actor: User, doc: Document, *, title: str | None = None,
                    meta: dict[str, Any] | None = None, expected_revision: int | None = None) -> Document:
    require(session, actor, P.EDIT, doc)
    ensure_mutable(session, doc)
    check_revision(doc, expected_revision)
    changes: dict[str, Any] = {}
    if title is not None:
        title = " ".join(title.split())
        if not title:
            raise Invalid("название не может быть пустым", {"title": N_("обязательное поле")})
        if title != doc.title:
            changes["title"] = [doc.title, title]
            doc.title = title
    if meta is not None:
        try:
            clean = doctypes.validate_metadata(doc.doc_type, meta)
        except doctypes.MetadataError as exc:
            raise Invalid("метаданные не прошли проверку", exc.errors) from None
        if clean != doc.meta:
            changes["meta"] = [doc.meta, clean]
            doc.meta = clean
    if changes:
        _touch(session, doc)
        try:
            session.flush()
        except StaleDataError:
            raise Conflict("документ изменён другим пользователем; обновите страницу и повторите") from None
        audit.record(session, actor, "document.update", "document", doc.id, changes=changes)
    return doc


def versions(session: Session, doc: Document) -> list[Version]:
    return list(session.scalars(select(Version).where(Version.document_id == doc.id).order_by(Version.number)))


def get_version(session: Session, actor: User | None, doc: Document, number: int | None = None) -> Version:
    require(session, actor, P.DOWNLOAD, doc)
    stmt = select(Version).where(Version.document_id == doc.id)
    stmt = stmt.where(Version.number == number) if number is not None else stmt.where(
        Version.id == doc.current_version_id)
    version = session.scalars(stmt).first()
    if version is None:
        raise NotFound("версия не найдена")
    return version


# Channels that show a version inside a page rather than hand out a copy: the document page's preview frame. They
# are the page's reading of the document (one view), not a download.
VIEW_CHANNELS = frozenset({"web-preview"})


def record_download(session: Session, actor: User | None, doc: Document, version: Version, channel: str) -> None:
    if channel in VIEW_CHANNELS:
        audit.record_view(session, actor, "document", doc.id, channel=channel, version=version.number)
        return
    audit.record(session, actor, "version.download", "document", doc.id, version=version.number, channel=channel)


def record_view(session: Session, actor: User | None, doc: Document, channel: str) -> None:
    """Once per user, document and hour (dms.audit.service.record_view says why)."""
    audit.record_view(session, actor, "document", doc.id, channel=channel)


def can(session: Session, actor: User | None, permission: P, doc: Document) -> bool:
    return has_permission(session, actor, permission, doc)


__all__ = ["Forbidden", "StoredUpload", "store_upload", "get", "check_new", "create", "create_many", "add_version",
           "new_version", "new_versions", "retain",
           "update_metadata", "versions", "get_version", "record_download", "record_view", "can"]


def ensure_mutable(session: Session, doc: Document) -> None:
    """Refuse changes to a declared record or a document in the trash (dms.records.service decides)."""
    ensure_mutable_many(session, [doc])


def ensure_mutable_many(session: Session, docs: list[Document]) -> None:
    """ensure_mutable of each of `docs`, in two queries."""
    from dms.records import service as records
    records.ensure_mutable_many(session, docs)


def move(session: Session, actor: User, doc: Document, target: Folder) -> Document:
    """File `doc` in another folder. As in Plone, moving takes the right to change the source folder's contents
    (Edit on the folder it leaves, whatever the document's state) and to add to the target. A document on legal
    hold, a declared record or one in the trash stays where it is: a hold covers the folder it was placed on."""
    from dms.records import service as records
    if target.id == doc.folder_id:
        raise Invalid("документ уже в этой папке")
    require(session, actor, P.EDIT, doc.folder)
    require(session, actor, P.ADD, target)
    ensure_mutable(session, doc)
    if records.active_holds(session, doc):
        raise Conflict("документ на юридическом удержании: перемещать его нельзя")
    source = doc.folder_id
    doc.folder = target
    _touch(session, doc)
    try:
        session.flush()
    except StaleDataError:
        raise Conflict("документ изменён другим пользователем; обновите страницу и повторите") from None
    audit.record(session, actor, "document.move", "document", doc.id, source=source, target=target.id)
    return doc
