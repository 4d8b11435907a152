from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta, UTC

from asn1crypto import cms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from signing.pades import Level, SignRequest, sign_pdf
from signing.pki import CertificateAuthority, RevokedEntry, load_signer
from signing.trust import TrustStore
from signing.validate import STATUS_RU, validate_pdf

from .helpers import PIN, make_pdf


def _signed(pki, pdf: bytes | None = None, level: Level = Level.B_T) -> bytes:
    return sign_pdf(pdf or make_pdf("Приказ № 7"), pki.agency_signer, SignRequest(level=level, timestamper=pki.tsa))


def test_one_changed_byte_is_reported_not_intact(pki):
    signed = bytearray(_signed(pki))
    position = signed.index(b"ReportLab")  # a byte inside the signed range
    signed[position] ^= 0x20
    [signature] = validate_pdf(bytes(signed), pki.trust).signatures
    assert signature.intact is False
    assert signature.status == "invalid"


def test_unsigned_incremental_update_that_changes_content_is_reported_modified(pki):
    signed = _signed(pki)
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    extra = generic.StreamObject(stream_data=b"BT /F1 24 Tf 100 500 Td (PAID IN FULL) Tj ET")
    writer.add_stream_to_page(0, writer.add_object(extra))
    tampered = io.BytesIO()
    writer.write(tampered)
    [signature] = validate_pdf(tampered.getvalue(), pki.trust).signatures
    assert signature.intact and signature.valid  # the signed revision itself is untouched
    assert signature.coverage == "entire_revision"
    assert signature.modification_level == "other" and signature.docmdp_ok is False
    assert signature.status == "modified"


def test_swapped_pages_are_reported_modified(pki):
    signed = _signed(pki, make_pdf("страница 1", "страница 2"))
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    pages = writer.root["/Pages"]
    pages["/Kids"] = generic.ArrayObject(list(reversed(pages["/Kids"])))
    writer.update_container(pages)
    tampered = io.BytesIO()
    writer.write(tampered)
    [signature] = validate_pdf(tampered.getvalue(), pki.trust).signatures
    assert signature.status == "modified"


def test_signature_from_an_unknown_ca_is_reported_untrusted(pki):
    stranger = CertificateAuthority.create("Посторонний УЦ")
    [signature] = validate_pdf(_signed(pki), TrustStore.for_ca(stranger)).signatures
    assert signature.intact and signature.valid and not signature.trusted
    assert signature.status == "untrusted"


def test_signer_revoked_before_validation_is_reported_revoked(pki):
    credential = pki.ca.issue_user_certificate("Уволен", PIN)
    signer = load_signer(credential, PIN, pki.ca.chain_der)
    signed = sign_pdf(make_pdf(), signer, SignRequest(level=Level.B_B))
    revoked_at = datetime.now(UTC) - timedelta(minutes=1)
    crl = pki.ca.build_crl([RevokedEntry(credential.serial, revoked_at, "key_compromise")])
    trust = TrustStore.for_ca(pki.ca, crls=[crl, pki.ca.build_root_crl()])
    [signature] = validate_pdf(signed, trust).signatures
    assert signature.revoked is True and signature.status == "revoked"
    assert signature.revoked_at is not None


def test_unsigned_pdf_has_no_signatures_and_is_not_authentic(pki):
    report = validate_pdf(make_pdf(), pki.trust)
    assert report.signatures == [] and not report.authentic
    assert "не содержит" in report.summary_ru()


def test_bytes_that_are_not_a_pdf_give_a_report_not_a_crash(pki):
    for garbage in (b"", b"hello", b"%PDF-1.7\n" + bytes(range(256)) * 4):
        report = validate_pdf(garbage, pki.trust)
        assert report.problem and not report.authentic


def _with_cms_algorithms(signed: bytes, digest_oid: str, signature_oid: str) -> bytes:
    """Rewrite the algorithm identifiers of the embedded CMS, as a GOST signature would carry them."""
    match = re.search(rb"/Contents <([0-9a-fA-F]+)>", signed)
    assert match
    original = match.group(1)
    content_info = cms.ContentInfo.load(bytes.fromhex(original.decode()).rstrip(b"\0") or b"\0")
    signed_data = content_info["content"]
    signed_data["digest_algorithms"] = [{"algorithm": digest_oid}]
    signer_info = signed_data["signer_infos"][0]
    signer_info["digest_algorithm"] = {"algorithm": digest_oid}
    signer_info["signature_algorithm"] = {"algorithm": signature_oid}
    replacement = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump().hex().encode()
    assert len(replacement) <= len(original)
    return signed.replace(original, replacement.ljust(len(original), b"0"))


def test_gost_signature_is_reported_as_cannot_be_checked(pki):
    gost = _with_cms_algorithms(_signed(pki, level=Level.B_B), "1.2.643.7.1.1.2.2", "1.2.643.7.1.1.1.1")
    report = validate_pdf(gost, pki.trust)
    [signature] = report.signatures
    assert signature.status == "cannot_be_checked"
    assert "ГОСТ" in signature.problem and signature.signer == "Иванов Иван Иванович"
    assert STATUS_RU["cannot_be_checked"] in report.summary_ru()


def test_unknown_algorithm_is_reported_as_cannot_be_checked_not_raised(pki):
    odd = _with_cms_algorithms(_signed(pki, level=Level.B_B), "1.3.6.1.4.1.99999.1", "1.3.6.1.4.1.99999.2")
    [signature] = validate_pdf(odd, pki.trust).signatures
    assert signature.status == "cannot_be_checked"
    assert signature.problem and signature.signer == "Иванов Иван Иванович"


def test_report_gives_every_fact_as_json_and_in_russian(pki):
    report = validate_pdf(_signed(pki), pki.trust)
    facts = json.loads(json.dumps(report.to_dict()))
    [signature] = facts["signatures"]
    assert facts["authentic"] is True
    for fact in ("intact", "valid", "trusted", "revoked", "coverage", "modification_level", "docmdp_ok",
                 "signing_time", "timestamp", "timestamp_trusted", "level", "signer_fingerprint"):
        assert fact in signature
    assert signature["coverage"] == "entire_file" and signature["level"] == "B-T"
    summary = report.summary_ru()
    assert "Все подписи действительны" in summary and "штампу времени" in summary
    assert "квалифицирован" not in summary.lower()
