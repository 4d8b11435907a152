"""`dms backup` / `dms restore`: a round trip keeps every row, object, local role, workflow step and audit event
(the chain stays verifiable); the index is rebuilt; damaged archives and non-empty targets are refused; SQLite and
PostgreSQL backups restore into each other."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text, update

from dms.config import Settings
from dms.models import AuditEvent, Base, Document, Folder, LocalRole, Version, WorkflowHistory
from dms.pdfrender import render_text_pdf
from dms.runtime import Runtime
from dms.operations import archive as archive_fmt
from dms.operations import backup as backup_svc
from dms.operations import restore as restore_svc
from dms.documents import service as documents
from dms.fulltext import indexing
from dms.people import users
from dms.fulltext import service as search_svc
from dms.workflow import service as wf
from dms.audit.service import verify_chain
from dms.operations.check import check_objects
from storage import ObjectProtected

from .test_signing import ca_template, office, pki  # noqa: F401  (fixtures)

PG_URL = os.environ.get("DMS_TEST_DATABASE_URL", "")
# Tables compared row by row; the others are checked on their own below.
NOT_VERBATIM = {"audit_events", "audit_head", "version_texts", "search_outbox"}


BACKUP_KEY = "test-backup-key"


@pytest.fixture(autouse=True)
def _backup_key(monkeypatch):  # noqa: ANN001, ANN202
    """Source and targets share the backup key (as an operator restoring elsewhere sets DMS_BACKUP_KEY)."""
    monkeypatch.setenv("DMS_BACKUP_KEY", BACKUP_KEY)


def _sealed(manifest: dict) -> bytes:
    """A forger who holds the backup key re-signs the manifest they rewrote."""
    return json.dumps(archive_fmt.seal_manifest(manifest, BACKUP_KEY.encode())).encode()


@pytest.fixture(scope="session")
def pg_databases():  # noqa: ANN201
    """PostgreSQL databases for restore targets, created once per session as needed: get(i) -> URL."""
    created: list[str] = []
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT") if PG_URL else None

    def get(i: int) -> str:
        assert admin is not None
        while len(created) <= i:
            name = f"pechat_restore_{uuid.uuid4().hex[:10]}"
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
            created.append(name)
        return PG_URL.rsplit("/", 1)[0] + "/" + created[i]

    yield get
    if admin is not None:
        with admin.connect() as c:
            for name in created:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def fresh_database(tmp_path, pg_databases):  # noqa: ANN001, ANN201
    """Factory of empty databases without any table: a new SQLite file, or a PostgreSQL database emptied."""
    used = 0

    def make(kind: str, name: str) -> str:
        nonlocal used
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / name}.sqlite3"
        url = pg_databases(used)
        used += 1
        engine = create_engine(url)
        with engine.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE"))
            c.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        return url

    return make


@pytest.fixture
def target(tmp_path, s3_server, fresh_database):  # noqa: ANN001, ANN201
    """Factory of empty targets (data dir, database, store, index) as Runtimes."""
    runtimes: list[Runtime] = []

    def make(name: str = "restored", kind: str | None = None) -> Runtime:
        data = tmp_path / name
        data.mkdir()
        storage = s3_server.create_bucket() if s3_server else (data / "objects").as_uri()
        settings = Settings(data_dir=data, database_url=fresh_database(kind or ("postgresql" if PG_URL else "sqlite"),
                                                                         name),
                            storage_url=storage, index_dir=data / "index", secret_key="test-secret-key")
        runtimes.append(Runtime(settings))
        return runtimes[-1]

    yield make
    for r in runtimes:
        r.close()


def _text(size: int) -> bytes:
    """Distinct plain-text bytes of about `size` bytes (random, so that every call stores a new object)."""
    line = f"строка описи {uuid.uuid4().hex}\n".encode()
    return (line * (size // len(line) + 1))[:size].rsplit(b"\n", 1)[0] + b"\n"


def _as_user(rt: Runtime, login: str, fn) -> Any:  # noqa: ANN001
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        return fn(s, actor)


def build_archive(rt: Runtime, world) -> dict:  # noqa: ANN001
    """Users, folders with local roles, documents with several versions, workflow steps, audit events."""
    world.user("clerk", "Clerk")
    world.user("admin", "Administrator")
    world.user("reader")
    world.folder("/Приказы/2026")
    world.folder("/Прочее")
    world.share("/Приказы", "reader", "Reader")
    world.share("/Прочее", "reader", "Editor")
    order = world.document("clerk", "/Приказы/2026", render_text_pdf(
        "Приказ", "О проведении профессионального экзамена для сварщиков третьего разряда."),
        doc_type="order", title="О проведении экзамена", meta={"signatory": "Иванов И. И.", "exam_date": "2026-12-01"})
    second = documents.store_upload(rt.store, io.BytesIO(render_text_pdf(
        "Приказ", "Вторая редакция приказа об экзамене сварщиков.")), "приказ-2.pdf", rt.settings.max_upload_bytes)
    _as_user(rt, "clerk", lambda s, a: documents.add_version(s, a, documents.get(s, a, order.id), second, "правка"))
    for step in ("register", "send_to_signing"):
        _as_user(rt, "clerk", lambda s, a, step=step: wf.execute(s, a, documents.get(s, a, order.id), step,
                                                                  comment=f"шаг {step}"))
    other = world.document("clerk", "/Прочее", _text(70_000), title="Опись", filename="опись.txt",
                           meta={"hours": 72, "note": "«кавычки» и \\ обратная черта"})
    for i in range(2):
        more = documents.store_upload(rt.store, io.BytesIO(_text(1000 + i)), f"опись-{i}.txt",
                                      rt.settings.max_upload_bytes)
        _as_user(rt, "clerk", lambda s, a, more=more: documents.add_version(s, a, documents.get(s, a, other.id), more))
    return {"order": order.id, "other": other.id}


def _norm(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value.replace(tzinfo=UTC) if value.tzinfo is None else value).astimezone(UTC)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def table_rows(rt: Runtime, name: str, columns: list[str] | None = None) -> list[tuple]:
    """The rows of a table in key order (only `columns`, when given)."""
    table = Base.metadata.tables[name]
    chosen = [table.c[c] for c in columns] if columns is not None else list(table.columns)
    with rt.db.engine.connect() as c:
        return [tuple(_norm(v) for v in row)
                for row in c.execute(select(*chosen).order_by(*table.primary_key.columns))]


def snapshot(rt: Runtime) -> dict[str, list[tuple]]:
    return {t.name: table_rows(rt, t.name) for t in Base.metadata.sorted_tables}


def version_bytes(rt: Runtime) -> dict[tuple[int, int], bytes]:
    with rt.db.session() as s:
        rows = s.execute(select(Version.document_id, Version.number, Version.object_key)).all()
    return {(d, n): rt.store.get_bytes(k) for d, n, k in rows}


def assert_healthy(rt: Runtime, orphans: int | set[str] = 0) -> None:
    """`dms check` and `dms audit verify` would pass; `orphans`: how many unreferenced objects, or which may be."""
    with rt.db.session() as s:
        report = check_objects(s, rt.store)
        assert not (report.missing or report.corrupted), report.as_dict()
        found = {o["key"] for o in report.orphans}
        assert found <= orphans if isinstance(orphans, set) else len(found) == orphans, report.as_dict()
        assert list(verify_chain(s)) == []
    assert indexing.drift(rt)["drift"] is False


def find(rt: Runtime, login: str, q: str) -> list[int]:
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        result = search_svc.search_documents(s, rt, actor, search_svc.parse_query({"q": q})).as_dict()
    return [int(i["id"]) for i in result["items"]]


def test_round_trip_keeps_every_row_object_role_step_and_audit_event(rt, world, target, tmp_path):  # noqa: ANN001
    ids = build_archive(rt, world)
    before, objects = snapshot(rt), version_bytes(rt)
    report = backup_svc.backup(rt, tmp_path / "archive.tar")
    assert report.objects == 5 and report.tables["documents"] == 2 and report.tables["versions"] == 5

    restored = target()
    result = restore_svc.restore(restored, tmp_path / "archive.tar")
    assert result.indexed == 2
    after = snapshot(restored)
    for name in set(before) - NOT_VERBATIM:
        assert after[name] == before[name], name
    assert after["audit_events"][:-1] == before["audit_events"]
    assert [e.action for e in _events(restored)[-1:]] == ["restore"]
    assert _events(rt)[-1].action == "backup"
    assert version_bytes(restored) == objects
    with restored.db.session() as s:
        roles = {(r.principal, r.role) for r in s.scalars(select(LocalRole))}
        assert {(f"user:{users.get_user(s, 'reader').id}", "Reader"), (f"user:{users.get_user(s, 'reader').id}",
                                                                      "Editor")} <= roles
        steps = s.scalars(select(WorkflowHistory.transition).where(WorkflowHistory.document_id == ids["order"])
                          .order_by(WorkflowHistory.id)).all()
        assert steps == ["register", "send_to_signing"]
        order = s.get(Document, ids["order"])
        assert order.reg_number and order.reg_date and order.meta["signatory"] == "Иванов И. И."
        assert order.current_version.number == 2
        assert s.get(Document, ids["other"]).meta["hours"] == 72
    assert_healthy(restored)
    assert find(restored, "clerk", "сварщиков") == [ids["order"]]
    users_ok = _as_user(restored, "clerk", lambda s, a: a.login)  # the password hash came along
    assert users_ok == "clerk"


def _events(rt: Runtime) -> list[AuditEvent]:
    with rt.db.session() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def test_restored_archive_keeps_numbering_after_the_restored_ids(rt, world, target, tmp_path):  # noqa: ANN001
    build_archive(rt, world)
    backup_svc.backup(rt, tmp_path / "archive.tar")
    restored = target()
    restore_svc.restore(restored, tmp_path / "archive.tar")
    with restored.db.session() as s:
        top = s.scalar(select(Document.id).order_by(Document.id.desc()).limit(1))
    fresh = World(restored).document("clerk", "/Прочее", _text(500), title="После восстановления",
                                     filename="n.txt")
    assert fresh.id == top + 1
    with restored.db.session() as s:
        assert list(verify_chain(s)) == []


class World:
    """The conftest World for a second runtime (documents only)."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    def document(self, login: str, path: str, data: bytes, title: str, filename: str):  # noqa: ANN201
        from dms.documents import folders
        stored = documents.store_upload(self.rt.store, io.BytesIO(data), filename, self.rt.settings.max_upload_bytes)
        with self.rt.db.session() as s:
            actor = users.get_user(s, login)
            doc = documents.create(s, actor, folders.resolve(s, path), "other", title, None)
            documents.add_version(s, actor, doc, stored)
            return doc


