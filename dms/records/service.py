"""Records management: legal holds, the trash, record declarations and disposition lists.

Every way out of the archive goes through `_destroy` (purge of the trash, executed disposition), and every one
first asks `deletion_blocker`, so a legal hold blocks them all. Rows are deleted in the caller's transaction;
the objects whose last reference went are deleted only after that commit, by `remove_objects` registered by
`purge`/`execute` themselves with `dms.uow.after_commit` (a rollback deletes nothing; a crash in between leaves
orphans for `dms check`, never a version without bytes). No caller cleans up by hand.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, UTC
from collections.abc import Iterable

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from storage import ObjectNotFound, ObjectProtected, ObjectStore

from dms.records import retention
from dms.errors import N_, Conflict, Invalid, NotFound, localize
from dms.approvals.models import ApprovalRoute, ApprovalStage, ApprovalTask, Comment, Notification
from dms.models import (Certificate, DispositionBatch, DispositionItem, Document, EvidenceRecord, Folder, LegalHold,
                        OutboxEntry, RecordDeclaration, Signature, TrashEntry, User, Version, VersionText,
                        WorkflowHistory)
from dms.security import Forbidden, P, Permission, has_permission, holds_globally
from dms.audit import service as audit
from dms.uow import after_commit


# Duty -> global roles that hold it. Archivist work is the administrator's; auditors may read the lists.
# Four eyes on destruction: the administrator who proposes a disposition list may not approve it.
FOUR_EYES = True
# A duty is a site permission of the one table (dms.security.ROLE_PERMISSIONS), not a set of roles of its own.
DUTIES: dict[str, Permission] = {"manage": P.MANAGE_RECORDS, "read": P.READ_RECORDS}


def can(actor: User | None, duty: str) -> bool:
    return holds_globally(actor, DUTIES[duty])


def require_duty(actor: User | None, duty: str) -> None:
    if not can(actor, duty):
        raise Forbidden(DUTIES[duty],
                        N_("на управление архивным хранением") if duty == "manage"
                        else N_("к спискам архивного хранения"))


def _now() -> datetime:
    return datetime.now(UTC)


def _reason(text: str | None, what: str) -> str:
    text = " ".join((text or "").split())
    if not text:
        raise Invalid("укажите основание (%(what)s)", {"reason": N_("обязательное поле")}, what=localize(what))
    return text[:2000]


# --- what applies to a document -------------------------------------------------------------------------------

def active_holds(session: Session, doc: Document) -> list[LegalHold]:
    """Holds on the document itself or on its folder or any folder above it."""
    folder = session.get(Folder, doc.folder_id)
    above = folder.ancestor_ids if folder is not None else []
    return list(session.scalars(select(LegalHold).where(
        LegalHold.released_at.is_(None),
        or_(LegalHold.document_id == doc.id, LegalHold.folder_id.in_(above)))
        .order_by(LegalHold.id)))


def is_record(session: Session, doc: Document) -> bool:
    return session.get(RecordDeclaration, doc.id) is not None


def trash_entry(session: Session, doc: Document) -> TrashEntry | None:
    return session.get(TrashEntry, doc.id)


def is_signed(session: Session, doc: Document) -> bool:
    return session.scalar(select(Signature.id).where(Signature.document_id == doc.id).limit(1)) is not None


def deletion_blocker(session: Session, doc: Document) -> str | None:
    """Why nothing may delete the document now (None: no hold stands in the way)."""
    holds = active_holds(session, doc)
    if holds:
        return localize("документ под юридическим удержанием № %(id)s: %(reason)s",
                        {"id": holds[0].id, "reason": holds[0].reason})
    return None


def trash_blocker(session: Session, doc: Document) -> str | None:
    """Why the document may not go to the trash: a hold, or it may leave only by disposition."""
    reasons = (
        deletion_blocker(session, doc),
        N_("документ объявлен архивной записью; он выбывает только по акту об уничтожении")
        if is_record(session, doc) else None,
        N_("подписанный документ выбывает только по акту об уничтожении") if is_signed(session, doc) else None,
        N_("документ уже в корзине") if trash_entry(session, doc) else None,
    )
    return next((localize(r) for r in reasons if r), None)


def ensure_mutable(session: Session, doc: Document) -> None:
    """Refuse any change to a record or to a document in the trash (versions, metadata, transitions)."""
    ensure_mutable_many(session, [doc])


def ensure_mutable_many(session: Session, docs: list[Document]) -> None:
    """ensure_mutable for each of `docs` in two queries, not two per document (a batch's workflow step)."""
    ids = [d.id for d in docs]
    if len(docs) == 1:  # by primary key: found in the session's identity map when it is already loaded
        record, trashed = is_record(session, docs[0]), trash_entry(session, docs[0]) is not None
    else:
        record = session.scalar(select(RecordDeclaration.document_id)
                                .where(RecordDeclaration.document_id.in_(ids)).limit(1)) is not None
        trashed = session.scalar(select(TrashEntry.document_id).where(TrashEntry.document_id.in_(ids))
                                 .limit(1)) is not None
    if record:
        raise Conflict("документ объявлен архивной записью и не может изменяться")
    if trashed:
        raise Conflict("документ в корзине; восстановите его, чтобы изменить")


@dataclass
class Status:
    """What the document page shows about records management."""
    rule: retention.RetentionRule
    due: date | None
    record: RecordDeclaration | None
    trashed: TrashEntry | None
    holds: list[LegalHold]
    trash_blocker: str | None

    def as_dict(self) -> dict:
        return {"retention": {"rule": self.rule.label_ru, "disposal": self.rule.disposal.value,
                              "basis": self.rule.basis_ru, "due": self.due.isoformat() if self.due else None},
                "record": self.record is not None, "trashed": self.trashed is not None,
                "holds": [hold_json(h) for h in self.holds], "trash_blocker": self.trash_blocker}


def due_date(doc: Document) -> date | None:
    rule = retention.rule_of(doc.doc_type, doc.meta)
    return retention.due_date(rule, retention.start_date(rule, doc.meta, doc.reg_date, doc.created_at))


def status(session: Session, doc: Document) -> Status:
    return Status(retention.rule_of(doc.doc_type, doc.meta), due_date(doc), session.get(RecordDeclaration, doc.id),
                  trash_entry(session, doc), active_holds(session, doc), trash_blocker(session, doc))


def hold_json(h: LegalHold) -> dict:
    return {"id": h.id, "document_id": h.document_id, "folder_id": h.folder_id, "reason": h.reason,
            "placed_at": h.placed_at.isoformat(), "released_at": h.released_at.isoformat() if h.released_at else None,
            "release_reason": h.release_reason}


# --- legal holds ----------------------------------------------------------------------------------------------

def place_hold(session: Session, actor: User, reason: str, *, document: Document | None = None,
               folder: Folder | None = None) -> LegalHold:
    require_duty(actor, "manage")
    if (document is None) == (folder is None):
        raise Invalid("удержание ставится на документ или на папку")
    hold = LegalHold(document_id=document.id if document else None, folder_id=folder.id if folder else None,
                     reason=_reason(reason, N_("удержания")), placed_by_id=actor.id)
    session.add(hold)
    session.flush()
    target = document if document is not None else folder
    assert target is not None  # exactly one of them, checked above
    audit.record(session, actor, "records.hold", "document" if document else "folder", target.id, hold=hold.id,
                 reason=hold.reason)
    return hold


def release_hold(session: Session, actor: User, hold_id: int, reason: str) -> LegalHold:
    require_duty(actor, "manage")
    hold = session.get(LegalHold, hold_id)
    if hold is None:
        raise NotFound("удержание не найдено")
    if hold.released_at is not None:
        raise Conflict("удержание уже снято")
    hold.release_reason = _reason(reason, N_("снятия удержания"))
    hold.released_at = _now()
    hold.released_by_id = actor.id
    audit.record(session, actor, "records.release", "document" if hold.document_id else "folder",
                 hold.document_id or hold.folder_id, hold=hold.id, reason=hold.release_reason)
    return hold


def holds(session: Session, actor: User, include_released: bool = False) -> list[LegalHold]:
    require_duty(actor, "read")
    stmt = select(LegalHold).order_by(LegalHold.id.desc())
    if not include_released:
        stmt = stmt.where(LegalHold.released_at.is_(None))
    return list(session.scalars(stmt))


# --- records --------------------------------------------------------------------------------------------------

def declare_record(session: Session, actor: User, doc: Document, reason: str = "") -> RecordDeclaration:
    require_duty(actor, "manage")
    if is_record(session, doc):
        raise Conflict("документ уже объявлен архивной записью")
    if trash_entry(session, doc):
        raise Conflict("документ в корзине; восстановите его сначала")
    decl = RecordDeclaration(document_id=doc.id, reason=" ".join((reason or "").split())[:2000],
                             declared_by_id=actor.id)
    session.add(decl)
    session.flush()
    audit.record(session, actor, "records.declare", "document", doc.id, reason=decl.reason,
                 version=doc.current_version.number if doc.current_version else None)
    return decl


# --- trash ----------------------------------------------------------------------------------------------------

def _may_edit(session: Session, actor: User, doc: Document) -> None:
    if not has_permission(session, actor, P.EDIT, doc):
        raise Forbidden(P.EDIT, "на удаление документа")


def trash(session: Session, actor: User, doc: Document, reason: str = "") -> TrashEntry:
    """Move to the trash: needs Edit on the document; refused under a hold, for records and signed ones."""
    _may_edit(session, actor, doc)
    blocker = trash_blocker(session, doc)
    if blocker:
        raise Conflict(blocker)
    entry = TrashEntry(document_id=doc.id, reason=" ".join((reason or "").split())[:2000], trashed_by_id=actor.id)
    session.add(entry)
    session.add(OutboxEntry(document_id=doc.id, op="delete"))
    session.flush()
    audit.record(session, actor, "records.trash", "document", doc.id, reason=entry.reason, title=doc.title)
    return entry


def restore(session: Session, actor: User, doc: Document) -> None:
    entry = trash_entry(session, doc)
    if entry is None:
        raise Conflict("документа нет в корзине")
    if not can(actor, "manage"):
        _may_edit(session, actor, doc)
    session.delete(entry)
    session.add(OutboxEntry(document_id=doc.id, op="upsert"))
    session.flush()
    audit.record(session, actor, "records.restore", "document", doc.id, title=doc.title)


def trashed(session: Session, actor: User) -> list[tuple[TrashEntry, Document]]:
    require_duty(actor, "read")
    rows = session.execute(select(TrashEntry, Document).join(Document, Document.id == TrashEntry.document_id)
                           .order_by(TrashEntry.trashed_at)).all()
    return [(entry, doc) for entry, doc in rows]


def trashed_ids(session: Session, ids: Iterable[int] | None = None) -> set[int]:
    """Ids of documents in the trash (among `ids` if given): the indexer keeps them out of search."""
    stmt = select(TrashEntry.document_id)
    if ids is not None:
        stmt = stmt.where(TrashEntry.document_id.in_(list(ids)))
    return set(session.scalars(stmt))


def not_trashed_clause():  # noqa: ANN201
    """A WHERE clause on Document: not in the trash (for listings)."""
    return Document.id.not_in(select(TrashEntry.document_id))


# --- destruction (purge and disposition) ----------------------------------------------------------------------

def _destroy(session: Session, doc: Document) -> dict:
    """Delete the document's rows; returns what was destroyed (the certificate of destruction's content)."""
    blocker = deletion_blocker(session, doc)
    if blocker:
        raise Conflict(blocker)
    if session.scalar(select(Certificate.id).where(Certificate.document_id == doc.id)) is not None:
        raise Conflict("свидетельство из реестра не уничтожается вместе с записью реестра")
    versions = list(session.scalars(select(Version).where(Version.document_id == doc.id).order_by(Version.number)))
    p7s = [k for k in session.scalars(select(Signature.p7s_key).where(Signature.document_id == doc.id,
                                                                      Signature.p7s_key.is_not(None)))]
    what = {"document": doc.id, "type": doc.doc_type, "title": doc.title, "reg_number": doc.reg_number,
            "reg_date": doc.reg_date.isoformat() if doc.reg_date else None, "state": doc.state,
            "versions": [{"number": v.number, "sha256": v.sha256, "size": v.size, "filename": v.filename}
                         for v in versions], "signatures": len(p7s),
            "keys": sorted({str(v.object_key) for v in versions} | {str(k) for k in p7s})}
    version_ids = [v.id for v in versions]
    doc.current_version_id = None
    session.flush()
    # Children first, in foreign-key order: one table per line, no rules hidden in cascades. Everything that names
    # the document goes with it (its evidence, its approval routes and their tasks, its discussion and the
    # notifications about it); a route of another document keeps its row, only its link to this sheet goes.
    routes = select(ApprovalRoute.id).where(ApprovalRoute.document_id == doc.id).scalar_subquery()
    session.execute(update(ApprovalRoute).where(ApprovalRoute.sheet_document_id == doc.id)
                    .values(sheet_document_id=None))
    for stmt in (delete(VersionText).where(VersionText.version_id.in_(version_ids)),
                 delete(EvidenceRecord).where(EvidenceRecord.document_id == doc.id),
                 delete(ApprovalTask).where((ApprovalTask.document_id == doc.id) | ApprovalTask.route_id.in_(routes)),
                 delete(ApprovalStage).where(ApprovalStage.route_id.in_(routes)),
                 delete(ApprovalRoute).where(ApprovalRoute.document_id == doc.id),
                 delete(Comment).where(Comment.document_id == doc.id),
                 delete(Notification).where(Notification.document_id == doc.id),
                 delete(Signature).where(Signature.document_id == doc.id),
                 delete(WorkflowHistory).where(WorkflowHistory.document_id == doc.id),
                 delete(TrashEntry).where(TrashEntry.document_id == doc.id),
                 delete(RecordDeclaration).where(RecordDeclaration.document_id == doc.id),
                 delete(Version).where(Version.document_id == doc.id)):
        session.execute(stmt)
    session.delete(doc)
    session.add(OutboxEntry(document_id=what["document"], op="delete"))
    session.flush()
    return what


@dataclass
class ObjectsReport:
    deleted: list[str] = field(default_factory=list)
    kept_referenced: list[str] = field(default_factory=list)
    kept_protected: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def remove_objects(session: Session, store: ObjectStore, keys: Iterable[str]) -> ObjectsReport:
    """After the rows are committed: delete the objects no version or signature references any more; objects
    under store retention stay (reported) until their retention ends and `dms check --delete-orphans`."""
    report = ObjectsReport()
    for key in sorted(set(keys)):
        used = session.scalar(select(Version.id).where(Version.object_key == key).limit(1)) or \
            session.scalar(select(Signature.id).where(Signature.p7s_key == key).limit(1))
        if used:
            report.kept_referenced.append(key)
            continue
        try:
            store.delete(key)
        except ObjectProtected:
            report.kept_protected.append(key)
            continue
        except ObjectNotFound:
            pass
        report.deleted.append(key)
    return report


def _remove_after_commit(session: Session, store: ObjectStore, keys: set[str]) -> ObjectsReport:
    """Register the removal of `keys` for after the session's commit; the report is filled then (empty after a
    rollback, which drops the removal). The committed session may not emit SQL: the references are read in a
    session of its own on the same database."""
    report = ObjectsReport()
    bind = session.get_bind()

    def remove() -> None:
        with Session(bind) as s:
            done = remove_objects(s, store, keys)
        report.deleted[:], report.kept_referenced[:], report.kept_protected[:] = (
            done.deleted, done.kept_referenced, done.kept_protected)

    if keys:
        after_commit(session, remove)
    return report


@dataclass
class PurgeResult:
    purged: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    objects: ObjectsReport = field(default_factory=ObjectsReport)  # filled once the purge is committed

    def as_dict(self) -> dict:
        return {"purged": [{k: v for k, v in p.items() if k != "keys"} for p in self.purged],
                "skipped": self.skipped, "objects": self.objects.as_dict()}


def purge(session: Session, actor: User, *, days: int, store: ObjectStore,
          now: datetime | None = None) -> PurgeResult:
    """Destroy what has been in the trash longer than `days` (Settings.trash_days); held documents stay. Their
    objects leave `store` once the caller's transaction commits (`result.objects` tells what happened then)."""
    require_duty(actor, "manage")
    cutoff = (now or _now()) - timedelta(days=days)
    result = PurgeResult()
    entries = session.scalars(select(TrashEntry).where(TrashEntry.trashed_at <= cutoff)
                              .order_by(TrashEntry.trashed_at)).all()
    for entry in entries:
        doc = session.get(Document, entry.document_id)
        if doc is None:  # already gone: nothing to purge
            continue
        try:
            what = _destroy(session, doc)  # refuses what is held, a record, or a register certificate
        except Conflict as exc:  # one refusal never stops the purge of the others
            result.skipped.append({"document": doc.id, "reason": exc.message})
            continue
        audit.record(session, actor, "records.purge", "document", what["document"], **what)
        result.purged.append(what)
        result.keys |= set(what["keys"])
    result.objects = _remove_after_commit(session, store, result.keys)
    return result


# --- disposition ----------------------------------------------------------------------------------------------

@dataclass
class Due:
    doc: Document
    rule: retention.RetentionRule
    due: date
    blocker: str | None


def due_for_disposition(session: Session, actor: User, today: date | None = None) -> list[Due]:
    """Documents past their retention whose rule says destroy (held ones listed with the reason they stay)."""
    require_duty(actor, "read")
    today = today or date.today()
    types = [t for t, r in retention.RETENTION.items() if r.disposal is retention.Disposal.DESTROY]
    result = []
    for doc in session.scalars(select(Document).where(Document.doc_type.in_(types)).order_by(Document.id)):
        due = due_date(doc)
        if due is not None and due <= today:
            result.append(Due(doc, retention.rule_of(doc.doc_type, doc.meta), due, deletion_blocker(session, doc)))
    return result


def _pending_document_ids(session: Session) -> set[int]:
    return set(session.scalars(select(DispositionItem.document_id).join(DispositionBatch).where(
        DispositionBatch.status.in_(("proposed", "approved")), DispositionItem.status == "proposed")))


def propose(session: Session, actor: User, today: date | None = None) -> DispositionBatch:
    """A disposition list of everything due and not held, not already on an open list."""
    require_duty(actor, "manage")
    today = today or date.today()
    pending = _pending_document_ids(session)
    due = [d for d in due_for_disposition(session, actor, today) if d.blocker is None and d.doc.id not in pending]
    if not due:
        raise Conflict("нет документов с истёкшим сроком хранения для уничтожения")
    batch = DispositionBatch(as_of=today, proposed_by_id=actor.id)
    session.add(batch)
    session.flush()
    for d in due:
        session.add(DispositionItem(batch_id=batch.id, document_id=d.doc.id, doc_type=d.doc.doc_type,
                                    title=d.doc.title, reg_number=d.doc.reg_number, due_date=d.due,
                                    rule=d.rule.label_ru, outcome={}))
    session.flush()
    session.refresh(batch)
    audit.record(session, actor, "records.disposition.propose", "disposition", batch.id, as_of=today.isoformat(),
                 documents=[d.doc.id for d in due])
    return batch


def get_batch(session: Session, actor: User, batch_id: int) -> DispositionBatch:
    require_duty(actor, "read")
    batch = session.get(DispositionBatch, batch_id)
    if batch is None:
        raise NotFound("акт не найден")
    return batch


def batches(session: Session, actor: User) -> list[DispositionBatch]:
    require_duty(actor, "read")
    return list(session.scalars(select(DispositionBatch).order_by(DispositionBatch.id.desc())))


def approve(session: Session, actor: User, batch_id: int) -> DispositionBatch:
    require_duty(actor, "manage")
    batch = get_batch(session, actor, batch_id)
    if batch.status != "proposed":
        raise Conflict(N_("акт № %(id)s уже утверждён") if batch.status == "approved"
                       else N_("акт № %(id)s уже исполнен"), id=batch.id)
    if FOUR_EYES and batch.proposed_by_id == actor.id:
        raise Conflict("акт № %(id)s составлен вами: утвердить его должен другой администратор", id=batch.id)
    batch.status = "approved"
    batch.approved_by_id = actor.id
    batch.approved_at = _now()
    audit.record(session, actor, "records.disposition.approve", "disposition", batch.id,
                 documents=[i.document_id for i in batch.items])
    return batch


def execute(session: Session, actor: User, batch_id: int, *, store: ObjectStore,
            today: date | None = None) -> tuple[DispositionBatch, ObjectsReport]:
    """Destroy the items of an approved list that are still due under their rule and not held; each destroyed
    document leaves an audit event and its item as the certificate of destruction. The objects nothing references
    any more leave `store` once the caller's transaction commits: the returned report is filled then."""
    require_duty(actor, "manage")
    batch = get_batch(session, actor, batch_id)
    if batch.status != "approved":
        raise Conflict(N_("акт не утверждён: уничтожение только по утверждённому акту")
                       if batch.status == "proposed" else N_("акт уже исполнен"))
    today = today or date.today()
    keys: set[str] = set()
    for item in batch.items:
        doc = session.get(Document, item.document_id)
        rule = retention.rule_of(doc.doc_type, doc.meta) if doc else None
        due = due_date(doc) if doc else None
        reason = ("документа уже нет" if doc is None else
                  "правило хранения не предусматривает уничтожения"
                  if rule is None or rule.disposal is not retention.Disposal.DESTROY
                  else "срок хранения ещё не истёк" if due is None or due > today
                  else deletion_blocker(session, doc))
        if reason is None and doc is not None:
            try:
                what = _destroy(session, doc)
            except Conflict as exc:
                reason = exc.message
        if reason is not None:
            item.status = "skipped"
            item.outcome = {"reason": reason}
            audit.record(session, actor, "records.disposition.skip", "document", item.document_id,
                         disposition=batch.id, reason=reason)
            continue
        item.status = "destroyed"
        item.outcome = {**what, "destroyed_at": _now().isoformat(), "rule": item.rule}
        keys |= set(what["keys"])
        audit.record(session, actor, "records.destroy", "document", item.document_id, disposition=batch.id,
                     rule=item.rule, due=item.due_date.isoformat(), **what)
    batch.status = "executed"
    batch.executed_by_id = actor.id
    batch.executed_at = _now()
    audit.record(session, actor, "records.disposition.execute", "disposition", batch.id,
                 destroyed=[i.document_id for i in batch.items if i.status == "destroyed"],
                 skipped=[i.document_id for i in batch.items if i.status == "skipped"])
    return batch, _remove_after_commit(session, store, keys)


def act_document_id(batch: DispositionBatch) -> int | None:
    """The act filed when the list was executed (dms.records.act), as its destroyed items name it."""
    return next((i.outcome["act_document"] for i in batch.items if i.outcome.get("act_document")), None)


def batch_json(batch: DispositionBatch) -> dict:
    return {"id": batch.id, "status": batch.status, "as_of": batch.as_of.isoformat(),
            "act_document_id": act_document_id(batch),
            "proposed_at": batch.proposed_at.isoformat(),
            "approved_at": batch.approved_at.isoformat() if batch.approved_at else None,
            "executed_at": batch.executed_at.isoformat() if batch.executed_at else None,
            "items": [{"document_id": i.document_id, "type": i.doc_type, "title": i.title,
                       "reg_number": i.reg_number, "due": i.due_date.isoformat(), "rule": i.rule,
                       "status": i.status, "outcome": i.outcome} for i in batch.items]}


def due_json(d: Due) -> dict:
    return {"document_id": d.doc.id, "type": d.doc.doc_type, "title": d.doc.title, "reg_number": d.doc.reg_number,
            "due": d.due.isoformat(), "rule": d.rule.label_ru, "blocked": d.blocker}
