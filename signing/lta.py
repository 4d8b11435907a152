"""B-LTA: validation data and a document time-stamp over everything signed so far, and their renewal.

:func:`protect` appends, as incremental updates (the input stays a byte-for-byte prefix of the
output, so nothing signed is ever rewritten):

1. a DSS update with the certificates and CRLs that prove every signature and every earlier
   time-stamp of the file (CRLs issued at or after the time the signatures were made, handed in by
   the caller — the archive publishes them first), with a VRI entry per signature;
2. a document time-stamp (RFC 3161, /DocTimeStamp) over the whole file.

Renewal is the same call on the protected file: the new DSS adds the data for the previous document
time-stamp, and the new time-stamp, by a TSA whose certificate lives on, proves that all of it
existed while the older time-stamps could still be checked (ETSI EN 319 142-1, PAdES-B-LTA).
:func:`newest_timestamp` tells when the protection of a file must next be renewed
(:meth:`ArchiveTimestamp.renew_by`: before its TSA certificate or one of its algorithms lapses).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import cms
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from . import aio, algorithms
from .errors import BrokenPdf, SigningLibraryError
from .tsa import TimeStampAuthority, timestamper_for


def _signed_data_certs(signed_data: cms.SignedData) -> list[asn1_x509.Certificate]:
    certs = [c.chosen for c in signed_data["certificates"] if c.name == "certificate"]
    for signer_info in signed_data["signer_infos"]:
        for attr in signer_info["unsigned_attrs"] or ():
            if attr["type"].native == "signature_time_stamp_token":
                certs += _signed_data_certs(attr["values"][0]["content"])
    return certs


def _vri_keys(reader: PdfFileReader) -> set[str]:
    try:
        return {str(k).lstrip("/").upper() for k in reader.root["/DSS"]["/VRI"]}
    except (KeyError, TypeError):
        return set()


def add_validation_data(pdf: bytes, *, crls: Sequence[bytes], certs: Sequence[bytes] = ()) -> bytes:
    """``pdf`` plus one incremental update: a DSS holding, for every signature and time-stamp in it, the
    certificates it carries, ``certs`` (our chains) and ``crls`` (a VRI entry per signature)."""
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        embedded = list(writer.prev.embedded_signatures)
        extra_certs = [asn1_x509.Certificate.load(c) for c in certs]
        revocation = [asn1_crl.CertificateList.load(c) for c in crls]
        known = _vri_keys(writer.prev)
        for signature in embedded:
            # a signature with a VRI entry already keeps it as it is (pyHanko's diff analysis flags a changed VRI
            # entry as a suspicious modification); the new data joins the DSS's arrays
            key = hashlib.sha1(signature.pkcs7_content).hexdigest().upper()
            DocumentSecurityStore.supply_dss_in_writer(
                writer,
                None if key in known else signature.pkcs7_content,
                certs=[*_signed_data_certs(signature.signed_data), *extra_certs],
                crls=revocation,
            )
        output = io.BytesIO()
        writer.write(output)
    except SigningLibraryError:
        raise
    except Exception as exc:  # noqa: BLE001 - untrusted bytes
        raise BrokenPdf(f"{type(exc).__name__}: {exc}") from exc
    return output.getvalue()


async def async_add_document_timestamp(pdf: bytes, timestamper: TimeStampAuthority | str | TimeStamper) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    taken = {s.field_name for s in writer.prev.embedded_signatures}
    name = next(f"ArchiveTimestamp{n}" for n in range(1, len(taken) + 2) if f"ArchiveTimestamp{n}" not in taken)
    stamper = PdfTimeStamper(timestamper_for(timestamper), field_name=name)
    output = io.BytesIO()
    await stamper.async_timestamp_pdf(writer, "sha256", output=output)
    return output.getvalue()


def protect(
    pdf: bytes,
    timestamper: TimeStampAuthority | str | TimeStamper,
    *,
    crls: Sequence[bytes],
    certs: Sequence[bytes] = (),
) -> bytes:
    """Validation data and a document time-stamp over ``pdf`` (first protection or renewal): B-LTA."""
    with_data = add_validation_data(pdf, crls=crls, certs=certs)
    return aio.run(async_add_document_timestamp(with_data, timestamper))


@dataclass(frozen=True)
class ArchiveTimestamp:
    """The newest document time-stamp of a file: when it was made, until when its TSA certificate lives, and
    until when the algorithms it rests on (its message imprint's hash, its signature's digest and mechanism,
    the TSA's key) are trustworthy (:mod:`signing.algorithms`; ``algorithm_sunset`` None: no date set)."""

    at: datetime
    tsa_not_after: datetime
    tsa_serial: str
    algorithm_sunset: datetime | None = None
    algorithm: str | None = None  # the weakest algorithm, by name (the one whose sunset comes first)

    @property
    def trustworthy_until(self) -> datetime:
        """The first moment this time-stamp can no longer be relied upon by itself: its TSA certificate's end or
        the first sunset of its algorithms, whichever comes first."""
        if self.algorithm_sunset is None:
            return self.tsa_not_after
        return min(self.tsa_not_after, self.algorithm_sunset)

    def renew_by(self, margin: timedelta) -> datetime:
        """When the protection must be renewed: ``margin`` before the TSA certificate ends or an algorithm of the
        time-stamp reaches its sunset (ETSI EN 319 102-1; for SHA-1 this is long past: due now)."""
        return self.trustworthy_until - margin


def _timestamp_sunset(signed_data: cms.SignedData, cert: asn1_x509.Certificate) -> algorithms.Sunset | None:
    signer_info = signed_data["signer_infos"][0]
    tst = signed_data["encap_content_info"]["content"].parsed
    imprint = tst["message_imprint"]["hash_algorithm"]["algorithm"].native
    found = algorithms.signature_sunsets(signer_info["digest_algorithm"]["algorithm"].native,
                                         signer_info["signature_algorithm"], cert.public_key)
    return algorithms.earliest(algorithms.hash_sunset(imprint), *found)


def newest_timestamp(pdf: bytes) -> ArchiveTimestamp | None:
    """The newest document time-stamp of ``pdf`` (read, not checked), or None."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        stamps = [s for s in reader.embedded_signatures if s.sig_object_type == "/DocTimeStamp"]
        if not stamps:
            return None
        newest = stamps[-1]
        tst = newest.signed_data["encap_content_info"]["content"].parsed
        cert = newest.signer_cert
        sunset = _timestamp_sunset(newest.signed_data, cert)
        return ArchiveTimestamp(tst["gen_time"].native, cert.not_valid_after, format(cert.serial_number, "x"),
                                sunset.at if sunset else None, sunset.label if sunset else None)
    except Exception:  # noqa: BLE001 - unreadable: no protection to speak of
        return None


__all__ = ["ArchiveTimestamp", "add_validation_data", "newest_timestamp", "protect"]