def test_folder_moved_under_a_younger_folder_is_restored(rt, world, target, tmp_path):  # noqa: ANN001
    old = world.folder("/Старая")
    young = world.folder("/Новая")
    with rt.db.session() as s:
        s.execute(update(Folder).where(Folder.id == old.id).values(parent_id=young.id,
                                                                   path=f"{young.path}{old.id}/"))
    backup_svc.backup(rt, tmp_path / "archive.tar")
    restored = target()
    restore_svc.restore(restored, tmp_path / "archive.tar")
    assert table_rows(restored, "folders") == table_rows(rt, "folders")


def _rewrite_member(source: Path, dest: Path, name: str, change) -> None:  # noqa: ANN001
    with tarfile.open(source) as src, tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as out:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name == name:
                data = change(data)
                member.size = len(data)
            out.addfile(member, io.BytesIO(data))


def _refused_and_untouched(restored: Runtime, archive: Path, match: str) -> None:
    with pytest.raises(archive_fmt.BackupDamaged, match=match):
        restore_svc.restore(restored, archive)
    assert restore_svc.target_is_empty(restored)
    assert list(restored.store.list()) == []


def test_tampered_member_is_refused_and_nothing_is_restored(rt, world, target, tmp_path):  # noqa: ANN001
    build_archive(rt, world)
    good = tmp_path / "archive.tar"
    backup_svc.backup(rt, good)
    tampered = tmp_path / "tampered.tar"
    _rewrite_member(good, tampered, "db/users.jsonl", lambda b: b.replace(b'"clerk"', b'"klerk"'))
    _refused_and_untouched(target("a"), tampered, "не совпадает с manifest")
    with tarfile.open(good) as tar:
        key = next(m.name for m in tar.getmembers() if m.name.startswith("objects/"))
    flipped = tmp_path / "flipped.tar"
    _rewrite_member(good, flipped, key, lambda b: bytes([b[0] ^ 1]) + b[1:])
    _refused_and_untouched(target("b"), flipped, "не совпадает с manifest")


