"""open_store(url): which URLs give which store, and which are refused."""
from __future__ import annotations

from pathlib import Path

import pytest

from storage import FileStore, InvalidStoreURL, S3Store, open_store


def test_file_url_opens_a_filesystem_store_at_that_path(tmp_path: Path) -> None:
    store = open_store((tmp_path / "objects dir").as_uri())

    assert isinstance(store, FileStore)
    assert store.root == tmp_path / "objects dir"
    assert (tmp_path / "objects dir" / ".tmp").is_dir()


@pytest.mark.parametrize(
    "url",
    ["ftp://host/objects", "objects", "/abs/objects", "gs://bucket", "S4://x/y", ""],
)
def test_unknown_scheme_is_refused(url: str) -> None:
    with pytest.raises(InvalidStoreURL, match="unknown store URL scheme"):
        open_store(url)


@pytest.mark.parametrize(
    "url",
    ["file://relative/objects", "file://otherhost/objects", "file:///abs?x=1"],
)
def test_file_url_must_be_a_local_absolute_path(url: str) -> None:
    with pytest.raises(InvalidStoreURL):
        open_store(url)


@pytest.mark.parametrize(
    "url",
    [
        "s3://key:secret@127.0.0.1:9000",
        "s3://key:secret@127.0.0.1:9000/",
        "s3://key:secret@127.0.0.1:9000/bucket/sub",
        "s3:///bucket",
        "s3://127.0.0.1:port/bucket",
        "s3://127.0.0.1:9000/bucket?secure=maybe",
        "s3://127.0.0.1:9000/bucket?colour=blue",
        "s3://127.0.0.1:9000/bucket?region=a&region=b",
        "s3://127.0.0.1:9000/bucket?retention=forever",
    ],
)
def test_malformed_s3_url_is_refused(url: str) -> None:
    with pytest.raises(InvalidStoreURL):
        open_store(url)


def test_s3_url_options_are_read() -> None:
    store = open_store(
        "s3://AK%2FID:se%40cret@minio.local:9000/archive?secure=false&region=eu-west-1&retention=COMPLIANCE"
    )

    assert isinstance(store, S3Store)
    assert store.bucket == "archive"
    assert store.describe() == "s3 bucket archive at http://minio.local:9000"
    assert "se@cret" not in repr(store) and "AK/ID" not in repr(store)


def test_s3_url_is_secure_unless_told_otherwise() -> None:
    store = open_store("s3://minio.local/archive")

    assert store.describe() == "s3 bucket archive at https://minio.local"
