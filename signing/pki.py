"""The organisation's PKI: root CA, issuing CA, time-stamping certificate, user certificates, CRLs.

Nothing here touches a database: the caller stores what these functions return (bytes) and hands
it back. :meth:`CertificateAuthority.save` / :meth:`CertificateAuthority.load` are a convenience
that keep the CA in a directory with its private keys encrypted under a passphrase.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC
from enum import Enum
from pathlib import Path

from asn1crypto import algos
from asn1crypto import keys as asn1_keys
from asn1crypto import pem
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import CaLoadError, Pkcs12ImportError, PkiError, UnsupportedKey, WrongPin
from .signer import PrivateKey, SignerIdentity, fingerprint_sha256


class KeyAlgorithm(str, Enum):
    ECDSA_P256 = "ecdsa-p256"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"


_KEY_GENERATORS: dict[KeyAlgorithm, Callable[[], PrivateKey]] = {
    KeyAlgorithm.ECDSA_P256: lambda: ec.generate_private_key(ec.SECP256R1()),
    KeyAlgorithm.RSA_2048: lambda: rsa.generate_private_key(65537, 2048),
    KeyAlgorithm.RSA_3072: lambda: rsa.generate_private_key(65537, 3072),
}

_REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key_compromise": x509.ReasonFlags.key_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
    "certificate_hold": x509.ReasonFlags.certificate_hold,
}

# Public paths, relative to CertificateAuthority.public_base_url, where the app publishes them.
ROOT_CERT_PATH = "root.crt"
ISSUING_CERT_PATH = "issuing.crt"
ROOT_CRL_PATH = "root.crl"
ISSUING_CRL_PATH = "issuing.crl"

_CLOCK_SKEW = timedelta(minutes=5)
# PBKDF2-HMAC-SHA256 rounds guarding a key under a PIN or passphrase (OWASP 2023 figure).
PIN_KDF_ITERATIONS = 600_000


def generate_key(algorithm: KeyAlgorithm) -> PrivateKey:
    return _KEY_GENERATORS[KeyAlgorithm(algorithm)]()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _cap(value: str, limit: int = 64) -> str:
    """Cut to the 64-unit cap of X.520 names, which cryptography counts in UTF-8 bytes."""
    while len(value.encode("utf-8")) > limit:
        value = value[:-1]
    return value


def _name(common_name: str, organisation: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, _cap(common_name))]
    if organisation:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, _cap(organisation)))
    attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, "RU"))
    return x509.Name(attributes)


def _key_usage(**enabled: bool) -> x509.KeyUsage:
    flags = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    flags.update(enabled)
    return x509.KeyUsage(**flags)


def _pem_key(key: PrivateKey, passphrase: str) -> bytes:
    """PKCS#8 EncryptedPrivateKeyInfo (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC) as PEM.

    Built here rather than with cryptography's BestAvailableEncryption, which uses only 2,048
    PBKDF2 iterations: too cheap to guess for a key protected by a short PIN. OpenSSL and
    cryptography read the result as any encrypted PKCS#8 key.
    """
    plain = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt, iv = os.urandom(16), os.urandom(16)
    kek = PBKDF2HMAC(hashes.SHA256(), 32, salt, PIN_KDF_ITERATIONS).derive(passphrase.encode("utf-8"))
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(kek), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    info = asn1_keys.EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {
                "algorithm": "pbes2",
                "parameters": {
                    "key_derivation_func": {
                        "algorithm": "pbkdf2",
                        "parameters": {
                            "salt": algos.Pbkdf2Salt(name="specified", value=salt),
                            "iteration_count": PIN_KDF_ITERATIONS,
                            "prf": {"algorithm": "sha256"},
                        },
                    },
                    "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": iv},
                },
            },
            "encrypted_data": ciphertext,
        }
    )
    return pem.armor("ENCRYPTED PRIVATE KEY", info.dump())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class CaCredential:
    certificate: x509.Certificate
    key: PrivateKey

    @property
    def certificate_der(self) -> bytes:
        return _der(self.certificate)


@dataclass(frozen=True)
class UserCredential:
    """What the caller stores for a signatory: the certificate and the key encrypted under the PIN."""

    certificate_der: bytes
    encrypted_key_pem: bytes
    serial: int
    fingerprint: str
    subject: str
    not_before: datetime
    not_after: datetime

    @classmethod
    def from_parts(cls, certificate: x509.Certificate, encrypted_key_pem: bytes) -> UserCredential:
        der = _der(certificate)
        return cls(
            certificate_der=der,
            encrypted_key_pem=encrypted_key_pem,
            serial=certificate.serial_number,
            fingerprint=fingerprint_sha256(der),
            subject=certificate.subject.rfc4514_string(),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
        )


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: str = "unspecified"


@dataclass
class CertificateAuthority:
    """Root CA, issuing CA and the time-stamping certificate of one organisation."""

    organisation: str
    root: CaCredential
    issuing: CaCredential
    tsa: CaCredential
    public_base_url: str | None = None

    # --- creation ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        organisation: str,
        *,
        algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256,
        public_base_url: str | None = None,
        root_years: int = 20,
        issuing_years: int = 10,
        now: datetime | None = None,
    ) -> CertificateAuthority:
        start = (now or _utcnow()) - _CLOCK_SKEW
        base = public_base_url.rstrip("/") + "/" if public_base_url else None
        root_key = generate_key(algorithm)
        root_name = _name(f"Корневой УЦ {organisation}", organisation)
        root_cert = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=365 * root_years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256())
        )
        root = CaCredential(root_cert, root_key)
        issuing_key = generate_key(algorithm)
        issuing_cert = _issue(
            root,
            subject=_name(f"Выпускающий УЦ {organisation}", organisation),
            public_key=issuing_key.public_key(),
            not_before=start,
            not_after=start + timedelta(days=365 * issuing_years),
            extensions=[
                (x509.BasicConstraints(ca=True, path_length=0), True),
                (_key_usage(key_cert_sign=True, crl_sign=True), True),
            ],
            crl_url=base + ROOT_CRL_PATH if base else None,
            issuer_url=base + ROOT_CERT_PATH if base else None,
        )
        issuing = CaCredential(issuing_cert, issuing_key)
        tsa_key = generate_key(algorithm)
        tsa_cert = _issue(
            issuing,
            subject=_name(f"Служба штампов времени {organisation}", organisation),
            public_key=tsa_key.public_key(),
            not_before=start,
            not_after=start + timedelta(days=365 * issuing_years),
            extensions=[
                (x509.BasicConstraints(ca=False, path_length=None), True),
                (_key_usage(digital_signature=True), True),
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True),
            ],
            crl_url=base + ISSUING_CRL_PATH if base else None,
            issuer_url=base + ISSUING_CERT_PATH if base else None,
        )
        return cls(organisation, root, issuing, CaCredential(tsa_cert, tsa_key), public_base_url)

    # --- persistence (a convenience; the caller may store the bytes elsewhere) ---------------

    def save(self, directory: str | Path, passphrase: str) -> None:
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        for role, credential in self._credentials().items():
            (target / f"{role}.crt.pem").write_bytes(_cert_pem(credential.certificate))
            key_path = target / f"{role}.key.pem"
            key_path.write_bytes(_pem_key(credential.key, passphrase))
            key_path.chmod(0o600)
        meta = {"organisation": self.organisation, "public_base_url": self.public_base_url}
        (target / "ca.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path, passphrase: str) -> CertificateAuthority:
        source = Path(directory)
        try:
            meta = json.loads((source / "ca.json").read_text(encoding="utf-8"))
            credentials = {
                role: CaCredential(
                    x509.load_pem_x509_certificate((source / f"{role}.crt.pem").read_bytes()),
                    serialization.load_pem_private_key(  # type: ignore[arg-type]
                        (source / f"{role}.key.pem").read_bytes(), password=passphrase.encode("utf-8")
                    ),
                )
                for role in ("root", "issuing", "tsa")
            }
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise CaLoadError(str(exc)) from exc
        return cls(meta["organisation"], public_base_url=meta.get("public_base_url"), **credentials)

    @staticmethod
    def exists(directory: str | Path) -> bool:
        return (Path(directory) / "ca.json").is_file()

    def _credentials(self) -> dict[str, CaCredential]:
        return {"root": self.root, "issuing": self.issuing, "tsa": self.tsa}

    # --- what the app publishes ---------------------------------------------------------------

    @property
    def root_certificate_der(self) -> bytes:
        return self.root.certificate_der

    @property
    def chain_der(self) -> list[bytes]:
        """Issuing CA then root: the chain that goes with every user certificate."""
        return [self.issuing.certificate_der, self.root.certificate_der]

    def certificate_pem(self, role: str) -> bytes:
        """PEM of ``root``, ``issuing`` or ``tsa`` for download."""
        return _cert_pem(self._credentials()[role].certificate)

    def certificate_der(self, role: str) -> bytes:
        """DER of ``root``, ``issuing`` or ``tsa`` (what ``root.crt`` / ``issuing.crt`` serve)."""
        return self._credentials()[role].certificate_der

    def fingerprints(self) -> dict[str, str]:
        return {role: fingerprint_sha256(c.certificate_der) for role, c in self._credentials().items()}

    # --- user certificates --------------------------------------------------------------------

    def issue_user_certificate(
        self,
        common_name: str,
        pin: str,
        *,
        email: str | None = None,
        algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256,
        valid_days: int = 730,
        not_before: datetime | None = None,
    ) -> UserCredential:
        """A signing certificate for a signatory; the new key is returned encrypted under ``pin``."""
        if not pin:
            raise WrongPin("empty PIN")
        key = generate_key(algorithm)
        start = not_before or (_utcnow() - _CLOCK_SKEW)
        base = self.public_base_url.rstrip("/") + "/" if self.public_base_url else None
        extensions: list[tuple[x509.ExtensionType, bool]] = [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (_key_usage(digital_signature=True, content_commitment=True), True),
        ]
        if email:
            extensions.append((x509.SubjectAlternativeName([x509.RFC822Name(email)]), False))
        cert = _issue(
            self.issuing,
            subject=_name(common_name, self.organisation),
            public_key=key.public_key(),
            not_before=start,
            not_after=start + timedelta(days=valid_days),
            extensions=extensions,
            crl_url=base + ISSUING_CRL_PATH if base else None,
            issuer_url=base + ISSUING_CERT_PATH if base else None,
        )
        return UserCredential.from_parts(cert, _pem_key(key, pin))

    # --- revocation ---------------------------------------------------------------------------

    def build_crl(
        self,
        revoked: Iterable[RevokedEntry],
        *,
        number: int = 1,
        now: datetime | None = None,
        valid_for: timedelta = timedelta(days=7),
    ) -> bytes:
        """The issuing CA's CRL (DER) listing user certificates revoked by the caller."""
        return _build_crl(self.issuing, revoked, number=number, now=now, valid_for=valid_for)

    def build_root_crl(self, *, number: int = 1, now: datetime | None = None) -> bytes:
        """The root CA's CRL (DER): empty, because the issuing CA is replaced, never revoked here."""
        return _build_crl(self.root, (), number=number, now=now, valid_for=timedelta(days=365))