def test_truncated_backup_is_refused(rt, world, target, tmp_path):  # noqa: ANN001
    build_archive(rt, world)
    good = tmp_path / "archive.tar"
    backup_svc.backup(rt, good)
    cut = tmp_path / "cut.tar"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _refused_and_untouched(target(), cut, "обрезан|нет manifest")


def test_restore_into_a_non_empty_target_is_refused_unless_forced(rt, world, target, tmp_path):  # noqa: ANN001
    ids = build_archive(rt, world)
    backup_svc.backup(rt, tmp_path / "archive.tar")
    restored = target()
    restore_svc.restore(restored, tmp_path / "archive.tar")
    World(restored).document("clerk", "/Прочее", _text(300), title="Лишний", filename="x.txt")
    with pytest.raises(archive_fmt.TargetNotEmpty):
        restore_svc.restore(restored, tmp_path / "archive.tar")
    restore_svc.restore(restored, tmp_path / "archive.tar", force=True)
    with restored.db.session() as s:
        assert sorted(s.scalars(select(Document.id))) == sorted(ids.values())
    assert_healthy(restored, orphans=1)  # the bytes of the replaced document stay in the store


def test_orphans_stay_out_unless_asked_for_and_a_directory_backup_restores(rt, world, target, tmp_path):  # noqa: ANN001
    build_archive(rt, world)
    orphan = rt.store.put_bytes(b"bytes no version references").key
    plain = backup_svc.backup(rt, tmp_path / "plain.tar")
    full = backup_svc.backup(rt, tmp_path / "full", as_directory=True, with_orphans=True)
    assert (plain.objects, full.objects, full.orphans) == (5, 6, 1)
    with tarfile.open(tmp_path / "plain.tar") as tar:
        assert f"objects/{orphan}" not in tar.getnames()
    assert (tmp_path / "full" / "objects" / orphan).read_bytes() == b"bytes no version references"
    manifest = json.loads((tmp_path / "full" / "manifest.json").read_text())
    assert manifest["members"][f"objects/{orphan}"]["sha256"] == orphan
    restored = target()
    restore_svc.restore(restored, tmp_path / "full")
    assert restored.store.get_bytes(orphan) == b"bytes no version references"
    assert_healthy(restored, orphans=1)


