from __future__ import annotations

from asn1crypto import cms, pem

from signing.cms import sign_detached
from signing.pki import CertificateAuthority
from signing.trust import TrustStore
from signing.validate import validate_detached

DOCUMENT = "Отчёт о мониторинге, версия 3\n".encode() * 100


def test_detached_signature_of_a_non_pdf_validates_as_trusted_with_timestamp(pki):
    p7s = sign_detached(DOCUMENT, pki.agency_signer, pki.tsa)
    report = validate_detached(DOCUMENT, p7s, pki.trust)
    [signature] = report.signatures
    assert report.authentic and signature.status == "valid"
    assert signature.timestamp is not None and signature.timestamp_trusted
    signed_data = cms.ContentInfo.load(p7s)["content"]
    assert signed_data["encap_content_info"]["content"].native is None  # detached: the data is not inside


def test_detached_signature_over_changed_data_is_invalid(pki):
    p7s = sign_detached(DOCUMENT, pki.agency_signer)
    [signature] = validate_detached(DOCUMENT + b" ", p7s, pki.trust).signatures
    assert signature.intact is False and signature.status == "invalid"


def test_pem_armoured_p7s_is_accepted(pki):
    p7s = pem.armor("PKCS7", sign_detached(DOCUMENT, pki.agency_signer))
    assert validate_detached(DOCUMENT, p7s, pki.trust).authentic


def test_detached_signature_from_an_unknown_ca_is_untrusted(pki):
    p7s = sign_detached(DOCUMENT, pki.agency_signer)
    report = validate_detached(DOCUMENT, p7s, TrustStore.for_ca(CertificateAuthority.create("Чужой")))
    assert report.signatures[0].status == "untrusted"


def test_a_file_that_is_not_a_signature_gives_a_report_not_a_crash(pki):
    for garbage in (b"", b"not a signature", bytes(range(256))):
        report = validate_detached(DOCUMENT, garbage, pki.trust)
        assert report.problem and not report.authentic


def test_gost_detached_signature_is_reported_as_cannot_be_checked(pki):
    content_info = cms.ContentInfo.load(sign_detached(DOCUMENT, pki.agency_signer))
    signed_data = content_info["content"]
    signed_data["digest_algorithms"] = [{"algorithm": "1.2.643.7.1.1.2.2"}]
    signed_data["signer_infos"][0]["digest_algorithm"] = {"algorithm": "1.2.643.7.1.1.2.2"}
    signed_data["signer_infos"][0]["signature_algorithm"] = {"algorithm": "1.2.643.7.1.1.1.1"}
    gost = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
    [signature] = validate_detached(DOCUMENT, gost, pki.trust).signatures
    assert signature.status == "cannot_be_checked" and "ГОСТ" in signature.problem
