"""Issue 16, item 7: what the validation says about odd PDFs (the validation itself is signing/validate.py)."""
from __future__ import annotations

import pytest

from signing.pades import Level, SignRequest, sign_pdf
from signing.pki import CertificateAuthority, load_signer
from signing.trust import TrustStore
from signing.validate import validate_pdf
from tests.signing.helpers import make_pdf

PIN = "pin-12345678"


@pytest.fixture(scope="module")
def signed_and_trust():  # noqa: ANN201
    ca = CertificateAuthority.create("АНО «Центр квалификаций»", public_base_url="http://127.0.0.1:5000/pki")
    cred = ca.issue_user_certificate("Иванов Иван Иванович", PIN)
    signer = load_signer(cred, PIN, ca.chain_der)
    trust = TrustStore.for_ca(ca, crls=[ca.build_crl([]), ca.build_root_crl()])
    return sign_pdf(make_pdf("Приказ № 7"), signer, SignRequest(level=Level.B_B)), trust


def test_unparseable_bytes_appended_after_the_signature_are_reported(signed_and_trust):  # noqa: ANN001
    signed, trust = signed_and_trust
    assert validate_pdf(signed, trust).warnings == []
    report = validate_pdf(signed + b"\n\x00\xff<script>not a PDF object</script>\x8f\x90\n", trust)
    assert report.warnings, "appended bytes went unmentioned"
    assert "дописано" in report.summary_ru() and "appended" in report.summary_en()
    assert report.to_dict()["warnings"]


def test_a_sha1_adbe_pkcs7_sha1_signature_is_reported_as_such(signed_and_trust):  # noqa: ANN001
    signed, trust = signed_and_trust
    name = b"/ETSI.CAdES.detached"
    at = signed.find(name)
    assert at > 0
    sha1 = signed[:at] + b"/adbe.pkcs7.sha1".ljust(len(name)) + signed[at + len(name):]
    report = validate_pdf(sha1, trust)
    assert report.signatures, "reported as a document without signatures"
    assert "sha1" in report.summary_ru().lower()
