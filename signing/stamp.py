"""The visible stamp of a signature, Russian style, drawn by us with a Cyrillic font.

The stamp is drawn with reportlab into a one-page PDF the size of the stamp box, and that page
becomes the signature field's appearance (pyHanko's own text stamps render Cyrillic poorly).
"""

from __future__ import annotations

import binascii
import functools
import io
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, UTC
from pathlib import Path

import qrcode
from cryptography import x509
from pyhanko.pdf_utils.content import PdfContent
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.stamp import StaticStampStyle
from reportlab.lib.colors import Color
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from .errors import FontMissing, StampError

FONT_NAME = "DejaVuSans"
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
STAMP_BLUE = Color(0.11, 0.23, 0.55)
TITLE_LINES = ("ДОКУМЕНТ ПОДПИСАН", "ЭЛЕКТРОННОЙ ПОДПИСЬЮ")
DEFAULT_SIZE = (260.0, 100.0)


@functools.lru_cache(maxsize=1)
def find_font() -> Path:
    """DejaVuSans.ttf from Debian's fonts-dejavu-core (or any fonts directory)."""
    for directory in FONT_DIRS:
        if directory.is_dir():
            found = next(iter(sorted(directory.rglob("DejaVuSans.ttf"))), None)
            if found is not None:
                return found
    raise FontMissing(f"searched {', '.join(str(d) for d in FONT_DIRS)}")


@functools.lru_cache(maxsize=1)
def _register_font() -> str:
    pdfmetrics.registerFont(TTFont(FONT_NAME, str(find_font())))
    return FONT_NAME


@dataclass(frozen=True)
class StampText:
    """What the stamp says."""

    serial_hex: str
    owner: str
    valid_from: datetime
    valid_to: datetime
    signed_at: datetime

    @classmethod
    def for_certificate(cls, certificate: x509.Certificate, signed_at: datetime | None = None) -> StampText:
        names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return cls(
            serial_hex=format(certificate.serial_number, "x"),
            owner=str(names[0].value) if names else certificate.subject.rfc4514_string(),
            valid_from=certificate.not_valid_before_utc,
            valid_to=certificate.not_valid_after_utc,
            signed_at=signed_at or datetime.now(UTC),
        )

    def lines(self) -> list[str]:
        serial = [f"Сертификат: {self.serial_hex}"] if len(self.serial_hex) <= 24 else ["Сертификат:", self.serial_hex]
        return [
            *serial,
            f"Владелец: {self.owner}",
            f"Действителен: с {self.valid_from:%d.%m.%Y} по {self.valid_to:%d.%m.%Y}",
            f"Подписан: {self.signed_at.astimezone(UTC):%d.%m.%Y %H:%M} UTC",
        ]


@dataclass(frozen=True)
class StampPlacement:
    """Where the stamp goes: page index (negative counts from the end) and box in points."""

    page: int = -1
    x: float = 36.0
    y: float = 44.0  # above the page footer of generated documents (12 mm, dms.pdfrender)
    width: float = DEFAULT_SIZE[0]
    height: float = DEFAULT_SIZE[1]
    verify_url: str | None = None
    note: str | None = None  # one more line under the title, e.g. the document's registration number and date

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (int(self.x), int(self.y), int(self.x + self.width), int(self.y + self.height))


def _fit(text: str, font: str, size: float, width: float) -> tuple[str, float]:
    """Shrink the font down to 5 pt, then cut the text, so a line never leaves the frame."""
    while size > 5 and pdfmetrics.stringWidth(text, font, size) > width:
        size -= 0.25
    while text and pdfmetrics.stringWidth(text, font, size) > width:
        text = text[:-2] + "…"
    return text, size


def _draw_qr(pdf: canvas.Canvas, url: str, x: float, y: float, side: float) -> None:
    # a fixed mask is valid QR; searching the best of eight costs ~40 ms per stamp
    code = qrcode.QRCode(border=1, error_correction=qrcode.constants.ERROR_CORRECT_M, mask_pattern=2)
    code.add_data(url)
    matrix = code.get_matrix()
    cell = side / len(matrix)
    path = pdf.beginPath()
    for row_index, row in enumerate(matrix):
        top = y + side - (row_index + 1) * cell
        column = 0
        while column < len(row):
            if not row[column]:
                column += 1
                continue
            run_start = column
            while column < len(row) and row[column]:
                column += 1
            path.rect(x + run_start * cell, top, (column - run_start) * cell, cell)
    pdf.setFillColor(STAMP_BLUE)
    pdf.drawPath(path, stroke=0, fill=1)


