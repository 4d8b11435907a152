"""Signatures stay provable: each is judged at the time its evidence proves (a fake clock moves years ahead)."""

from __future__ import annotations

from datetime import datetime, timedelta, UTC

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization

from signing import lta
from signing.cms import sign_detached
from signing.pades import Level, SignRequest, sign_pdf
from signing.pki import CertificateAuthority, RevokedEntry, load_signer
from signing.signer import SignerIdentity
from signing.trust import TrustStore
from signing.tsa import TimeStampAuthority
from signing.validate import STATUS_EN, STATUS_RU, validate_detached, validate_pdf

from .helpers import PIN, make_pdf


def _signer(ca: CertificateAuthority, name: str = "Сидоров Пётр", **kwargs) -> tuple[SignerIdentity, int]:
    cred = ca.issue_user_certificate(name, PIN, **kwargs)
    key = serialization.load_pem_private_key(cred.encrypted_key_pem, PIN.encode())
    from cryptography import x509

    identity = SignerIdentity(x509.load_der_x509_certificate(cred.certificate_der), key,  # type: ignore[arg-type]
                              [x509.load_der_x509_certificate(c) for c in ca.chain_der])
    return identity, cred.serial


def _trust(ca: CertificateAuthority, revoked=(), **kwargs) -> TrustStore:
    return TrustStore.for_ca(ca, crls=[ca.build_crl(list(revoked)), ca.build_root_crl()], **kwargs)


def _signed(ca: CertificateAuthority, signer: SignerIdentity, level: Level = Level.B_T) -> bytes:
    return sign_pdf(make_pdf("Приказ № 14"), signer,
                    SignRequest(level=level, timestamper=TimeStampAuthority.from_ca(ca)))


def test_every_verdict_has_russian_and_english_wording():
    assert set(STATUS_RU) == set(STATUS_EN)
    assert {"valid", "valid_revoked_later", "expired_at_signing", "not_yet_valid_at_signing", "revoked",
            "untrusted", "indeterminate", "modified", "cannot_be_checked"} <= set(STATUS_RU)


def test_signature_checked_after_the_signer_certificate_expired_is_valid_at_its_time_stamp(pki):
    signed = _signed(pki.ca, pki.agency_signer)
    with time_machine.travel(datetime(2029, 6, 1, tzinfo=UTC)):
        assert datetime.now(UTC) > pki.agency_signer.certificate.not_valid_after_utc
        report = validate_pdf(signed, pki.trust)
    [signature] = report.signatures
    assert (signature.status, report.authentic) == ("valid", True)
    assert signature.poe_source == "signature_timestamp"
    assert signature.poe < pki.agency_signer.certificate.not_valid_after_utc


def test_signer_revoked_as_superseded_after_signing_stays_valid_with_a_note(pki):
    signer, serial = _signer(pki.ca)
    signed = _signed(pki.ca, signer)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    with time_machine.travel(tomorrow + timedelta(hours=1)):
        trust = _trust(pki.ca, [RevokedEntry(serial, tomorrow, "superseded")])
        report = validate_pdf(signed, trust)
    [signature] = report.signatures
    assert signature.status == "valid_revoked_later" and report.authentic
    assert signature.revocation_reason == "superseded" and signature.revoked_at is not None
    assert "отозван" in report.summary_ru() and "заменён новым" in report.summary_ru()


def test_signature_made_after_a_key_compromise_revocation_is_not_valid(pki):
    signer, serial = _signer(pki.ca)
    revoked_at = datetime.now(UTC) - timedelta(hours=1)
    signed = _signed(pki.ca, signer)  # the key is still in the thief's hands; the PDF carries a fresh time-stamp
    report = validate_pdf(signed, _trust(pki.ca, [RevokedEntry(serial, revoked_at, "key_compromise")]))
    [signature] = report.signatures
    assert signature.status == "revoked" and not report.authentic


def test_key_compromise_with_an_invalidity_date_before_the_signature_is_not_valid(pki):
    signer, serial = _signer(pki.ca)
    signed = _signed(pki.ca, signer)
    later = datetime.now(UTC) + timedelta(days=2)
    entry = RevokedEntry(serial, later, "key_compromise", invalidity_date=datetime.now(UTC) - timedelta(days=1))
    with time_machine.travel(later + timedelta(hours=1)):
        [signature] = validate_pdf(signed, _trust(pki.ca, [entry])).signatures
    assert signature.status == "revoked"


def test_key_compromise_revoked_after_the_time_stamp_without_invalidity_date_keeps_the_signature(pki):
    signer, serial = _signer(pki.ca)
    signed = _signed(pki.ca, signer)
    later = datetime.now(UTC) + timedelta(days=2)
    with time_machine.travel(later + timedelta(hours=1)):
        [signature] = validate_pdf(signed, _trust(pki.ca, [RevokedEntry(serial, later, "key_compromise")])).signatures
    assert signature.status == "valid_revoked_later"


