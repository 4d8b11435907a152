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
