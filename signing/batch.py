"""Fast batches: the key stays loaded, the signature size is reserved once, two processes sign.

Plain pyHanko re-parses the private key and signs every document twice (once to size the
signature); here each worker loads the key once and signs each document once.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
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
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(signer.certificate_der, signer.private_key_der(), signer.chain_der, request),
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


def _sign_or_error(sign: object, pdf: bytes) -> bytes | SigningLibraryError:
    try:
        return sign(pdf)  # type: ignore[operator]
    except SigningLibraryError as exc:
        return exc


_WORKER: BatchSigner | None = None


def _init_worker(certificate_der: bytes, key_der: bytes, chain_der: list[bytes], request: SignRequest) -> None:
    global _WORKER
    _WORKER = BatchSigner(SignerIdentity.from_der(certificate_der, key_der, chain_der), request, workers=0)


def _worker_sign(pdf: bytes) -> bytes | SigningLibraryError:
    assert _WORKER is not None
    return _sign_or_error(_WORKER.sign_one, pdf)
