"""Issue 17.2: a store that refuses, hangs or is full fails fast with StoreUnavailable / StoreFull (which the web
app answers 503 / 507), never with minutes of retries."""
from __future__ import annotations

import errno
import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import FileStore, S3Store, StorageError, StoreFull, StoreUnavailable, open_store
from storage.errors import from_os_error

KEY = "ab" * 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def frozen_server() -> Iterator[int]:
    """Accepts connections and never answers (a hung S3 server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


def _s3(port: int, **options: str) -> S3Store:
    query = "&".join(["secure=false", "region=us-east-1", *(f"{k}={v}" for k, v in options.items())])
    store = open_store(f"s3://k:s@127.0.0.1:{port}/bucket?{query}")
    assert isinstance(store, S3Store)
    return store


def test_a_refusing_s3_store_fails_at_once_with_store_unavailable() -> None:
    store = _s3(_free_port())
    started = time.perf_counter()
    with pytest.raises(StoreUnavailable) as caught:
        store.stat(KEY)
    assert time.perf_counter() - started < 3  # connect refused, one retry: no minutes of backoff
    assert caught.value.retry_after >= 1


def test_a_frozen_s3_store_is_given_up_after_its_read_timeout_and_then_skipped_by_the_breaker(
        frozen_server: int) -> None:
    store = _s3(frozen_server, read_timeout="0.5", connect_timeout="0.5")
    started = time.perf_counter()
    with pytest.raises(StoreUnavailable):
        store.open(KEY)
    first = time.perf_counter() - started
    assert first < 1.2, first  # read timeout 0.5 s, and a timed-out read is not retried
    started = time.perf_counter()
    with pytest.raises(StoreUnavailable) as caught:
        store.put(io.BytesIO(b"data"))
    assert time.perf_counter() - started < 0.2  # the breaker answers at once while the store was just found down
    assert "failed less than" in str(caught.value)


def test_the_default_timeouts_are_short() -> None:
    from storage import s3
    assert s3.CONNECT_TIMEOUT_SECONDS <= 2 and s3.READ_TIMEOUT_SECONDS <= 10 and s3.RETRIES <= 1


def test_bad_timeout_options_are_refused() -> None:
    with pytest.raises(StorageError):
        open_store("s3://k:s@127.0.0.1:9/b?read_timeout=never")


def test_a_full_disk_is_store_full(fs_store: FileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StoreFull) as caught:
        fs_store.put(io.BytesIO(b"no room"))
    assert isinstance(caught.value, StoreUnavailable) and caught.value.retry_after == 60


def test_a_removed_store_directory_is_store_unavailable(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    store = FileStore(root)
    (root / ".tmp").rmdir()
    root.rmdir()
    with pytest.raises(StoreUnavailable):
        list(store.list())


@pytest.mark.parametrize(("code", "kind"), [(errno.ENOSPC, StoreFull), (errno.EDQUOT, StoreFull),
                                            (errno.EIO, StoreUnavailable), (errno.EROFS, StoreUnavailable),
                                            (errno.EEXIST, StorageError)])
def test_os_errors_map_to_full_unavailable_or_plain(code: int, kind: type) -> None:
    error = from_os_error(OSError(code, os.strerror(code)), "x")
    assert type(error) is kind


def test_check_passes_on_a_working_store_and_names_a_missing_directory_or_bucket(
        store: FileStore | S3Store, tmp_path: Path) -> None:
    store.check()
    if isinstance(store, FileStore):
        (store.root / ".tmp").rmdir()
        with pytest.raises(StoreUnavailable):
            store.check()
        return
    missing = open_store(f"s3://testing:testing@{store._settings.endpoint}/no-such-bucket?secure=false")
    with pytest.raises(StorageError, match="NoSuchBucket"):
        missing.check()
    with pytest.raises(StoreUnavailable):
        _s3(_free_port()).check()


def test_after_the_breaker_window_one_call_probes_a_hung_store_while_the_others_fail_at_once(
        frozen_server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from storage import s3
    monkeypatch.setattr(s3, "BREAKER_SECONDS", 0.2)
    store = _s3(frozen_server, read_timeout="1", connect_timeout="0.5")
    with pytest.raises(StoreUnavailable):
        store.stat(KEY)
    time.sleep(0.3)  # the window has passed: the next call probes
    probe_result: list[BaseException] = []

    def probe() -> None:
        try:
            store.stat(KEY)
        except StoreUnavailable as exc:
            probe_result.append(exc)

    prober = threading.Thread(target=probe)
    prober.start()
    time.sleep(0.2)  # the probe is waiting on the hung server now
    started = time.perf_counter()
    for _ in range(5):
        with pytest.raises(StoreUnavailable, match="failed less than"):
            store.exists(KEY)
    assert time.perf_counter() - started < 0.2  # others do not wait beside the probe
    prober.join(5)
    assert probe_result and "timed out" in str(probe_result[0]).lower()


def test_an_answer_closes_the_breaker(s3_store: S3Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from storage import s3
    monkeypatch.setattr(s3, "BREAKER_SECONDS", 0.1)
    s3_store._unavailable("simulated outage")
    with pytest.raises(StoreUnavailable):
        s3_store.exists(KEY)
    time.sleep(0.15)
    assert s3_store.exists(KEY) is False  # the probe got an answer (no such object): closed again
    assert s3_store.exists(KEY) is False
