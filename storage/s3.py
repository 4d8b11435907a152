"""S3 store through the MinIO SDK: works with MinIO, AWS S3 and moto's server alike."""
from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO
from collections.abc import Iterator

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE, GOVERNANCE
from minio.datatypes import Object
from minio.error import MinioException, S3Error, ServerError
from minio.retention import Retention

from .errors import ObjectNotFound, ObjectProtected, StorageError, StoreFull, StoreUnavailable
from .interface import ObjectStore
from .keys import check_expected_sha256, check_key, is_key
from .model import ObjectInfo
from .key_locks import KeyLocks
from .spool import CHUNK_SIZE, SpooledUpload, spool
from .timestamps import as_utc, utc_now
from .verifying_reader import VerifyingReader

PART_SIZE = 5 * 1024 * 1024  # the S3 minimum; the SDK holds one part per upload thread in memory
PARALLEL_PART_UPLOADS = 1
SHA256_METADATA = "sha256"
# A put of bytes already stored re-uploads them when the stored copy is older than this, so that
# `modified` stays recent for an age-based orphan sweep (S3 cannot touch an object in place).
REFRESH_AFTER = timedelta(hours=1)
# Short, so that a hung or refusing store costs a web request seconds, not minutes (issue 17.2): a frozen
# server answers StoreUnavailable after connect + read timeout, at most twice (one retry).
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 10.0
RETRIES = 1
# After a call finds the store unavailable, calls fail at once for this long instead of each waiting for
# its own timeout (a circuit breaker); then one call probes the store while the others keep failing at once, so at
# most one thread per process waits on a hung store.
BREAKER_SECONDS = 5.0
UNAVAILABLE_CODES = frozenset({"ServiceUnavailable", "SlowDown", "InternalError", "RequestTimeout",
                               "XMinioServerNotInitialized", "XMinioReadQuorum", "XMinioWriteQuorum"})
FULL_CODES = frozenset({"XMinioStorageFull", "XMinioAdminBucketQuotaExceeded", "QuotaExceeded"})
CONNECTIONS_PER_STORE = 10
RETENTION_MODES = {"governance": GOVERNANCE, "compliance": COMPLIANCE}
RETAIN_UNTIL_HEADER = "x-amz-object-lock-retain-until-date"
NOT_FOUND_CODES = frozenset({"NoSuchKey", "ResourceNotFound", "NoSuchObject"})
NO_LOCK_CODES = frozenset({"ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"})


@dataclass(frozen=True)
class S3Settings:
    endpoint: str  # host:port
    bucket: str
    access_key: str | None = None
    secret_key: str | None = None
    secure: bool = True
    region: str | None = None
    create_bucket: bool = False
    object_lock: bool = False  # when creating the bucket
    retention_mode: str = "governance"
    spool_dir: Path | None = None
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS
    read_timeout: float = READ_TIMEOUT_SECONDS

    def __repr__(self) -> str:
        return f"S3Settings(endpoint={self.endpoint!r}, bucket={self.bucket!r}, secrets hidden)"


class _ContentMD5Minio(Minio):
    """Sends Content-MD5 with every object and part upload. Buckets with object lock refuse
    uploads without it, and the SDK computes it only over HTTPS."""

    def _put_object(
        self,
        bucket_name: str,
        object_name: str,
        data: bytes,
        headers: dict[str, Any] | None = None,
        query_params: dict[str, Any] | None = None,
    ) -> Any:
        headers = dict(headers or {})
        if "Content-MD5" not in headers:
            digest = hashlib.md5(data, usedforsecurity=False).digest()
            headers["Content-MD5"] = base64.b64encode(digest).decode("ascii")
        return super()._put_object(bucket_name, object_name, data, headers, query_params)