def test_expired_certificate_is_reported_expired_at_signing_not_untrusted(pki):
    with time_machine.travel(datetime.now(UTC) - timedelta(days=10)):
        signer, _ = _signer(pki.ca, valid_days=2)
    p7s = sign_detached(b"data", signer, timestamper=pki.tsa)  # signed (and time-stamped) after it expired
    [signature] = validate_detached(b"data", p7s, pki.trust).signatures
    assert signature.status == "expired_at_signing"
    assert "истёк" in STATUS_RU[signature.status]


def test_not_yet_valid_certificate_is_reported_not_yet_valid_at_signing(pki):
    signer, _ = _signer(pki.ca, not_before=datetime.now(UTC) + timedelta(days=5))
    p7s = sign_detached(b"data", signer, timestamper=pki.tsa)
    [signature] = validate_detached(b"data", p7s, pki.trust).signatures
    assert signature.status == "not_yet_valid_at_signing"


def test_b_b_signature_checked_after_expiry_has_no_proof_of_time_and_is_expired(pki):
    with time_machine.travel(datetime.now(UTC) - timedelta(days=10)):
        signer, _ = _signer(pki.ca, valid_days=2)
        signed = sign_pdf(make_pdf("Приказ"), signer, SignRequest(level=Level.B_B))
    [signature] = validate_pdf(signed, pki.trust).signatures
    assert (signature.status, signature.poe_source) == ("expired_at_signing", "now")


def test_archive_record_of_storing_the_bytes_is_a_proof_of_existence():
    with time_machine.travel(datetime.now(UTC) - timedelta(days=10)):
        ca = CertificateAuthority.create("УЦ архива")
        signer, _ = _signer(ca, valid_days=2)
        signed = sign_pdf(make_pdf("Приказ"), signer, SignRequest(level=Level.B_B))
        stored = datetime.now(UTC)
    [signature] = validate_pdf(signed, _trust(ca), stored_at=stored).signatures
    assert (signature.status, signature.poe_source) == ("valid", "archive")


def test_revocation_status_unknown_without_revocation_data_issued_after_signing(pki):
    old_crl = pki.ca.build_crl([], now=datetime.now(UTC) - timedelta(days=1))
    trust = TrustStore.for_ca(pki.ca, crls=[old_crl, pki.ca.build_root_crl()], crls_current=False)
    signed = _signed(pki.ca, pki.agency_signer)
    [signature] = validate_pdf(signed, trust).signatures
    assert signature.status == "indeterminate" and "неизвестен" in STATUS_RU[signature.status]
    # validation data issued after the signature, embedded in the DSS, settles it
    with_dss = lta.add_validation_data(signed, crls=[pki.ca.build_crl([]), pki.ca.build_root_crl()],
                                       certs=pki.ca.chain_der)
    assert with_dss.startswith(signed)
    [signature] = validate_pdf(with_dss, trust).signatures
    assert (signature.status, signature.level) == ("valid", "B-LT")


def test_untrusted_issuer_is_still_untrusted(pki):
    stranger = CertificateAuthority.create("Посторонний УЦ")
    signer, _ = _signer(stranger)
    signed = _signed(stranger, signer)
    [signature] = validate_pdf(signed, pki.trust).signatures
    assert signature.status == "untrusted"


def test_b_lta_renewed_across_ca_and_tsa_rollover_stays_valid_for_decades():
    start = datetime.now(UTC)
    with time_machine.travel(start):
        ca = CertificateAuthority.create("АНО «Центр долгого хранения»")
        signer = load_signer(ca.issue_user_certificate("Иванов", PIN), PIN, ca.chain_der)
        signed = _signed(ca, signer)
        crls = [ca.build_crl([]), ca.build_root_crl()]
        protected = lta.protect(signed, TimeStampAuthority.from_ca(ca), crls=crls, certs=ca.intermediates_der)
    kept_crls = list(crls)
    for year in range(1, 31):
        with time_machine.travel(start + timedelta(days=365 * year)):
            renewed = ca.roll_over()
            kept_crls += [ca.build_crl([], issuer=c) for c in ca.issuing_generations] + [ca.build_root_crl()]
            newest = lta.newest_timestamp(protected)
            assert newest is not None
            if newest.tsa_not_after - datetime.now(UTC) < timedelta(days=365 * 3):
                protected = lta.protect(protected, TimeStampAuthority.from_ca(ca), crls=kept_crls[-3:],
                                        certs=ca.intermediates_der)
            if year in (3, 12, 30):
                report = validate_pdf(protected, TrustStore.for_ca(ca, crls=kept_crls))
                assert report.authentic, (year, renewed, report.summary_ru())
    assert len(ca.roots_der) >= 2  # the root was renewed on the way; the old one is still an anchor
    signature = report.signatures[0]
    assert (signature.level, signature.poe_source) == ("B-LTA", "signature_timestamp")


