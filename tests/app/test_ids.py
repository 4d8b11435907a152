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
