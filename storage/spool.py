"""Copy an incoming stream to a temporary file in chunks while hashing it."""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from collections.abc import Iterator

from .errors import ChecksumMismatch, from_os_error

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class SpooledUpload:
    path: Path
    sha256: str
    size: int


def spool(
    stream: BinaryIO,
    directory: Path | None,
    *,
    expected_sha256: str | None,
    expected_size: int | None,
    durable: bool,
) -> SpooledUpload:
    """Write `stream` to a new temporary file in `directory` and return its digest and size.

    Memory use is one chunk whatever the size. If the bytes do not match `expected_sha256`
    or `expected_size`, the temporary file is removed and ChecksumMismatch is raised; reading
    stops as soon as the stream grows past `expected_size`. With `durable`, the file is
    fsynced before this returns. The caller owns (and must remove) the returned file.
    """
    with _local_disk(directory):
        handle, name = tempfile.mkstemp(prefix="upload-", dir=directory)
    path = Path(name)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(handle, "wb") as out:
            while chunk := stream.read(CHUNK_SIZE):  # the caller's stream errors pass unchanged
                size += len(chunk)
                if expected_size is not None and size > expected_size:
                    raise ChecksumMismatch(
                        f"upload rejected: more than the expected {expected_size} bytes arrived; "
                        "nothing was stored"
                    )
                digest.update(chunk)
                with _local_disk(directory):
                    out.write(chunk)
            with _local_disk(directory):
                out.flush()
                if durable:
                    os.fsync(out.fileno())
        _check_expectations(digest.hexdigest(), size, expected_sha256, expected_size)
        return SpooledUpload(path, digest.hexdigest(), size)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _local_disk(directory: Path | None) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        place = directory or tempfile.gettempdir()
        raise from_os_error(error, f"cannot spool the upload to {place}: {error.strerror or error}") from error


def _check_expectations(
    sha256: str, size: int, expected_sha256: str | None, expected_size: int | None
) -> None:
    if expected_size is not None and size != expected_size:
        raise ChecksumMismatch(
            f"upload rejected: expected {expected_size} bytes but {size} arrived; nothing was stored"
        )
    if expected_sha256 is not None and sha256 != expected_sha256:
        raise ChecksumMismatch(
            f"upload rejected: expected sha256 {expected_sha256} but the bytes hash to {sha256}; "
            "nothing was stored",
            key=expected_sha256,
        )
