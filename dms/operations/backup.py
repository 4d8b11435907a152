"""`dms backup` / `dms restore`: one archive (a tar file, or a directory with the same members) holding

- db/<table>.jsonl  every table of the schema as JSON lines, dialect-independent: a header line naming the columns
                    and their portable types, then one JSON array per row (datetimes ISO 8601 in UTC, dates ISO,
                    bytes base64, JSON columns as their JSON text so that SQL NULL and JSON null stay distinct);
- objects/<sha256>  every object a version or a signature references (with --with-orphans: every object of the
                    store), read through the store so each is verified against its SHA-256 while copied;
- pki/...           the CA directory (keys encrypted); its passphrase file only with --with-secrets;
- manifest.json     last: format, creation time, source dialect, schema revision, counts, SHA-256 and size of every
                    member. Never a database URL, password or other secret.

The search index is not copied: it is derived data, rebuilt by restore from the restored database (a copy would be
larger than the text it holds and could disagree with the rows restored next to it).

Restore reads the archive twice: first every member is hashed and compared with the manifest (a truncated or altered
backup is refused before anything is written), then objects go into the store (which checks their hashes again) and
all rows are inserted in one transaction, so a failure leaves the target database as it was.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, UTC
from pathlib import Path, PurePosixPath
import typing
from typing import IO, Any, BinaryIO, Protocol
from collections.abc import Callable, Iterator

from sqlalchemy import (JSON, Boolean, Date, DateTime, Integer, LargeBinary, Table, Text, bindparam, cast, delete, func,
                        MetaData, inspect, null, select, text, update)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from storage import ChecksumMismatch, ObjectNotFound, StorageError

from dms.errors import Conflict, DmsError
from dms.migrate import alembic_config, current, head, upgrade
from dms.models import Base, Document, OutboxEntry, Signature, User, Version
from dms.runtime import Runtime
from dms.audit import service as audit

FORMAT = "pechat-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ROW_BATCH = 1000
CHUNK = 1 << 20
MANIFEST_MAX = 1 << 30  # about 5 million members
PKI_DIR = "pki"
PASSPHRASE_FILE = "passphrase"

KEY_RE = re.compile(r"^objects/([0-9a-f]{64})$")
TABLE_RE = re.compile(r"^db/([a-z0-9_]+)\.jsonl$")
PKI_PART_RE = re.compile(r"^[A-Za-z0-9._-]+$")

Progress = Callable[[int], None]
Stages = Callable[[str, int], Progress]  # (stage name, total or 0) -> a callback taking how many items were done


class BackupError(DmsError):
    """A backup or restore that cannot be done; the message says why."""


class BackupDamaged(BackupError):
    """The archive is truncated, altered or not a Pechat backup."""


class TargetNotEmpty(Conflict):
    pass


# --- where an archive came from: the manifest's HMAC ------------------------------------------------------------------
# The manifest carries an HMAC-SHA256 under a key that is never in the archive: DMS_BACKUP_KEY from the environment,
# else the key file `backup_key` in the data dir (generated once, 0600; outside any archive, which holds only the
# database, the objects and the CA directory). Whoever restores must hold the same key (copy the file or set the
# variable on the target): an archive whose rows were edited and hashes recomputed without it is refused before
# anything is written.
BACKUP_KEY_ENV = "DMS_BACKUP_KEY"
BACKUP_KEY_FILE = "backup_key"
MAC_FIELD = "hmac"


def backup_key(rt: Runtime) -> bytes:
    from dms.config import secret_from_file
    value = os.environ.get(BACKUP_KEY_ENV, "").strip() or secret_from_file(rt.settings.data_dir / BACKUP_KEY_FILE)
    return value.encode("utf-8")


def key_id(key: bytes) -> str:
    """A name for the key that reveals nothing of it (to say which key an archive wants)."""
    return hashlib.sha256(b"pechat-backup-key-id\0" + key).hexdigest()[:16]


def _canonical(manifest: dict) -> bytes:
    body = {k: v for k, v in manifest.items() if k != MAC_FIELD}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def seal_manifest(manifest: dict, key: bytes) -> dict:
    """The manifest with its HMAC-SHA256 (over its canonical JSON without the MAC field)."""
    mac = hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()
    return {**manifest, MAC_FIELD: {"algorithm": "HMAC-SHA256", "key_id": key_id(key), "value": mac}}


def check_seal(manifest: dict, key: bytes) -> None:
    seal = manifest.get(MAC_FIELD)
    if not isinstance(seal, dict) or seal.get("algorithm") != "HMAC-SHA256":
        raise BackupDamaged("manifest.json не подписан (HMAC): копия сделана не этой версией Печати или изменена; "
                            "восстановление отклонено")
    expected = hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(str(seal.get("value", "")), expected):
        if seal.get("key_id") != key_id(key):
            raise BackupDamaged(f"manifest.json подписан другим ключом копий ({seal.get('key_id')}, здесь "
                                f"{key_id(key)}): задайте {BACKUP_KEY_ENV} или скопируйте файл {BACKUP_KEY_FILE} "
                                "из каталога данных источника")
        raise BackupDamaged("подпись (HMAC) manifest.json не сходится: копия изменена; восстановление отклонено")


# --- portable values -------------------------------------------------------------------------------------------------

def _utc_iso(value: datetime) -> str:
    # SQLite returns naive datetimes for timezone-aware columns; the application writes them in UTC.
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat()


def _json_value(raw: str) -> Any:
    value = json.loads(raw)
    return JSON.NULL if value is None else value


TYPE_TAGS: tuple[tuple[type, str], ...] = (
    (JSON, "json"), (LargeBinary, "bytes"), (DateTime, "datetime"), (Date, "date"), (Boolean, "bool"), (Integer, "int"),
)

ENCODERS: dict[str, Callable[[Any], Any]] = {
    "json": lambda v: v,  # selected as text already
    "bytes": lambda v: base64.b64encode(bytes(v)).decode("ascii"),
    "datetime": _utc_iso,
    "date": lambda v: v.isoformat(),
    "bool": bool,
    "int": int,
    "plain": lambda v: v,
}

DECODERS: dict[str, Callable[[Any], Any]] = {
    "json": _json_value,
    "bytes": lambda v: base64.b64decode(v, validate=True),
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "bool": bool,
    "int": int,
    "plain": lambda v: v,
}


def type_tag(column_type: Any) -> str:
    return next((tag for cls, tag in TYPE_TAGS if isinstance(column_type, cls)), "plain")


def deferred_columns(table: Table, loaded_before: set[str]) -> list[str]:
    """Foreign keys inserted as NULL and set once every row is in: references to a table loaded later (the
    documents<->versions cycle) or to the table itself (a folder may have been moved under a younger one)."""
    return sorted({fk.parent.name for fk in table.foreign_keys if fk.column.table.name not in loaded_before})


# --- archive members: a tar stream or a directory ---------------------------------------------------------------------

class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class HashingReader:
    """Passes reads through, hashing and counting what went by."""

    def __init__(self, source: IO[bytes]):
        self.source = source
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.source.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def readline(self, limit: int = -1) -> bytes:
        data = self.source.readline(limit)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class ArchiveWriter:
    """Writes members into a temporary tar file (or directory) renamed into place by commit()."""

    def __init__(self, target: Path, as_directory: bool):
        self.target = target
        self.as_directory = as_directory
        if target.exists() and (not as_directory or any(target.iterdir())):
            raise BackupError(f"{target} уже существует: укажите новый файл или пустой каталог")
        target.parent.mkdir(parents=True, exist_ok=True)
        self.temp = target.parent / f".{target.name}.partial-{os.getpid()}"
        self.tar: tarfile.TarFile | None = None
        self._file: BinaryIO | None = None
        if as_directory:
            self.temp.mkdir(mode=0o700)
        else:
            # 0600 whatever the umask: an archive holds personal data, password hashes and encrypted keys
            self._file = os.fdopen(os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
            mode = "w|gz" if target.name.endswith((".tar.gz", ".tgz")) else "w|"
            self.tar = tarfile.open(fileobj=self._file, mode=mode,  # type: ignore[call-overload]  # noqa: SIM115
                                    format=tarfile.PAX_FORMAT)

    def add(self, name: str, stream: Readable, size: int) -> None:
        if self.tar is not None:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = size, int(time.time()), 0o600
            self.tar.addfile(info, stream)
            return
        path = self.temp / name
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            copied = _copy(stream, out, size)
        if copied != size:
            raise BackupError(f"{name}: прочитано {copied} байт вместо {size}")

    def commit(self) -> int:
        if self.tar is not None and self._file is not None:
            self.tar.close()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        os.replace(self.temp, self.target)
        if self.as_directory:
            return sum(p.stat().st_size for p in self.target.rglob("*") if p.is_file())
        return self.target.stat().st_size

    def abort(self) -> None:
        if self.tar is not None:
            with contextlib.suppress(OSError, tarfile.TarError):  # the partial file is removed just below
                self.tar.close()
        if self._file is not None and not self._file.closed:
            self._file.close()
        if self.temp.is_dir():
            shutil.rmtree(self.temp, ignore_errors=True)
        else:
            self.temp.unlink(missing_ok=True)


def _copy(src: Readable, dst: IO[bytes], limit: int | None = None) -> int:
    copied = 0
    while limit is None or copied < limit:
        chunk = src.read(CHUNK if limit is None else min(CHUNK, limit - copied))
        if not chunk:
            break
        dst.write(chunk)
        copied += len(chunk)
    return copied


def _table_order(manifest: Path) -> dict[str, int]:
    """Positions of the table members in a directory backup (a tar keeps them in its own order)."""
    try:
        with open(manifest, "rb") as f:
            tables = json.loads(_read_limited(f, MANIFEST_MAX, MANIFEST))["tables"]
        return {f"db/{t['name']}.jsonl": i for i, t in enumerate(tables)}
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # verify_archive reports the unreadable manifest


def iter_members(source: Path) -> Iterator[tuple[str, int, IO[bytes]]]:
    """(name, size, stream) of every member in archive order; the stream is valid until the next member."""
    if source.is_dir():
        tables = _table_order(source / MANIFEST)
        names = sorted((p.relative_to(source).as_posix() for p in source.rglob("*") if not p.is_dir()),
                       key=lambda n: (n == MANIFEST, not n.startswith("objects/"), tables.get(n, len(tables)), n))
        for name in names:
            path = source / name
            if path.is_symlink() or not path.is_file():
                raise BackupDamaged(f"{name}: не обычный файл")
            with open(path, "rb") as f:
                yield name, path.stat().st_size, f
        return
    try:
        with tarfile.open(source, "r|*") as tar:
            while (member := tar.next()) is not None:
                if not member.isfile():
                    raise BackupDamaged(f"{member.name}: не обычный файл")
                stream = tar.extractfile(member)
                assert stream is not None
                yield member.name, member.size, typing.cast(IO[bytes], _TarMemberReader(stream))
                # The stream mode still remembers every member it has passed; forget them to keep memory flat.
                tar.members.clear()  # type: ignore[attr-defined]
    except (tarfile.TarError, EOFError) as exc:
        raise BackupDamaged(f"архив повреждён или обрезан: {exc}") from None


class _TarMemberReader:
    """A member's stream whose truncation is reported as a damaged backup wherever it is read."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream

    def read(self, n: int = -1) -> bytes:
        try:
            return self.stream.read(n)
        except (tarfile.TarError, EOFError) as exc:
            raise BackupDamaged(f"архив повреждён или обрезан: {exc}") from None

    def readline(self, limit: int = -1) -> bytes:
        try:
            return self.stream.readline(limit)
        except (tarfile.TarError, EOFError) as exc:
            raise BackupDamaged(f"архив повреждён или обрезан: {exc}") from None


