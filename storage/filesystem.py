"""Filesystem store: root/ab/cd/<sha256>, written atomically."""
from __future__ import annotations

import contextlib
import io
import os
import stat as stat_module
import tempfile
from datetime import datetime, UTC
from pathlib import Path
from typing import BinaryIO
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from .errors import ObjectNotFound, ObjectProtected, StorageError, StoreUnavailable, from_os_error
from .interface import ObjectStore
from .keys import check_expected_sha256, check_key, is_key
from .model import ObjectInfo
from .spool import CHUNK_SIZE, spool
from .timestamps import as_utc, utc_now
from .verifying_reader import VerifyingReader

TEMP_DIR_NAME = ".tmp"
RETENTION_SUFFIX = ".retention"
READ_ONLY = 0o400  # the owner only: objects hold personal data (issue 16)
PROTECT_THREADS = 8  # protect_many: retention records written and fsynced at once


class FileStore(ObjectStore):
    """Objects as files under `root`, two directory levels from the first four hex digits.

    A put spools to root/.tmp (same filesystem), fsyncs the file, links it into place (never
    overwriting: of two concurrent puts of the same bytes exactly one creates the object) and
    fsyncs the directories it changed. A put of bytes already stored refreshes the file's
    modification time, so an age-based orphan sweep cannot remove what a put just returned.
    """

    def __init__(self, root: Path | str) -> None:
        self._root = Path(root)
        if not self._root.is_absolute():
            raise StorageError(f"filesystem store root must be an absolute path, not {root}")
        self._temp = self._root / TEMP_DIR_NAME
        try:
            self._temp.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise from_os_error(error, f"cannot create filesystem store at {self._root}: {error}") from error

    @property
    def root(self) -> Path:
        return self._root

    def describe(self) -> str:
        return self._root.as_uri()

    def check(self) -> None:
        """The store's directories are there and writable (a removed or read-only mount is StoreUnavailable)."""
        if not (self._temp.is_dir() and os.access(self._temp, os.W_OK) and os.access(self._root, os.W_OK)):
            raise StoreUnavailable(f"{self.describe()}: the store's directory is missing or not writable")

    def path_of(self, key: str) -> Path:
        """Where the object with this (validated) key lives."""
        check_key(key)
        return self._root / key[0:2] / key[2:4] / key

    def put(
        self,
        stream: BinaryIO,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> ObjectInfo:
        expected_sha256 = check_expected_sha256(expected_sha256)
        upload = spool(
            stream,
            self._temp,
            expected_sha256=expected_sha256,
            expected_size=expected_size,
            durable=True,
        )
        final = self.path_of(upload.sha256)
        with self._translated():
            try:
                self._make_parents(final)
                existed = self._link_into_place(upload.path, final, upload.size)
                if existed:
                    os.utime(final)
                else:
                    _fsync_directory(final.parent)
            finally:
                upload.path.unlink(missing_ok=True)
            return self._info(upload.sha256, final.stat(), existed=existed)

    def _make_parents(self, final: Path) -> None:
        for directory in (final.parent.parent, final.parent):
            try:
                directory.mkdir()
            except FileExistsError:
                continue
            _fsync_directory(directory.parent)

    @staticmethod
    def _link_into_place(temp: Path, final: Path, size: int) -> bool:
        """Returns True if the object was already there with the right size."""
        try:
            os.link(temp, final)
            return False
        except FileExistsError:
            if final.stat().st_size == size:
                return True
            # A truncated or padded object can only be damage: the fresh bytes repair it.
            os.replace(temp, final)
            return False
        except OSError:  # a filesystem without hard links
            os.replace(temp, final)
            return False

    def open(self, key: str) -> BinaryIO:
        path = self.path_of(key)
        with self._translated(key):
            source = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the reader it is handed to
        reader = VerifyingReader(source, key, self.describe(), source.close)
        return io.BufferedReader(reader, CHUNK_SIZE)

    def stat(self, key: str) -> ObjectInfo:
        path = self.path_of(key)
        with self._translated(key):
            return self._info(key, path.stat())

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def delete(self, key: str) -> None:
        path = self.path_of(key)
        with self._translated():
            retain_until = self._retention(path)
            if retain_until is not None and retain_until > utc_now():
                raise ObjectProtected(key, retain_until.isoformat())
            path.unlink(missing_ok=True)
            _retention_path(path).unlink(missing_ok=True)

    def list(self) -> Iterator[ObjectInfo]:
        with self._translated():
            yield from self._list()

    def _list(self) -> Iterator[ObjectInfo]:
        for first in _hex_subdirectories(self._root):
            for second in _hex_subdirectories(first):
                for entry in sorted(second.iterdir()):
                    name = entry.name
                    if is_key(name) and name[0:2] == first.name and name[2:4] == second.name:
                        try:
                            yield self._info(name, entry.stat())
                        except FileNotFoundError:
                            continue  # deleted while listing

    def protect(self, key: str, retain_until: datetime) -> bool:
        """Makes the file read-only (0400) and records `retain_until` beside it
        (<key>.retention); delete() refuses the object until then. This guards against
        this program and other unprivileged users, not against root or the disk owner."""
        retain_until = as_utc(retain_until)
        path = self.path_of(key)
        if not path.is_file():
            raise ObjectNotFound(key, self.describe())
        with self._translated():
            current = self._retention(path)
            if current is None or current < retain_until:
                self._write_retention(path, retain_until)
            path.chmod(READ_ONLY)
        return True

    def protect_many(self, keys: Sequence[str], retain_until: datetime) -> None:
        """protect() of each key from a few threads: each writes and fsyncs its retention record and directory
        as protect() does, and the file system commits the concurrent fsyncs together (one at a time, a batch of
        a thousand certificates waited ~6 ms per object after its commit)."""
        if len(keys) < 2:
            super().protect_many(keys, retain_until)
            return
        with ThreadPoolExecutor(max_workers=min(PROTECT_THREADS, len(keys))) as pool:
            # submit + wait for all (Executor.map cancels the keys not yet started at its first error)
            done = [pool.submit(self.protect, key, retain_until) for key in keys]
        errors = [error for error in (future.exception() for future in done) if error is not None]
        if errors:
            raise errors[0]

    def _write_retention(self, path: Path, retain_until: datetime) -> None:
        handle, temp = tempfile.mkstemp(prefix="retention-", dir=self._temp)
        record = _retention_path(path)
        try:
            with os.fdopen(handle, "w", encoding="ascii") as out:
                out.write(retain_until.isoformat())
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, record)
        finally:
            Path(temp).unlink(missing_ok=True)
        record.chmod(READ_ONLY)
        _fsync_directory(path.parent)

    @contextlib.contextmanager
    def _translated(self, key: str | None = None) -> Iterator[None]:
        """A missing file under a key means a missing object; other OS errors become StorageError."""
        try:
            yield
        except FileNotFoundError as error:
            if key is not None:
                raise ObjectNotFound(key, self.describe()) from None
            # Not an object but the store's own directories: an unmounted or removed store.
            raise StoreUnavailable(f"{self.describe()}: {error.strerror}: {error.filename}") from error
        except OSError as error:  # a full disk is StoreFull, a failed or read-only one StoreUnavailable
            raise from_os_error(error, f"{self.describe()}: {error.strerror or error}") from error

    def _retention(self, path: Path) -> datetime | None:
        try:
            text = _retention_path(path).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        try:
            return as_utc(datetime.fromisoformat(text))
        except ValueError:
            raise StorageError(f"unreadable retention record beside {path}: {text!r}") from None

    @staticmethod
    def _info(key: str, status: os.stat_result, existed: bool = False) -> ObjectInfo:
        if not stat_module.S_ISREG(status.st_mode):
            raise StorageError(f"object {key} is not a regular file")
        modified = datetime.fromtimestamp(status.st_mtime, UTC)
        return ObjectInfo(key, key, status.st_size, modified, existed)


def _retention_path(path: Path) -> Path:
    return path.with_name(path.name + RETENTION_SUFFIX)


def _hex_subdirectories(directory: Path) -> list[Path]:
    return sorted(
        entry
        for entry in directory.iterdir()
        if len(entry.name) == 2 and all(c in "0123456789abcdef" for c in entry.name) and entry.is_dir()
    )


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
