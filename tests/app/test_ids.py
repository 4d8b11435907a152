"""Ids are never reused (issue 13): a destroyed document's id, and its versions' and audit events' ids, stay dead,
on SQLite as on PostgreSQL, so a new document never inherits another's history."""
from __future__ import annotations

from sqlalchemy import delete, inspect, select, text

from dms.migrate import current, head
from dms.models import Document, Folder
from dms.documents import folders


def test_the_newest_document_deleted_leaves_its_id_dead(rt) -> None:  # noqa: ANN001
    with rt.db.session() as s:
        root = folders.root(s)
        a = Folder(name="ids-a", parent_id=root.id)
        s.add(a)
        s.flush()
        newest = Document(doc_type="order", title="first", folder_id=a.id, state="draft")
        s.add(newest)
        s.flush()
        dead = newest.id
    with rt.db.session() as s:  # destroyed as a purge does: the row goes
        s.execute(delete(Document).where(Document.id == dead))
    with rt.db.session() as s:
        folder_id = s.scalar(select(Folder.id).where(Folder.name == "ids-a"))
        fresh = Document(doc_type="order", title="second", folder_id=folder_id, state="draft")
        s.add(fresh)
        s.flush()
        assert fresh.id > dead


def test_the_newest_folder_deleted_leaves_its_id_dead(rt) -> None:  # noqa: ANN001
    with rt.db.session() as s:
        root = folders.root(s)
        gone = Folder(name="ids-gone", parent_id=root.id)
        s.add(gone)
        s.flush()
        dead = gone.id
    with rt.db.session() as s:
        s.execute(delete(Folder).where(Folder.id == dead))
    with rt.db.session() as s:
        fresh = Folder(name="ids-fresh", parent_id=folders.root(s).id)
        s.add(fresh)
        s.flush()
        assert fresh.id > dead


def test_sqlite_tables_whose_ids_must_stay_dead_use_autoincrement(rt) -> None:  # noqa: ANN001
    if not rt.db.is_sqlite:
        return  # PostgreSQL sequences never go back
    with rt.db.engine.connect() as c:
        for table in ("folders", "documents", "versions", "signatures", "audit_events"):
            sql = c.execute(text("SELECT sql FROM sqlite_master WHERE type='table' AND name=:t"),
                            {"t": table}).scalar_one()
            assert "AUTOINCREMENT" in sql.upper(), table


def test_the_schema_is_at_the_head_revision_with_foreign_keys_back_on(rt) -> None:  # noqa: ANN001
    assert current(rt.db.engine) == head()
    if rt.db.is_sqlite:
        with rt.db.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert c.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
    assert "documents" in inspect(rt.db.engine).get_table_names()


def test_a_purged_documents_ids_stay_dead_and_the_next_document_inherits_none_of_its_history(rt, world) -> None:  # noqa: ANN001
    import io

    from dms.models import AuditEvent, Version
    from dms.documents import service as documents
    from dms.people import users
    from dms.records import service as records
    world.user("clerk", "Clerk")
    world.user("admin", "Administrator")
    world.folder("/Прочее")
    doc = world.document("clerk", "/Прочее", b"first text\n", title="first", filename="a.txt")
    with rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        records.trash(s, clerk, documents.get(s, clerk, doc.id), "ошибка")
        dead_version = s.scalar(select(Version.id).where(Version.document_id == doc.id))
    with rt.db.session() as s:  # destroyed by the trash's purge: the rows go, the audit trail stays
        result = records.purge(s, users.get_user(s, "admin"), days=0, store=rt.store)
        assert [p["document"] for p in result.purged] == [doc.id]
    with rt.db.session() as s:
        assert s.get(Document, doc.id) is None
        dead_event = s.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
        clerk = users.get_user(s, "clerk")
        fresh = documents.create(s, clerk, folders.resolve(s, "/Прочее"), "other", "second")
        stored = documents.store_upload(rt.store, io.BytesIO(b"second text\n"), "b.txt", rt.settings.max_upload_bytes)
        version = documents.add_version(s, clerk, fresh, stored)
        assert fresh.id > doc.id and version.id > dead_version
        trail = s.scalars(select(AuditEvent).where(AuditEvent.object_type == "document",
                                                   AuditEvent.object_id == fresh.id).order_by(AuditEvent.id)).all()
        assert trail and all(e.id > dead_event for e in trail)  # only its own events, none of the first's
        assert {e.action for e in trail} == {"document.create", "version.upload"}


def test_the_newest_signature_and_audit_event_deleted_leave_their_ids_dead(rt, world) -> None:  # noqa: ANN001
    from dms.audit import service as audit
    from dms.models import AuditEvent, Signature
    world.user("clerk", "Clerk")
    world.folder("/Прочее")
    doc = world.document("clerk", "/Прочее", b"text\n", title="signed", filename="a.txt")
    with rt.db.session() as s:
        version_id = s.scalars(select(Document.current_version_id).where(Document.id == doc.id)).one()

    def signature(s) -> Signature:  # noqa: ANN001
        row = Signature(document_id=doc.id, version_id=version_id, source_version_id=version_id, kind="cms",
                        credential_fingerprint="0" * 64, level="B-B")
        s.add(row)
        s.flush()
        return row

    def event(s) -> AuditEvent:  # noqa: ANN001
        audit.record(s, None, "ids.test", "document", doc.id)
        s.flush()
        return s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()

    for model, make in ((Signature, signature), (AuditEvent, event)):
        with rt.db.session() as s:
            dead = make(s).id
        with rt.db.session() as s:  # the newest row destroyed (a disposition destroys signatures with documents)
            s.execute(delete(model).where(model.id == dead))
        with rt.db.session() as s:
            assert make(s).id > dead, model.__tablename__
