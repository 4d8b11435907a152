"""Issue 20.3: batch filing commits many stored files in one transaction, a savepoint each: a refused file does not
take the others with it, every filed document has its bytes, version, audit events and outbox entry."""
from __future__ import annotations

import io
from functools import partial

from sqlalchemy import func, select

from dms.models import AuditEvent, Document, OutboxEntry
from dms.audit import service as audit
from dms.documents import folders
from dms.documents import ingest
from dms.people import users

from .pdfs import make_pdf


def test_a_batch_files_every_good_file_and_reports_the_refused_one_alone(rt):  # noqa: ANN001
    with rt.db.session() as s:
        clerk = users.create_user(s, "ingester", "Xq7-archive-pass", ["Clerk"])
        folder = folders.ensure(s, "/Поток")
        clerk_id, folder_id = clerk.id, folder.id
    datas = [make_pdf(f"документ {i}") for i in range(5)]
    sources = [ingest.Source(f"f{i}", f"f{i}.pdf", f"Документ {i}", partial(io.BytesIO, d))
               for i, d in enumerate(datas)]
    sources.insert(2, ingest.Source("bad", "bad.exe", "Плохой", lambda: io.BytesIO(b"MZ\x90\x00" + b"\0" * 64)))
    results = list(ingest.ingest_sources(rt, clerk_id, folder_id, "other", sources, batch_files=3))
    assert [r["file"] for r in results] == ["f0", "f1", "bad", "f2", "f3", "f4"]
    assert "error" in results[2] and all("id" in r for i, r in enumerate(results) if i != 2)
    with rt.db.session() as s:
        for r in results:
            if "id" in r:
                doc = s.get(Document, r["id"])
                assert doc is not None and doc.current_version is not None
                assert rt.store.open(doc.current_version.object_key).read() == datas[int(r["file"][1:])]
        assert s.scalar(select(func.count()).select_from(OutboxEntry)) >= 5
        assert s.scalar(select(func.count()).where(AuditEvent.action == "version.upload")) == 5
        assert list(audit.verify_chain(s)) == []


def _clerk_and_folder(rt):  # noqa: ANN001, ANN202
    with rt.db.session() as s:
        clerk = users.create_user(s, "ingester", "Xq7-archive-pass", ["Clerk"])
        folder = folders.ensure(s, "/Поток")
        return clerk.id, folder.id


def _helpers_alive() -> list:
    import threading
    return [t for t in threading.enumerate() if t.name == "ingest-store"]


def test_a_store_failure_stops_the_filing_after_the_committed_batches_and_leaves_no_helper(rt):  # noqa: ANN001
    """Files are stored by a helper thread ahead of the transactions: an error no file can be refused for (the
    store down) reaches the caller, the batches committed before it stay, nothing after it is filed."""
    import pytest
    clerk_id, folder_id = _clerk_and_folder(rt)
    datas = [make_pdf(f"документ {i}") for i in range(6)]

    def down() -> io.BytesIO:
        raise RuntimeError("хранилище недоступно")

    sources = [ingest.Source(f"f{i}", f"f{i}.pdf", f"Документ {i}", partial(io.BytesIO, d))
               for i, d in enumerate(datas)]
    sources.insert(4, ingest.Source("down", "down.pdf", "Сбой", down))
    seen = []
    with pytest.raises(RuntimeError, match="хранилище недоступно"):
        for result in ingest.ingest_sources(rt, clerk_id, folder_id, "other", sources, batch_files=2):
            seen.append(result["file"])
    assert seen == ["f0", "f1", "f2", "f3"]
    assert _helpers_alive() == []
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 4
        assert list(audit.verify_chain(s)) == []


def test_a_caller_that_stops_reading_stops_the_storing_helper(rt):  # noqa: ANN001
    clerk_id, folder_id = _clerk_and_folder(rt)
    opened = []

    def source(i: int) -> ingest.Source:
        def open_it() -> io.BytesIO:
            opened.append(i)
            return io.BytesIO(make_pdf(f"документ {i}"))
        return ingest.Source(f"f{i}", f"f{i}.pdf", f"Документ {i}", open_it)

    results = ingest.ingest_sources(rt, clerk_id, folder_id, "other", (source(i) for i in range(1000)),
                                    batch_files=2)
    first = next(results)
    results.close()
    assert "id" in first and _helpers_alive() == []
    assert len(opened) < 1000  # stored ahead at most a bounded number, not the whole stream
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 2  # the one committed batch
