"""Issues 16 and 14: weak algorithms are named, never reported valid nor as "no signature"; B-LTA protection is
renewed before the newest time-stamp's TSA certificate *or its algorithm* stops being trustworthy; a proof made
before an algorithm's sunset stays a proof."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, UTC

import pytest
from asn1crypto import keys
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing import aio, lta
from signing.algorithms import HASH_SUNSETS, KEY_SUNSETS
from signing.pades import Level, SignRequest, sign_pdf
from signing.pki import CertificateAuthority, KeyAlgorithm, load_signer
from signing.signer import SignerIdentity
from signing.trust import TrustStore
from signing.tsa import TimeStampAuthority
from signing.validate import validate_detached, validate_pdf

from .helpers import PIN, make_pdf

MARGIN = timedelta(days=365 * 2)
SHA1_SUNSET = HASH_SUNSETS["sha1"][1]
RSA_2048_SUNSET = dict((size, at) for size, at in KEY_SUNSETS["rsa"])[2048]


def _pyhanko_signer(signer: SignerIdentity) -> signers.SimpleSigner:
    """pyHanko's own signer over our user's key: ours refuses SHA-1, as it should, so this one makes the old files."""
    return signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(signer.certificate_der),
        signing_key=keys.PrivateKeyInfo.load(signer.private_key_der()),
        cert_registry=SimpleCertificateStore.from_certs([asn1_x509.Certificate.load(c) for c in signer.chain_der]),
    )


def _sha1_signed(pki, subfilter: SigSeedSubFilter) -> bytes:  # noqa: ANN001
    writer = IncrementalPdfFileWriter(io.BytesIO(make_pdf("Приказ № 3 (2012)")))
    meta = signers.PdfSignatureMetadata(field_name="Signature1", md_algorithm="sha1", subfilter=subfilter)
    return signers.sign_pdf(writer, meta, signer=_pyhanko_signer(pki.agency_signer)).getvalue()


def _as_adbe_pkcs7_sha1(signed: bytes) -> bytes:
    """The SubFilter of a signature rewritten to the legacy adbe.pkcs7.sha1 (same length: the offsets hold)."""
    name = b"/ETSI.CAdES.detached"
    at = signed.find(name)
    assert at > 0
    return signed[:at] + b"/adbe.pkcs7.sha1".ljust(len(name)) + signed[at + len(name):]


# --- issue 16: SHA-1 is named, not valid, not "no signature" ------------------------------------------------------


@pytest.mark.parametrize("subfilter", [SigSeedSubFilter.ADOBE_PKCS7_DETACHED, SigSeedSubFilter.PADES])
def test_a_sha1_signature_is_not_valid_and_names_sha1(pki, subfilter):  # noqa: ANN001
    report = validate_pdf(_sha1_signed(pki, subfilter), pki.trust)
    [signature] = report.signatures
    assert signature.intact and signature.valid  # the bytes match: it is the algorithm that no longer proves them
    assert signature.status == "cannot_be_checked" and not report.authentic
    assert signature.algorithm is not None and signature.algorithm.startswith("SHA-1")
    assert signature.signer == "Иванов Иван Иванович"
    assert "SHA-1" in report.summary_ru() and "SHA-1" in report.summary_en()


def test_the_same_document_signed_with_sha256_is_valid(pki):  # noqa: ANN001
    """The control of the test above: pyHanko's signer with SHA-256, same key and file, is valid."""
    writer = IncrementalPdfFileWriter(io.BytesIO(make_pdf("Приказ № 3 (2012)")))
    meta = signers.PdfSignatureMetadata(field_name="Signature1", md_algorithm="sha256",
                                        subfilter=SigSeedSubFilter.PADES)
    signed = signers.sign_pdf(writer, meta, signer=_pyhanko_signer(pki.agency_signer)).getvalue()
    assert [s.status for s in validate_pdf(signed, pki.trust).signatures] == ["valid"]


def test_an_adbe_pkcs7_sha1_signature_is_listed_before_a_later_valid_one(pki):  # noqa: ANN001
    old = _as_adbe_pkcs7_sha1(sign_pdf(make_pdf("Соглашение"), pki.holder_signer, SignRequest(level=Level.B_B)))
    both = sign_pdf(old, pki.agency_signer, SignRequest(level=Level.B_B))
    report = validate_pdf(both, pki.trust)
    first, second = report.signatures
    assert first.status == "cannot_be_checked" and first.signer == "Петрова Анна Сергеевна"
    assert first.algorithm == "SHA-1 (adbe.pkcs7.sha1)" and "adbe.pkcs7.sha1" in (first.problem or "")
    assert second.status == "valid" and second.signer == "Иванов Иван Иванович"
    assert not report.authentic
    assert report.to_dict()["signatures"][0]["status_ru"] == "подпись не может быть проверена этой системой"