def test_compressed_backup_manifest_holds_counts_and_no_secrets(rt, world, target, tmp_path):  # noqa: ANN001
    build_archive(rt, world)
    backup_svc.backup(rt, tmp_path / "archive.tar.gz")
    with tarfile.open(tmp_path / "archive.tar.gz") as tar:
        names = tar.getnames()
        body = tar.extractfile("manifest.json").read().decode()
    manifest = json.loads(body)
    assert names[-1] == "manifest.json" and set(manifest["members"]) == set(names[:-1])
    assert manifest["counts"]["documents"] == 2 and manifest["source"]["dialect"] == rt.db.engine.dialect.name
    url = rt.db.engine.url
    assert str(url.render_as_string(hide_password=False)) not in body and rt.settings.storage_url not in body
    if url.password:
        assert url.password not in body
    restored = target()
    assert restore_svc.restore(restored, tmp_path / "archive.tar.gz").tables["documents"] == 2


def test_corrupted_object_fails_the_backup_and_leaves_no_file(rt, world, tmp_path):  # noqa: ANN001
    build_archive(rt, world)
    with rt.db.session() as s:
        key = s.scalars(select(Version.object_key)).first()
    damaged = b"X" + rt.store.get_bytes(key)[1:]
    if hasattr(rt.store, "path_of"):
        path = rt.store.path_of(key)
        path.chmod(0o644)
        path.write_bytes(damaged)
    else:  # behind the S3 store's back
        rt.store._client.put_object(rt.store.bucket, key, io.BytesIO(damaged), len(damaged))
    with pytest.raises(archive_fmt.BackupError, match="повреждён"):
        backup_svc.backup(rt, tmp_path / "archive.tar")
    assert list(tmp_path.glob("*archive.tar*")) == []


@pytest.mark.skipif(not PG_URL, reason="needs DMS_TEST_DATABASE_URL (PostgreSQL)")
def test_backup_crosses_dialects_both_ways(rt, world, target, tmp_path):  # noqa: ANN001
    build_archive(rt, world)
    before = snapshot(rt)
    backup_svc.backup(rt, tmp_path / "pg.tar")
    lite = target("lite", "sqlite")
    restore_svc.restore(lite, tmp_path / "pg.tar")
    assert_healthy(lite)
    backup_svc.backup(lite, tmp_path / "lite.tar")
    back = target("back", "postgresql")
    restore_svc.restore(back, tmp_path / "lite.tar")
    after = snapshot(back)
    for name in set(before) - NOT_VERBATIM:
        assert after[name] == before[name], name
    assert after["audit_events"][: len(before["audit_events"])] == before["audit_events"]
    # a backup is audited in its source, after the dump
    assert [e.action for e in _events(back)[len(before["audit_events"]):]] == ["restore", "restore"]
    assert_healthy(back)


