"""Errors raised by the object stores; every one is a StorageError."""
from __future__ import annotations

import errno


class StorageError(Exception):
    """Base class: something went wrong while talking to the object store."""


class InvalidStoreURL(StorageError):
    """The store URL has an unknown scheme or a malformed part."""


class InvalidKey(StorageError):
    """A key is not 64 lowercase hexadecimal characters (a SHA-256 digest)."""

    def __init__(self, key: object) -> None:
        shown = repr(key) if len(repr(key)) <= 80 else repr(key)[:77] + "..."
        super().__init__(f"invalid object key {shown}: a key is 64 lowercase hex characters")
        self.key = key


class ObjectNotFound(StorageError):
    """No object is stored under the key."""

    def __init__(self, key: str, store: str) -> None:
        super().__init__(f"object {key} not found in {store}")
        self.key = key


class ChecksumMismatch(StorageError):
    """Bytes do not match the SHA-256 (or size) they were supposed to have."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class ObjectProtected(StorageError):
    """The object is under retention and cannot be deleted yet."""

    def __init__(self, key: str, retain_until: str) -> None:
        super().__init__(f"object {key} is protected until {retain_until} and cannot be deleted")
        self.key = key


class StoreUnavailable(StorageError):
    """The store cannot be reached now: refused or timed-out connections, a 5xx answer, a failed disk.
    Retrying later may succeed; `retry_after` is a hint in seconds."""

    def __init__(self, message: str, retry_after: int = 10) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreFull(StoreUnavailable):
    """The store has no room for the bytes (a full disk or quota, or S3's "storage full")."""


FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
UNAVAILABLE_ERRNOS = frozenset({errno.EIO, errno.EROFS, errno.ENOTCONN, errno.ESTALE, errno.ETIMEDOUT,
                                errno.EHOSTDOWN, errno.EHOSTUNREACH, errno.ECONNREFUSED, errno.EACCES, errno.EPERM,
                                errno.ENODEV, errno.ENXIO})


def from_os_error(error: OSError, message: str) -> StorageError:
    """The StorageError for an OS error of a disk or mount: full (StoreFull), unusable now (StoreUnavailable),
    or another StorageError."""
    if error.errno in FULL_ERRNOS:
        return StoreFull(message, retry_after=60)
    if error.errno in UNAVAILABLE_ERRNOS:
        return StoreUnavailable(message)
    return StorageError(message)
