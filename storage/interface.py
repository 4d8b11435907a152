"""The one interface every object store implements."""
from __future__ import annotations

import io
import shutil
from abc import ABC, abstractmethod
from datetime import datetime
from typing import BinaryIO
from collections.abc import Iterator, Sequence

from .model import ObjectInfo

VERIFY_CHUNK_SIZE = 1024 * 1024


class ObjectStore(ABC):
    """A content-addressed store: the key of an object is the lowercase hex SHA-256 of its bytes.

    Every method that takes a key raises InvalidKey unless it is 64 lowercase hex characters.
    """

    @abstractmethod
    def put(
        self,
        stream: BinaryIO,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> ObjectInfo:
        """Store the bytes of `stream` (read in chunks, spooled to a temporary file) under their
        SHA-256. Bytes already stored are not rewritten: the result then has existed=True.
        If `expected_sha256` or `expected_size` is given and the bytes differ, raises
        ChecksumMismatch and stores nothing."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the object; reading it to the end raises ChecksumMismatch
        if the stored bytes do not hash to the key. Raises ObjectNotFound if absent."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Size and modification time of the object; raises ObjectNotFound if absent."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; removing an absent object is not an error. Raises ObjectProtected
        while a retention set by protect() is in force."""

    @abstractmethod
    def list(self) -> Iterator[ObjectInfo]:
        """Every object with its size and modification time (in no guaranteed order)."""

    @abstractmethod
    def protect(self, key: str, retain_until: datetime) -> bool:
        """Make the object immutable until `retain_until` where the backend can; returns False
        where it cannot. A retention is never shortened. See each store for the semantics."""

    def protect_many(self, keys: Sequence[str], retain_until: datetime) -> None:
        """protect() of each key (a batch's signed objects); a store may do them at once. Every key is attempted;
        then the first error met is raised."""
        first: Exception | None = None
        for key in keys:
            try:
                self.protect(key, retain_until)
            except Exception as error:  # noqa: BLE001 - the others still get their retention
                first = first or error
        if first is not None:
            raise first

    @abstractmethod
    def describe(self) -> str:
        """A one-line description for logs; it never contains credentials."""

    def check(self) -> None:
        """Raises StoreUnavailable (or another StorageError) unless the store answers and can be written: for
        readiness probes and `dms init`. Cheap: no object is read."""
        self.exists("0" * 64)

    def put_bytes(self, data: bytes) -> ObjectInfo:
        return self.put(io.BytesIO(data))

    def get_bytes(self, key: str) -> bytes:
        """All bytes of the object, verified against the key."""
        with self.open(key) as stream:
            return stream.read()

    def verify(self, key: str) -> None:
        """Read the whole object; raises ChecksumMismatch or ObjectNotFound."""
        with self.open(key) as stream:
            shutil.copyfileobj(stream, _Discard(), VERIFY_CHUNK_SIZE)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


class _Discard(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        return len(memoryview(data))  # type: ignore[arg-type]
