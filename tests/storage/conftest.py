"""Fixtures for the object store contract tests: every `store` test runs on the filesystem
store and on the S3 store (moto's server on loopback, or DMS_TEST_S3_ENDPOINT)."""
from __future__ import annotations

import io
import os
from pathlib import Path
from collections.abc import Callable, Iterator

import pytest

from storage import FileStore, ObjectStore, S3Store, open_store
from tests.s3server import ExternalS3Server, MotoS3Server, start_s3_test_server

Corrupter = Callable[[ObjectStore, str, bytes], None]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoS3Server | ExternalS3Server]:
    server = start_s3_test_server()
    yield server
    server.stop()


@pytest.fixture
def fs_store(tmp_path: Path) -> FileStore:
    store = open_store((tmp_path / "objects").as_uri())
    assert isinstance(store, FileStore)
    return store


@pytest.fixture
def s3_store(s3_server: MotoS3Server | ExternalS3Server, tmp_path: Path) -> S3Store:
    spool = tmp_path / "spool"
    spool.mkdir()
    url = s3_server.create_bucket()
    store = open_store(f"{url}{'&' if '?' in url else '?'}spool_dir={spool}")
    assert isinstance(store, S3Store)
    return store


@pytest.fixture(params=["fs", "s3"])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture
def corrupt(request: pytest.FixtureRequest) -> Corrupter:
    """Replaces the bytes stored under a key behind the store's back."""

    def corrupt_object(store: ObjectStore, key: str, data: bytes) -> None:
        if isinstance(store, FileStore):
            path = store.path_of(key)
            path.chmod(0o644)
            path.write_bytes(data)
            return
        assert isinstance(store, S3Store)
        server = request.getfixturevalue("s3_server")
        server.client().put_object(
            store.bucket, key, io.BytesIO(data), len(data), metadata={"sha256": key}
        )

    return corrupt_object


def temp_files_of(store: ObjectStore) -> list[str]:
    """Leftover upload files in the store's spool directory."""
    directory = store.root / ".tmp" if isinstance(store, FileStore) else store.spool_dir
    assert directory is not None
    return os.listdir(directory)
