"""`dms restore`: an archive (format in dms.operations.archive) verified member by member, then written into an
empty target in one transaction; the audit chain of the restored rows is checked before the commit."""
from __future__ import annotations

import binascii
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path, PurePosixPath
import typing
from typing import IO, Any
from collections.abc import Iterator

from sqlalchemy import (JSON, Integer, Table, bindparam, delete, func,
                        MetaData, inspect, null, select, text, update)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from storage import ChecksumMismatch, StorageError

from dms.migrate import alembic_config, current, head, upgrade
from dms.models import Base, Document, OutboxEntry, Signature, User, Version
from dms.runtime import Runtime
from dms.audit import service as audit

from dms.operations.archive import (BackupDamaged, BackupError, DECODERS, FORMAT, FORMAT_VERSION, HashingReader, KEY_RE,
                                    MANIFEST, MANIFEST_MAX, PASSPHRASE_FILE, PKI_DIR, Progress, ROW_BATCH, Stages,
                                    TABLE_RE, TargetNotEmpty, backup_key, check_name, check_seal, copy_stream,
                                    deferred_columns, iter_members, read_limited)


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
        check_name(name)
        if name in seen or (name == MANIFEST and manifest_body is not None):
            raise BackupDamaged(f"элемент {name} встречается дважды")
        if name == MANIFEST:
            manifest_body = read_limited(stream, MANIFEST_MAX, name)
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
            check_name(name)
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
                    copy_stream(reader, out)
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