def render_stamp_pdf(
    text: StampText, width: float, height: float, verify_url: str | None = None, note: str | None = None
) -> bytes:
    """A one-page PDF, ``width`` × ``height`` points, showing the stamp (``note``: a line under the title)."""
    if width < 120 or height < 50:
        raise StampError(f"stamp box {width:.0f}×{height:.0f} pt is too small (min 120×50)")
    return _drawing(tuple(text.lines()), width, height, verify_url, note)


@functools.lru_cache(maxsize=16)
def _drawing(
    text_lines: tuple[str, ...], width: float, height: float, verify_url: str | None, note: str | None
) -> bytes:
    """The stamp drawn once for what it shows: a batch's signatures of one minute show the same stamp (its time is
    to the minute), and drawing it (reportlab, a font subset) was a fifth of a certificate's signing (issue 20)."""
    font = _register_font()
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(width, height), pageCompression=1)
    inset = 2.0
    pdf.setStrokeColor(STAMP_BLUE)
    pdf.setLineWidth(1.5)
    pdf.roundRect(inset, inset, width - 2 * inset, height - 2 * inset, radius=8, stroke=1, fill=0)
    text_left = 10.0
    if verify_url:
        side = height - 16
        _draw_qr(pdf, verify_url, width - side - 8, 8, side)
        text_right = width - side - 14
    else:
        text_right = width - 10
    text_width = text_right - text_left
    pdf.setFillColor(STAMP_BLUE)
    noted = [(note, 7.5)] if note else []
    lines = [(line, 8.5) for line in TITLE_LINES] + noted + [(line, 7.0) for line in text_lines]
    step = (height - 16) / len(lines)
    cursor = height - 8 - step * 0.8
    for line, size in lines:
        fitted, fitted_size = _fit(line, font, min(size, step * 0.9), text_width)
        pdf.setFont(font, fitted_size)
        if line in TITLE_LINES or line == note:
            pdf.drawCentredString(text_left + text_width / 2, cursor, fitted)
        else:
            pdf.drawString(text_left, cursor, fitted)
        cursor -= step
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


_READERS = threading.local()


def _reader(pdf_bytes: bytes) -> PdfFileReader:
    """A reader of the stamp's PDF, kept for the next signature showing the same stamp: parsing it (its font
    subset above all) for every signature was a quarter of a certificate's signing (issue 20). Importing copies its
    objects into each signed document; it is only read. One per thread: a reader reads from one stream."""
    kept = getattr(_READERS, "kept", None)
    if kept is None or kept[0] != pdf_bytes:
        kept = _READERS.kept = (pdf_bytes, PdfFileReader(io.BytesIO(pdf_bytes)))
    return kept[1]


class ImportedPdfBytes(PdfContent):
    """Like pyHanko's ImportedPdfPage, but from bytes in memory instead of a file name."""

    def __init__(self, pdf_bytes: bytes, page_ix: int = 0) -> None:
        self.pdf_bytes = pdf_bytes
        self.page_ix = page_ix
        super().__init__()

    def render(self) -> bytes:
        writer = self._ensure_writer
        xobject = writer.import_page_as_xobject(_reader(self.pdf_bytes), page_ix=self.page_ix)
        resource_name = b"/Import" + binascii.hexlify(uuid.uuid4().bytes)
        self.resources.xobject[resource_name.decode("ascii")] = xobject
        x1, y1, x2, y2 = xobject.get_object()["/BBox"]
        self.box = BoxConstraints(width=abs(x1 - x2), height=abs(y1 - y2))
        return resource_name + b" Do"


def stamp_style(text: StampText, placement: StampPlacement) -> StaticStampStyle:
    """The pyHanko stamp style that shows our drawing as the signature's appearance."""
    drawing = render_stamp_pdf(text, placement.width, placement.height, placement.verify_url, placement.note)
    return StaticStampStyle(background=ImportedPdfBytes(drawing), border_width=0, background_opacity=1.0)
