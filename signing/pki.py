"""The organisation's PKI: root CA, issuing CA, time-stamping certificate, user certificates, CRLs.

Nothing here touches a database: the caller stores what these functions return (bytes) and hands
it back. :meth:`CertificateAuthority.save` / :meth:`CertificateAuthority.load` are a convenience
that keep the CA in a directory with its private keys encrypted under a passphrase.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path

from asn1crypto import algos, core
from asn1crypto import keys as asn1_keys
from asn1crypto import pem
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import clock
from .errors import CaLoadError, Pkcs12ImportError, PkiError, UnsupportedKey, WrongPin
from .revocation import EXPIRED_CERTS_ON_CRL
from .signer import PrivateKey, SignerIdentity, fingerprint_sha256


# Names are bounded at 64 characters (X.520), which for Cyrillic is more than the 64 UTF-8 bytes cryptography
# checks when it parses a certificate; its warning about our own, correct, names is noise.
warnings.filterwarnings("ignore", message="Attribute's length must be", category=UserWarning)


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
HISTORY_DIR = "history"
ROOT_YEARS = 20
ISSUING_YEARS = 10
TSA_CERT_YEARS = 10  # capped by the issuing CA's end
TSA_KEY_DAYS = 365  # the TSA key signs for a year, its certificate validates the tokens for years after
# Renewal margins: a new issuing CA before the longest user certificate (2 years) could outlive the old one;
# a new root before an issuing CA could no longer get its full life under it.
ISSUING_RENEW_BEFORE = timedelta(days=365 * 3)
ROOT_RENEW_BEFORE = timedelta(days=365 * (ISSUING_YEARS + 1))
TSA_RENEW_BEFORE = timedelta(days=365 * 3)
# PBKDF2-HMAC-SHA256 rounds guarding a key under a PIN or passphrase (OWASP 2023 figure).
PIN_KDF_ITERATIONS = 600_000
# ... and under a user's PIN, which is short: one offline guess must cost >= 0.5 s of one core (issue 16: 3,000,000
# rounds take 0.61 s of CPU on the 2-core development machine; 600,000 took 0.11 s). DMS_PIN_KDF_ITERATIONS lowers
# it for test suites, never below PIN_KDF_ITERATIONS. The count is stored in each key, so older keys still open.
USER_PIN_KDF_ITERATIONS = max(PIN_KDF_ITERATIONS, int(os.environ.get("DMS_PIN_KDF_ITERATIONS") or 3_000_000))


def generate_key(algorithm: KeyAlgorithm) -> PrivateKey:
    return _KEY_GENERATORS[KeyAlgorithm(algorithm)]()


def _utcnow() -> datetime:
    return clock.now()


def _cap(value: str, limit: int = 64) -> str:
    """Cut to X.520's upper bound of 64 characters (ub-common-name, ub-organization-name).

    The bound counts characters, not bytes: cryptography's own check counts UTF-8 bytes and would
    cut a Cyrillic name at 32 letters, so the attribute is built without it (see :func:`_attribute`).
    """
    return value.strip()[:limit]


def _attribute(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute:
    return x509.NameAttribute(oid, _cap(value), _validate=False)


def _name(common_name: str, organisation: str | None = None) -> x509.Name:
    attributes = [_attribute(NameOID.COMMON_NAME, common_name)]
    if organisation:
        attributes.append(_attribute(NameOID.ORGANIZATION_NAME, organisation))
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


def _pem_key(key: PrivateKey, passphrase: str, iterations: int = PIN_KDF_ITERATIONS) -> bytes:
    """PKCS#8 EncryptedPrivateKeyInfo (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC) as PEM.

    Built here rather than with cryptography's BestAvailableEncryption, which uses only 2,048
    PBKDF2 iterations: too cheap to guess for a key protected by a short PIN. OpenSSL and
    cryptography read the result as any encrypted PKCS#8 key.
    """
    plain = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt, iv = os.urandom(16), os.urandom(16)
    kek = PBKDF2HMAC(hashes.SHA256(), 32, salt, iterations).derive(passphrase.encode("utf-8"))
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
                            "iteration_count": iterations,
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


def _open_pem_key(key_pem: bytes, passphrase: str) -> PrivateKey:
    """The key of a PEM :func:`_pem_key` wrote (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC), opened so that other
    threads run during its key derivation: cryptography's PEM loader holds the GIL through the PBKDF2 rounds
    (0.6 s of a user's PIN), its PBKDF2HMAC does not (issue 20: a batch renders while the PIN opens the key).
    Any other PEM goes to cryptography's loader. ValueError for a wrong passphrase, as that loader."""
    try:
        info = asn1_keys.EncryptedPrivateKeyInfo.load(pem.unarmor(key_pem)[2])
        scheme = info["encryption_algorithm"]
        kdf, cipher = scheme["parameters"]["key_derivation_func"], scheme["parameters"]["encryption_scheme"]
        ours = (scheme["algorithm"].native, kdf["algorithm"].native, kdf["parameters"]["prf"]["algorithm"].native,
                cipher["algorithm"].native) == ("pbes2", "pbkdf2", "sha256", "aes256_cbc")
    except (ValueError, TypeError, KeyError):
        ours = False
    if not ours:
        key = serialization.load_pem_private_key(key_pem, password=passphrase.encode("utf-8"))
        return key  # type: ignore[return-value]  # the caller checks the type
    parameters = kdf["parameters"]
    kek = PBKDF2HMAC(hashes.SHA256(), 32, parameters["salt"].native, parameters["iteration_count"].native).derive(
        passphrase.encode("utf-8")
    )
    decryptor = Cipher(algorithms.AES(kek), modes.CBC(cipher["parameters"].native)).decryptor()
    padded = decryptor.update(info["encrypted_data"].native) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    plain = unpadder.update(padded) + unpadder.finalize()  # ValueError: wrong passphrase (bad padding)
    return serialization.load_der_private_key(plain, password=None)  # type: ignore[return-value]


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


class CaCredential:
    """A CA certificate and its private key. A key read from disk stays encrypted until first used, so a process
    that never issues or publishes (a web worker: it only time-stamps) never decrypts the root or issuing key."""

    def __init__(self, certificate: x509.Certificate, key: PrivateKey | None = None, *,
                 key_pem: bytes | None = None, passphrase: bytes | None = None) -> None:
        if key is None and key_pem is None:
            raise PkiError("a CA credential needs its key")
        self.certificate = certificate
        self._key = key
        self._key_pem = key_pem
        self._passphrase = passphrase

    @property
    def key_loaded(self) -> bool:
        return self._key is not None

    @property
    def key(self) -> PrivateKey:
        if self._key is None:
            assert self._key_pem is not None
            try:
                key = serialization.load_pem_private_key(self._key_pem, password=self._passphrase)
            except (ValueError, TypeError) as exc:
                raise CaLoadError(str(exc)) from exc
            if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
                raise UnsupportedKey(type(key).__name__)
            self._key, self._key_pem, self._passphrase = key, None, None
        return self._key

    @property
    def certificate_der(self) -> bytes:
        return _der(self.certificate)

    def __repr__(self) -> str:
        return f"CaCredential({self.certificate.subject.rfc4514_string()!r})"


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
    invalidity_date: datetime | None = None  # key compromise: since when the key is known to be unsafe


@dataclass
class CertificateAuthority:
    """Root CA, issuing CA and the time-stamping certificate of one organisation, with their history.

    Rollover (:meth:`roll_over`): the TSA key signs for :data:`TSA_KEY_DAYS` only, then a new key and
    certificate take over (the old certificate, kept, still validates its tokens for its whole life);
    the issuing CA is renewed with a new key :data:`ISSUING_RENEW_BEFORE` before it expires (the old
    one keeps its key to publish revocation lists for what it issued until it expires); the root is
    renewed :data:`ROOT_RENEW_BEFORE` before it expires and the old root stays a trust anchor for
    what it covered. Retired certificates stay in ``history`` for validation.
    """

    organisation: str
    root: CaCredential
    issuing: CaCredential
    tsa: CaCredential
    public_base_url: str | None = None
    retired_issuing: list[CaCredential] = field(default_factory=list)  # with keys, until they expire
    history: list[x509.Certificate] = field(default_factory=list)  # retired roots, issuing CAs and TSAs

    # --- creation ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        organisation: str,
        *,
        algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256,
        public_base_url: str | None = None,
        root_years: int = ROOT_YEARS,
        issuing_years: int = ISSUING_YEARS,
        now: datetime | None = None,
    ) -> CertificateAuthority:
        start = (now or _utcnow()) - _CLOCK_SKEW
        root = _new_root(organisation, algorithm, start, root_years)
        issuing = _new_issuing(root, organisation, algorithm, start, issuing_years, public_base_url)
        tsa = _new_tsa(issuing, organisation, algorithm, start, public_base_url)
        return cls(organisation, root, issuing, tsa, public_base_url)

    @property
    def algorithm(self) -> KeyAlgorithm:
        public = self.issuing.certificate.public_key()  # not the key: reading it would decrypt it
        if isinstance(public, rsa.RSAPublicKey):
            return KeyAlgorithm.RSA_2048 if public.key_size <= 2048 else KeyAlgorithm.RSA_3072
        return KeyAlgorithm.ECDSA_P256

    # --- rollover -----------------------------------------------------------------------------

    def due_renewals(self, now: datetime | None = None) -> list[str]:
        """The roles whose renewal is due at ``now``: root, issuing, tsa (in the order they are renewed)."""
        now = now or _utcnow()
        due = []
        if self.root.certificate.not_valid_after_utc - now < ROOT_RENEW_BEFORE:
            due.append("root")
        if ("root" in due or self.issuing.certificate.not_valid_after_utc - now < ISSUING_RENEW_BEFORE
                or self.issuing.certificate.issuer != self.root.certificate.subject):
            due.append("issuing")
        tsa = self.tsa.certificate
        if ("issuing" in due or now - tsa.not_valid_before_utc >= timedelta(days=TSA_KEY_DAYS)
                or tsa.not_valid_after_utc - now < TSA_RENEW_BEFORE):
            due.append("tsa")
        return due

    def roll_over(self, now: datetime | None = None, roles: Iterable[str] | None = None) -> list[str]:
        """Renew what is due (or the named ``roles``) with new keys; returns the roles renewed."""
        now = now or _utcnow()
        wanted = set(roles) if roles is not None else set(self.due_renewals(now))
        done = []
        start = now - _CLOCK_SKEW
        algorithm = self.algorithm
        if "root" in wanted:
            self.history.append(self.root.certificate)
            self.root = _new_root(self.organisation, algorithm, start, ROOT_YEARS)
            wanted.add("issuing")
            done.append("root")
        if "issuing" in wanted:
            self.history.append(self.issuing.certificate)
            if self.issuing.certificate.not_valid_after_utc > now:
                self.retired_issuing.append(self.issuing)
            self.issuing = _new_issuing(self.root, self.organisation, algorithm, start, ISSUING_YEARS,
                                        self.public_base_url)
            wanted.add("tsa")
            done.append("issuing")
        if "tsa" in wanted:
            self.history.append(self.tsa.certificate)
            self.tsa = _new_tsa(self.issuing, self.organisation, algorithm, start, self.public_base_url)
            done.append("tsa")
        self.retired_issuing = [c for c in self.retired_issuing if c.certificate.not_valid_after_utc > now]
        return done

    @property
    def issuing_generations(self) -> list[CaCredential]:
        """The issuing CAs that still publish revocation lists: the current one and retired ones not expired."""
        return [self.issuing, *self.retired_issuing]

    def issuer_of(self, certificate_der: bytes) -> CaCredential | None:
        """Which of our issuing CAs (current or retired) issued a certificate, by its signature."""
        cert = x509.load_der_x509_certificate(certificate_der)
        for credential in self.issuing_generations:
            if credential.certificate.subject != cert.issuer:
                continue
            try:
                cert.verify_directly_issued_by(credential.certificate)
                return credential
            except (ValueError, TypeError, InvalidSignature):
                continue
        return None

    def chain_for(self, certificate_der: bytes) -> list[bytes]:
        """The chain (issuing CA, root) of a certificate we issued, whichever generation issued it."""
        issuer = self.issuer_of(certificate_der)
        if issuer is None or issuer is self.issuing:
            return self.chain_der
        roots = [self.root.certificate, *(c for c in self.history if _is_self_signed(c))]
        root = next((r for r in roots if r.subject == issuer.certificate.issuer
                     and _verifies(issuer.certificate, r)), self.root.certificate)
        return [issuer.certificate_der, _der(root)]

    # --- persistence (a convenience; the caller may store the bytes elsewhere) ---------------

    def save(self, directory: str | Path, passphrase: str) -> None:
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        for role, credential in self._credentials().items():
            cert_path, key_path = target / f"{role}.crt.pem", target / f"{role}.key.pem"
            pem_bytes = _cert_pem(credential.certificate)
            if cert_path.exists() and key_path.exists() and cert_path.read_bytes() == pem_bytes:
                continue  # unchanged: no need to encrypt the key again (600,000 KDF rounds each)
            key_path.write_bytes(_pem_key(credential.key, passphrase, PIN_KDF_ITERATIONS))
            key_path.chmod(0o600)
            cert_path.write_bytes(pem_bytes)
        history = target / HISTORY_DIR
        history.mkdir(exist_ok=True)
        kept = {f"{c.certificate.serial_number:x}" for c in self.retired_issuing}
        for cert in self.history:
            (history / f"{cert.serial_number:x}.crt.pem").write_bytes(_cert_pem(cert))
        for credential in self.retired_issuing:
            key_path = history / f"{credential.certificate.serial_number:x}.key.pem"
            if not key_path.exists():
                key_path.write_bytes(_pem_key(credential.key, passphrase, PIN_KDF_ITERATIONS))
                key_path.chmod(0o600)
        for stale in history.glob("*.key.pem"):  # an expired issuing CA's key is no longer needed
            if stale.name.removesuffix(".key.pem") not in kept:
                stale.unlink()
        meta = {"organisation": self.organisation, "public_base_url": self.public_base_url}
        (target / "ca.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path, passphrase: str) -> CertificateAuthority:
        source = Path(directory)
        secret = passphrase.encode("utf-8")
        try:
            meta = json.loads((source / "ca.json").read_text(encoding="utf-8"))
            credentials = {
                role: CaCredential(
                    x509.load_pem_x509_certificate((source / f"{role}.crt.pem").read_bytes()),
                    key_pem=(source / f"{role}.key.pem").read_bytes(),
                    passphrase=secret,
                )
                for role in ("root", "issuing", "tsa")
            }
            _ = credentials["tsa"].key  # the one key every process uses: decrypted now, checking the passphrase
            history: list[x509.Certificate] = []
            retired: list[CaCredential] = []
            for path in sorted((source / HISTORY_DIR).glob("*.crt.pem")):
                cert = x509.load_pem_x509_certificate(path.read_bytes())
                history.append(cert)
                key_path = path.with_name(path.name.replace(".crt.pem", ".key.pem"))
                if key_path.exists():
                    retired.append(CaCredential(cert, key_pem=key_path.read_bytes(), passphrase=secret))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise CaLoadError(str(exc)) from exc
        history.sort(key=lambda c: c.not_valid_before_utc)
        return cls(meta["organisation"], public_base_url=meta.get("public_base_url"),
                   retired_issuing=retired, history=history, **credentials)

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

    @property
    def roots_der(self) -> list[bytes]:
        """Every root we ever had (the current first): old roots stay anchors for what they covered."""
        old = [_der(c) for c in self.history if _is_self_signed(c)]
        return [self.root.certificate_der, *old]

    @property
    def intermediates_der(self) -> list[bytes]:
        """Every issuing CA and TSA certificate we ever had (the current first), for building paths."""
        old = [_der(c) for c in self.history if not _is_self_signed(c)]
        return [self.issuing.certificate_der, self.tsa.certificate_der, *old]

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
        organisation: str | None = None,
    ) -> UserCredential:
        """A signing certificate for a signatory; the new key is returned encrypted under ``pin``.

        ``organisation``: the holder's own organisation (None: the CA's, for the agency's staff). The
        certificate never outlives the issuing CA; an issuing CA at its end of life raises PkiError
        (roll it over first, :meth:`roll_over`), never a traceback from deep inside.
        """
        if not pin:
            raise WrongPin("empty PIN")
        start = not_before or (_utcnow() - _CLOCK_SKEW)
        if self.issuing.certificate.not_valid_after_utc - start < timedelta(days=1):
            raise PkiError(
                f"the issuing CA expires {self.issuing.certificate.not_valid_after_utc:%Y-%m-%d}: roll it over first"
            )
        key = generate_key(algorithm)
        base = self.public_base_url.rstrip("/") + "/" if self.public_base_url else None
        extensions: list[tuple[x509.ExtensionType, bool]] = [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (_key_usage(digital_signature=True, content_commitment=True), True),
        ]
        if email:
            extensions.append((x509.SubjectAlternativeName([x509.RFC822Name(email)]), False))
        cert = _issue(
            self.issuing,
            subject=_name(common_name, organisation or self.organisation),
            public_key=key.public_key(),
            not_before=start,
            not_after=start + timedelta(days=valid_days),
            extensions=extensions,
            crl_url=base + ISSUING_CRL_PATH if base else None,
            issuer_url=base + ISSUING_CERT_PATH if base else None,
        )
        return UserCredential.from_parts(cert, _pem_key(key, pin, USER_PIN_KDF_ITERATIONS))

    # --- revocation ---------------------------------------------------------------------------

    def build_crl(
        self,
        revoked: Iterable[RevokedEntry],
        *,
        number: int = 1,
        now: datetime | None = None,
        valid_for: timedelta = timedelta(days=7),
        issuer: CaCredential | None = None,
    ) -> bytes:
        """The CRL (DER) of an issuing CA (the current one by default, or a retired one still alive) listing
        user certificates revoked by the caller. Entries are never dropped when certificates expire: the
        CRL says so with ExpiredCertsOnCRL, so it still speaks for expired certificates years later."""
        return _build_crl(issuer or self.issuing, revoked, number=number, now=now, valid_for=valid_for)

    def build_root_crl(self, *, number: int = 1, now: datetime | None = None) -> bytes:
        """The root CA's CRL (DER): empty, because the issuing CA is replaced, never revoked here."""
        return _build_crl(self.root, (), number=number, now=now, valid_for=timedelta(days=365))