def test_issuing_at_the_end_of_the_issuing_ca_life_is_a_clear_refusal_and_rollover_fixes_it():
    from signing.errors import PkiError

    ca = CertificateAuthority.create("УЦ на исходе", issuing_years=1)
    with time_machine.travel(datetime.now(UTC) + timedelta(days=400)):
        with pytest.raises(PkiError):
            ca.issue_user_certificate("Поздний", PIN)
        assert "issuing" in ca.due_renewals()
        ca.roll_over()
        cred = ca.issue_user_certificate("Поздний", PIN)
        assert cred.not_after > datetime.now(UTC) + timedelta(days=365)


def test_long_cyrillic_ca_name_is_kept_to_64_characters():
    name = "Автономная некоммерческая организация «Национальное агентство развития квалификаций»"
    ca = CertificateAuthority.create(name)
    org = ca.root.certificate.subject.get_attributes_for_oid(__import__("cryptography").x509.NameOID.ORGANIZATION_NAME)
    assert org[0].value == name[:64] and len(name) > 64


def test_holder_certificate_carries_the_holder_organisation(pki):
    cred = pki.ca.issue_user_certificate("Петрова Анна", PIN, organisation="ООО «Практика»")
    assert "ООО «Практика»" in cred.subject and pki.ca.organisation not in cred.subject


def test_signer_certificate_appears_once_in_the_cms(pki):
    signed = _signed(pki.ca, pki.agency_signer)
    from pyhanko.pdf_utils.reader import PdfFileReader
    import io

    [embedded] = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    ders = [c.chosen.dump() for c in embedded.signed_data["certificates"]]
    assert ders.count(pki.agency_signer.certificate_der) == 1


def test_b_lta_file_passes_pyhanko_ades_lta_validation():
    """An independent validator: pyHanko's ETSI EN 319 102-1 long-term validation, local data only (the DSS)."""
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.ades.report import AdESPassed
    from pyhanko.sign.validation.ades import ades_lta_validation
    from pyhanko.sign.validation.policy_decl import (PdfSignatureValidationSpec, RevinfoOnlineFetchingRule,
                                                     RevocationInfoGatheringSpec, SignatureValidationSpec)
    from pyhanko_certvalidator.context import CertValidationPolicySpec
    from pyhanko_certvalidator.policy_decl import (CertRevTrustPolicy, RevocationCheckingPolicy,
                                                   RevocationCheckingRule)
    from pyhanko_certvalidator.registry import SimpleTrustManager
    from asn1crypto import x509 as asn1_x509

    from signing import aio

    start = datetime.now(UTC)
    with time_machine.travel(start, tick=True) as clock:
        ca = CertificateAuthority.create("АНО «Независимая проверка»")
        signer = load_signer(ca.issue_user_certificate("Иванов", PIN), PIN, ca.chain_der)
        signed = _signed(ca, signer)
        clock.shift(timedelta(seconds=5))  # the CRLs in the DSS are issued after the signature
        protected = lta.protect(signed, TimeStampAuthority.from_ca(ca), crls=[ca.build_crl([]), ca.build_root_crl()],
                                certs=ca.intermediates_der)
        required = RevocationCheckingRule.CRL_OR_OCSP_REQUIRED
        spec = PdfSignatureValidationSpec(SignatureValidationSpec(
            cert_validation_policy=CertValidationPolicySpec(
                trust_manager=SimpleTrustManager.build(trust_roots=[asn1_x509.Certificate.load(ca.root_certificate_der)]),
                revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(ee_certificate_rule=required,
                                                                           intermediate_ca_cert_rule=required))),
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY)))
        embedded = PdfFileReader(io.BytesIO(protected)).embedded_signatures[0]
        result = aio.run(ades_lta_validation(embedded, spec))
    assert result.ades_subindic == AdESPassed.OK, (result.ades_subindic, result.failure_msg)
    [signature, _] = validate_pdf(protected, _trust(ca)).signatures
    assert signature.level == "B-LTA"


def test_content_changed_after_the_archive_time_stamp_is_caught(pki):
    import io

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    protected = lta.protect(_signed(pki.ca, pki.agency_signer), pki.tsa,
                            crls=[pki.ca.build_crl([]), pki.ca.build_root_crl()], certs=pki.ca.intermediates_der)
    assert validate_pdf(protected, pki.trust).authentic
    writer = IncrementalPdfFileWriter(io.BytesIO(protected))
    writer.add_stream_to_page(0, writer.add_object(generic.StreamObject(stream_data=b"BT /F1 24 Tf 9 9 Td (X) Tj ET")))
    tampered = io.BytesIO()
    writer.write(tampered)
    report = validate_pdf(tampered.getvalue(), pki.trust)
    assert not report.authentic and report.signatures[0].status == "modified"
