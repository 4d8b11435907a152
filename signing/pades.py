"""PAdES signing of a PDF: B-B, B-T, B-LT; approval or certification; optional visible stamp.

A signature is always an incremental update: the bytes of the input are copied unchanged and the
signature is appended, so earlier signatures stay valid. On any refusal nothing is produced (an
output stream handed in is truncated back to where it was).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import BinaryIO

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation import read_certification_data
from pyhanko.stamp import BaseStampStyle
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError

from . import aio
from .errors import (
    BrokenPdf,
    EncryptedPdf,
    ModificationForbidden,
    NotAPdf,
    SignatureFailed,
    SigningLibraryError,
    TimestampError,
)
from .signer import SignerIdentity
from .stamp import StampPlacement, StampText, stamp_style
from .trust import TrustStore
from .tsa import TimeStampAuthority, timestamper_for

PDF_MAGIC = b"%PDF-"
MAGIC_WINDOW = 1024
_INVISIBLE = StampPlacement(width=0, height=0)


class Level(str, Enum):
    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"


_NEEDS_TIMESTAMP = {Level.B_B: False, Level.B_T: True, Level.B_LT: True}
_NEEDS_TRUST = {Level.B_B: False, Level.B_T: False, Level.B_LT: True}


@dataclass(frozen=True)
class FieldSlot:
    """An empty signature field created with a signature, for a later signer to sign into.

    A certification signature that allows form filling allows signing existing fields but not
    adding new ones, so it must create the fields of the countersigners.
    """

    name: str
    placement: StampPlacement = StampPlacement()


@dataclass(frozen=True)
class SignRequest:
    """Everything about one signature except the signer and the document."""

    level: Level = Level.B_T
    timestamper: TimeStampAuthority | str | TimeStamper | None = None
    certify: bool = False
    stamp: StampPlacement | None = None
    field_name: str | None = None
    reason: str | None = None
    location: str | None = None
    trust: TrustStore | None = None
    bytes_reserved: int | None = None
    reserve_fields: tuple[FieldSlot, ...] = ()
    # Nothing may change after this signature but validation data (DSS, document time-stamps): an approval
    # signature carries DocMDP P=1 in its field's /Lock; a certification signature gets DocMDP P=1. For a single
    # signer (orders, certificates of qualification).
    lock: bool = False

    def __post_init__(self) -> None:
        level = Level(self.level)
        if _NEEDS_TIMESTAMP[level] and self.timestamper is None:
            raise TimestampError(f"level {level.value} needs a time-stamp authority")
        if _NEEDS_TRUST[level] and self.trust is None:
            raise SignatureFailed(f"level {level.value} needs the trust store whose CRLs are embedded")
        if self.lock and self.reserve_fields:
            raise SignatureFailed("a locking signature cannot leave fields for later signers")


def _head(source: BinaryIO) -> bytes:
    start = source.tell()
    head = source.read(MAGIC_WINDOW)
    source.seek(start)
    return head


def open_for_signing(source: BinaryIO, *, certify: bool = False) -> IncrementalPdfFileWriter:
    """Open a PDF for an incremental signature, refusing what cannot or may not be signed."""
    if PDF_MAGIC not in _head(source):
        raise NotAPdf()
    try:
        writer = IncrementalPdfFileWriter(source, strict=False)
        reader = writer.prev
        encrypted = reader.encrypted
        existing = list(fields.enumerate_sig_fields(reader, filled_status=True))
        certification = read_certification_data(reader)
        reader.root["/Pages"]
    except SigningLibraryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure of untrusted bytes means broken
        raise BrokenPdf(f"{type(exc).__name__}: {exc}") from exc
    if encrypted:
        raise EncryptedPdf()
    if certification is not None and certification.permission == fields.MDPPerm.NO_CHANGES:
        raise ModificationForbidden("the certification signature allows no changes")
    if certify and existing:
        raise ModificationForbidden("a certification signature must be the first signature of a document")
    return writer


def _unique_field_name(writer: IncrementalPdfFileWriter) -> str:
    taken = {name for name, _, _ in fields.enumerate_sig_fields(writer.prev)}
    return next(f"Signature{n}" for n in range(1, len(taken) + 2) if f"Signature{n}" not in taken)


def _page_index(writer: IncrementalPdfFileWriter, page: int) -> int:
    count = int(writer.prev.root["/Pages"]["/Count"])
    index = page if page >= 0 else count + page
    if not 0 <= index < count:
        raise SignatureFailed(f"the document has {count} pages, no page {page}")
    return index


def _existing_field(writer: IncrementalPdfFileWriter, name: str) -> tuple[bool, tuple[float, float]] | None:
    """(already signed, (width, height)) of an existing signature field, or None."""
    for _name, value, field_ref in fields.enumerate_sig_fields(writer.prev, with_name=name):
        x1, y1, x2, y2 = (float(v) for v in field_ref.get_object().get("/Rect", [0, 0, 0, 0]))
        return value is not None, (abs(x2 - x1), abs(y2 - y1))
    return None


def _reserve_fields(writer: IncrementalPdfFileWriter, slots: tuple[FieldSlot, ...]) -> None:
    for slot in slots:
        if _existing_field(writer, slot.name) is not None:
            raise SignatureFailed(f"a field named {slot.name!r} already exists")
        spec = fields.SigFieldSpec(
            sig_field_name=slot.name, on_page=_page_index(writer, slot.placement.page), box=slot.placement.box
        )
        fields.append_signature_field(writer, spec)


def _pyhanko_signer(
    signer: SignerIdentity, request: SignRequest, writer: IncrementalPdfFileWriter
) -> tuple[signers.PdfSigner, str]:
    field_name = request.field_name or _unique_field_name(writer)
    placement = request.stamp or _INVISIBLE
    existing = _existing_field(writer, field_name)
    if existing is not None and existing[0]:
        raise SignatureFailed(f"the field {field_name!r} is already signed")
    if read_certification_data(writer.prev) is not None and (existing is None or request.reserve_fields):
        empty = [name for name, value, _ in fields.enumerate_sig_fields(writer.prev) if value is None]
        raise ModificationForbidden(
            f"the certification signature allows signing only into its empty fields {empty}, not adding fields"
        )
    style: BaseStampStyle | None = None
    box = None
    if existing is not None and request.stamp is not None and existing[1][0] > 0:
        width, height = existing[1]
        placement = StampPlacement(width=width, height=height, verify_url=placement.verify_url, note=placement.note)
    if request.stamp is not None:
        style = stamp_style(StampText.for_certificate(signer.certificate), placement)
        box = placement.box
    _reserve_fields(writer, request.reserve_fields)
    level = Level(request.level)
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name,
        reason=request.reason,
        location=request.location,
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=request.certify,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES if request.lock else fields.MDPPerm.FILL_FORMS,
        embed_validation_info=_NEEDS_TRUST[level],
        validation_context=request.trust.validation_context() if _NEEDS_TRUST[level] and request.trust else None,
        signer_key_usage={"non_repudiation"},
    )
    if request.lock and existing is not None and not request.certify:
        raise SignatureFailed(f"a locking approval signature needs a new field, {field_name!r} exists")
    timestamper = timestamper_for(request.timestamper) if _NEEDS_TIMESTAMP[level] and request.timestamper else None
    pdf_signer = signers.PdfSigner(
        metadata,
        signer.pyhanko_signer(),
        timestamper=timestamper,
        stamp_style=style,
        new_field_spec=None if existing is not None else _field_spec(request, field_name, writer, placement, box),
    )
    return pdf_signer, field_name


# The lock of a locking approval signature: its field's /Lock carries /P 1 (DocMDP "no changes", PDF 2.0), so
# filling any form field, adding an annotation or a signature afterwards makes the signature "modified", while the
# validation data (DSS) and document time-stamps of B-LT/B-LTA stay allowed. The /Lock names no fields: with
# /Action /All, pyHanko (0.38) takes the DSS revision of a PDF that has form fields for an update of a locked
# field and rejects the document's own B-LT signature.
_LOCK = fields.FieldMDPSpec(action=fields.FieldMDPAction.INCLUDE, fields=[])


def _field_spec(
    request: SignRequest,
    field_name: str,
    writer: IncrementalPdfFileWriter,
    placement: StampPlacement,
    box: tuple[int, int, int, int] | None,
) -> fields.SigFieldSpec:
    locked = request.lock and not request.certify
    return fields.SigFieldSpec(
        sig_field_name=field_name,
        on_page=_page_index(writer, placement.page),
        box=box,
        field_mdp_spec=_LOCK if locked else None,
        doc_mdp_update_value=fields.MDPPerm.NO_CHANGES if locked else None,
    )


@contextmanager
def _refusals() -> Iterator[None]:
    """Translate pyHanko's failures into our errors, keeping ours as they are."""
    try:
        yield
    except SigningLibraryError:
        raise
    except (PathBuildingError, PathValidationError) as exc:
        raise SignatureFailed(f"the signer's certificate is not trusted: {exc}") from exc
    except SigningError as exc:
        raise SignatureFailed(str(exc)) from exc
    except PdfError as exc:
        raise BrokenPdf(str(exc)) from exc


