"""RFC 3161 time stamps: our own time-stamp authority, and the pyHanko time-stampers that use it
in-process or reach an external TSA over HTTP. Any failure raises TimestampError: signing never
silently falls back to a signature without a time stamp.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper

from . import aio
from . import clock as _clock
from .errors import SigningLibraryError, TimestampError
from .der import tlv
from .signer import LoadedKeySigner, PrivateKey, asn1_cert

if TYPE_CHECKING:
    from .pki import CertificateAuthority

# A private-use OID (ITU-T X.667 UUID arc) naming this product's time-stamping policy.
POLICY_OID = "2.25.248357216340452185823197306633158624117"
CONTENT_TYPE_REQUEST = "application/timestamp-query"
CONTENT_TYPE_REPLY = "application/timestamp-reply"

_DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}

_GRANTED = bytes.fromhex("3003020100")  # PKIStatusInfo { status granted(0) }
_INTEGER_1 = bytes.fromhex("020101")
_INTEGER_3 = bytes.fromhex("020103")
_OID_SIGNED_DATA = core.ObjectIdentifier("1.2.840.113549.1.7.2").dump()
_OID_TST_INFO = core.ObjectIdentifier("1.2.840.113549.1.9.16.1.4").dump()
_CONTENT_TYPE_TST_INFO = cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}).dump()


def _cms_time(moment: datetime) -> cms.Time:
    """RFC 5652 § 11.3: UTCTime for 1950-2049, GeneralizedTime otherwise (the archive outlives 2049)."""
    if 1950 <= moment.year <= 2049:
        return cms.Time({"utc_time": moment})
    return cms.Time({"generalized_time": moment})


class _StatusOnlyResp(core.Sequence):
    """A TimeStampResp without a token (asn1crypto's TimeStampResp insists on one)."""

    _fields = [("status", tsp.PKIStatusInfo)]


def _rejection(fail_info: str, text: str) -> _StatusOnlyResp:
    return _StatusOnlyResp(
        {
            "status": tsp.PKIStatusInfo(
                {
                    "status": tsp.PKIStatus("rejection"),
                    "status_string": tsp.PKIFreeText([text]),
                    "fail_info": tsp.PKIFailureInfo({fail_info}),
                }
            )
        }
    )


class TimeStampAuthority:
    """The organisation's TSA: turns a TimeStampReq (DER) into a TimeStampResp (DER)."""

    def __init__(
        self,
        certificate: x509.Certificate,
        key: PrivateKey,
        chain: Sequence[x509.Certificate] = (),
        *,
        policy_oid: str = POLICY_OID,
        clock: Callable[[], datetime] = _clock.now,
    ) -> None:
        self.certificate = certificate
        self.key = key
        self.chain = list(chain)
        self.policy_oid = policy_oid
        self.clock = clock
        self._signer = LoadedKeySigner(asn1_cert(certificate), key, [asn1_cert(c) for c in self.chain])
        own = asn1_cert(certificate)
        self._tsa_name = asn1_x509.GeneralName(name="directory_name", value=own.subject)
        self._sid = cms.IssuerAndSerialNumber({"issuer": own.issuer, "serial_number": own.serial_number}).dump()
        # a SET OF: in DER its elements are sorted by their encodings (ISO 32000: the CMS object is DER-encoded)
        self._certificates = b"".join(
            sorted(c.public_bytes(serialization.Encoding.DER) for c in [certificate, *self.chain])
        )
        self._signing_certificate_attr = cms.CMSAttribute(
            {"type": "signing_certificate_v2", "values": [as_signing_certificate_v2(own)]}
        ).dump()

    @classmethod
    def from_ca(cls, ca: CertificateAuthority) -> TimeStampAuthority:
        """The TSA of a :class:`signing.pki.CertificateAuthority`."""
        return cls(ca.tsa.certificate, ca.tsa.key, [ca.issuing.certificate, ca.root.certificate])

    # Picklable as DER so that batch worker processes can rebuild it.
    def __getstate__(self) -> dict[str, Any]:
        return {
            "certificate": self.certificate.public_bytes(serialization.Encoding.DER),
            "key": self.key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            "chain": [c.public_bytes(serialization.Encoding.DER) for c in self.chain],
            "policy_oid": self.policy_oid,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            x509.load_der_x509_certificate(state["certificate"]),
            serialization.load_der_private_key(state["key"], password=None),
            [x509.load_der_x509_certificate(c) for c in state["chain"]],
            policy_oid=state["policy_oid"],
        )

    @property
    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def respond(self, request_der: bytes) -> bytes:
        """Answer one HTTP request body; a malformed request gets a rejection, never an exception."""
        try:
            request = tsp.TimeStampReq.load(request_der)
            for name in ("message_imprint", "req_policy", "nonce", "cert_req"):
                _ = request[name].native  # parse now every part of untrusted bytes that is used
        except Exception:  # noqa: BLE001 - any parse error of untrusted input is a rejection
            return _rejection("bad_data_format", "malformed TimeStampReq").dump()
        return aio.run(self.async_response(request))

    async def async_response(self, request: tsp.TimeStampReq) -> bytes:
        """The DER TimeStampResp for a parsed request."""
        imprint = request["message_imprint"]
        digest_algorithm = imprint["hash_algorithm"]["algorithm"].native
        if _DIGEST_SIZES.get(digest_algorithm) != len(imprint["hashed_message"].native or b""):
            return _rejection("bad_alg", f"unsupported or inconsistent digest {digest_algorithm}").dump()
        requested_policy = request["req_policy"].native
        if requested_policy not in (None, self.policy_oid):
            return _rejection("unaccepted_policy", f"policy {requested_policy} is not offered").dump()
        # whole seconds (the accuracy is a second): revocation data of the same second is not older than the token
        gen_time = self.clock().replace(microsecond=0)
        tst_info = {
            "version": "v1",
            "policy": self.policy_oid,
            "message_imprint": imprint,
            "serial_number": secrets.randbits(63),
            "gen_time": gen_time,
            "accuracy": {"seconds": 1},
            "tsa": self._tsa_name,
        }
        if request["nonce"].native is not None:
            tst_info["nonce"] = request["nonce"].native
        token = await self._token(tsp.TSTInfo(tst_info).dump(), digest_algorithm, gen_time, request["cert_req"].native)
        return tlv(0x30, _GRANTED + token)

    async def _token(self, tst_info_der: bytes, digest_algorithm: str, gen_time: datetime, with_certs: bool) -> bytes:
        """The time-stamp token (CMS SignedData over TSTInfo, RFC 3161 § 2.4.2), assembled as DER.

        Built from pre-encoded parts: asn1crypto object trees are slow to build and re-encode,
        and the TSA sits on the path of every B-T signature.
        """
        digest = hashlib.new(digest_algorithm, tst_info_der).digest()
        attributes = sorted(
            [
                _CONTENT_TYPE_TST_INFO,
                cms.CMSAttribute({"type": "signing_time", "values": [_cms_time(gen_time)]}).dump(),
                cms.CMSAttribute({"type": "message_digest", "values": [digest]}).dump(),
                self._signing_certificate_attr,
            ]
        )
        signed_attrs = b"".join(attributes)
        signature = await self._signer.async_sign_raw(tlv(0x31, signed_attrs), digest_algorithm)
        digest_algorithm_der = algos.DigestAlgorithm({"algorithm": digest_algorithm}).dump()
        mechanism_der = self._signer.get_signature_mechanism_for_digest(digest_algorithm).dump()
        signer_info = tlv(
            0x30,
            _INTEGER_1
            + self._sid
            + digest_algorithm_der
            + tlv(0xA0, signed_attrs)
            + mechanism_der
            + tlv(0x04, signature),
        )
        encapsulated = tlv(0x30, _OID_TST_INFO + tlv(0xA0, tlv(0x04, tst_info_der)))
        signed_data = tlv(
            0x30,
            _INTEGER_3
            + tlv(0x31, digest_algorithm_der)
            + encapsulated
            + (tlv(0xA0, self._certificates) if with_certs else b"")
            + tlv(0x31, signer_info),
        )
        return tlv(0x30, _OID_SIGNED_DATA + tlv(0xA0, signed_data))


class _LoudTimeStamper(TimeStamper):
    """Turns every failure of getting a time stamp into TimestampError."""

    def request_cms(self, message_digest: bytes, md_algorithm: str) -> tuple[int | None, tsp.TimeStampReq]:
        # pyHanko's 64-bit nonces need a 9-byte INTEGER half of the time, and asn1crypto then takes
        # about a second to embed the token in the signature; 63 bits are as good a nonce.
        nonce, request = super().request_cms(message_digest, md_algorithm)
        if nonce is None:
            return nonce, request
        nonce = secrets.randbits(63)
        request["nonce"] = nonce
        return nonce, request

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        try:
            token = await super().async_timestamp(message_digest, md_algorithm)
            # a freshly parsed token: asn1crypto re-encodes a half-built one very slowly when
            # pyHanko packs it into the unsigned attributes
            return cms.ContentInfo.load(token.dump())
        except SigningLibraryError:
            raise
        except Exception as exc:  # noqa: BLE001 - network, HTTP and protocol errors alike
            raise TimestampError(f"{type(exc).__name__}: {exc}") from exc


class InProcessTimeStamper(_LoudTimeStamper):
    """pyHanko time-stamper that asks our TSA directly, without HTTP."""

    def __init__(self, authority: TimeStampAuthority) -> None:
        super().__init__()
        self.authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(await self.authority.async_response(req))


class ExternalTimeStamper(_LoudTimeStamper, HTTPTimeStamper):
    """pyHanko (aiohttp) time-stamper for an external TSA URL (ours over HTTP, or a third party's)."""

    def __init__(self, url: str, timeout: float = 10, auth: tuple[str, str] | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise TimestampError(f"not an HTTP URL: {url!r}")
        HTTPTimeStamper.__init__(self, url, timeout=timeout, auth=auth)


def timestamper_for(source: TimeStampAuthority | str | TimeStamper) -> TimeStamper:
    """A time-stamper from our TSA (in-process), an external URL, or a ready pyHanko TimeStamper."""
    if isinstance(source, TimeStampAuthority):
        return InProcessTimeStamper(source)
    if isinstance(source, str):
        return ExternalTimeStamper(source)
    return source


def token_time(response_der: bytes) -> datetime:
    """The time in a granted TimeStampResp (for tests and logs)."""
    response = tsp.TimeStampResp.load(response_der)
    if response["status"]["status"].native != "granted":
        raise TimestampError(str(response["status"]["status_string"].native))
    content = response["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    return content["gen_time"].native


__all__ = [
    "CONTENT_TYPE_REPLY",
    "CONTENT_TYPE_REQUEST",
    "ExternalTimeStamper",
    "InProcessTimeStamper",
    "TimeStampAuthority",
    "timestamper_for",
    "token_time",
]