def _issue(
    issuer: CaCredential,
    *,
    subject: x509.Name,
    public_key: object,
    not_before: datetime,
    not_after: datetime,
    extensions: list[tuple[x509.ExtensionType, bool]],
    crl_url: str | None,
    issuer_url: str | None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(min(not_after, issuer.certificate.not_valid_after_utc))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    if issuer_url:
        access = x509.AccessDescription(
            x509.AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(issuer_url)
        )
        builder = builder.add_extension(x509.AuthorityInformationAccess([access]), critical=False)
    return builder.sign(issuer.key, hashes.SHA256())


def _build_crl(
    issuer: CaCredential,
    revoked: Iterable[RevokedEntry],
    *,
    number: int,
    now: datetime | None,
    valid_for: timedelta,
) -> bytes:
    this_update = (now or _utcnow()) - timedelta(seconds=1)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(this_update)
        .next_update(this_update + valid_for)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    for entry in revoked:
        reason = _REVOCATION_REASONS.get(entry.reason)
        if reason is None:
            raise PkiError(f"unknown revocation reason {entry.reason!r}; known: {sorted(_REVOCATION_REASONS)}")
        revoked_cert = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at)
            .add_extension(x509.CRLReason(reason), critical=False)
            .build()
        )
        builder = builder.add_revoked_certificate(revoked_cert)
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


