"""Worker processes of a batch issue: each renders a certificate PDF and signs it, with the fonts and the signer's
key loaded once per process. Kept free of Flask and the database so that spawning a worker stays cheap."""
from __future__ import annotations

from signing.batch import BatchSigner, die_with_parent, preload_stamp_font
from signing.errors import SigningLibraryError
from signing.pades import SignRequest
from signing.signer import SignerIdentity

from dms import pdfrender

_BATCH: BatchSigner | None = None


def _preload_fonts() -> None:
    """Fonts are parsed and slimmed once, here, at import: the fork server imports this module, so every worker
    forked from it starts with them (loading them per worker took longer than signing a 50-row batch). The same
    for the signature stamp's font, else parsed by each worker at its first signature (issue 20)."""
    import contextlib
    with contextlib.suppress(Exception):  # missing fonts are reported by init(), where a batch can say so
        pdfrender.load_fonts()
    preload_stamp_font()


_preload_fonts()


def init(certificate_der: bytes, key_der: bytes, chain_der: list[bytes], request: SignRequest,
         parent_pid: int | None = None) -> None:
    global _BATCH
    if parent_pid is not None:
        die_with_parent(parent_pid)  # the decrypted key never outlives the batch process (kill -9 included)
    _BATCH = BatchSigner(SignerIdentity.from_der(certificate_der, key_der, chain_der), request, workers=0)
    pdfrender.load_fonts()


def rendered(item: pdfrender.CertificateSpec | bytes) -> bytes:
    """The certificate's PDF: rendered from its spec, or as the batch process already rendered it."""
    return item if isinstance(item, bytes) else pdfrender.render_certificate_pdf(item)


def produce(item: pdfrender.CertificateSpec | bytes) -> bytes | SigningLibraryError:
    assert _BATCH is not None, "init() first"
    try:
        return _BATCH.sign_one(rendered(item))
    except SigningLibraryError as exc:
        return exc
