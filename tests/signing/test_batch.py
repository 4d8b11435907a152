from __future__ import annotations

from signing.batch import BatchSigner
from signing.errors import NotAPdf
from signing.pades import Level, SignRequest
from signing.validate import validate_pdf

from .helpers import make_pdf


def test_batch_reserves_the_signature_size_once_and_every_document_validates(pki):
    pdfs = [make_pdf(f"Свидетельство № {i}") for i in range(6)]
    with BatchSigner(pki.agency_signer, SignRequest(level=Level.B_T, timestamper=pki.tsa), workers=0) as batch:
        reserved = batch.request.bytes_reserved
        signed = batch.sign_many(pdfs)
    assert reserved is not None and reserved % 2 == 0
    for original, result in zip(pdfs, signed, strict=True):
        assert isinstance(result, bytes) and result.startswith(original)
        [signature] = validate_pdf(result, pki.trust).signatures
        assert (signature.status, signature.level) == ("valid", "B-T")


def test_a_refused_document_does_not_stop_the_batch_of_worker_processes(pki):
    pdfs = [make_pdf("Свидетельство № 1"), b"not a pdf at all", make_pdf("Свидетельство № 2")]
    with BatchSigner(pki.agency_signer, SignRequest(level=Level.B_T, timestamper=pki.tsa), workers=2) as batch:
        first, refused, last = batch.sign_many(pdfs, chunksize=1)
    assert isinstance(refused, NotAPdf) and "PDF" in str(refused)
    assert validate_pdf(first, pki.trust).authentic and validate_pdf(last, pki.trust).authentic


def test_signing_and_validation_work_from_inside_a_running_event_loop(pki):
    """An async server or Playwright's sync API keeps a loop running in the calling thread; the synchronous API
    must still sign (one-off and batch, with a time-stamp) and validate there."""
    import asyncio

    from signing.pades import sign_pdf

    async def inside_a_loop() -> tuple[bytes, bytes]:
        one = sign_pdf(make_pdf("Приказ"), pki.agency_signer, SignRequest(level=Level.B_T, timestamper=pki.tsa))
        with BatchSigner(pki.agency_signer, SignRequest(level=Level.B_T, timestamper=pki.tsa), workers=0) as batch:
            [many] = batch.sign_many([make_pdf("Свидетельство")])
        assert validate_pdf(one, pki.trust).authentic
        return one, many

    one, many = asyncio.run(inside_a_loop())
    for signed in (one, many):
        [signature] = validate_pdf(signed, pki.trust).signatures
        assert (signature.status, signature.level) == ("valid", "B-T")
