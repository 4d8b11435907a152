"""Content-addressed object storage: one interface, a filesystem store and an S3 (MinIO) store."""
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
from .s3 import S3Settings, S3Store
from .urls import open_store

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
