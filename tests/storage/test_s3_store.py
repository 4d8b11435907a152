"""Rules specific to the S3 store, checked through the real S3 protocol (moto's server or
DMS_TEST_S3_ENDPOINT) with a raw MinIO client looking behind the store's back."""
from __future__ import annotations

import io
import os
import time
from datetime import datetime, timedelta, UTC
from pathlib import Path

import pytest
from minio.commonconfig import GOVERNANCE
from minio.error import S3Error
from minio.objectlockconfig import DAYS, ObjectLockConfig

import storage.s3
from storage import ObjectProtected, S3Store, StorageError, open_store
from tests.s3server import ExternalS3Server, MotoS3Server

from .streams import GeneratedStream

MiB = 1024 * 1024


@pytest.fixture
def locked_store(s3_server: MotoS3Server | ExternalS3Server) -> S3Store:
    """A store on a bucket created with object lock."""
    store = open_store(s3_server.create_bucket(object_lock=True))
    assert isinstance(store, S3Store)
    return store


@pytest.fixture
def retaining_store(locked_store: S3Store, s3_server: MotoS3Server | ExternalS3Server) -> S3Store:
    """A locked bucket with a default retention, as a records archive has: every upload to it
    must carry Content-MD5."""
    s3_server.client().set_object_lock_config(locked_store.bucket, ObjectLockConfig(GOVERNANCE, 1, DAYS))
    return locked_store


def retention_of(server: MotoS3Server | ExternalS3Server, bucket: str, key: str) -> tuple[str, datetime]:
    """Object-lock mode and date as the server reports them on HEAD (moto has no GetObjectRetention)."""
    headers = server.client().stat_object(bucket, key).metadata
    until = headers["x-amz-object-lock-retain-until-date"].replace("Z", "+00:00")
    return headers["x-amz-object-lock-mode"], datetime.fromisoformat(until)


def test_sha256_is_the_object_name_and_in_its_metadata(
    s3_store: S3Store, s3_server: MotoS3Server | ExternalS3Server
) -> None:
    key = s3_store.put_bytes(b"order 17").key

    raw = s3_server.client().stat_object(s3_store.bucket, key)

    assert raw.metadata["x-amz-meta-sha256"] == key
    assert s3_store.stat(key).sha256 == key


