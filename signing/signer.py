"""A signer whose private key is loaded once and kept: the object every signing call takes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from . import clock
from .der import tlv
from .errors import (
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRevoked,
    KeyMismatch,
    PkiError,
    SignatureFailed,
    UnsupportedKey,
)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _sign_rsa_pkcs1(key: PrivateKey, data: bytes, digest: str) -> bytes:
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.sign(data, padding.PKCS1v15(), _HASHES[digest]())


def _sign_ecdsa(key: PrivateKey, data: bytes, digest: str) -> bytes:
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key.sign(data, ec.ECDSA(_HASHES[digest]()))


_RAW_SIGNERS: dict[str, Callable[[PrivateKey, bytes, str], bytes]] = {
    "rsassa_pkcs1v15": _sign_rsa_pkcs1,
    "ecdsa": _sign_ecdsa,
}


class LoadedKeySigner(Signer):
    """pyHanko signer that signs with an already loaded key.

    pyHanko's SimpleSigner re-parses the private key from DER on every signature;
    this one keeps the parsed key object, which is what makes batches fast.
    """

    def __init__(
        self,
        signing_cert: asn1_x509.Certificate,
        key: PrivateKey,
        chain: Sequence[asn1_x509.Certificate],
    ) -> None:
        # the registry holds the chain only: pyHanko adds the signing certificate itself (it appeared twice)
        super().__init__(
            signing_cert=signing_cert,
            cert_registry=SimpleCertificateStore.from_certs([c for c in chain if c.dump() != signing_cert.dump()]),
        )
        self._key = key

    async def unsigned_attrs(
        self,
        digest_algorithm: str,
        signature: bytes,
        signed_attrs: cms.CMSAttributes,
        timestamper: TimeStamper | None = None,
        dry_run: bool = False,
    ) -> cms.CMSAttributes | None:
        """The signature time stamp, handed to pyHanko as parsed DER.

        pyHanko builds this attribute around the token object, and asn1crypto then re-encodes it
        recursively without caching: about a second per signature for some tokens. Parsed from
        bytes it costs nothing.
        """
        if timestamper is None:
            return None
        digest = hashes.Hash(_HASHES[digest_algorithm]())
        digest.update(signature)
        token = await (
            timestamper.async_dummy_response(digest_algorithm)
            if dry_run
            else timestamper.async_timestamp(digest.finalize(), digest_algorithm)
        )
        oid = cms.CMSAttributeType("signature_time_stamp_token").dump()
        attribute = tlv(0x30, oid + tlv(0x31, token.dump()))
        return cms.CMSAttributes.load(tlv(0x31, attribute))

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        raw_signer = _RAW_SIGNERS.get(mechanism)
        if raw_signer is None or digest_algorithm not in _HASHES:
            raise SignatureFailed(f"unsupported mechanism {mechanism}/{digest_algorithm}")
        return raw_signer(self._key, data, digest_algorithm)


def asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def fingerprint_sha256(certificate_der: bytes) -> str:
    """Lower-case hex SHA-256 of a certificate's DER bytes."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(certificate_der)
    return digest.finalize().hex()


def _public_der(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class SignerIdentity:
    """A signatory's certificate, its chain (issuing CA first) and the unlocked private key."""

    certificate: x509.Certificate
    key: PrivateKey
    chain: list[x509.Certificate] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
            raise UnsupportedKey(type(self.key).__name__)
        if _public_der(self.key.public_key()) != _public_der(self.certificate.public_key()):
            raise KeyMismatch()
        self._pyhanko_signer: LoadedKeySigner | None = None

    @property
    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def chain_der(self) -> list[bytes]:
        return [c.public_bytes(serialization.Encoding.DER) for c in self.chain]

    @property
    def fingerprint(self) -> str:
        return fingerprint_sha256(self.certificate_der)

    @property
    def common_name(self) -> str:
        names = self.certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(names[0].value) if names else self.certificate.subject.rfc4514_string()

    def private_key_der(self) -> bytes:
        """Unencrypted PKCS#8 DER, for handing the key to worker processes in memory only."""
        return self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def pyhanko_signer(self) -> LoadedKeySigner:
        if self._pyhanko_signer is None:
            self._pyhanko_signer = LoadedKeySigner(
                asn1_cert(self.certificate), self.key, [asn1_cert(c) for c in self.chain]
            )
        return self._pyhanko_signer

    def check_usable(self, at: datetime | None = None, crl_der: bytes | None = None) -> None:
        """Refuse a certificate that is not valid at ``at`` or that ``crl_der`` revokes."""
        now = at or clock.now()
        if now < self.certificate.not_valid_before_utc:
            raise CertificateNotYetValid(f"valid from {self.certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
        if now > self.certificate.not_valid_after_utc:
            raise CertificateExpired(f"expired {self.certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
        if crl_der is not None and is_revoked(self.certificate, crl_der, self.chain):
            raise CertificateRevoked(f"serial {self.certificate.serial_number:x}")

    @classmethod
    def from_der(cls, certificate_der: bytes, key_der: bytes, chain_der: Sequence[bytes]) -> SignerIdentity:
        key = serialization.load_der_private_key(key_der, password=None)
        return cls(
            certificate=x509.load_der_x509_certificate(certificate_der),
            key=key,  # type: ignore[arg-type]
            chain=[x509.load_der_x509_certificate(c) for c in chain_der],
        )


def is_revoked(certificate: x509.Certificate, crl_der: bytes, issuers: Sequence[x509.Certificate]) -> bool:
    """True if a CRL signed by the certificate's issuer lists it; a CRL from anyone else is refused."""
    crl = x509.load_der_x509_crl(crl_der)
    issuer = next((c for c in issuers if c.subject == certificate.issuer), None)
    if issuer is None or crl.issuer != certificate.issuer:
        raise PkiError("the revocation list does not belong to the certificate's issuer")
    if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise PkiError("the revocation list signature is invalid")
    return crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None
