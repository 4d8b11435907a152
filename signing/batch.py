"""Fast batches: the key stays loaded, the signature size is reserved once, two processes sign.

Plain pyHanko re-parses the private key and signs every document twice (once to size the
signature); here each worker loads the key once and signs each document once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import io
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

from . import aio
from .errors import SigningLibraryError
from .pades import SignRequest, async_sign_into
from .signer import SignerIdentity
from .tsa import timestamper_for

# Room for the variable parts of a signature container: ECDSA signatures and time-stamp tokens
# differ by a few bytes from one signature to the next.
SIZE_MARGIN = 512


async def _container_size(signer: SignerIdentity, request: SignRequest) -> int:
    pyhanko_signer = signer.pyhanko_signer()
    timestamper = timestamper_for(request.timestamper) if request.timestamper and request.level != "B-B" else None
    digest = "sha256"
    container = await pyhanko_signer.async_sign(
        data_digest=bytes(32),
        digest_algorithm=digest,
        use_pades=True,
        timestamper=timestamper,
        signed_attr_settings=PdfCMSSignedAttributes(),
    )
    return len(container.dump())


class BatchSigner:
    """Signs many PDFs for one signer with one request; ``workers=0`` signs in this process."""

    def __init__(self, signer: SignerIdentity, request: SignRequest, *, workers: int = 2) -> None:
        self.signer = signer
        self._loop = asyncio.new_event_loop()
        if request.bytes_reserved is None:
            size = aio.run_on(self._loop, _container_size(signer, request)) + SIZE_MARGIN
            # pyHanko counts the reservation in hex digits: two per byte of the container
            request = replace(request, bytes_reserved=2 * size)
        self.request = request
        self._pool: ProcessPoolExecutor | None = None
        if workers > 0:
            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=worker_context(),
                initializer=_init_worker,
                initargs=(signer.certificate_der, signer.private_key_der(), signer.chain_der, request, os.getpid()),
            )

    def sign_one(self, pdf: bytes) -> bytes:
        """Sign one PDF in this process, with the kept key and the reserved size."""
        output = io.BytesIO()
        aio.run_on(self._loop, async_sign_into(io.BytesIO(pdf), output, self.signer, self.request))
        return output.getvalue()

    def sign_many(self, pdfs: Iterable[bytes], chunksize: int = 8) -> list[bytes | SigningLibraryError]:
        """Sign every PDF; a refused document yields its error in place, the others still get signed."""
        if self._pool is None:
            return [_sign_or_error(self.sign_one, pdf) for pdf in pdfs]
        return list(self._pool.map(_worker_sign, pdfs, chunksize=chunksize))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._loop.close()

    def __enter__(self) -> BatchSigner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def worker_context(preload: Iterable[str] = ()) -> multiprocessing.context.BaseContext:
    """The start method of signing worker processes: a fork server where there is one (POSIX).

    "spawn" starts every worker as a fresh interpreter that re-imports the parent's main module -- for the
    application that is all of it (the CLI or the web app), seconds of CPU per worker on a loaded machine, paid
    again by every batch (the stall of issue 20). The fork server is a clean process (no keys, threads or database
    connections) started once per parent process with ``preload`` imported; each worker is a fork of it, ready in
    milliseconds. Workers get the key only through the pool's initializer, as before."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # One fork server per process, started by the first pool with the preload list of that moment: the union of
    # every list asked for so far (a caller that may come first should ask for everything it will need).
    _PRELOAD.update(preload)
    context.set_forkserver_preload(sorted(_PRELOAD))
    return context


_PRELOAD: set[str] = {__name__}


def preload_stamp_font() -> None:
    """Parse the stamp's TrueType font now: for a fork server, so that every worker forked from it has it.

    A worker otherwise parses it at its first visible-stamp signature -- 0.24 s on a quiet machine, 0.4-0.5 s
    loaded, in every worker of every batch (workers live for one batch): a fifth of a 50-row batch's budget.
    A missing font is left for the signature to report."""
    from . import stamp

    with contextlib.suppress(SigningLibraryError, OSError):
        stamp._register_font()


_PR_SET_PDEATHSIG = 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed parent not yet reaped by its own parent is a zombie: dead for us
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def die_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """Make this worker process end when the process that started the batch ends, however it ends (kill -9, OOM):
    a worker holding a decrypted signing key never outlives its batch. On Linux the kernel sends SIGKILL when the
    parent (the fork server, which itself ends with the batch process) dies; everywhere a watchdog thread checks
    the batch process's pid and exits."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    def watch() -> None:
        while _alive(parent_pid):
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _sign_or_error(sign: object, pdf: bytes) -> bytes | SigningLibraryError:
    try:
        return sign(pdf)  # type: ignore[operator]
    except SigningLibraryError as exc:
        return exc


_WORKER: BatchSigner | None = None


def _init_worker(certificate_der: bytes, key_der: bytes, chain_der: list[bytes], request: SignRequest,
                 parent_pid: int | None = None) -> None:
    global _WORKER
    if parent_pid is not None:
        die_with_parent(parent_pid)
    _WORKER = BatchSigner(SignerIdentity.from_der(certificate_der, key_der, chain_der), request, workers=0)


def _worker_sign(pdf: bytes) -> bytes | SigningLibraryError:
    assert _WORKER is not None
    return _sign_or_error(_WORKER.sign_one, pdf)
