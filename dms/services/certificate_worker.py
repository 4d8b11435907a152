"""Worker processes of a batch issue: each renders a certificate PDF and signs it, with the fonts and the signer's
key loaded once per process. Kept free of Flask and the database so that spawning a worker stays cheap."""
from __future__ import annotations

from signing.batch import BatchSigner
from signing.errors import SigningLibraryError
from signing.pades import SignRequest
from signing.signer import SignerIdentity

from .. import pdfrender

_BATCH: BatchSigner | None = None


def init(certificate_der: bytes, key_der: bytes, chain_der: list[bytes], request: SignRequest) -> None:
    global _BATCH
    _BATCH = BatchSigner(SignerIdentity.from_der(certificate_der, key_der, chain_der), request, workers=0)
    pdfrender.load_fonts()


def produce(spec: pdfrender.CertificateSpec) -> bytes | SigningLibraryError:
    assert _BATCH is not None, "init() first"
    try:
        return _BATCH.sign_one(pdfrender.render_certificate_pdf(spec))
    except SigningLibraryError as exc:
        return exc