def test_put_of_bytes_stored_long_ago_refreshes_the_modified_time(
    s3_store: S3Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = s3_store.put_bytes(b"orphan candidate").key
    stored = s3_store.stat(key).modified
    monkeypatch.setattr(storage.s3, "REFRESH_AFTER", timedelta(0))
    time.sleep(1.1)  # Last-Modified has one-second resolution

    again = s3_store.put_bytes(b"orphan candidate")

    assert again.existed
    assert s3_store.stat(key).modified > stored


def test_protect_returns_false_on_a_bucket_without_object_lock(s3_store: S3Store) -> None:
    key = s3_store.put_bytes(b"draft").key

    assert s3_store.protect(key, datetime.now(UTC) + timedelta(days=1)) is False

    s3_store.delete(key)
    assert not s3_store.exists(key)


@pytest.mark.parametrize("size", [1000, 6 * MiB], ids=["single-put", "multi-part"])
def test_uploads_to_a_retaining_bucket_carry_content_md5(retaining_store: S3Store, size: int) -> None:
    data = os.urandom(size)

    key = retaining_store.put_bytes(data).key

    assert retaining_store.get_bytes(key) == data


def test_retaining_bucket_refuses_uploads_without_content_md5(
    retaining_store: S3Store, s3_server: MotoS3Server | ExternalS3Server
) -> None:
    with pytest.raises(S3Error):
        s3_server.client().put_object(retaining_store.bucket, "a" * 64, io.BytesIO(b"x"), 1)


def test_default_retention_of_the_bucket_refuses_delete(retaining_store: S3Store) -> None:
    key = retaining_store.put_bytes(b"registered order").key

    with pytest.raises(ObjectProtected, match=key):
        retaining_store.delete(key)


def test_protect_sets_an_object_lock_retention_on_a_locked_bucket(
    locked_store: S3Store, s3_server: MotoS3Server | ExternalS3Server
) -> None:
    key = locked_store.put_bytes(b"signed certificate").key
    until = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    assert "x-amz-object-lock-retain-until-date" not in s3_server.client().stat_object(
        locked_store.bucket, key
    ).metadata

    assert locked_store.protect(key, until) is True

    mode, retained_until = retention_of(s3_server, locked_store.bucket, key)
    assert mode == GOVERNANCE
    assert abs(retained_until - until) < timedelta(seconds=1)
    with pytest.raises(ObjectProtected, match=key):
        locked_store.delete(key)
    assert locked_store.get_bytes(key) == b"signed certificate"


def test_protect_never_shortens_an_object_lock_retention(
    locked_store: S3Store, s3_server: MotoS3Server | ExternalS3Server
) -> None:
    key = locked_store.put_bytes(b"agreement").key
    long = datetime.now(UTC) + timedelta(days=60)
    locked_store.protect(key, long)

    assert locked_store.protect(key, datetime.now(UTC) + timedelta(days=2)) is True

    _, retained_until = retention_of(s3_server, locked_store.bucket, key)
    assert abs(retained_until - long) < timedelta(seconds=1)


def test_object_on_a_locked_bucket_can_be_deleted_until_protected(locked_store: S3Store) -> None:
    key = locked_store.put_bytes(b"draft to discard").key

    locked_store.delete(key)

    assert not locked_store.exists(key)


def test_bucket_is_created_when_asked(s3_server: MotoS3Server | ExternalS3Server) -> None:
    bucket = f"created-{os.urandom(6).hex()}"

    store = open_store(f"{s3_server.url(bucket)}&create_bucket=true")
    key = store.put_bytes(b"first object").key

    assert s3_server.client().bucket_exists(bucket)
    assert store.get_bytes(key) == b"first object"


def test_missing_bucket_is_reported_as_a_storage_error(s3_server: MotoS3Server | ExternalS3Server) -> None:
    store = open_store(s3_server.url(f"missing-{os.urandom(6).hex()}"))

    with pytest.raises(StorageError, match="NoSuchBucket"):
        store.put_bytes(b"nowhere")


def test_unusable_spool_directory_is_a_storage_error(
    s3_server: MotoS3Server | ExternalS3Server, tmp_path: Path
) -> None:
    store = open_store(f"{s3_server.create_bucket()}&spool_dir={tmp_path / 'missing'}")

    with pytest.raises(StorageError, match="cannot spool the upload"):
        store.put_bytes(b"anything")


def test_connection_lost_mid_read_is_a_storage_error() -> None:
    server = MotoS3Server.start()
    try:
        store = open_store(server.create_bucket())
        key = store.put(GeneratedStream(32 * MiB)).key
        stream = store.open(key)
        stream.read(1)
        server.process.kill()
        server.process.wait()

        with pytest.raises(StorageError, match=f"reading {key} failed"):
            while stream.read(MiB):
                pass
    finally:
        server.stop()


def test_unreachable_server_is_a_storage_error_without_secrets() -> None:
    store = open_store("s3://AKIA-SECRET-ID:very-secret-key@127.0.0.1:9/bucket?secure=false")
    started = time.monotonic()

    with pytest.raises(StorageError) as raised:
        store.stat("a" * 64)

    assert "very-secret-key" not in str(raised.value)
    assert "127.0.0.1:9" in str(raised.value)
    assert time.monotonic() - started < 10


def test_describe_never_contains_credentials() -> None:
    store = open_store("s3://AKIA-SECRET-ID:very-secret-key@minio.internal:9000/archive?secure=false")

    for text in (store.describe(), repr(store)):
        assert "very-secret-key" not in text and "AKIA-SECRET-ID" not in text
        assert "minio.internal:9000" in text and "archive" in text


def test_protect_many_sets_the_retention_of_every_object_on_a_locked_bucket(
    locked_store: S3Store, s3_server: MotoS3Server | ExternalS3Server
) -> None:
    until = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    keys = [locked_store.put_bytes(f"certificate {n}".encode()).key for n in range(5)]
    locked_store.protect_many(keys, until)
    assert all(retention_of(s3_server, locked_store.bucket, key)[1] >= until for key in keys)
