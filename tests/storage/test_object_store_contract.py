"""The contract every object store keeps; each test runs on the filesystem and the S3 store."""
from __future__ import annotations

import hashlib
import io
import os
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, UTC

import pytest

from storage import ChecksumMismatch, InvalidKey, ObjectNotFound, ObjectStore

from .conftest import Corrupter, temp_files_of
from .streams import FailingStream, GeneratedStream

MiB = 1024 * 1024


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    "size",
    [0, 1, 1000, 6 * MiB + 7],  # 6 MiB goes out in several parts on S3
    ids=["empty", "one-byte", "small", "multi-part"],
)
def test_round_trip_is_byte_identical(store: ObjectStore, size: int) -> None:
    data = os.urandom(size)

    info = store.put(io.BytesIO(data))

    assert info.key == info.sha256 == sha256_of(data)
    assert info.size == size
    assert info.existed is False
    assert store.get_bytes(info.key) == data
    with store.open(info.key) as stream:
        assert b"".join(iter(lambda: stream.read(64 * 1024), b"")) == data


def test_open_reads_the_requested_number_of_bytes(store: ObjectStore) -> None:
    data = os.urandom(300_000)
    key = store.put_bytes(data).key

    with store.open(key) as stream:
        assert stream.read(10) == data[:10]
        assert stream.read(100_000) == data[10:100_010]
        assert stream.read() == data[100_010:]
        assert stream.read(1) == b""


def test_identical_bytes_are_stored_once(store: ObjectStore) -> None:
    data = os.urandom(5000)

    first = store.put_bytes(data)
    second = store.put(io.BytesIO(data))

    assert second.key == first.key
    assert (first.existed, second.existed) == (False, True)
    assert [info.key for info in store.list()].count(first.key) == 1
    assert store.get_bytes(first.key) == data


def test_corrupted_object_is_detected_on_read(store: ObjectStore, corrupt: Corrupter) -> None:
    data = os.urandom(200_000)
    key = store.put_bytes(data).key
    damaged = bytearray(data)
    damaged[123_456] ^= 0x01
    corrupt(store, key, bytes(damaged))

    with pytest.raises(ChecksumMismatch, match=f"object {key} .* is corrupted"), store.open(key) as stream:
        while stream.read(8192):
            pass
    with pytest.raises(ChecksumMismatch, match=key):
        store.get_bytes(key)


@pytest.mark.parametrize("damage", ["flipped-bit", "truncated", "emptied"])
def test_corrupted_object_is_detected_by_verify(
    store: ObjectStore, corrupt: Corrupter, damage: str
) -> None:
    data = os.urandom(50_000)
    key = store.put_bytes(data).key
    damaged = {
        "flipped-bit": data[:-1] + bytes([data[-1] ^ 0x80]),
        "truncated": data[:-1],
        "emptied": b"",
    }[damage]
    store.verify(key)

    corrupt(store, key, damaged)

    with pytest.raises(ChecksumMismatch, match=key):
        store.verify(key)


def test_put_repairs_an_object_of_the_wrong_size(store: ObjectStore, corrupt: Corrupter) -> None:
    data = os.urandom(10_000)
    key = store.put_bytes(data).key
    corrupt(store, key, data[:5000])

    info = store.put_bytes(data)

    assert not info.existed
    assert store.get_bytes(key) == data


def test_expected_sha256_mismatch_stores_nothing(store: ObjectStore) -> None:
    data = os.urandom(10_000)
    wrong = sha256_of(b"something else")

    with pytest.raises(ChecksumMismatch, match="nothing was stored"):
        store.put(io.BytesIO(data), expected_sha256=wrong)

    assert not store.exists(sha256_of(data))
    assert not store.exists(wrong)
    assert sha256_of(data) not in {info.key for info in store.list()}
    assert temp_files_of(store) == []


@pytest.mark.parametrize("expected_size", [0, 9_999, 10_001])
def test_expected_size_mismatch_stores_nothing(store: ObjectStore, expected_size: int) -> None:
    data = os.urandom(10_000)

    with pytest.raises(ChecksumMismatch, match="nothing was stored"):
        store.put(io.BytesIO(data), expected_size=expected_size)

    assert not store.exists(sha256_of(data))
    assert temp_files_of(store) == []


def test_matching_expectations_are_accepted_in_any_letter_case(store: ObjectStore) -> None:
    data = os.urandom(1000)

    info = store.put(io.BytesIO(data), expected_sha256=sha256_of(data).upper(), expected_size=1000)

    assert info.key == sha256_of(data)


def test_failed_upload_stores_nothing_and_leaves_no_temp_file(store: ObjectStore) -> None:
    with pytest.raises(ConnectionResetError):
        store.put(FailingStream(good_bytes=3 * MiB))

    assert list(store.list()) == []
    assert temp_files_of(store) == []


