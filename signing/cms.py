"""Detached CMS signatures (.p7s) for versions that are not PDFs."""

from __future__ import annotations

import io
from typing import BinaryIO

from asn1crypto import cms, pem
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

from . import aio
from .errors import NotASignature, SigningLibraryError, TimestampError
from .signer import SignerIdentity
from .tsa import TimeStampAuthority, timestamper_for

P7S_MEDIA_TYPE = "application/pkcs7-signature"


def load_p7s(p7s: bytes) -> cms.SignedData:
    """Parse a .p7s (DER, or PEM armoured); NotASignature if it is anything else."""
    try:
        der = pem.unarmor(p7s)[2] if pem.detect(p7s) else p7s
        content_info = cms.ContentInfo.load(der)
        if content_info["content_type"].native != "signed_data":
            raise NotASignature(f"content type {content_info['content_type'].native}")
        signed_data = content_info["content"]
        if len(signed_data["signer_infos"]) == 0:
            raise NotASignature("no signer")
        _ = signed_data["signer_infos"][0]["digest_algorithm"]["algorithm"].dotted
        _ = [choice.chosen for choice in signed_data["certificates"]]
    except SigningLibraryError:
        raise
    except Exception as exc:  # noqa: BLE001 - untrusted bytes
        raise NotASignature(f"{type(exc).__name__}") from exc
    return signed_data


async def async_sign_detached(
    data: bytes | BinaryIO,
    signer: SignerIdentity,
    timestamper: TimeStampAuthority | str | None = None,
) -> bytes:
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    pyhanko_signer = signer.pyhanko_signer()
    digest = "sha384" if signer.certificate.public_key().key_size > 3072 else "sha256"  # type: ignore[union-attr]
    try:
        content_info = await pyhanko_signer.async_sign_general_data(
            stream,
            digest,
            detached=True,
            use_cades=True,
            timestamper=timestamper_for(timestamper) if timestamper is not None else None,
            signed_attr_settings=PdfCMSSignedAttributes(),
        )
    except TimestampError:
        raise
    return content_info.dump()


def sign_detached(
    data: bytes | BinaryIO,
    signer: SignerIdentity,
    timestamper: TimeStampAuthority | str | None = None,
) -> bytes:
    """A CAdES detached signature (DER .p7s) over ``data``; with a TSA it carries a signature time stamp."""
    return aio.run(async_sign_detached(data, signer, timestamper))
