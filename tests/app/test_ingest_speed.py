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