def _read_limited(stream: IO[bytes], limit: int, name: str) -> bytes:
    parts, total = [], 0
    while chunk := stream.read(CHUNK):
        total += len(chunk)
        if total > limit:
            raise BackupDamaged(f"{name} больше {limit} байт")
        parts.append(chunk)
    return b"".join(parts)


def _check_name(name: str) -> None:
    if name == MANIFEST or KEY_RE.match(name) or TABLE_RE.match(name):
        return
    parts = PurePosixPath(name).parts
    if len(parts) >= 2 and parts[0] == PKI_DIR and all(PKI_PART_RE.match(p) and p not in (".", "..") for p in parts):
        return
    raise BackupDamaged(f"неожиданный элемент архива: {name[:200]!r}")


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
    key_id: str = ""  # the backup key whose HMAC seals the manifest (dms.operations.backup.key_id)
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
        _check_name(name)
        with open(path, "rb") as f:
            reader = HashingReader(f)
            writer.add(name, reader, path.stat().st_size)
        members[name] = {"sha256": reader.digest.hexdigest(), "size": reader.size}
    return True, passphrase


# --- restore ----------------------------------------------------------------------------------------------------------

@dataclass
class RestoreReport:
    source: str
    tables: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    object_bytes: int = 0
    pki: bool = False
    passphrase: bool = False
    indexed: int = 0
    protected: int = 0
    schema_revision: str = ""
    source_dialect: str = ""
    created_at: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def target_is_empty(rt: Runtime) -> bool:
    names = set(inspect(rt.db.engine).get_table_names())
    if not {"users", "documents"} <= names:
        return True
    with rt.db.engine.connect() as conn:
        return not any(conn.scalar(select(func.count()).select_from(t)) for t in (User.__table__, Document.__table__))