async def async_sign_into(
    source: BinaryIO, output: BinaryIO, signer: SignerIdentity, request: SignRequest
) -> None:
    """Sign ``source`` into ``output``; the event-loop-friendly core of :func:`sign_pdf`."""
    start = output.tell()
    try:
        with _refusals():
            signer.check_usable()
            writer = open_for_signing(source, certify=request.certify)
            pdf_signer, _ = _pyhanko_signer(signer, request, writer)
            await pdf_signer.async_sign_pdf(writer, bytes_reserved=request.bytes_reserved, output=output)
    except BaseException:
        output.seek(start)
        output.truncate()
        raise


def sign_pdf(
    pdf: bytes | BinaryIO,
    signer: SignerIdentity,
    request: SignRequest | None = None,
    *,
    output: BinaryIO | None = None,
) -> bytes | None:
    """Sign a PDF. Returns the signed bytes, or None when written to ``output`` (a seekable stream).

    Refusals: CertificateExpired, CertificateNotYetValid, NotAPdf, BrokenPdf, EncryptedPdf,
    ModificationForbidden, TimestampError, SignatureFailed (all from :mod:`signing.errors`).
    """
    request = request or SignRequest(level=Level.B_B)
    source = io.BytesIO(pdf) if isinstance(pdf, (bytes, bytearray, memoryview)) else pdf
    target = output if output is not None else io.BytesIO()
    aio.run(async_sign_into(source, target, signer, request))
    return target.getvalue() if output is None else None  # type: ignore[attr-defined]
