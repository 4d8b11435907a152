"""The backup archive's format, shared by `dms backup` (dms.operations.backup) and `dms restore`
(dms.operations.restore): one archive (a tar file, or a directory with the same members) holding

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
import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import tarfile
import time
from datetime import date, datetime, UTC
from pathlib import Path, PurePosixPath
import typing
from typing import IO, Any, BinaryIO, Protocol
from collections.abc import Callable, Iterator

from sqlalchemy import (JSON, Boolean, Date, DateTime, Integer, LargeBinary, Table)


from dms.errors import Conflict, DmsError
from dms.runtime import Runtime

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
            copied = copy_stream(stream, out, size)
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


def copy_stream(src: Readable, dst: IO[bytes], limit: int | None = None) -> int:
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
            tables = json.loads(read_limited(f, MANIFEST_MAX, MANIFEST))["tables"]
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


def read_limited(stream: IO[bytes], limit: int, name: str) -> bytes:
    parts, total = [], 0
    while chunk := stream.read(CHUNK):
        total += len(chunk)
        if total > limit:
            raise BackupDamaged(f"{name} больше {limit} байт")
        parts.append(chunk)
    return b"".join(parts)


def check_name(name: str) -> None:
    if name == MANIFEST or KEY_RE.match(name) or TABLE_RE.match(name):
        return
    parts = PurePosixPath(name).parts
    if len(parts) >= 2 and parts[0] == PKI_DIR and all(PKI_PART_RE.match(p) and p not in (".", "..") for p in parts):
        return
    raise BackupDamaged(f"неожиданный элемент архива: {name[:200]!r}")