def verify_archive(source: Path, progress: Progress | None = None, key: bytes | None = None) -> dict:
    """Hash every member and compare with the manifest, check the manifest's HMAC under `key` (when given) and
    the audit chain of the archive's rows; returns the manifest. Raises BackupDamaged."""
    if not source.exists():
        raise BackupError(f"нет такого файла или каталога: {source}")
    seen: dict[str, tuple[str, int]] = {}
    manifest_body: bytes | None = None
    chain = _ChainCheck()
    for name, size, stream in iter_members(source):
        _check_name(name)
        if name in seen or (name == MANIFEST and manifest_body is not None):
            raise BackupDamaged(f"элемент {name} встречается дважды")
        if name == MANIFEST:
            manifest_body = _read_limited(stream, MANIFEST_MAX, name)
            continue
        reader = HashingReader(stream)
        if name == f"db/{AUDIT_EVENTS}.jsonl":
            chain.events(reader, name)
        elif name == f"db/{AUDIT_HEAD}.jsonl":
            chain.head(reader, name)
        elif TABLE_RE.match(name):
            while _read_line(reader, name):  # an overlong row is refused now, before anything is written
                pass
        reader.drain()
        if reader.size != size:
            raise BackupDamaged(f"{name}: обрезан ({reader.size} байт из {size})")
        seen[name] = (reader.digest.hexdigest(), reader.size)
        if progress:
            progress(1)
    if manifest_body is None:
        raise BackupDamaged("в архиве нет manifest.json (архив обрезан или это не резервная копия Печати)")
    try:
        manifest = json.loads(manifest_body)
        listed: dict[str, dict] = manifest["members"]
        if manifest.get("format") != FORMAT:
            raise ValueError("format")
    except (ValueError, KeyError, TypeError):
        raise BackupDamaged("manifest.json не читается: это не резервная копия Печати или она повреждена") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"версия формата копии {manifest.get('format_version')} не поддерживается "
                          f"(поддерживается {FORMAT_VERSION})")
    if key is not None:
        check_seal(manifest, key)
    missing = sorted(set(listed) - set(seen))
    extra = sorted(set(seen) - set(listed))
    if missing or extra:
        raise BackupDamaged(f"состав архива не совпадает с manifest.json: нет {missing[:3]}, лишние {extra[:3]}")
    for name, (sha, size) in seen.items():
        m = KEY_RE.match(name)
        if listed[name].get("sha256") != sha or listed[name].get("size") != size or (m and m.group(1) != sha):
            raise BackupDamaged(f"{name}: содержимое не совпадает с manifest.json (копия повреждена или изменена)")
    chain.finish()
    return manifest


