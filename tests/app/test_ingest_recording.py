"""Issue 20.3: batch filing records a batch's documents in a few statements (documents.create_many, new_versions,
audit.record_many) and loses none of the per-document rules: each document has its own events in a chain that
still names an altered one, its own outbox entry, and a file refused inside the batch's transaction takes only
itself."""
from __future__ import annotations

import io
from functools import partial

from sqlalchemy import select, text, update

from dms.models import AuditEvent, Document, OutboxEntry, Version
from dms.audit import service as audit
from dms.documents import folders
from dms.documents import ingest
from dms.people import users

from .pdfs import make_pdf


def _sources(names: list[str]) -> tuple[list[ingest.Source], dict[str, bytes]]:
    datas = {name: make_pdf(f"документ {name}") for name in names}
    return [ingest.Source(name, f"{name}.pdf", f"Документ {name}", partial(io.BytesIO, data))
            for name, data in datas.items()], datas


def _ingest(rt, names: list[str], batch_files: int) -> tuple[list[dict], dict[str, bytes]]:  # noqa: ANN001
    with rt.db.session() as s:
        clerk = users.create_user(s, "ingester", "Xq7-archive-pass", ["Clerk"])
        folder = folders.ensure(s, "/Поток")
        clerk_id, folder_id = clerk.id, folder.id
    sources, datas = _sources(names)
    return list(ingest.ingest_sources(rt, clerk_id, folder_id, "other", sources, batch_files=batch_files)), datas


def test_each_batch_filed_document_has_its_own_events_in_a_chain_that_names_an_altered_one(rt):  # noqa: ANN001
    names = [f"f{i}" for i in range(6)]
    results, datas = _ingest(rt, names, batch_files=6)
    assert [r["file"] for r in results] == names and all("id" in r for r in results)
    with rt.db.session() as s:
        for r in results:
            events = s.scalars(select(AuditEvent).where(AuditEvent.object_type == "document",
                                                        AuditEvent.object_id == r["id"]).order_by(AuditEvent.id)).all()
            assert [e.action for e in events] == ["document.create", "version.upload"]
            assert events[0].details["title"] == f"Документ {r['file']}" and events[0].actor_login == "ingester"
            assert events[1].details["sha256"] == r["sha256"] == __import__("hashlib").sha256(
                datas[r["file"]]).hexdigest()
            assert s.scalars(select(OutboxEntry.id).where(OutboxEntry.document_id == r["id"])).first() is not None
            doc = s.get_one(Document, r["id"])
            assert doc.current_version is not None and doc.current_version.number == 1
        assert list(audit.verify_chain(s)) == []
        uploads = s.scalars(select(AuditEvent.id).where(AuditEvent.action == "version.upload")
                            .order_by(AuditEvent.id)).all()
        victim = uploads[3]  # in the middle of one append of six
        s.execute(update(AuditEvent).where(AuditEvent.id == victim).values(details={"sha256": "0" * 64}))
        s.commit()
        problems = list(audit.verify_chain(s))
    assert [p.event_id for p in problems] == [victim]


def _refuse_version_named(rt, filename: str) -> None:  # noqa: ANN001
    """A version row with this file name is refused by the database as another writer's version number would be
    (PostgreSQL's unique key on (document_id, number)): the rule only the database knows, inside the batch."""
    with rt.db.engine.begin() as c:
        if rt.db.is_sqlite:
            c.execute(text(f"CREATE TRIGGER refuse_one BEFORE INSERT ON versions WHEN NEW.filename = '{filename}' "
                           "BEGIN SELECT RAISE(ABORT, 'uq_version_number: taken meanwhile'); END"))
        else:
            c.execute(text(f"""CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                IF NEW.filename = '{filename}' THEN
                    RAISE EXCEPTION 'uq_version_number: taken meanwhile' USING ERRCODE = 'unique_violation';
                END IF; RETURN NEW; END $$"""))
            c.execute(text("CREATE TRIGGER refuse_one BEFORE INSERT ON versions FOR EACH ROW "
                           "EXECUTE FUNCTION refuse_one()"))


def _drop_refusal(rt) -> None:  # noqa: ANN001
    with rt.db.engine.begin() as c:
        c.execute(text("DROP TRIGGER refuse_one" if rt.db.is_sqlite else "DROP TRIGGER refuse_one ON versions"))
        if not rt.db.is_sqlite:
            c.execute(text("DROP FUNCTION refuse_one()"))


def test_a_file_refused_inside_the_batch_transaction_takes_only_itself(rt):  # noqa: ANN001
    _refuse_version_named(rt, "f2.pdf")
    try:
        results, datas = _ingest(rt, [f"f{i}" for i in range(5)], batch_files=5)
    finally:
        _drop_refusal(rt)
    assert [r["file"] for r in results] == ["f0", "f1", "f2", "f3", "f4"]
    assert "error" in results[2] and all("id" in r for i, r in enumerate(results) if i != 2)
    with rt.db.session() as s:
        assert s.scalars(select(Document.title).order_by(Document.id)).all() == [
            f"Документ f{i}" for i in (0, 1, 3, 4)]  # nothing of the refused file's document stays
        for r in results:
            if "id" in r:
                version = s.scalars(select(Version).where(Version.document_id == r["id"])).one()
                assert rt.store.get_bytes(version.object_key) == datas[r["file"]]
        assert len(s.scalars(select(AuditEvent.id).where(AuditEvent.action == "version.upload")
                .order_by(AuditEvent.id)).all()) == 4
        assert list(audit.verify_chain(s)) == []  # the refused batch's events and head went with its savepoint
