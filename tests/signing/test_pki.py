from __future__ import annotations

from datetime import datetime, timedelta, UTC

import pytest
from asn1crypto import keys, pem
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from signing.errors import (
    CaLoadError,
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRevoked,
    Pkcs12ImportError,
    PkiError,
    WrongPin,
)
from signing.pki import (
    PIN_KDF_ITERATIONS,
    CertificateAuthority,
    KeyAlgorithm,
    RevokedEntry,
    import_pkcs12,
    load_signer,
)
from signing.signer import fingerprint_sha256

from .helpers import PIN


def test_ca_survives_save_and_load_under_passphrase(pki, tmp_path):
    pki.ca.save(tmp_path / "ca", "correct horse")
    loaded = CertificateAuthority.load(tmp_path / "ca", "correct horse")
    assert loaded.fingerprints() == pki.ca.fingerprints()
    assert loaded.organisation == pki.ca.organisation
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "ca" / "root.key.pem").read_bytes()
    credential = loaded.issue_user_certificate("Сидоров", PIN)
    assert load_signer(credential, PIN, pki.ca.chain_der).common_name == "Сидоров"


def test_ca_load_with_wrong_passphrase_is_refused(pki, tmp_path):
    pki.ca.save(tmp_path / "ca", "correct horse")
    with pytest.raises(CaLoadError):
        CertificateAuthority.load(tmp_path / "ca", "wrong")


def test_user_key_is_stored_encrypted_and_opens_only_with_the_pin(pki):
    assert b"ENCRYPTED PRIVATE KEY" in pki.agency.encrypted_key_pem
    info = keys.EncryptedPrivateKeyInfo.load(pem.unarmor(pki.agency.encrypted_key_pem)[2])
    kdf = info["encryption_algorithm"]["parameters"]["key_derivation_func"]["parameters"]
    assert kdf["iteration_count"].native == PIN_KDF_ITERATIONS >= 600_000  # a PIN is short: guessing must be slow
    with pytest.raises(WrongPin) as refusal:
        load_signer(pki.agency, "0000", pki.ca.chain_der)
    assert "Неверный PIN" in str(refusal.value) and "Wrong PIN" in str(refusal.value)


def test_expired_certificate_is_refused(pki):
    old = pki.ca.issue_user_certificate(
        "Просрочен", PIN, valid_days=1, not_before=datetime.now(UTC) - timedelta(days=3)
    )
    with pytest.raises(CertificateExpired):
        load_signer(old, PIN, pki.ca.chain_der)


def test_certificate_not_yet_valid_is_refused(pki):
    future = pki.ca.issue_user_certificate("Будущий", PIN, not_before=datetime.now(UTC) + timedelta(days=1))
    with pytest.raises(CertificateNotYetValid):
        load_signer(future, PIN, pki.ca.chain_der)


def test_revoked_certificate_is_refused(pki):
    revoked = pki.ca.issue_user_certificate("Отозван", PIN)
    crl = pki.ca.build_crl([RevokedEntry(revoked.serial, datetime.now(UTC), "key_compromise")])
    with pytest.raises(CertificateRevoked):
        load_signer(revoked, PIN, pki.ca.chain_der, crl_der=crl)
    assert load_signer(pki.agency, PIN, pki.ca.chain_der, crl_der=crl).fingerprint == pki.agency.fingerprint


def test_crl_lists_revoked_serials_with_reason(pki):
    at = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    crl = x509.load_der_x509_crl(pki.ca.build_crl([RevokedEntry(12345, at, "superseded")], number=7))
    entry = crl.get_revoked_certificate_by_serial_number(12345)
    assert entry is not None and entry.revocation_date_utc == at
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.superseded
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    assert crl.is_signature_valid(pki.ca.issuing.certificate.public_key())


def test_unknown_revocation_reason_is_refused(pki):
    with pytest.raises(PkiError):
        pki.ca.build_crl([RevokedEntry(1, datetime.now(UTC), "bored")])


def test_crl_of_another_ca_is_not_accepted(pki):
    other = CertificateAuthority.create("Чужой УЦ")
    with pytest.raises(PkiError):
        load_signer(pki.agency, PIN, pki.ca.chain_der, crl_der=other.build_crl([]))


def test_user_certificate_carries_signing_usage_and_public_urls(pki):
    cert = x509.load_der_x509_certificate(pki.agency.certificate_der)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == "http://127.0.0.1:5000/pki/issuing.crl"
    assert cert.issuer == pki.ca.issuing.certificate.subject
    assert pki.agency.fingerprint == fingerprint_sha256(pki.agency.certificate_der)
    assert fingerprint_sha256(pki.ca.certificate_der("root")) == pki.ca.fingerprints()["root"]
    assert x509.load_pem_x509_certificate(pki.ca.certificate_pem("issuing")) == pki.ca.issuing.certificate
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


def test_rsa_is_an_option_for_ca_and_users():
    ca = CertificateAuthority.create("РСА", algorithm=KeyAlgorithm.RSA_2048)
    credential = ca.issue_user_certificate("Ключ РСА", PIN, algorithm=KeyAlgorithm.RSA_2048)
    signer = load_signer(credential, PIN, ca.chain_der)
    assert isinstance(signer.key, rsa.RSAPrivateKey)
    assert isinstance(ca.root.certificate.public_key(), rsa.RSAPublicKey)


def _p12(pki, password: bytes | None) -> tuple[bytes, x509.Certificate]:
    credential = pki.ca.issue_user_certificate("Внешний", "tmp")
    key = serialization.load_pem_private_key(credential.encrypted_key_pem, b"tmp")
    cert = x509.load_der_x509_certificate(credential.certificate_der)
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"ext", key, cert, [pki.ca.issuing.certificate], encryption), cert


def test_pkcs12_import_rekeys_under_the_users_pin(pki):
    p12, cert = _p12(pki, b"p12-pass")
    credential, chain = import_pkcs12(p12, "p12-pass", "7777")
    assert credential.serial == cert.serial_number
    assert chain == [pki.ca.issuing.certificate_der]
    assert load_signer(credential, "7777", pki.ca.chain_der).common_name == "Внешний"
    with pytest.raises(WrongPin):
        load_signer(credential, "p12-pass", pki.ca.chain_der)


def test_pkcs12_with_wrong_password_is_refused(pki):
    p12, _ = _p12(pki, b"p12-pass")
    with pytest.raises(Pkcs12ImportError):
        import_pkcs12(p12, "nope", "7777")
    with pytest.raises(Pkcs12ImportError):
        import_pkcs12(b"not a pkcs12 file", "nope", "7777")