def _dms(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DMS_DATA_DIR": str(settings.data_dir), "DMS_DATABASE_URL": settings.database_url,
           "DMS_STORAGE_URL": settings.storage_url, "DMS_INDEX_DIR": str(settings.index_dir), "DMS_SECRET_KEY": "x"}
    return subprocess.run([sys.executable, "-m", "dms", *args], env=env, capture_output=True, text=True, timeout=120)


def test_cli_round_trip_and_refusal_on_one_line(settings, rt, world, target, tmp_path):  # noqa: ANN001
    ids = build_archive(rt, world)
    archive = tmp_path / "cli.tar"
    made = _dms(settings, "backup", str(archive), "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["objects"] == 5
    restored = target()
    done = _dms(restored.settings, "restore", str(archive))
    assert done.returncode == 0, done.stderr
    assert "Документов: 2" in done.stdout
    assert_healthy(restored)
    again = _dms(restored.settings, "restore", str(archive))
    assert again.returncode != 0 and len(again.stderr.strip().splitlines()) == 1 and "пустую" in again.stderr
    assert find(restored, "clerk", "сварщиков") == [ids["order"]]


def test_signed_archive_and_its_ca_come_back_and_the_passphrase_only_with_secrets(rt, office, target,  # noqa: F811
                                                                                  tmp_path):  # noqa: ANN001
    from dms.signatures import pki as pki_svc
    from dms.models import Signature
    from signing.validate import validate_detached, validate_pdf

    from .test_signing import PASSPHRASE, on_signing, sign, trust
    doc_id = on_signing(rt, office)
    sign(rt, "director", doc_id)
    protocol = "Протокол заседания комиссии\n".encode() * 50
    detached = office.document("clerk", "/Прочее", protocol, doc_type="other", title="Протокол", filename="p.txt")
    cms_id, _ = sign(rt, "director", detached.id)
    ca_dir = pki_svc.pki_dir(rt.settings)
    (ca_dir / "passphrase").write_text(PASSPHRASE)
    plain = backup_svc.backup(rt, tmp_path / "plain.tar")
    with_secrets = backup_svc.backup(rt, tmp_path / "secrets.tar", with_secrets=True)
    assert plain.pki and not plain.passphrase and with_secrets.passphrase
    with tarfile.open(tmp_path / "plain.tar") as tar:
        assert "pki/passphrase" not in tar.getnames() and any(n.startswith("pki/") for n in tar.getnames())

    restored = target()
    report = restore_svc.restore(restored, tmp_path / "plain.tar")
    assert report.pki and not report.passphrase
    originals = {p.relative_to(ca_dir): p.read_bytes() for p in ca_dir.rglob("*") if p.is_file()}
    copies = {p.relative_to(pki_svc.pki_dir(restored.settings)): p.read_bytes()
              for p in pki_svc.pki_dir(restored.settings).rglob("*") if p.is_file()}
    assert copies == {k: v for k, v in originals.items() if k.name != "passphrase"}
    for name in ("signatures", "signing_credentials", "revocation_lists"):
        assert table_rows(restored, name) == table_rows(rt, name), name
    with restored.db.session() as s:
        signed_key = s.scalars(select(Version.object_key)
                               .where(Version.document_id == doc_id, Version.number == 2)).one()
    assert validate_pdf(restored.store.get_bytes(signed_key), trust(restored)).authentic  # with DMS_PKI_PASSPHRASE
    with restored.db.session() as s:
        p7s_key = s.get(Signature, cms_id).p7s_key
    assert validate_detached(protocol, restored.store.get_bytes(p7s_key), trust(restored)).authentic
    assert_healthy(restored, orphans={p7s_key})  # dms check looks only at versions' objects so far
    assert report.protected == 2 or not restored.settings.storage_url.startswith("file:")
    if restored.settings.storage_url.startswith("file:"):  # moto's test buckets have no object lock
        with pytest.raises(ObjectProtected):
            restored.store.delete(signed_key)


def test_a_large_object_is_streamed_not_held_in_memory(rt, target, tmp_path):  # noqa: ANN001
    import tracemalloc
    size = 48 * 1024 * 1024
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for i in range(size // (1 << 20)):
            f.write(bytes([i % 251]) * (1 << 20))
    with open(big, "rb") as f:
        key = rt.store.put(f).key
    restored = target()
    tracemalloc.start()
    try:
        backup_svc.backup(rt, tmp_path / "big.tar", with_orphans=True)
        _, backup_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        restore_svc.restore(restored, tmp_path / "big.tar")
        _, restore_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert restored.store.stat(key).size == size
    # The S3 store alone keeps about 10 MiB (one 5 MiB part and its checksum buffers); the object is 48 MiB.
    assert backup_peak < 16 << 20 and restore_peak < 16 << 20, (backup_peak, restore_peak)


def _schema_at(revision: str, tmp_path: Path) -> dict[str, list[str]]:
    """Tables and columns of the schema at an older revision, by migrating a scratch SQLite database."""
    from alembic import command
    from sqlalchemy import MetaData

    from dms.migrate import alembic_config
    engine = create_engine(f"sqlite:///{tmp_path / f'schema-{revision}.sqlite3'}")
    cfg = alembic_config(str(engine.url))
    with engine.connect() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
        connection.commit()
    meta = MetaData()
    meta.reflect(engine)
    engine.dispose()
    return {name: [c.name for c in t.columns] for name, t in meta.tables.items() if name != "alembic_version"}


def _as_of_revision(source: Path, dest: Path, revision: str, schema: dict[str, list[str]]) -> None:
    """The backup an older Pechat at `revision` would have made of the same data: newer tables and columns left out,
    the manifest rewritten to match."""
    import hashlib
    with tarfile.open(source) as src:
        manifest = json.loads(src.extractfile("manifest.json").read())
        members: dict[str, bytes] = {}
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name.startswith("db/"):
                table = member.name[3:-len(".jsonl")]
                if table not in schema:
                    continue
                lines = [json.loads(line) for line in data.splitlines()]
                keep = [i for i, c in enumerate(lines[0]["columns"]) if c in schema[table]]
                header = {**lines[0], "columns": [lines[0]["columns"][i] for i in keep],
                          "types": [lines[0]["types"][i] for i in keep]}
                data = b"".join(json.dumps(x, ensure_ascii=False).encode() + b"\n"
                                for x in [header] + [[row[i] for i in keep] for row in lines[1:]])
            if member.name != "manifest.json":
                members[member.name] = data
    manifest["source"]["schema_revisions"] = [revision]
    manifest["tables"] = [t for t in manifest["tables"] if t["name"] in schema]
    manifest["members"] = {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for n, d in members.items()}
    members["manifest.json"] = _sealed(manifest)
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as out:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))


