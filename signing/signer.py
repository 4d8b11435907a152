"""A signer whose private key is loaded once and kept: the object every signing call takes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.sign.attributes import SigningCertificateV2Provider
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, Signer
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


_INTEGER_1 = bytes.fromhex("020101")
_OID_SIGNED_DATA = cms.ContentType("signed_data").dump()
_OID_MESSAGE_DIGEST = cms.CMSAttributeType("message_digest").dump()
_OID_SIGNATURE_TIME_STAMP = cms.CMSAttributeType("signature_time_stamp_token").dump()
_CONTENT_TYPE_DATA = cms.CMSAttribute({"type": "content_type", "values": ["data"]}).dump()
_ENCAP_DATA = tlv(0x30, cms.ContentType("data").dump())


@dataclass(frozen=True)
class _ContainerParts:
    """DER of what a signer's PAdES containers share (see LoadedKeySigner.async_sign)."""

    sid: bytes  # IssuerAndSerialNumber
    digest_algorithm: bytes  # DigestAlgorithmIdentifier
    signature_algorithm: bytes  # SignatureAlgorithmIdentifier
    signing_certificate: bytes  # the signing-certificate-v2 attribute
    certificates: bytes  # [0] IMPLICIT CertificateSet


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
        self._parts: dict[str, _ContainerParts] = {}

    async def _timestamp_attribute(
        self, digest_algorithm: str, signature: bytes, timestamper: TimeStamper, dry_run: bool = False
    ) -> bytes:
        """The DER of the signature-time-stamp-token attribute over ``signature``."""
        digest = hashes.Hash(_HASHES[digest_algorithm]())
        digest.update(signature)
        token = await (
            timestamper.async_dummy_response(digest_algorithm)
            if dry_run
            else timestamper.async_timestamp(digest.finalize(), digest_algorithm)
        )
        return tlv(0x30, _OID_SIGNATURE_TIME_STAMP + tlv(0x31, token.dump()))

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
        attribute = await self._timestamp_attribute(digest_algorithm, signature, timestamper, dry_run)
        return cms.CMSAttributes.load(tlv(0x31, attribute))

    async def async_sign(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        dry_run: bool = False,
        use_pades: bool = False,
        timestamper: TimeStamper | None = None,
        signed_attr_settings: PdfCMSSignedAttributes | None = None,
        is_pdf_sig: bool = True,
        encap_content_info: object = None,
    ) -> cms.ContentInfo:
        """A PAdES signature container assembled as DER from parts encoded once per signer (issue 20).

        pyHanko builds the container as an asn1crypto object tree and encodes it anew for every signature:
        ~60 % of a certificate's signing time went to re-encoding the same certificates, names and
        algorithm identifiers. A PAdES signature's signed attributes are content-type, message-digest and
        signing-certificate-v2 only, so everything but the digest, the signature and its time stamp is the
        same from one signature to the next. The DER is the same as pyHanko's (tests/signing compares them
        byte for byte); any other kind of container (CAdES with signing time, extra attributes)
        is left to pyHanko."""
        fast = (
            use_pades
            and is_pdf_sig
            and encap_content_info is None
            and (signed_attr_settings is None or signed_attr_settings.cades_signed_attrs is None)
            and self.signed_attr_prov_spec is None
            and self.unsigned_attr_prov_spec is None
            and not self.attribute_certs
            and digest_algorithm in _HASHES
        )
        if not fast:
            return await super().async_sign(
                data_digest,
                digest_algorithm,
                dry_run=dry_run,
                use_pades=use_pades,
                timestamper=timestamper,
                signed_attr_settings=signed_attr_settings,
                is_pdf_sig=is_pdf_sig,
                encap_content_info=encap_content_info,
            )
        parts = await self._container_parts(digest_algorithm)
        signed_attrs = b"".join(
            sorted([_CONTENT_TYPE_DATA, tlv(0x30, _OID_MESSAGE_DIGEST + tlv(0x31, tlv(0x04, data_digest))),
                    parts.signing_certificate])
        )
        signature = await self.async_sign_raw(tlv(0x31, signed_attrs), digest_algorithm, dry_run)
        unsigned = b""
        if timestamper is not None:
            unsigned = tlv(0xA1, await self._timestamp_attribute(digest_algorithm, signature, timestamper, dry_run))
        signer_info = tlv(
            0x30,
            _INTEGER_1
            + parts.sid
            + parts.digest_algorithm
            + tlv(0xA0, signed_attrs)
            + parts.signature_algorithm
            + tlv(0x04, signature)
            + unsigned,
        )
        signed_data = tlv(
            0x30,
            _INTEGER_1
            + tlv(0x31, parts.digest_algorithm)
            + _ENCAP_DATA
            + parts.certificates
            + tlv(0x31, signer_info),
        )
        return cms.ContentInfo.load(tlv(0x30, _OID_SIGNED_DATA + tlv(0xA0, signed_data)))

    async def _container_parts(self, digest_algorithm: str) -> _ContainerParts:
        """The parts of a PAdES container that do not change between signatures, encoded once, the way
        pyHanko's Signer encodes them (its attribute provider, SignerInfo and certificate set)."""
        parts = self._parts.get(digest_algorithm)
        if parts is None:
            self._check_digest_algorithm(digest_algorithm)
            signing_cert = self.signing_cert
            assert signing_cert is not None  # given at __init__
            registry = self.cert_registry or ()
            chosen = [c for c in registry if self.embed_roots or c.self_signed == "no"]
            certificates = {c.dump() for c in [*chosen, signing_cert]}
            attribute = await SigningCertificateV2Provider(signing_cert=signing_cert).get_attribute()
            assert attribute is not None
            parts = self._parts[digest_algorithm] = _ContainerParts(
                sid=cms.IssuerAndSerialNumber(
                    {"issuer": signing_cert.issuer, "serial_number": signing_cert.serial_number}
                ).dump(),
                digest_algorithm=algos.DigestAlgorithm({"algorithm": digest_algorithm}).dump(),
                signature_algorithm=self.get_signature_mechanism_for_digest(digest_algorithm).dump(),
                signing_certificate=attribute.dump(),
                certificates=tlv(0xA0, b"".join(sorted(certificates))),
            )
        return parts

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