# --- the signatory's side --------------------------------------------------------------------


def load_signer(
    credential: UserCredential | tuple[bytes, bytes],
    pin: str,
    chain_der: Iterable[bytes],
    *,
    crl_der: bytes | None = None,
    at: datetime | None = None,
) -> SignerIdentity:
    """Unlock a signatory's key with the PIN and check the certificate is usable now.

    Raises WrongPin, CertificateExpired, CertificateNotYetValid, CertificateRevoked (if ``crl_der``
    lists it) or KeyMismatch.
    """
    certificate_der, key_pem = (
        (credential.certificate_der, credential.encrypted_key_pem)
        if isinstance(credential, UserCredential)
        else credential
    )
    try:
        key = serialization.load_pem_private_key(key_pem, password=pin.encode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise WrongPin() from exc
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise UnsupportedKey(type(key).__name__)
    identity = SignerIdentity(
        certificate=x509.load_der_x509_certificate(certificate_der),
        key=key,
        chain=[x509.load_der_x509_certificate(c) for c in chain_der],
    )
    identity.check_usable(at=at, crl_der=crl_der)
    return identity


def import_pkcs12(p12_bytes: bytes, p12_password: str | None, new_pin: str) -> tuple[UserCredential, list[bytes]]:
    """Take a signatory's key and certificate from a PKCS#12 file; re-encrypt the key under ``new_pin``.

    Returns the credential and the chain (DER) found in the file.
    """
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(
            p12_bytes, p12_password.encode("utf-8") if p12_password else None
        )
    except (ValueError, TypeError) as exc:
        raise Pkcs12ImportError(str(exc)) from exc
    if key is None or cert is None:
        raise Pkcs12ImportError("the file holds no private key with its certificate")
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise UnsupportedKey(type(key).__name__)
    SignerIdentity(certificate=cert, key=key)  # refuses a key that does not match
    return UserCredential.from_parts(cert, _pem_key(key, new_pin)), [_der(c) for c in extra or ()]