def test_a_sha1_detached_cms_signature_is_not_valid(pki):  # noqa: ANN001
    data = "Протокол заседания № 4".encode()
    signed = aio.run(_pyhanko_signer(pki.agency_signer).async_sign_general_data(io.BytesIO(data), "sha1",
                                                                                 detached=True, use_cades=True))
    p7s = signed.dump()
    [signature] = validate_detached(data, p7s, pki.trust).signatures
    assert signature.status == "cannot_be_checked" and signature.algorithm.startswith("SHA-1")


# --- issue 14: renewal before the algorithm's sunset -----------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_ca() -> CertificateAuthority:
    return CertificateAuthority.create("АНО «Центр квалификаций» (RSA)", algorithm=KeyAlgorithm.RSA_2048)


def _protected(ca: CertificateAuthority, tsa: TimeStampAuthority) -> bytes:
    signer = load_signer(ca.issue_user_certificate("Сидоров Пётр", PIN, algorithm=ca.algorithm), PIN, ca.chain_der)
    signed = sign_pdf(make_pdf("Свидетельство № 12"), signer, SignRequest(level=Level.B_T, timestamper=tsa))
    assert signed is not None
    return lta.protect(signed, tsa, crls=[ca.build_crl([]), ca.build_root_crl()], certs=ca.intermediates_der)


def test_an_rsa_2048_time_stamp_is_renewed_before_the_rsa_2048_sunset(rsa_ca):  # noqa: ANN001
    newest = lta.newest_timestamp(_protected(rsa_ca, TimeStampAuthority.from_ca(rsa_ca)))
    assert newest is not None and newest.algorithm == "RSA-2048"
    assert RSA_2048_SUNSET is not None and newest.tsa_not_after > RSA_2048_SUNSET  # the certificate would outlive it
    assert newest.algorithm_sunset == RSA_2048_SUNSET
    assert newest.renew_by(MARGIN) == RSA_2048_SUNSET - MARGIN


def test_an_ecdsa_p256_time_stamp_is_renewed_before_its_tsa_certificate_ends(pki):  # noqa: ANN001
    newest = lta.newest_timestamp(_protected(pki.ca, pki.tsa))
    assert newest is not None and newest.algorithm_sunset is None and newest.algorithm is None
    assert newest.renew_by(MARGIN) == newest.tsa_not_after - MARGIN


def test_a_sha1_document_time_stamp_is_due_for_renewal_now_and_proves_nothing(pki, rsa_ca):  # noqa: ANN001
    signed = sign_pdf(make_pdf("Приказ № 9"), pki.agency_signer, SignRequest(level=Level.B_B))
    with_data = lta.add_validation_data(signed, crls=[pki.ca.build_crl([]), pki.ca.build_root_crl()],
                                        certs=pki.ca.intermediates_der)
    # pyHanko's test TSA signs with RSA only: the RSA CA's TSA, trusted beside ours
    sha1_tsa = DummyTimeStamper(asn1_x509.Certificate.load(rsa_ca.tsa.certificate_der),
                                keys.PrivateKeyInfo.load(TimeStampAuthority.from_ca(rsa_ca).__getstate__()["key"]),
                                certs_to_embed=SimpleCertificateStore.from_certs(
                                    [asn1_x509.Certificate.load(c) for c in rsa_ca.chain_der]),
                                override_md="sha1")
    trust = pki.trust.with_roots([rsa_ca.root.certificate_der], fetch_revocation=False)
    out = io.BytesIO()
    PdfTimeStamper(sha1_tsa, field_name="ArchiveTimestamp1").timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(with_data)), "sha1", output=out)
    newest = lta.newest_timestamp(out.getvalue())
    assert newest is not None and newest.algorithm == "SHA-1" and newest.algorithm_sunset == SHA1_SUNSET
    assert newest.renew_by(MARGIN) <= datetime.now(UTC)
    report = validate_pdf(out.getvalue(), trust)
    assert [s.kind for s in report.signatures] == ["signature", "document_timestamp"]
    assert report.signatures[1].status == "cannot_be_checked" and "SHA-1" in (report.signatures[1].algorithm or "")
    assert report.signatures[0].status == "valid"  # the SHA-256 signature under it is judged by itself


def test_an_rsa_2048_signature_proven_before_the_sunset_stays_valid_after_it(rsa_ca):  # noqa: ANN001
    protected = _protected(rsa_ca, TimeStampAuthority.from_ca(rsa_ca))
    trust = TrustStore.for_ca(rsa_ca, crls=[rsa_ca.build_crl([]), rsa_ca.build_root_crl()], crls_current=False)
    assert RSA_2048_SUNSET is not None
    after = RSA_2048_SUNSET + timedelta(days=30)
    # no proof of existence but "now", after the sunset: the RSA-2048 signature and time-stamps prove nothing
    late = validate_pdf(protected, trust, now=after)
    assert {s.status for s in late.signatures} == {"cannot_be_checked"}
    assert all(s.algorithm and s.algorithm.startswith("RSA-2048") for s in late.signatures)
    # the archive's record of storing the file today is a proof made before the sunset: it stays a proof
    kept = validate_pdf(protected, trust, now=after, stored_at=datetime.now(UTC))
    assert [s.status for s in kept.signatures] == ["valid", "valid"], kept.summary_ru()
    assert kept.authentic
