"""`dms backup`: the archive (format in dms.operations.archive) written from the database, the store and the CA
directory."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (Table, Text, cast, select, text)
from sqlalchemy.engine import Connection

from storage import ChecksumMismatch, ObjectNotFound, StorageError

from dms.migrate import head
from dms.models import Base, Signature, Version
from dms.runtime import Runtime
from dms.audit import service as audit

from dms.operations.archive import (ArchiveWriter, BACKUP_KEY_ENV, BACKUP_KEY_FILE, BackupError, ENCODERS, FORMAT,
                                    FORMAT_VERSION, HashingReader, MANIFEST, PASSPHRASE_FILE, PKI_DIR, ROW_BATCH,
                                    Stages, backup_key, check_name, key_id, seal_manifest, type_tag)


# --- backup -----------------------------------------------------------------------------------------------------------

@dataclass
class BackupReport:
    path: str
    size: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    object_bytes: int = 0
    orphans: int = 0
    pki: bool = False
    passphrase: bool = False
    manifest_sha256: str = ""
    key_id: str = ""  # the backup key whose HMAC seals the manifest (dms.operations.archive.key_id)
    key_source: str = ""  # DMS_BACKUP_KEY or the key file's path
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _DumpedTable:
    name: str
    path: Path
    rows: int
    sha256: str
    size: int
    columns: list[str]


def _dump_table(conn: Connection, table: Table, path: Path) -> _DumpedTable:
    columns = list(table.columns)
    tags = [type_tag(c.type) for c in columns]
    exprs = [cast(c, Text).label(c.name) if tag == "json" else c for c, tag in zip(columns, tags, strict=False)]
    encoders = [ENCODERS[tag] for tag in tags]
    digest, size, rows = hashlib.sha256(), 0, 0

    def write(out: IO[bytes], obj: Any) -> None:
        nonlocal size
        line = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        digest.update(line)
        size += len(line)
        out.write(line)

    with open(path, "wb") as out:
        write(out, {"table": table.name, "columns": [c.name for c in columns], "types": tags})
        result = conn.execution_options(stream_results=True, yield_per=ROW_BATCH).execute(
            select(*exprs).order_by(*table.primary_key.columns))
        for row in result:
            write(out, [None if v is None else enc(v) for v, enc in zip(row, encoders, strict=False)])
            rows += 1
    return _DumpedTable(table.name, path, rows, digest.hexdigest(), size, [c.name for c in columns])


def _dump_database(rt: Runtime, spool: Path) -> tuple[list[_DumpedTable], list[str], set[str]]:
    """Every table in one snapshot (REPEATABLE READ on PostgreSQL, the write lock on SQLite), plus the schema
    revision and the object keys the rows reference."""
    engine = rt.db.engine
    options = {} if rt.db.is_sqlite else {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        revisions = sorted(r for (r,) in conn.execute(text("SELECT version_num FROM alembic_version")))
        if revisions != [head()]:
            raise BackupError(f"схема базы в ревизии {', '.join(revisions) or '(нет)'}, программа ждёт {head()}: "
                              "сначала выполните dms init (миграции)")
        dumped = [_dump_table(conn, t, spool / f"{t.name}.jsonl") for t in Base.metadata.sorted_tables]
        keys = set(conn.scalars(select(Version.object_key).distinct()))
        keys |= {k for k in conn.scalars(select(Signature.p7s_key).distinct()) if k}
    return dumped, revisions, keys


def backup(rt: Runtime, target: Path, *, as_directory: bool = False, with_orphans: bool = False,
           with_secrets: bool = False, progress: Stages | None = None) -> BackupReport:
    """Write the archive to `target` (a tar file; .tar.gz compresses; or a new directory)."""
    started = time.monotonic()
    report = BackupReport(path=str(target))
    members: dict[str, dict] = {}
    writer = ArchiveWriter(target, as_directory)
    try:
        # The table dumps are spooled beside the archive: that filesystem must hold them anyway.
        with tempfile.TemporaryDirectory(prefix=".dms-backup-", dir=target.parent) as spool:
            dumped, revisions, keys = _dump_database(rt, Path(spool))
            if with_orphans:
                orphans = {info.key for info in rt.store.list()} - keys
                report.orphans = len(orphans)
                keys |= orphans
            step = progress("objects", len(keys)) if progress else None
            for key in sorted(keys):
                size = _copy_object(rt, writer, key)
                members[f"objects/{key}"] = {"sha256": key, "size": size}
                report.objects += 1
                report.object_bytes += size
                if step:
                    step(1)
            for d in dumped:
                with open(d.path, "rb") as f:
                    writer.add(f"db/{d.name}.jsonl", f, d.size)
                members[f"db/{d.name}.jsonl"] = {"sha256": d.sha256, "size": d.size}
                report.tables[d.name] = d.rows
        report.pki, report.passphrase = _add_pki(rt, writer, members, with_secrets)
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(),
            "source": {"dialect": rt.db.engine.dialect.name, "schema_revisions": revisions,
                       "storage": type(rt.store).__name__},
            "tables": [{"name": d.name, "rows": d.rows, "columns": d.columns} for d in dumped],
            "counts": {"objects": report.objects, "object_bytes": report.object_bytes, "orphans": report.orphans,
                       "documents": report.tables.get("documents", 0), "versions": report.tables.get("versions", 0)},
            "pki": {"included": report.pki, "passphrase_included": report.passphrase},
            "search_index": "not included: restore rebuilds it from the database",
            "members": members,
        }
        mac_key = backup_key(rt)
        manifest = seal_manifest(manifest, mac_key)
        report.key_id = key_id(mac_key)
        report.key_source = (BACKUP_KEY_ENV if os.environ.get(BACKUP_KEY_ENV, "").strip()
                             else str(rt.settings.data_dir / BACKUP_KEY_FILE))
        body = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
        report.manifest_sha256 = hashlib.sha256(body).hexdigest()
        writer.add(MANIFEST, _BytesReader(body), len(body))
        report.size = writer.commit()
    except BaseException:
        writer.abort()
        raise
    report.seconds = round(time.monotonic() - started, 3)
    with rt.db.session() as s:
        audit.record(s, None, "backup", "system", None, login="system", file=target.name, objects=report.objects,
                     object_bytes=report.object_bytes, documents=report.tables.get("documents", 0),
                     manifest_sha256=report.manifest_sha256, orphans=report.orphans)
    return report


class _BytesReader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.pos + n
        chunk, self.pos = self.data[self.pos:end], min(end, len(self.data))
        return chunk


def _copy_object(rt: Runtime, writer: ArchiveWriter, key: str) -> int:
    try:
        size = rt.store.stat(key).size
        with rt.store.open(key) as stream:
            writer.add(f"objects/{key}", stream, size)
            if stream.read(1):  # also the read that makes the store compare the hash at the end of the object
                raise BackupError(f"объект {key} изменился во время копирования")
    except ObjectNotFound:
        raise BackupError(f"объекта {key} нет в хранилище, хотя на него ссылается база: выполните dms check") from None
    except ChecksumMismatch as exc:
        raise BackupError(f"объект {key} повреждён ({exc}): выполните dms check") from None
    except StorageError as exc:
        raise BackupError(f"ошибка хранилища при копировании {key}: {exc}") from None
    return size


def _add_pki(rt: Runtime, writer: ArchiveWriter, members: dict[str, dict], with_secrets: bool) -> tuple[bool, bool]:
    root = rt.settings.data_dir / PKI_DIR
    if not root.is_dir():
        return False, False
    passphrase = False
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if rel == PASSPHRASE_FILE and not with_secrets:
            continue
        passphrase = passphrase or rel == PASSPHRASE_FILE
        name = f"{PKI_DIR}/{rel}"
        check_name(name)
        with open(path, "rb") as f:
            reader = HashingReader(f)
            writer.add(name, reader, path.stat().st_size)
        members[name] = {"sha256": reader.digest.hexdigest(), "size": reader.size}
    return True, passphrase