def test_backup_of_an_older_schema_is_loaded_at_its_revision_then_migrated(rt, world, target, tmp_path):  # noqa: ANN001
    from dms.migrate import current, head
    ids = build_archive(rt, world)
    backup_svc.backup(rt, tmp_path / "head.tar")
    schema = _schema_at("0003", tmp_path)
    _as_of_revision(tmp_path / "head.tar", tmp_path / "0003.tar", "0003", schema)
    restored = target()
    report = restore_svc.restore(restored, tmp_path / "0003.tar")
    assert report.schema_revision == "0003" and current(restored.db.engine) == head()
    for name in set(schema) - NOT_VERBATIM:  # the columns the old backup held (later migrations fill the others)
        assert table_rows(restored, name, schema[name]) == table_rows(rt, name, schema[name]), name
    assert _events(restored)[-1].details["schema_revision"] == "0003"
    assert version_bytes(restored) == version_bytes(rt)
    assert_healthy(restored)
    assert find(restored, "clerk", "сварщиков") == [ids["order"]]


def test_rows_the_database_rejects_roll_the_whole_restore_back(rt, world, target, tmp_path):  # noqa: ANN001
    """A forger who also rewrites the manifest (and holds the backup key) gets past the hashes and the HMAC, not
    past the constraints: one transaction."""
    import hashlib
    build_archive(rt, world)
    backup_svc.backup(rt, tmp_path / "archive.tar")
    with tarfile.open(tmp_path / "archive.tar") as src:
        members = {m.name: src.extractfile(m).read() for m in src.getmembers()}
    members["db/users.jsonl"] += members["db/users.jsonl"].splitlines(keepends=True)[-1]  # a duplicate id
    manifest = json.loads(members.pop("manifest.json"))
    manifest["members"] = {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for n, d in members.items()}
    members["manifest.json"] = _sealed(manifest)
    with tarfile.open(tmp_path / "forged.tar", "w", format=tarfile.PAX_FORMAT) as out:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    restored = target()
    with pytest.raises(archive_fmt.BackupError, match="db/users.jsonl: база данных не приняла"):
        restore_svc.restore(restored, tmp_path / "forged.tar")
    with restored.db.engine.connect() as c:
        assert all(not c.execute(select(t)).first() for t in Base.metadata.sorted_tables)


