"""Byte sources for the tests: deterministic, generated lazily."""
from __future__ import annotations

import hashlib
import io

BLOCK = 64 * 1024


class GeneratedStream(io.RawIOBase):
    """`size` pseudo-random bytes produced block by block (never held whole in memory);
    `sha256` is known once the stream has been read to the end."""

    def __init__(self, size: int, seed: bytes = b"pechat") -> None:
        super().__init__()
        self._remaining = size
        self._counter = 0
        self._seed = seed
        self._pending = b""
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._pending and self._remaining:
            self._pending = self._next_block()
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def _next_block(self) -> bytes:
        seed = hashlib.sha512(self._seed + self._counter.to_bytes(8, "big")).digest()
        self._counter += 1
        block = (seed * (BLOCK // len(seed) + 1))[: min(BLOCK, self._remaining)]
        self._remaining -= len(block)
        self._digest.update(block)
        return block

    @property
    def sha256(self) -> str:
        assert self._remaining == 0 and not self._pending, "read the stream to the end first"
        return self._digest.hexdigest()


class FailingStream(io.RawIOBase):
    """Yields `good_bytes` bytes, then fails as a dropped client connection would."""

    def __init__(self, good_bytes: int) -> None:
        super().__init__()
        self._remaining = good_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._remaining == 0:
            raise ConnectionResetError("client went away")
        count = min(len(buffer), self._remaining)
        buffer[:count] = b"x" * count
        self._remaining -= count
        return count