def _verifies(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _is_self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def _new_root(organisation: str, algorithm: KeyAlgorithm, start: datetime, years: int) -> CaCredential:
    root_key = generate_key(algorithm)
    root_name = _name(f"Корневой УЦ {organisation}", organisation)
    root_cert = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return CaCredential(root_cert, root_key)


def _base(public_base_url: str | None) -> str | None:
    return public_base_url.rstrip("/") + "/" if public_base_url else None


def _new_issuing(root: CaCredential, organisation: str, algorithm: KeyAlgorithm, start: datetime, years: int,
                 public_base_url: str | None) -> CaCredential:
    base = _base(public_base_url)
    issuing_key = generate_key(algorithm)
    issuing_cert = _issue(
        root,
        subject=_name(f"Выпускающий УЦ {organisation}", organisation),
        public_key=issuing_key.public_key(),
        not_before=start,
        not_after=start + timedelta(days=365 * years),
        extensions=[
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (_key_usage(key_cert_sign=True, crl_sign=True), True),
        ],
        crl_url=base + ROOT_CRL_PATH if base else None,
        issuer_url=base + ROOT_CERT_PATH if base else None,
    )
    return CaCredential(issuing_cert, issuing_key)


def _new_tsa(issuing: CaCredential, organisation: str, algorithm: KeyAlgorithm, start: datetime,
             public_base_url: str | None) -> CaCredential:
    base = _base(public_base_url)
    tsa_key = generate_key(algorithm)
    tsa_cert = _issue(
        issuing,
        subject=_name(f"Служба штампов времени {organisation}", organisation),
        public_key=tsa_key.public_key(),
        not_before=start,
        not_after=start + timedelta(days=365 * TSA_CERT_YEARS),
        extensions=[
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (_key_usage(digital_signature=True), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True),
            (x509.PrivateKeyUsagePeriod(start, start + timedelta(days=TSA_KEY_DAYS)), False),
        ],
        crl_url=base + ISSUING_CRL_PATH if base else None,
        issuer_url=base + ISSUING_CERT_PATH if base else None,
    )
    return CaCredential(tsa_cert, tsa_key)


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
    end = min(not_after, issuer.certificate.not_valid_after_utc)
    if end <= not_before:
        raise PkiError(f"the issuer {issuer.certificate.subject.rfc4514_string()} expired {end:%Y-%m-%d}")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
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
    # whole seconds (what the encoding keeps): a CRL made after a time-stamp of the same second is not "before" it
    this_update = (now or _utcnow()).replace(microsecond=0)
    since = issuer.certificate.not_valid_before_utc
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(this_update)
        .next_update(this_update + valid_for)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.UnrecognizedExtension(EXPIRED_CERTS_ON_CRL, core.GeneralizedTime(since).dump()),
                       critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    for entry in revoked:
        reason = _REVOCATION_REASONS.get(entry.reason)
        if reason is None:
            raise PkiError(f"unknown revocation reason {entry.reason!r}; known: {sorted(_REVOCATION_REASONS)}")
        revoked_builder = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at)
            .add_extension(x509.CRLReason(reason), critical=False)
        )
        if entry.invalidity_date is not None:
            revoked_builder = revoked_builder.add_extension(x509.InvalidityDate(entry.invalidity_date), critical=False)
        revoked_cert = revoked_builder.build()
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
        key = _open_pem_key(key_pem, pin)
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
    chain = [_der(c) for c in extra or ()]
    return UserCredential.from_parts(cert, _pem_key(key, new_pin, USER_PIN_KDF_ITERATIONS)), chain