AUDIT_EVENTS, AUDIT_HEAD = "audit_events", "audit_head"
# A row longer than this is refused, read in bounded memory (a forged 300 MB line must not take 1 GB to refuse).
# Rows hold at most an extracted text, a certificate or a CRL; DMS_RESTORE_MAX_LINE_MB raises the bound.
MAX_LINE = int(os.environ.get("DMS_RESTORE_MAX_LINE_MB", "64") or 64) * 1024 * 1024


def _read_line(stream: Any, name: str) -> bytes:
    line = stream.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise BackupDamaged(f"{name}: строка длиннее {MAX_LINE // (1024 * 1024)} МБ (копия изменена или повреждена)")
    return line


class _ChainCheck:
    """The audit chain of the archive's rows, checked on the first pass (before anything is written): each event's
    hash and its link to the previous one, and the head row at the end of the chain."""

    def __init__(self) -> None:
        self.seen_events = False
        self.problem: str | None = None
        self.last_id, self.last_hash = 0, audit.GENESIS
        self.head_row: tuple[Any, Any] | None = None
        self.chain = audit.ChainChecker()

    def _rows(self, stream: Any, name: str) -> Iterator[dict]:
        try:
            header = json.loads(_read_line(stream, name))
            columns, tags = header["columns"], header["types"]
            decoders = [DECODERS[t] for t in tags]
        except (ValueError, KeyError, TypeError):
            raise BackupDamaged(f"{name}: заголовок не читается") from None
        while line := _read_line(stream, name):
            try:
                values = json.loads(line)
                yield {c: None if v is None else dec(v) for c, v, dec in zip(columns, values, decoders, strict=True)}
            except (ValueError, TypeError, binascii.Error):
                raise BackupDamaged(f"{name}: строка не читается") from None

    def events(self, stream: Any, name: str) -> None:
        from types import SimpleNamespace
        self.seen_events = True
        for row in self._rows(stream, name):
            if self.problem:
                continue
            details = row.get("details")
            ev = typing.cast(Any, SimpleNamespace(**{**row, "details": {} if details is JSON.NULL else details}))
            if not self.chain.add(ev):  # the chain and the folded public lookups (audit.ChainChecker)
                assert self.chain.problem is not None
                self.problem = f"событие {self.chain.problem.event_id}: {self.chain.problem.reason}"
            else:
                self.last_id, self.last_hash = self.chain.last_id, self.chain.prev

    def head(self, stream: Any, name: str) -> None:
        rows = list(self._rows(stream, name))
        if rows:
            self.head_row = (rows[0].get("last_event_id"), rows[0].get("last_hash"))

    def finish(self) -> None:
        if not self.problem and (left := self.chain.finish(None, None)) is not None:
            self.problem = f"событие {left.event_id}: {left.reason}"
        if self.problem:
            raise BackupDamaged(f"журнал аудита в копии нарушен: {self.problem}; восстановление отклонено")
        if self.seen_events and self.head_row is not None and self.head_row != (self.last_id, self.last_hash):
            raise BackupDamaged("журнал аудита в копии нарушен: конец цепочки не совпадает (события удалены с конца); "
                                "восстановление отклонено")