# --- issue 16: archives that prove where they came from; bounded rows; file modes ------------------------------------

def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as src:
        return {m.name: src.extractfile(m).read() for m in src.getmembers()}


def _write(dest: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as out:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))


def _rehash(members: dict[str, bytes], seal: bool) -> None:
    """What a forger does after editing rows: recompute the manifest's hashes (and re-sign it if they can)."""
    import hashlib
    manifest = json.loads(members.pop("manifest.json"))
    manifest["members"] = {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for n, d in members.items()}
    members["manifest.json"] = _sealed(manifest) if seal else json.dumps(manifest).encode()


def _promote_clerk(members: dict[str, bytes], rt: Runtime) -> None:
    """The centre's clerk made an Administrator: their role row rewritten in db/user_roles.jsonl."""
    with rt.db.session() as s:
        clerk_id = users.get_user(s, "cok-clerk").id
    lines = members["db/user_roles.jsonl"].splitlines(keepends=True)
    header = json.loads(lines[0])
    uid, role = header["columns"].index("user_id"), header["columns"].index("role")
    out = [lines[0]]
    for line in lines[1:]:
        row = json.loads(line)
        if row[uid] == clerk_id:
            row[role] = "Administrator"
            line = json.dumps(row, ensure_ascii=False).encode() + b"\n"
        out.append(line)
    assert out != lines
    members["db/user_roles.jsonl"] = b"".join(out)


def test_restore_refuses_rows_edited_with_recomputed_hashes_before_writing_anything(rt, world, target,  # noqa: ANN001
                                                                                     tmp_path):  # noqa: ANN001
    build_archive(rt, world)
    world.user("cok-clerk", "Clerk")
    backup_svc.backup(rt, tmp_path / "good.tar")
    members = _members(tmp_path / "good.tar")
    _promote_clerk(members, rt)
    _rehash(members, seal=False)  # the hashes agree again; the HMAC, made with a key not in the archive, does not
    _write(tmp_path / "forged.tar", members)
    _refused_and_untouched(target("a"), tmp_path / "forged.tar", "HMAC")
    # the untouched archive restores
    assert restore_svc.restore(target("b"), tmp_path / "good.tar").tables["users"] == 4


def test_an_archive_sealed_with_another_key_is_refused_naming_the_key(rt, world, target, tmp_path,  # noqa: ANN001
                                                                      monkeypatch):  # noqa: ANN001
    build_archive(rt, world)
    backup_svc.backup(rt, tmp_path / "good.tar")
    monkeypatch.setenv("DMS_BACKUP_KEY", "another-organisations-key")
    _refused_and_untouched(target(), tmp_path / "good.tar", "другим ключом копий")


def test_without_the_environment_key_the_data_dir_key_file_signs_and_is_not_in_the_archive(rt, world, target,  # noqa: ANN001
                                                                                            tmp_path, monkeypatch):  # noqa: ANN001
    monkeypatch.delenv("DMS_BACKUP_KEY")
    build_archive(rt, world)
    backup_svc.backup(rt, tmp_path / "good.tar")
    key_file = rt.settings.data_dir / archive_fmt.BACKUP_KEY_FILE
    assert key_file.exists() and (key_file.stat().st_mode & 0o077) == 0
    key = key_file.read_bytes().strip()
    assert all(key not in data for data in _members(tmp_path / "good.tar").values())
    other = target("elsewhere")
    _refused_and_untouched(other, tmp_path / "good.tar", "другим ключом копий")
    (other.settings.data_dir / archive_fmt.BACKUP_KEY_FILE).write_bytes(key)  # the operator copies the key file
    assert restore_svc.restore(other, tmp_path / "good.tar").tables["users"] == 3


