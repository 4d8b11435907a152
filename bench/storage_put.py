"""Put throughput of the object stores: 1,000 small objects into the filesystem store and into
the S3 store (moto's server on loopback, or DMS_TEST_S3_ENDPOINT), each against baselines in
the same run: plain file writes (no hashing, no fsync), file writes with an fsync each, and raw
MinIO put_object calls.

    .venv/bin/python bench/storage_put.py [--count 1000] [--size 65536]
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from collections.abc import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import S3Store, open_store  # noqa: E402
from tests.s3server import start_s3_test_server  # noqa: E402


def measure(label: str, payloads: list[bytes], put: Callable[[bytes], object]) -> float:
    started = time.perf_counter()
    for data in payloads:
        put(data)
    elapsed = time.perf_counter() - started
    megabytes = sum(map(len, payloads)) / 1e6
    print(f"{label:<38} {len(payloads) / elapsed:9.0f} objects/s {megabytes / elapsed:8.1f} MB/s")
    return elapsed


def write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64 * 1024, help="bytes per object")
    arguments = parser.parse_args()
    payloads = [os.urandom(arguments.size) for _ in range(arguments.count)]
    print(f"{arguments.count} objects of {arguments.size} bytes, {os.cpu_count()} cores")

    with tempfile.TemporaryDirectory() as scratch:
        plain = Path(scratch) / "plain"
        plain.mkdir()
        names = iter(range(len(payloads)))
        baseline_fs = measure(
            "baseline: plain file writes", payloads, lambda d: (plain / str(next(names))).write_bytes(d)
        )
        synced = Path(scratch) / "synced"
        synced.mkdir()
        names = iter(range(len(payloads)))
        baseline_sync = measure(
            "baseline: file writes + fsync", payloads, lambda d: write_synced(synced / str(next(names)), d)
        )
        fs_store = open_store((Path(scratch) / "objects").as_uri())
        fs = measure("FileStore.put (hash + fsync + link)", payloads, fs_store.put_bytes)
        print(f"{'  FileStore / plain writes time':<38} {fs / baseline_fs:9.1f}x")
        print(f"{'  FileStore / writes + fsync time':<38} {fs / baseline_sync:9.1f}x")

    server = start_s3_test_server()
    try:
        raw = server.client()
        raw_store = open_store(server.create_bucket())
        assert isinstance(raw_store, S3Store)
        raw_bucket = raw_store.bucket
        names = iter(range(len(payloads)))
        baseline_s3 = measure(
            "baseline: raw minio put_object",
            payloads,
            lambda d: raw.put_object(raw_bucket, f"raw-{next(names)}", io.BytesIO(d), len(d)),
        )
        s3_store = open_store(server.create_bucket())
        s3 = measure(f"S3Store.put ({type(server).__name__})", payloads, s3_store.put_bytes)
        print(f"{'  S3Store / baseline time':<38} {s3 / baseline_s3:9.1f}x")
        s3_again = measure("S3Store.put of bytes already stored", payloads, s3_store.put_bytes)
        print(f"{'  repeat / first put time':<38} {s3_again / s3:9.2f}x")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