def _schema_revision(manifest: dict) -> str:
    """The backup's schema revision if this program knows it (it is the head or one of its ancestors)."""
    from alembic.script import ScriptDirectory
    revisions = manifest["source"].get("schema_revisions") or []
    known = {r.revision for r in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()}
    if len(revisions) != 1 or revisions[0] not in known:
        raise BackupError(f"копия сделана со схемой базы {', '.join(map(str, revisions)) or '(нет)'}, которой эта "
                          f"версия программы не знает (её схема {head()}): восстановите копию более новой версией "
                          "Печати")
    return revisions[0]


def _prepare_schema(rt: Runtime, revision: str) -> dict[str, Table]:
    """Migrate the target to the backup's revision; the tables to load (reflected when older than the models)."""
    if revision == head():
        upgrade(rt.db.engine)
        return {t.name: t for t in Base.metadata.sorted_tables}
    at = current(rt.db.engine)
    if at not in (None, revision):
        raise TargetNotEmpty(f"схема целевой базы ({at}) новее копии ({revision}): восстановите её в базу без таблиц")
    from alembic import command
    cfg = alembic_config(str(rt.db.engine.url))
    with rt.db.engine.connect() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
        connection.commit()
    reflected = MetaData()
    reflected.reflect(rt.db.engine)
    return {name: t for name, t in reflected.tables.items() if name != "alembic_version"}


