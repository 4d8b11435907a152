"""Content-addressed object storage: one interface, a filesystem store and an S3 (MinIO) store.

The S3 store (storage.s3, with the MinIO client and urllib3) is imported only when first used: every `dms`
process imports this package, most for a filesystem store, and the MinIO client took ~0.1 s of each one's start."""
from typing import TYPE_CHECKING, Any

from .errors import (
    ChecksumMismatch,
    InvalidKey,
    InvalidStoreURL,
    ObjectNotFound,
    ObjectProtected,
    StorageError,
    StoreFull,
    StoreUnavailable,
)
from .filesystem import FileStore
from .interface import ObjectStore
from .keys import is_key
from .model import ObjectInfo
from .urls import open_store

if TYPE_CHECKING:
    from .s3 import S3Settings, S3Store

__all__ = [
    "ChecksumMismatch",
    "FileStore",
    "InvalidKey",
    "InvalidStoreURL",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectProtected",
    "ObjectStore",
    "S3Settings",
    "S3Store",
    "StorageError",
    "StoreFull",
    "StoreUnavailable",
    "is_key",
    "open_store",
]


def __getattr__(name: str) -> Any:
    if name in ("S3Settings", "S3Store"):
        from . import s3
        return getattr(s3, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