def test_a_forger_holding_the_key_is_stopped_by_the_audit_chain_before_anything_is_written(rt, world, target,  # noqa: ANN001
                                                                                          tmp_path):  # noqa: ANN001
    build_archive(rt, world)
    backup_svc.backup(rt, tmp_path / "good.tar")
    members = _members(tmp_path / "good.tar")
    # hide the trace of a login: an audit event's details rewritten
    lines = members["db/audit_events.jsonl"].splitlines(keepends=True)
    i = next(i for i, line in enumerate(lines) if i and b'"clerk"' in line)
    lines[i] = lines[i].replace(b'"clerk"', b'"klerk"')
    members["db/audit_events.jsonl"] = b"".join(lines)
    _rehash(members, seal=True)
    _write(tmp_path / "forged.tar", members)
    _refused_and_untouched(target("a"), tmp_path / "forged.tar", "журнал аудита в копии нарушен")
    # dropping the newest events (and the head row with them) is refused too
    members = _members(tmp_path / "good.tar")
    lines = members["db/audit_events.jsonl"].splitlines(keepends=True)
    members["db/audit_events.jsonl"] = b"".join(lines[:-2])
    _rehash(members, seal=True)
    _write(tmp_path / "cut.tar", members)
    _refused_and_untouched(target("b"), tmp_path / "cut.tar", "конец цепочки")


def test_an_overlong_json_line_is_refused_in_bounded_memory(rt, world, target, tmp_path, monkeypatch):  # noqa: ANN001
    import tracemalloc
    build_archive(rt, world)
    backup_svc.backup(rt, tmp_path / "good.tar")
    members = _members(tmp_path / "good.tar")
    monkeypatch.setattr(restore_svc, "MAX_LINE", 1 << 20)  # 1 MB here; 64 MB by default
    size = 24 << 20
    members["db/users.jsonl"] += b'["' + b"A" * size + b'"]\n'
    _rehash(members, seal=True)
    _write(tmp_path / "long.tar", members)
    del members
    restored = target()
    tracemalloc.start()
    try:
        _refused_and_untouched(restored, tmp_path / "long.tar", "строка длиннее")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < size // 3, peak


def _open_modes(root: Path) -> list[str]:
    return [f"{p} {oct(p.stat().st_mode & 0o777)}" for p in [root, *root.rglob("*")]
            if not p.is_symlink() and p.stat().st_mode & 0o077]


def test_no_file_of_the_data_dir_is_readable_by_group_or_world_after_init_backup_and_restore(settings, world,  # noqa: ANN001
                                                                                           target, tmp_path):  # noqa: ANN001
    if PG_URL or not settings.storage_url.startswith("file:"):
        pytest.skip("the embedded default: SQLite and files under the data dir")
    old = os.umask(0o022)  # as a user's shell leaves it
    try:
        data = tmp_path / "fresh"
        env = {"DMS_DATA_DIR": str(data)}
        for args in (["init"], ["user", "add", "clerk", "--role", "Clerk", "--password-stdin"]):
            r = subprocess.run([sys.executable, "-m", "dms", *args], env={**os.environ, **env}, capture_output=True,
                               text=True, timeout=120, input="long-enough-pass\n")
            assert r.returncode == 0, r.stderr
        made = subprocess.run([sys.executable, "-m", "dms", "backup", str(data / "backups" / "b.tar")],
                              env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        again = tmp_path / "again"
        r = subprocess.run([sys.executable, "-m", "dms", "restore", str(data / "backups" / "b.tar")],
                           env={**os.environ, "DMS_DATA_DIR": str(again)}, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert (data / "dms.sqlite3").exists() and (again / "dms.sqlite3").exists()
        assert _open_modes(data) == [] and _open_modes(again) == []
        # what an older version left open: `dms check` reports it, `dms init` closes it
        (data / "dms.sqlite3").chmod(0o644)
        data.chmod(0o755)
        r = subprocess.run([sys.executable, "-m", "dms", "check", "--json"], env={**os.environ, **env},
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 1
        wrong = {m["path"]: m["mode"] for m in json.loads(r.stdout)["modes"]}
        assert wrong[str(data)] == "0755" and wrong[str(data / "dms.sqlite3")] == "0644"
        assert set(wrong) <= {str(data), *(str(data / f"dms.sqlite3{x}") for x in ("", "-wal", "-shm"))}
        assert subprocess.run([sys.executable, "-m", "dms", "init"], env={**os.environ, **env},
                              capture_output=True, timeout=120).returncode == 0
        assert _open_modes(data) == []
    finally:
        os.umask(old)