def restore(rt: Runtime, source: Path, *, force: bool = False,
            progress: Stages | None = None) -> RestoreReport:
    """Restore the archive into the target of `rt` (database, store, data dir), then rebuild the index."""
    started = time.monotonic()
    rt.settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not force and not target_is_empty(rt):
        raise TargetNotEmpty("в целевой базе уже есть пользователи или документы: восстановление только в пустую "
                             "базу (или --force, чтобы заменить всё её содержимое)")
    pki_target = rt.settings.data_dir / PKI_DIR
    manifest = verify_archive(source, progress("verify", 0) if progress else None, key=backup_key(rt))
    report = RestoreReport(source=str(source), source_dialect=manifest["source"].get("dialect", ""),
                           created_at=manifest.get("created_at", ""))
    report.schema_revision = _schema_revision(manifest)
    if manifest["pki"].get("included") and pki_target.exists() and any(pki_target.iterdir()) and not force:
        raise TargetNotEmpty(f"каталог УЦ {pki_target} уже существует (--force заменит его)")
    tables = _prepare_schema(rt, report.schema_revision)
    listed = manifest["members"]
    order = [t["name"] for t in manifest["tables"]]
    if set(order) != set(tables) or len(order) != len(set(order)):
        raise BackupError(f"таблицы копии не совпадают со схемой {report.schema_revision}: "
                          f"лишние {sorted(set(order) - set(tables))}, нет {sorted(set(tables) - set(order))}")
    staging = rt.settings.data_dir / f".pki-restore-{os.getpid()}"
    step = progress("objects", manifest["counts"]["objects"]) if progress else None
    loader: _RowLoader | None = None
    try:
        for name, size, stream in iter_members(source):
            _check_name(name)
            if name not in listed and name != MANIFEST:
                raise BackupDamaged(f"{name}: нет в manifest.json (архив изменён после проверки)")
            if m := KEY_RE.match(name):
                _put_object(rt, m.group(1), stream, size)
                report.objects += 1
                report.object_bytes += size
                if step:
                    step(1)
            elif m := TABLE_RE.match(name):
                if loader is None:
                    loader = _RowLoader(rt, tables, order)
                reader = HashingReader(stream)
                report.tables[m.group(1)] = loader.load(tables[m.group(1)], reader)
                _expect(name, reader, listed[name])
            elif name != MANIFEST:
                target = staging / PurePosixPath(name).relative_to(PKI_DIR)
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as out:
                    reader = HashingReader(stream)
                    _copy(reader, out)
                _expect(name, reader, listed[name])
        if loader is None:
            raise BackupDamaged("в копии нет таблиц базы данных")
        loader.finish(report, audit_inside=report.schema_revision == head())
        loader = None
        if report.schema_revision != head():
            upgrade(rt.db.engine)
            with rt.db.session() as s:
                _audit_restore(s, report)
        if staging.exists():
            if pki_target.exists():
                shutil.rmtree(pki_target)
            os.replace(staging, pki_target)
            report.pki = True
            report.passphrase = (pki_target / PASSPHRASE_FILE).exists()
    except BaseException:
        if loader is not None:
            loader.abort()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report.protected = protect_signed_objects(rt)
    from dms.fulltext.indexing import reindex
    with rt.db.session() as s:
        queued = s.scalar(select(func.max(OutboxEntry.id)))
    report.indexed = reindex(rt, progress=progress("index", report.tables.get("documents", 0)) if progress else None)
    if queued is not None:
        with rt.db.session() as s:  # the rebuild covered every change these entries announced
            s.execute(delete(OutboxEntry).where(OutboxEntry.id <= queued))
    report.seconds = round(time.monotonic() - started, 3)
    return report