INVALID_KEYS = [
    "../etc/passwd",
    "../../" + "a" * 58,
    "ab/cd/" + "a" * 58,
    "",
    "a" * 63,
    "a" * 65,
    "A" * 64,
    "g" * 64,
    "a" * 64 + "\n",
    " " + "a" * 63,
    "a" * 32 + "\x00" + "a" * 31,
    None,
    b"a" * 64,
    64,
]
KEYED_CALLS = {
    "open": lambda store, key: store.open(key),
    "get_bytes": lambda store, key: store.get_bytes(key),
    "stat": lambda store, key: store.stat(key),
    "exists": lambda store, key: store.exists(key),
    "delete": lambda store, key: store.delete(key),
    "verify": lambda store, key: store.verify(key),
    "protect": lambda store, key: store.protect(key, datetime.now(UTC) + timedelta(days=1)),
    "expected_sha256": lambda store, key: store.put(io.BytesIO(b"x"), expected_sha256=key),
}


@pytest.mark.parametrize("call", KEYED_CALLS.values(), ids=KEYED_CALLS.keys())
def test_invalid_keys_are_refused(store: ObjectStore, call) -> None:
    for key in INVALID_KEYS:
        if call is KEYED_CALLS["expected_sha256"] and key in (None, "A" * 64):
            continue  # no expectation; an expected digest may be in upper case
        with pytest.raises(InvalidKey):
            call(store, key)
    assert list(store.list()) == []


@pytest.mark.parametrize("call", ["open", "get_bytes", "stat", "verify", "protect"])
def test_missing_object_raises_not_found(store: ObjectStore, call: str) -> None:
    missing = sha256_of(b"never stored")

    with pytest.raises(ObjectNotFound, match=missing):
        KEYED_CALLS[call](store, missing)
    assert store.exists(missing) is False


def test_delete_is_idempotent(store: ObjectStore) -> None:
    kept = store.put_bytes(b"kept").key
    key = store.put_bytes(b"deleted").key

    store.delete(key)
    store.delete(key)
    store.delete(sha256_of(b"never stored"))

    assert not store.exists(key)
    with pytest.raises(ObjectNotFound):
        store.stat(key)
    assert store.get_bytes(kept) == b"kept"


def test_list_shows_every_object_with_its_size_and_modified_time(store: ObjectStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    payloads = [os.urandom(size) for size in (0, 10, 70_000)]
    for data in payloads:
        store.put_bytes(data)
    after = datetime.now(UTC) + timedelta(seconds=2)

    listed = {info.key: info for info in store.list()}

    for data in payloads:
        info = listed[sha256_of(data)]
        assert info.size == len(data)
        assert info.modified.tzinfo is not None and info.modified.utcoffset() == timedelta(0)
        assert before <= info.modified <= after
        assert store.stat(info.key).size == len(data)


def test_stat_reports_size_digest_and_utc_time(store: ObjectStore) -> None:
    data = os.urandom(4321)
    put = store.put_bytes(data)

    info = store.stat(put.key)

    assert (info.key, info.sha256, info.size) == (put.key, sha256_of(data), 4321)
    assert info.modified.utcoffset() == timedelta(0)
    assert abs(info.modified - put.modified) < timedelta(seconds=2)


def test_large_stream_put_keeps_memory_bounded(store: ObjectStore) -> None:
    size = 64 * MiB
    stream = GeneratedStream(size)

    tracemalloc.start()
    try:
        info = store.put(stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert info.size == size
    assert info.key == stream.sha256
    assert peak < size / 4, f"peak Python memory {peak / MiB:.1f} MiB for a {size // MiB} MiB put"
    store.verify(info.key)


def test_concurrent_puts_of_the_same_bytes_are_safe(store: ObjectStore) -> None:
    data = os.urandom(3 * MiB)
    start = threading.Barrier(6)

    def put_after_barrier(_: int):
        start.wait()
        return store.put_bytes(data)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(put_after_barrier, range(6)))

    assert {info.key for info in results} == {sha256_of(data)}
    assert [info.existed for info in results].count(False) == 1
    assert [info.key for info in store.list()] == [sha256_of(data)]
    assert store.get_bytes(sha256_of(data)) == data
    assert temp_files_of(store) == []


def test_describe_names_the_store(store: ObjectStore) -> None:
    description = store.describe()

    assert description
    assert description in repr(store)


def test_protect_many_protects_every_object_and_names_a_missing_one(store: ObjectStore) -> None:
    """A batch's objects protected together: where the store can keep a retention (protect() answers True) each
    refuses deletion until it ends; a missing key is an ObjectNotFound, the others protected all the same."""
    from storage import ObjectProtected

    until = datetime.now(UTC) + timedelta(days=1)
    keys = [store.put_bytes(f"batch object {n}".encode()).key for n in range(12)]
    can_keep = store.protect(keys[0], until)
    store.protect_many(keys, until)
    others = [store.put_bytes(f"second batch {n}".encode()).key for n in range(3)]
    missing = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(ObjectNotFound):
        store.protect_many([others[0], missing, *others[1:]], until)
    for key in keys + others:
        if can_keep:
            with pytest.raises(ObjectProtected):
                store.delete(key)
        else:
            assert store.exists(key)
