"""Documents and their versions. Bytes go to the object store first; then one transaction references them,
so a crash in between leaves at most an unreferenced object (found by `dms check`), never a document
without bytes."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, UTC
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
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


def create(session: Session, actor: User, folder: Folder, doc_type: str, title: str,
           meta: dict[str, Any] | None = None, organisation: Organisation | None = None) -> Document:
    require(session, actor, P.ADD, folder)
    title = " ".join((title or "").split())
    if not title or len(title) > 1000:
        raise Invalid("укажите название документа (до 1000 символов)", {"title": N_("обязательное поле")})
    try:
        clean = doctypes.validate_metadata(doc_type, meta)
    except doctypes.MetadataError as exc:
        raise Invalid("метаданные не прошли проверку", exc.errors) from None
    org_id = organisation.id if organisation else (folder.organisation_id or actor.organisation_id)
    doc = Document(doc_type=doc_type, title=title, folder_id=folder.id, organisation_id=org_id,
                   state=workflow_for(doc_type).initial, meta=clean, created_by_id=actor.id)
    session.add(doc)
    session.flush()
    session.add(OutboxEntry(document_id=doc.id, op="upsert"))
    audit.record(session, actor, "document.create", "document", doc.id, type=doc_type, title=title,
                 folder=folder.id)
    return doc


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
    protection), in the caller's transaction, the caller having checked its own permission: the revision checked
    when the caller has one, the next number, the document's current version, the outbox entry that indexes it.
    `retain_until`: the bytes are signed — the store keeps them immutable until then, applied once the
    transaction commits (dms.uow.after_commit; a rollback leaves an unprotected object `dms check` finds).
    `event`: the audit event recorded with the version's facts (None: the caller records its own, richer one).
    `touch`: the document's "updated" moves (False for the archive's own protection of signed bytes)."""
    check_revision(doc, expected_revision)
    number = (session.scalar(select(func.max(Version.number)).where(Version.document_id == doc.id)) or 0) + 1
    version = Version(document_id=doc.id, number=number, object_key=stored.key, sha256=stored.sha256,
                      size=stored.size, media_type=stored.media_type, filename=stored.filename,
                      comment=comment[:1000], created_by_id=actor.id if actor is not None else None)
    session.add(version)
    try:
        session.flush()
    except IntegrityError as exc:  # PostgreSQL: another transaction committed this number first (SQLite queues)
        if VERSION_NUMBER_UNIQUE not in str(exc.orig):
            raise
        raise Conflict("документ изменён другим пользователем; повторите загрузку") from None
    doc.current_version_id = version.id
    if touch:
        _touch(session, doc)
    else:
        session.add(OutboxEntry(document_id=doc.id, op="upsert"))
    try:
        session.flush()
    except StaleDataError:
        raise Conflict("документ изменён другим пользователем; повторите загрузку") from None
    if retain_until is not None:
        retain(session, stored.key, retain_until)
    if event is not None:
        audit.record(session, actor, event, "document", doc.id, version=number, sha256=stored.sha256,
                     size=stored.size, media_type=stored.media_type, filename=stored.filename)
    return version


def retain(session: Session, key: str, until: datetime) -> None:
    """Keep a signed object immutable in the store until `until`, once this transaction commits (every signed
    object: a signed version through new_version, a detached .p7s)."""
    store = session.info[RUNTIME_KEY].store
    after_commit(session, lambda: store.protect(key, until))


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


__all__ = ["Forbidden", "StoredUpload", "store_upload", "get", "create", "add_version", "new_version", "retain",
           "update_metadata", "versions", "get_version", "record_download", "record_view", "can"]


def ensure_mutable(session: Session, doc: Document) -> None:
    """Refuse changes to a declared record or a document in the trash (dms.records.service decides)."""
    from dms.records import service as records
    records.ensure_mutable(session, doc)


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