def protect_signed_objects(rt: Runtime) -> int:
    """Give signed objects their retention again (a store's retention does not travel in the archive): until
    signing time + DMS_SIGNED_RETENTION_DAYS, as when they were signed. Returns how many the store protected."""
    from dms.signatures.service import RETENTION
    now = datetime.now(UTC)
    with rt.db.session() as s:
        signed: list[Any] = list(s.execute(select(Version.object_key, Signature.signed_at)  # the signed PDF
                                .join(Signature, Signature.version_id == Version.id)
                                .where(Signature.p7s_key.is_(None))).all())
        signed += s.execute(select(Signature.p7s_key, Signature.signed_at).where(Signature.p7s_key.is_not(None))).all()
    protected = 0
    for key, signed_at in signed:
        until = (signed_at if signed_at.tzinfo else signed_at.replace(tzinfo=UTC)) + RETENTION
        if until > now and rt.store.protect(key, until):
            protected += 1
    return protected


def _expect(name: str, reader: HashingReader, listed: dict) -> None:
    reader.drain()
    if reader.digest.hexdigest() != listed.get("sha256") or reader.size != listed.get("size"):
        raise BackupDamaged(f"{name}: содержимое не совпадает с manifest.json (архив изменён во время восстановления)")


def _put_object(rt: Runtime, key: str, stream: IO[bytes], size: int) -> None:
    try:
        rt.store.put(stream, expected_sha256=key, expected_size=size)  # type: ignore[arg-type]
    except ChecksumMismatch:
        raise BackupDamaged(f"объект {key} в копии повреждён") from None
    except StorageError as exc:
        raise BackupError(f"ошибка хранилища при записи {key}: {exc}") from None


def _audit_restore(session: Session, report: RestoreReport) -> None:
    audit.record(session, None, "restore", "system", None, login="system", source=Path(report.source).name,
                 source_dialect=report.source_dialect, backup_created_at=report.created_at,
                 schema_revision=report.schema_revision, objects=report.objects,
                 documents=report.tables.get("documents", 0))


