"""Bytes go to the store before the commit that references them; `dms check` finds what a crash leaves."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import datetime, timedelta, UTC

from sqlalchemy import func, select

from dms.models import Document, Version
from dms.operations.check import check_objects

from .pdfs import make_pdf

# Runs `dms ingest` in a child process whose first database commit after the object write kills the process,
# the way a power cut or an OOM kill would.
CRASHING_INGEST = r"""
import os, sys
from sqlalchemy.orm import Session
import dms.documents.ingest as ingest
real_store_upload = ingest.documents.store_upload
def store_then_arm(*a, **kw):
    result = real_store_upload(*a, **kw)
    Session.commit = lambda self: os._exit(137)
    return result
ingest.documents.store_upload = store_then_arm
from dms.cli import main
main(sys.argv[1:])
"""


def _env(settings) -> dict:  # noqa: ANN001
    return {**os.environ, "DMS_DATA_DIR": str(settings.data_dir), "DMS_DATABASE_URL": settings.database_url,
            "DMS_STORAGE_URL": settings.storage_url, "DMS_SECRET_KEY": "x"}


def test_kill_between_object_write_and_commit_loses_nothing_and_leaves_an_orphan(world, rt, settings, tmp_path):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Приказы")
    committed = world.document("clerk", "/Приказы", make_pdf("уже в архиве"), doc_type="order", title="Старый")
    new_file = tmp_path / "new.pdf"
    new_file.write_bytes(make_pdf("упадёт при записи"))
    proc = subprocess.run([sys.executable, "-c", CRASHING_INGEST, "ingest", str(new_file), "--folder", "/Приказы",
                           "--type", "order", "--as", "clerk"], env=_env(settings), capture_output=True, timeout=120)
    assert proc.returncode == 137, proc.stderr.decode()
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 1
        assert s.scalar(select(func.count()).select_from(Version)) == 1
        report = check_objects(s, rt.store)
    # What was committed is intact; the crash left exactly one unreferenced object, which is reported.
    assert report.ok and not report.missing and not report.corrupted
    assert [o["key"] for o in report.orphans] == [__import__("hashlib").sha256(new_file.read_bytes()).hexdigest()]
    with rt.db.session() as s:
        doc = s.get(Document, committed.id)
        assert rt.store.get_bytes(doc.current_version.object_key) == make_pdf("уже в архиве")


def test_check_reports_a_missing_object_and_a_corrupted_one(world, rt):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Дела")
    a = world.document("clerk", "/Дела", make_pdf("первый"))
    b = world.document("clerk", "/Дела", make_pdf("второй"))
    with rt.db.session() as s:
        key_a = s.get(Document, a.id).current_version.object_key
        key_b = s.get(Document, b.id).current_version.object_key
    rt.store.delete(key_a)
    _corrupt(rt, key_b)
    with rt.db.session() as s:
        report = check_objects(s, rt.store)
    assert not report.ok
    assert [m["key"] for m in report.missing] == [key_a]
    assert [c["key"] for c in report.corrupted] == [key_b]


def _corrupt(rt, key: str) -> None:  # noqa: ANN001
    url = rt.settings.storage_url
    if url.startswith("file://"):
        path = rt.store.path_of(key)
        os.chmod(path, 0o644)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        store = rt.store
        store._client.put_object(store.bucket, key, io.BytesIO(b"tampered"), 8)  # behind the store's back


def test_check_deletes_only_orphans_older_than_a_day(world, rt):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Дела")
    world.document("clerk", "/Дела", make_pdf("в деле"))
    orphan = rt.store.put(io.BytesIO(b"orphan bytes")).key
    with rt.db.session() as s:
        fresh = check_objects(s, rt.store, delete_orphans=True)
        assert fresh.orphans_deleted == [] and [o["key"] for o in fresh.orphans] == [orphan]
        later = check_objects(s, rt.store, delete_orphans=True, now=datetime.now(UTC) + timedelta(days=2))
    assert later.orphans_deleted == [orphan]
    assert not rt.store.exists(orphan)
    with rt.db.session() as s:
        assert check_objects(s, rt.store).ok


def test_dms_check_exits_non_zero_on_a_problem(world, rt, settings):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Дела")
    d = world.document("clerk", "/Дела", make_pdf("проверка"))
    run = lambda: subprocess.run([sys.executable, "-m", "dms", "check", "--json"], env=_env(settings),  # noqa: E731
                                 capture_output=True, text=True, timeout=120)
    ok = run()
    assert ok.returncode == 0, ok.stderr
    with rt.db.session() as s:
        rt.store.delete(s.get(Document, d.id).current_version.object_key)
    broken = run()
    assert broken.returncode == 1
    assert '"missing": [{' in broken.stdout
