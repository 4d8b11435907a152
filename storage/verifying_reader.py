"""A read-only stream that checks the SHA-256 of an object once it has been read to the end."""
from __future__ import annotations

import hashlib
import io
from typing import Any, Protocol
from collections.abc import Callable

from .errors import ChecksumMismatch


class _ReadIntoSource(Protocol):
    def readinto(self, buffer: Any) -> int | None: ...


class VerifyingReader(io.RawIOBase):
    """Passes bytes through from `source`; at end of stream raises ChecksumMismatch if
    the bytes read do not hash to `key`. `on_close` releases the source."""

    def __init__(
        self, source: _ReadIntoSource, key: str, store: str, on_close: Callable[[], None]
    ) -> None:
        super().__init__()
        self._source = source
        self._key = key
        self._store = store
        self._on_close = on_close
        self._digest = hashlib.sha256()
        self._size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = self._source.readinto(view) or 0
        if count == 0:
            self._check()
            return 0
        self._digest.update(view[:count])
        self._size += count
        return count

    def _check(self) -> None:
        actual = self._digest.hexdigest()
        if actual != self._key:
            raise ChecksumMismatch(
                f"object {self._key} in {self._store} is corrupted: its {self._size} bytes "
                f"hash to {actual}",
                key=self._key,
            )

    def close(self) -> None:
        if not self.closed:
            try:
                self._on_close()
            finally:
                super().close()