class _RowLoader:
    """Every row in one transaction: the target's rows are deleted first, deferred references set at the end,
    PostgreSQL sequences moved past the restored ids, and the restore audited after the restored chain."""

    def __init__(self, rt: Runtime, tables: dict[str, Table], order: list[str]):
        self.tables = tables
        self.order = order
        self.loaded: list[str] = []
        self.deferred: dict[str, list[dict]] = {}
        self.conn = rt.db.engine.connect()
        self.trans = self.conn.begin()
        for t in self._in_order():
            cols = [c for c in self._deferred(t) if self.tables[t.name].c[c].nullable]
            if cols:
                self.conn.execute(update(t).values({c: None for c in cols}))
        for t in reversed(self._in_order()):
            self.conn.execute(t.delete())

    def _in_order(self) -> list[Table]:
        return [self.tables[name] for name in self.order]

    def _deferred(self, table: Table) -> list[str]:
        return deferred_columns(table, set(self.order[:self.order.index(table.name)]))

    def load(self, table: Table, stream: HashingReader) -> int:
        expected = self.order[len(self.loaded)] if len(self.loaded) < len(self.order) else None
        if table.name != expected:
            raise BackupDamaged(f"таблица {table.name} не на своём месте в архиве (ожидалась {expected})")
        try:
            header = json.loads(_read_line(stream, f"db/{table.name}.jsonl"))
            columns, tags = header["columns"], header["types"]
            if header["table"] != table.name or len(columns) != len(tags):
                raise ValueError("header")
        except (ValueError, KeyError, TypeError):
            raise BackupDamaged(f"db/{table.name}.jsonl: заголовок не читается") from None
        unknown = set(columns) - set(table.columns.keys())
        if unknown or set(tags) - set(DECODERS):
            raise BackupError(f"db/{table.name}.jsonl: столбцы {sorted(unknown)} не из этой схемы")
        decoders = [DECODERS[t] for t in tags]
        deferred = [c for c in self._deferred(table) if c in columns]
        pk = [c.name for c in table.primary_key.columns]
        rows, batch = 0, []
        while line := _read_line(stream, f"db/{table.name}.jsonl"):
            try:
                values = json.loads(line)
                if len(values) != len(columns):
                    raise ValueError("width")
                row = {c: (null() if v is None and t == "json" else None if v is None else dec(v))
                       for c, t, v, dec in zip(columns, tags, values, decoders, strict=False)}
            except (ValueError, TypeError, binascii.Error):
                raise BackupDamaged(f"db/{table.name}.jsonl: строка {rows + 1} не читается") from None
            if deferred:
                later = {c: row[c] for c in deferred if row[c] is not None}
                if later:
                    self.deferred.setdefault(table.name, []).append({**{f"k_{k}": row[k] for k in pk}, **later})
                row.update({c: None for c in deferred})
            batch.append(row)
            rows += 1
            if len(batch) >= ROW_BATCH:
                self._insert(table, batch)
                batch = []
        if batch:
            self._insert(table, batch)
        self.loaded.append(table.name)
        return rows

    def _insert(self, table: Table, batch: list[dict]) -> None:
        try:
            self.conn.execute(table.insert(), batch)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]
            raise BackupError(f"db/{table.name}.jsonl: база данных не приняла строки ({reason})") from None

    def finish(self, report: RestoreReport, audit_inside: bool) -> None:
        if self.loaded != self.order:
            raise BackupDamaged(f"в копии не хватает таблиц: {sorted(set(self.order) - set(self.loaded))}")
        for name, rows in self.deferred.items():
            table = self.tables[name]
            pk = [c.name for c in table.primary_key.columns]
            for col in self._deferred(table):
                params = [{"k_" + k: r["k_" + k] for k in pk} | {"v": r[col]} for r in rows if col in r]
                if params:
                    stmt = update(table).where(*(table.c[k] == bindparam("k_" + k) for k in pk)) \
                        .values({col: bindparam("v")})
                    self.conn.execute(stmt.execution_options(synchronize_session=False), params)
        if self.conn.dialect.name == "postgresql":
            self._reset_sequences(self._in_order())
        if audit_inside:
            with Session(bind=self.conn) as s:
                _audit_restore(s, report)
                s.flush()
        self.trans.commit()
        self.conn.close()

    def _reset_sequences(self, tables: Any) -> None:
        quote = self.conn.dialect.identifier_preparer.quote
        for table in tables:
            pk = list(table.primary_key.columns)
            if len(pk) != 1 or not isinstance(pk[0].type, Integer):
                continue
            col, name = quote(pk[0].name), quote(table.name)
            self.conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence(:t, :c), COALESCE((SELECT max({col}) FROM {name}), 1), "
                f"(SELECT max({col}) FROM {name}) IS NOT NULL)"), {"t": name, "c": pk[0].name})

    def abort(self) -> None:
        try:
            self.trans.rollback()
        finally:
            self.conn.close()
