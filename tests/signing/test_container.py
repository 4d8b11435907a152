"""The PAdES signature container our signer assembles from pre-encoded parts (issue 20) is pyHanko's own."""

from __future__ import annotations

import hashlib

import pytest
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, Signer

from signing import aio
from signing.pades import Level, SignRequest, sign_pdf
from signing.pki import KeyAlgorithm, load_signer
from signing.stamp import StampPlacement
from signing.tsa import InProcessTimeStamper
from signing.validate import validate_pdf

from .helpers import PIN, make_pdf


class _SameTokenForSameDigest(InProcessTimeStamper):
    """Our TSA, answering the same digest with the same token: both containers get one token."""

    def __init__(self, authority) -> None:  # noqa: ANN001
        super().__init__(authority)
        self.tokens: dict[tuple[bytes, str], object] = {}

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str):  # noqa: ANN201
        key = (message_digest, md_algorithm)
        if key not in self.tokens:
            self.tokens[key] = await super().async_timestamp(message_digest, md_algorithm)
        return self.tokens[key]


@pytest.mark.parametrize("algorithm", [KeyAlgorithm.ECDSA_P256, KeyAlgorithm.RSA_2048])
def test_the_pades_container_assembled_from_parts_is_pyhankos_byte_for_byte(pki, algorithm, monkeypatch):
    credential = pki.ca.issue_user_certificate("Сидоров Пётр Ильич", PIN, algorithm=algorithm)
    signer = load_signer(credential, PIN, pki.ca.chain_der).pyhanko_signer()

    async def deterministic_signature(data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        return hashlib.sha512(data).digest()[: 71 if algorithm is KeyAlgorithm.ECDSA_P256 else 256]

    monkeypatch.setattr(signer, "async_sign_raw", deterministic_signature)
    timestamper = _SameTokenForSameDigest(pki.tsa)
    digest = hashlib.sha256(b"the document's byte ranges").digest()

    async def both() -> tuple[bytes, bytes]:
        arguments = dict(use_pades=True, timestamper=timestamper, signed_attr_settings=PdfCMSSignedAttributes())
        ours = await signer.async_sign(digest, "sha256", **arguments)
        theirs = await Signer.async_sign(signer, digest, "sha256", **arguments)
        return ours.dump(), theirs.dump()

    ours, theirs = aio.run(both())
    assert len(timestamper.tokens) == 1
    assert ours == theirs


def test_a_stamped_locked_pades_signature_from_parts_validates(pki):
    pdf = make_pdf("Свидетельство № 7")
    request = SignRequest(level=Level.B_T, timestamper=pki.tsa, lock=True, stamp=StampPlacement())
    signed = sign_pdf(pdf, pki.agency_signer, request)
    [signature] = validate_pdf(signed, pki.trust).signatures
    assert (signature.status, signature.level) == ("valid", "B-T")


def test_a_pades_signature_is_not_packaged_through_pyhankos_object_tree(pki, monkeypatch):
    """pyHanko's packaging re-encodes the certificates and names of every container (~60 % of a certificate's
    signing time); a PAdES signature of our signer never goes through it."""

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("packaged through pyHanko's asn1crypto object tree")

    monkeypatch.setattr(Signer, "_package_signature", refuse)
    monkeypatch.setattr(Signer, "signed_attrs", refuse)
    request = SignRequest(level=Level.B_T, timestamper=pki.tsa)
    signed = sign_pdf(make_pdf("Свидетельство № 8"), pki.agency_signer, request)
    assert validate_pdf(signed, pki.trust).signatures[0].status == "valid"


def test_a_time_stamp_tokens_certificate_set_is_der_sorted(pki):
    """ISO 32000 wants the signature's CMS object DER-encoded, the time-stamp token in it too: a SET OF in DER is
    sorted by the elements' encodings. (pyHanko re-sorted our token's certificates when it re-encoded every
    container; the container is now assembled from the token's own bytes.)"""
    from asn1crypto import tsp
    from cryptography.hazmat.primitives import serialization

    from signing.tsa import TimeStampAuthority

    der = serialization.Encoding.DER
    chain = sorted([pki.ca.issuing.certificate, pki.ca.root.certificate], key=lambda c: c.public_bytes(der),
                   reverse=True)  # whatever the TSA's own encoding, [TSA, larger, smaller] is not in order
    authority = TimeStampAuthority(pki.ca.tsa.certificate, pki.ca.tsa.key, chain)
    request = tsp.TimeStampReq({"version": "v1", "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                                                                    "hashed_message": bytes(32)}, "cert_req": True})
    token = tsp.TimeStampResp.load(authority.respond(request.dump()))["time_stamp_token"]
    encodings = [c.chosen.dump() for c in token["content"]["certificates"]]
    assert len(encodings) == 3 and encodings == sorted(encodings)


def test_the_signatures_of_one_minute_draw_their_stamp_once_and_each_shows_it(pki, monkeypatch):
    """A stamp shows the signer and the minute of signing: a batch's signatures of one minute share one drawing
    (and one parse of it) instead of drawing it with reportlab and parsing its font anew for every signature."""
    import io
    from datetime import UTC, datetime

    import pypdf

    from signing import stamp

    class OneMinute(datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ANN001, ANN206
            return datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)

    drawn = []
    real_canvas = stamp.canvas.Canvas

    def counting_canvas(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        drawn.append(1)
        return real_canvas(*args, **kwargs)

    pdfs = [make_pdf(f"Свидетельство № {n}") for n in (11, 12, 13)]
    monkeypatch.setattr(stamp, "datetime", OneMinute)
    monkeypatch.setattr(stamp.canvas, "Canvas", counting_canvas)
    request = SignRequest(level=Level.B_T, timestamper=pki.tsa, lock=True, stamp=StampPlacement(x=40, y=50))
    signed = [sign_pdf(pdf, pki.agency_signer, request) for pdf in pdfs]
    assert len(drawn) == 1
    for pdf in signed:
        [widget] = [a.get_object() for a in pypdf.PdfReader(io.BytesIO(pdf)).pages[0]["/Annots"]]
        appearance = widget["/AP"]["/N"].get_object()
        assert appearance["/Resources"]["/XObject"] and appearance.get_data()
        [signature] = validate_pdf(pdf, pki.trust).signatures
        assert (signature.status, signature.level) == ("valid", "B-T")