class S3Store(ObjectStore):
    """Objects named by their SHA-256 in one bucket, with the digest also in the object's
    metadata (x-amz-meta-sha256). A put spools the stream to a local temporary file while
    hashing, then uploads it in parts of 5 MiB, each with its Content-MD5."""

    def __init__(self, settings: S3Settings) -> None:
        if settings.retention_mode not in RETENTION_MODES:
            raise StorageError(
                f"unknown retention mode {settings.retention_mode!r}: use governance or compliance"
            )
        self._settings = settings
        self._client = _ContentMD5Minio(
            settings.endpoint,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            secure=settings.secure,
            region=settings.region,
            http_client=_http_client(settings.connect_timeout, settings.read_timeout),
        )
        # The circuit breaker: after a call finds the store unavailable, calls fail at once until _down_until; then
        # one call at a time probes it (half-open) while the others still fail at once; an answer closes it.
        self._breaker = threading.Lock()
        self._down_until = 0.0
        self._probing = False
        self._lock_enabled: bool | None = None
        self._lock_check = threading.Lock()
        self._uploads = KeyLocks()  # concurrent puts of the same bytes in this process upload once
        if settings.create_bucket:
            self._create_bucket_if_missing()

    @property
    def bucket(self) -> str:
        return self._settings.bucket

    @property
    def spool_dir(self) -> Path | None:
        """Where uploads are spooled (None: the system's temporary directory)."""
        return self._settings.spool_dir

    def describe(self) -> str:
        scheme = "https" if self._settings.secure else "http"
        return f"s3 bucket {self._settings.bucket} at {scheme}://{self._settings.endpoint}"

    def check(self) -> None:
        """The bucket exists (one HEAD request, bounded by the timeouts; a missing bucket would otherwise look like
        a store where every object is missing)."""
        with self._translated():
            found = self._client.bucket_exists(self.bucket)
        if not found:
            raise StorageError(f"{self.describe()}: NoSuchBucket: the bucket does not exist "
                               "(create_bucket=true in the store URL creates it)")

    def _create_bucket_if_missing(self) -> None:
        with self._translated():
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(
                        self.bucket,
                        location=self._settings.region,
                        object_lock=self._settings.object_lock,
                    )
                except S3Error as error:
                    if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

    def put(
        self,
        stream: BinaryIO,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> ObjectInfo:
        expected_sha256 = check_expected_sha256(expected_sha256)
        upload = spool(
            stream,
            self._settings.spool_dir,
            expected_sha256=expected_sha256,
            expected_size=expected_size,
            durable=False,
        )
        try:
            with self._uploads.held(upload.sha256):
                return self._upload(upload)
        finally:
            upload.path.unlink(missing_ok=True)

    def _upload(self, upload: SpooledUpload) -> ObjectInfo:
        existing = self._stat_or_none(upload.sha256)
        existed = existing is not None and existing.size == upload.size
        if existing is not None and existed and _age(existing.modified) < REFRESH_AFTER:
            return ObjectInfo(upload.sha256, upload.sha256, upload.size, existing.modified, True)
        with self._translated(upload.sha256), open(upload.path, "rb") as data:
            result = self._client.put_object(
                self.bucket,
                upload.sha256,
                data,
                upload.size,
                metadata={SHA256_METADATA: upload.sha256},
                part_size=PART_SIZE,
                num_parallel_uploads=PARALLEL_PART_UPLOADS,
            )
        modified = _server_time(result.http_headers)
        return ObjectInfo(upload.sha256, upload.sha256, upload.size, modified, existed)

    def open(self, key: str) -> BinaryIO:
        check_key(key)
        with self._translated(key):
            response = self._client.get_object(self.bucket, key)

        def release() -> None:
            response.close()
            response.release_conn()

        source = _TranslatedBody(response, f"{self.describe()}: reading {key} failed")
        reader = VerifyingReader(source, key, self.describe(), release)
        return io.BufferedReader(reader, CHUNK_SIZE)

    def stat(self, key: str) -> ObjectInfo:
        check_key(key)
        info = self._stat_or_none(key)
        if info is None:
            raise ObjectNotFound(key, self.describe())
        return info

    def _stat_or_none(self, key: str) -> ObjectInfo | None:
        found = self._head(key)
        if found is None:
            return None
        metadata = found.metadata or {}
        sha256 = metadata.get(f"x-amz-meta-{SHA256_METADATA}") or key
        modified = as_utc(found.last_modified or utc_now())
        return ObjectInfo(key, sha256, int(found.size or 0), modified)

    def _head(self, key: str) -> Object | None:
        try:
            with self._translated(key):
                return self._client.stat_object(self.bucket, key)
        except ObjectNotFound:
            return None

    def exists(self, key: str) -> bool:
        check_key(key)
        return self._stat_or_none(key) is not None

    def delete(self, key: str) -> None:
        """Refuses while an object-lock retention is in force (S3 itself would only hide the
        object behind a delete marker). On a versioned bucket older versions remain."""
        check_key(key)
        if self._bucket_has_lock():
            try:
                retained_until = self._retained_until(key)
            except ObjectNotFound:
                return
            if retained_until is not None and retained_until > utc_now():
                raise ObjectProtected(key, retained_until.isoformat())
        with self._translated(key):
            self._client.remove_object(self.bucket, key)

    def list(self) -> Iterator[ObjectInfo]:
        with self._translated():
            for found in self._client.list_objects(self.bucket, recursive=True):
                name = found.object_name
                if is_key(name):
                    modified = as_utc(found.last_modified or utc_now())
                    yield ObjectInfo(name, name, int(found.size or 0), modified)

    def protect(self, key: str, retain_until: datetime) -> bool:
        """Sets an object-lock retention (GOVERNANCE by default, COMPLIANCE with
        ?retention=compliance) until `retain_until` when the bucket was created with object
        lock; returns False, changing nothing, when it was not. A longer retention already on
        the object is kept."""
        check_key(key)
        retain_until = as_utc(retain_until)
        if not self._bucket_has_lock():
            if self._head(key) is None:
                raise ObjectNotFound(key, self.describe())
            return False
        current = self._retained_until(key)
        if current is not None and current >= retain_until:
            return True
        mode = RETENTION_MODES[self._settings.retention_mode]
        with self._translated(key):
            self._client.set_object_retention(self.bucket, key, Retention(mode, retain_until))
        return True

    def _retained_until(self, key: str) -> datetime | None:
        """The object's retention date, read from the headers of a HEAD request (which S3,
        MinIO and moto all send; moto has no GetObjectRetention)."""
        found = self._head(key)
        if found is None:
            raise ObjectNotFound(key, self.describe())
        text = (found.metadata or {}).get(RETAIN_UNTIL_HEADER)
        if not text:
            return None
        try:
            return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            raise StorageError(f"{self.describe()}: unreadable retention date {text!r} on {key}") from None

    def _bucket_has_lock(self) -> bool:
        with self._lock_check:
            if self._lock_enabled is None:
                try:
                    with self._translated():
                        config = self._client.get_object_lock_config(self.bucket)
                    self._lock_enabled = config is not None
                except _NoObjectLock:
                    self._lock_enabled = False
            return self._lock_enabled

    @contextlib.contextmanager
    def _translated(self, key: str | None = None) -> Iterator[None]:
        """Turns SDK and network errors into StorageError subclasses naming this store: StoreUnavailable for
        a store that cannot be reached or answers 5xx (and then, for BREAKER_SECONDS, at once without trying),
        StoreFull for one out of space."""
        probe = self._enter()
        answered = False
        try:
            yield
            answered = True
        except S3Error as error:
            answered = error.code not in UNAVAILABLE_CODES
            if error.code in NOT_FOUND_CODES and key is not None:
                raise ObjectNotFound(key, self.describe()) from None
            if error.code in NO_LOCK_CODES:
                raise _NoObjectLock(error.code) from None
            message = f"{self.describe()}: {error.code}: {error.message}"
            if error.code in FULL_CODES:
                raise StoreFull(message, retry_after=60) from None
            if error.code in UNAVAILABLE_CODES:
                raise self._unavailable(message) from None
            raise StorageError(message) from None
        except ServerError as error:  # a 5xx without an S3 error body (a proxy, a starting server)
            raise self._unavailable(f"{self.describe()}: {error}") from None
        except (urllib3.exceptions.HTTPError, OSError) as error:  # refused, reset, timed out
            raise self._unavailable(f"{self.describe()}: {error}") from None
        except MinioException as error:
            raise StorageError(f"{self.describe()}: {error}") from None
        finally:
            if probe or answered:
                with self._breaker:
                    if probe:
                        self._probing = False
                    if answered:
                        self._down_until = 0.0

    def _enter(self) -> bool:
        """Raises StoreUnavailable at once while the breaker is open; True for the one call that probes a store
        found down (half-open)."""
        with self._breaker:
            if not self._down_until:
                return False
            wait = self._down_until - time.monotonic()
            if wait > 0 or self._probing:
                raise StoreUnavailable(f"{self.describe()}: unavailable (a call failed less than "
                                       f"{BREAKER_SECONDS:g} s ago)", retry_after=max(1, round(wait)))
            self._probing = True
            return True

    def _unavailable(self, message: str) -> StoreUnavailable:
        with self._breaker:
            self._down_until = time.monotonic() + BREAKER_SECONDS
        return StoreUnavailable(message, retry_after=round(BREAKER_SECONDS))


class _NoObjectLock(StorageError):
    pass


class _TranslatedBody:
    """A response body whose network errors, raised mid-read, become StorageError."""

    def __init__(self, response: Any, context: str) -> None:
        self._response = response
        self._context = context

    def readinto(self, buffer: Any) -> int:
        try:
            return int(self._response.readinto(buffer))
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise StoreUnavailable(f"{self._context}: {error}") from None


def _http_client(connect_timeout: float, read_timeout: float) -> urllib3.PoolManager:
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        maxsize=CONNECTIONS_PER_STORE,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        # One retry of a refused connection or a 5xx; none of a read that timed out (a hung server would cost the
        # read timeout twice).
        retries=urllib3.Retry(total=RETRIES, read=0, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


def _age(moment: datetime) -> timedelta:
    return utc_now() - moment


def _server_time(headers: Any) -> datetime:
    date = headers.get("Date") if headers is not None else None
    try:
        return parsedate_to_datetime(str(date)).astimezone(UTC)
    except (TypeError, ValueError):
        return utc_now()
