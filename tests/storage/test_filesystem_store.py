"""Rules specific to the filesystem store: layout, atomic writes, retention records."""
from __future__ import annotations

import hashlib
import io
import os
import stat
import time
from datetime import datetime, timedelta, UTC
from pathlib import Path

import pytest

from storage import FileStore, ObjectProtected, StorageError

from .streams import FailingStream


def test_objects_are_laid_out_by_the_first_four_hex_digits(fs_store: FileStore) -> None:
    key = fs_store.put_bytes(b"layout").key

    assert (fs_store.root / key[:2] / key[2:4] / key).read_bytes() == b"layout"
    assert fs_store.path_of(key) == fs_store.root / key[:2] / key[2:4] / key


def test_path_traversal_keys_never_touch_the_filesystem(fs_store: FileStore, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    before = sorted(str(p) for p in tmp_path.rglob("*"))

    for key in ["../victim", "../../victim", str(victim), "ab/../../victim"]:
        with pytest.raises(StorageError):
            fs_store.delete(key)

    assert victim.read_bytes() == b"keep me"
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_second_put_of_the_same_bytes_does_not_rewrite_the_file(fs_store: FileStore) -> None:
    key = fs_store.put_bytes(b"same bytes").key
    inode = fs_store.path_of(key).stat().st_ino

    again = fs_store.put_bytes(b"same bytes")

    assert again.existed
    assert fs_store.path_of(key).stat().st_ino == inode


def test_put_of_old_bytes_refreshes_the_modified_time(fs_store: FileStore) -> None:
    key = fs_store.put_bytes(b"orphan candidate").key
    long_ago = time.time() - 30 * 24 * 3600
    os.utime(fs_store.path_of(key), (long_ago, long_ago))

    info = fs_store.put_bytes(b"orphan candidate")

    assert info.existed
    assert datetime.now(UTC) - info.modified < timedelta(minutes=1)
    assert datetime.now(UTC) - fs_store.stat(key).modified < timedelta(minutes=1)


def test_failed_upload_removes_its_temp_file(fs_store: FileStore) -> None:
    with pytest.raises(ConnectionResetError):
        fs_store.put(FailingStream(good_bytes=2_500_000))

    assert os.listdir(fs_store.root / ".tmp") == []
    assert list(fs_store.list()) == []


def test_expected_size_stops_reading_an_oversized_stream_early(fs_store: FileStore) -> None:
    class CountingStream(io.BytesIO):
        bytes_read = 0

        def read(self, size: int = -1) -> bytes:
            chunk = super().read(size)
            self.bytes_read += len(chunk)
            return chunk

    stream = CountingStream(b"z" * (20 * 1024 * 1024))

    with pytest.raises(StorageError, match="more than the expected 1000 bytes"):
        fs_store.put(stream, expected_size=1000)

    assert stream.bytes_read <= 2 * 1024 * 1024


def test_protect_makes_the_file_read_only_and_refuses_delete(fs_store: FileStore) -> None:
    key = fs_store.put_bytes(b"signed order").key
    until = datetime.now(UTC) + timedelta(days=3650)

    assert fs_store.protect(key, until) is True

    assert stat.S_IMODE(fs_store.path_of(key).stat().st_mode) == 0o400
    with pytest.raises(ObjectProtected, match=key):
        fs_store.delete(key)
    assert fs_store.get_bytes(key) == b"signed order"


def test_delete_is_allowed_once_the_retention_has_passed(fs_store: FileStore) -> None:
    key = fs_store.put_bytes(b"old report").key
    fs_store.protect(key, datetime.now(UTC) - timedelta(seconds=1))

    fs_store.delete(key)

    assert not fs_store.exists(key)
    assert list(fs_store.path_of(key).parent.iterdir()) == []


def test_protect_never_shortens_a_retention(fs_store: FileStore) -> None:
    key = fs_store.put_bytes(b"agreement").key
    fs_store.protect(key, datetime.now(UTC) + timedelta(days=30))

    assert fs_store.protect(key, datetime.now(UTC) - timedelta(days=1)) is True

    with pytest.raises(ObjectProtected):
        fs_store.delete(key)


def test_list_ignores_files_that_are_not_objects(fs_store: FileStore) -> None:
    key = fs_store.put_bytes(b"real object").key
    fs_store.protect(key, datetime.now(UTC) + timedelta(days=1))
    (fs_store.root / ".tmp" / "upload-leftover").write_bytes(b"x")
    (fs_store.root / "notes.txt").write_bytes(b"x")
    (fs_store.path_of(key).parent / ("0" * 64)).write_bytes(b"misplaced")

    assert [info.key for info in fs_store.list()] == [key]


def test_root_must_be_an_absolute_path() -> None:
    with pytest.raises(StorageError, match="absolute"):
        FileStore("relative/objects")


def test_corruption_message_names_the_key_and_the_store(fs_store: FileStore) -> None:
    key = fs_store.put_bytes(b"certificate").key
    fs_store.path_of(key).write_bytes(b"certificatE")

    with pytest.raises(StorageError) as raised:
        fs_store.verify(key)

    message = str(raised.value)
    assert key in message and fs_store.describe() in message
    assert hashlib.sha256(b"certificatE").hexdigest() in message
