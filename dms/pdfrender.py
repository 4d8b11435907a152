"""Russian documents and certificates of qualification as real PDFs (text, not images).

Pure functions over small dataclasses: no Flask, no database. Fonts are DejaVu TTFs with
Cyrillic, embedded as subsets, so full-text extraction finds every word.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M
from qrcode.util import MODE_8BIT_BYTE, QRData
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    KeepTogether,
    LayoutError,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

FONT_PACKAGE_HINT = "fonts-dejavu-core (Debian/Ubuntu: apt-get install fonts-dejavu-core)"

FONT_DIR_ENV = "DMS_FONT_DIR"

DEFAULT_FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/dejavu"),  # Debian, Ubuntu
    Path("/usr/share/fonts/dejavu-sans-fonts"),  # Fedora
    Path("/usr/share/fonts/dejavu-serif-fonts"),  # Fedora
    Path("/usr/share/fonts/dejavu"),  # Alpine, older Fedora
    Path("/usr/share/fonts/TTF"),  # Arch
    Path("/usr/local/share/fonts"),
    Path("/usr/local/share/fonts/dejavu"),
    Path("/opt/homebrew/share/fonts"),
    Path.home() / ".local/share/fonts",
)

# Registered font name -> TTF file name. Body text is escaped, never markup: no italics needed.
FONT_FILES: dict[str, str] = {
    "DejaVuSerif": "DejaVuSerif.ttf",
    "DejaVuSerif-Bold": "DejaVuSerif-Bold.ttf",
    "DejaVuSans": "DejaVuSans.ttf",
    "DejaVuSans-Bold": "DejaVuSans-Bold.ttf",
}

MONTHS_GENITIVE = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)


class PdfRenderError(Exception):
    """Base error of PDF rendering; its message is meant for the person running the command."""


class FontMissing(PdfRenderError):
    """A DejaVu TTF with Cyrillic glyphs is not installed in any searched directory."""


class InvalidSpec(PdfRenderError):
    """A render spec holds a value that cannot be printed (e.g. an empty title)."""


@dataclass(frozen=True)
class Signature:
    position: str
    name: str


@dataclass(frozen=True)
class RenderSpec:
    """An A4 office document: letterhead, kind label, number and date, title, body, table, signature."""

    org_name: str
    doc_kind: str
    title: str
    paragraphs: Sequence[str]
    city: str = "Москва"
    reg_number: str | None = None
    reg_date: date | None = None
    table: Sequence[Sequence[str]] | None = None
    signature: Signature | None = None
    footer: str = ""
    org_details: str = ""
    author: str = ""


@dataclass(frozen=True)
class CertificateSpec:
    """A certificate of qualification with a QR code of its public verification URL."""

    number: str
    blank_number: str
    holder_name: str
    qualification: str
    level: int
    centre_name: str
    centre_code: str
    issue_date: date
    valid_until: date | None
    verification_url: str
    signatory: Signature
    org_name: str = ""
    city: str = "Москва"
    kind_label: str = "СВИДЕТЕЛЬСТВО О КВАЛИФИКАЦИИ"
    landscape: bool = True
    watermark: str = ""


@dataclass(frozen=True)
class FontSet:
    serif: str
    serif_bold: str
    sans: str
    sans_bold: str
    directory: Path = field(compare=False)


def font_search_dirs() -> tuple[Path, ...]:
    extra = os.environ.get(FONT_DIR_ENV)
    return ((Path(extra),) if extra else ()) + DEFAULT_FONT_DIRS


def load_fonts(search_dirs: Sequence[Path] | None = None) -> FontSet:
    """Find the DejaVu family and register it with reportlab (once per process)."""
    dirs = tuple(Path(d) for d in (search_dirs if search_dirs is not None else font_search_dirs()))
    return _load_fonts_cached(dirs)


@lru_cache(maxsize=8)
def _load_fonts_cached(dirs: tuple[Path, ...]) -> FontSet:
    directory = _directory_with_all_fonts(dirs)
    registered = set(pdfmetrics.getRegisteredFontNames())
    for name, filename in FONT_FILES.items():
        if name not in registered:
            try:
                pdfmetrics.registerFont(TTFont(name, _slim_font(directory / filename)))
            except Exception as exc:  # reportlab and fontTools raise assorted errors on a bad file
                raise FontMissing(
                    f"the font file {directory / filename} cannot be read ({exc}); "
                    f"reinstall {FONT_PACKAGE_HINT}"
                ) from exc
    pdfmetrics.registerFontFamily("DejaVuSerif", normal="DejaVuSerif", bold="DejaVuSerif-Bold",
                                  italic="DejaVuSerif", boldItalic="DejaVuSerif-Bold")
    pdfmetrics.registerFontFamily("DejaVuSans", normal="DejaVuSans", bold="DejaVuSans-Bold",
                                  italic="DejaVuSans", boldItalic="DejaVuSans-Bold")
    return FontSet("DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSans", "DejaVuSans-Bold", directory)


# Latin, Latin-1, Latin Extended-A, Cyrillic with its supplement, punctuation, currency, №.
SLIM_FONT_CODEPOINTS: tuple[range, ...] = (
    range(0x20, 0x7F), range(0xA0, 0x180), range(0x400, 0x530),
    range(0x2010, 0x2070), range(0x20A0, 0x20C0), range(0x2100, 0x2130),
)


def _slim_font(path: Path) -> io.BytesIO | str:
    """The font cut to the scripts of Russian documents and stripped of hinting.

    DejaVu's TrueType hinting makes every embedded subset about four times larger and slower
    to write, and PDF viewers do not need it. Without fontTools the full file is used.
    """
    try:
        from fontTools import subset
        from fontTools.ttLib import TTFont as ToolsFont
    except ImportError:
        return str(path)
    options = subset.Options()
    options.hinting = False
    options.layout_features = []
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.drop_tables += ["FFTM"]
    font = ToolsFont(str(path))
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[c for block in SLIM_FONT_CODEPOINTS for c in block])
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    out.seek(0)
    out.name = path.name
    return out


def _directory_with_all_fonts(dirs: tuple[Path, ...]) -> Path:
    for directory in dirs:
        if all((directory / filename).is_file() for filename in FONT_FILES.values()):
            return directory
    searched = ", ".join(str(d) for d in dirs) or "(no directories)"
    raise FontMissing(
        "PDF generation needs the DejaVu fonts with Cyrillic glyphs "
        f"({', '.join(FONT_FILES.values())}); none of these directories holds them all: {searched}. "
        f"Install {FONT_PACKAGE_HINT}, or set {FONT_DIR_ENV} to a directory holding those files."
    )


def format_date_ru(value: date) -> str:
    """«5» марта 2025 г. — the way dates are written in Russian office documents."""
    return f"«{value.day:02d}» {MONTHS_GENITIVE[value.month - 1]} {value.year} г."


def format_date_short(value: date) -> str:
    return value.strftime("%d.%m.%Y")


@lru_cache(maxsize=4)
def _document_styles(fonts: FontSet) -> dict[str, ParagraphStyle]:
    body = ParagraphStyle(
        "body", fontName=fonts.serif, fontSize=11.5, leading=16, alignment=TA_JUSTIFY,
        firstLineIndent=12.5 * mm, spaceAfter=4,
    )
    return {
        "org": ParagraphStyle(
            "org", fontName=fonts.sans_bold, fontSize=12, leading=15, alignment=TA_CENTER,
        ),
        "org_details": ParagraphStyle(
            "org_details", fontName=fonts.sans, fontSize=8, leading=10, alignment=TA_CENTER,
            textColor=colors.HexColor("#444444"),
        ),
        "kind": ParagraphStyle(
            "kind", fontName=fonts.serif_bold, fontSize=15, leading=19, alignment=TA_CENTER,
            spaceBefore=10, spaceAfter=6,
        ),
        "regline_left": ParagraphStyle("regline_left", fontName=fonts.serif, fontSize=11, leading=14),
        "regline_centre": ParagraphStyle(
            "regline_centre", fontName=fonts.serif, fontSize=11, leading=14, alignment=TA_CENTER,
        ),
        "regline_right": ParagraphStyle(
            "regline_right", fontName=fonts.serif, fontSize=11, leading=14, alignment=TA_RIGHT,
        ),
        "title": ParagraphStyle(
            "title", fontName=fonts.serif_bold, fontSize=12.5, leading=16, alignment=TA_CENTER,
            spaceBefore=8, spaceAfter=10,
        ),
        "body": body,
        "cell": ParagraphStyle("cell", fontName=fonts.serif, fontSize=9.5, leading=12, alignment=TA_LEFT),
        "cell_head": ParagraphStyle(
            "cell_head", fontName=fonts.serif_bold, fontSize=9.5, leading=12, alignment=TA_CENTER,
        ),
        "sign": ParagraphStyle("sign", fontName=fonts.serif, fontSize=11.5, leading=15),
        "sign_right": ParagraphStyle(
            "sign_right", fontName=fonts.serif, fontSize=11.5, leading=15, alignment=TA_RIGHT,
        ),
    }


UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def _clean(value: str) -> str:
    """Drop control characters and lone surrogates, which cannot be written to a PDF."""
    return UNPRINTABLE.sub("", value)


def _text(value: str) -> str:
    """Plain text to reportlab paragraph markup: untrusted text is never read as markup."""
    return escape(_clean(value)).replace("\n", "<br/>")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidSpec(message)


def _page_decorator(fonts: FontSet, footer: str, page_size: tuple[float, float],
                    left_margin: float) -> type[Canvas]:
    """A canvas that, once the page count is known, numbers pages of multi-page documents."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._saved_pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab API)
            self._saved_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._saved_pages)
            for number, state in enumerate(self._saved_pages, start=1):
                self.__dict__.update(state)
                self._decorate(number, total)
                super().showPage()
            super().save()

        def _decorate(self, number: int, total: int) -> None:
            width, _ = page_size
            self.saveState()
            self.setFillColor(colors.HexColor("#555555"))
            if footer:
                self.setFont(fonts.sans, 7.5)
                if total > 1:
                    self.drawString(left_margin, 12 * mm, footer)
                else:
                    self.drawCentredString(width / 2, 12 * mm, footer)
            if total > 1:
                self.setFont(fonts.sans, 8.5)
                self.drawRightString(width - 20 * mm, 12 * mm, f"Страница {number} из {total}")
            self.restoreState()

    return NumberedCanvas


def _registration_line(spec: RenderSpec, styles: dict[str, ParagraphStyle], width: float) -> Table:
    left = format_date_ru(spec.reg_date) if spec.reg_date else "«___» __________ 20__ г."
    right = f"№ {spec.reg_number}" if spec.reg_number else "№ ______"
    row = [
        Paragraph(_text(left), styles["regline_left"]),
        Paragraph(_text(f"г. {spec.city}" if spec.city else ""), styles["regline_centre"]),
        Paragraph(_text(right), styles["regline_right"]),
    ]
    table = Table([row], colWidths=[width * 0.38, width * 0.24, width * 0.38])
    table.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), styles["regline_left"].fontName),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return table


def _letterhead(spec: RenderSpec, styles: dict[str, ParagraphStyle], width: float) -> list[Any]:
    head: list[Any] = [Paragraph(_text(spec.org_name), styles["org"])]
    if spec.org_details:
        head.append(Paragraph(_text(spec.org_details), styles["org_details"]))
    rule = Table([[""]], colWidths=[width], rowHeights=[3])
    rule.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), styles["org"].fontName),
                              ("LINEBELOW", (0, 0), (-1, -1), 1.2, colors.black),
                              ("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.black, None, None, 0, 2)]))
    head.append(rule)
    return head


def _column_widths(rows: Sequence[Sequence[str]], width: float) -> list[float]:
    """Share the width by the longest text of each column, within sensible bounds."""
    columns = len(rows[0])
    longest = [max(len(row[i]) for row in rows) for i in range(columns)]
    weights = [min(max(n, 4), 60) for n in longest]
    total = sum(weights)
    return [width * w / total for w in weights]


def _body_table(rows: Sequence[Sequence[str]], styles: dict[str, ParagraphStyle], width: float) -> Table:
    columns = max(len(r) for r in rows)
    padded = [list(r) + [""] * (columns - len(r)) for r in rows]
    data = [[Paragraph(_text(c), styles["cell_head"]) for c in padded[0]]]
    data += [[Paragraph(_text(c), styles["cell"]) for c in row] for row in padded[1:]]
    table = Table(data, colWidths=_column_widths(padded, width), repeatRows=1, splitInRow=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), styles["cell"].fontName),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E8E8E8")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]))
    return table


def _signature_block(sign: Signature, styles: dict[str, ParagraphStyle], width: float) -> Table:
    table = Table(
        [[Paragraph(_text(sign.position), styles["sign"]), "",
          Paragraph(_text(sign.name), styles["sign_right"])]],
        colWidths=[width * 0.5, width * 0.2, width * 0.3],
    )
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), styles["sign"].fontName),
        ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
        ("LINEBELOW", (1, 0), (1, 0), 0.5, colors.black),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
    ]))
    return table


def render_document_pdf(spec: RenderSpec, *, deterministic: bool = False,
                        font_dirs: Sequence[Path] | None = None) -> bytes:
    """An A4 office document; with deterministic=True identical specs give identical bytes."""
    _require(bool(spec.title.strip()), "a document needs a title")
    _require(bool(spec.org_name.strip()), "a document needs the name of its organisation")
    fonts = load_fonts(font_dirs)
    styles = _document_styles(fonts)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=25 * mm, rightMargin=15 * mm, topMargin=15 * mm,
        bottomMargin=22 * mm, title=spec.title, author=spec.author or spec.org_name,
        subject=spec.doc_kind, creator="Pechat", invariant=1 if deterministic else 0,
        lang="ru-RU", initialFontName=fonts.serif,
    )
    width = doc.width
    story: list[Any] = _letterhead(spec, styles, width)
    story.append(Paragraph(_text(spec.doc_kind), styles["kind"]))
    story.append(_registration_line(spec, styles, width))
    story.append(Paragraph(_text(spec.title), styles["title"]))
    story.extend(Paragraph(_text(p), styles["body"]) for p in spec.paragraphs if p.strip())
    if spec.table:
        story.append(Spacer(1, 4))
        story.append(_body_table(spec.table, styles, width))
    if spec.signature:
        story.append(KeepTogether([Spacer(1, 14 * mm), _signature_block(spec.signature, styles, width)]))
    # The signature stamps go at the bottom of the last page (signing.stamp: 100 pt high, from 44 pt up): the text
    # ends above them, on a page of its own if need be.
    story.append(Spacer(1, DOCUMENT_STAMP_TOP - 22 * mm))
    try:
        doc.build(story, canvasmaker=_page_decorator(fonts, _clean(spec.footer), A4, doc.leftMargin))
    except LayoutError as exc:
        raise InvalidSpec(f"the document cannot be laid out on A4 pages: a block is taller than a page "
                          f"({str(exc)[:120]}…)") from exc
    return buffer.getvalue()


def render_text_pdf(title: str, text: str, *, deterministic: bool = True) -> bytes:
    """A plain page of text under a title, one paragraph per blank-line-separated block."""
    paragraphs = [block.strip() for block in text.split("\n\n") if block.strip()]
    spec = RenderSpec(org_name="Pechat", doc_kind="ДОКУМЕНТ", title=title, paragraphs=paragraphs, city="")
    return render_document_pdf(spec, deterministic=deterministic)


# Any of the eight QR masks decodes; fixing one skips scoring all eight, which costs more
# than the rest of the certificate.
QR_MASK_PATTERN = 2


@lru_cache(maxsize=64)
def _qr_version(length: int) -> int:
    """The smallest QR version that holds `length` bytes: found once per length, not by encoding every code twice
    (qrcode's fit=True; a third of rendering a certificate, issue 20). Verification URLs all have one length."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=2, mask_pattern=QR_MASK_PATTERN)
    code.add_data(QRData(b"x" * length, mode=MODE_8BIT_BYTE))
    code.make(fit=True)
    return int(code.version)


def qr_image(data: str) -> Image.Image:
    """A QR code as a 1-pixel-per-module bitmap; the PDF scales it up without smoothing."""
    encoded = QRData(data.encode("utf-8"), mode=MODE_8BIT_BYTE)
    code = qrcode.QRCode(version=_qr_version(len(encoded)), error_correction=ERROR_CORRECT_M, border=2,
                         mask_pattern=QR_MASK_PATTERN)
    code.add_data(encoded)
    code.make(fit=False)
    matrix = code.get_matrix()
    size = len(matrix)
    pixels = bytes(0 if dark else 255 for row in matrix for dark in row)
    return Image.frombytes("L", (size, size), pixels)


def _wrapped_centred(canvas: Canvas, text: str, font: str, size: float, centre_x: float,
                     top_y: float, max_width: float, leading: float) -> float:
    """Draw centred lines broken at spaces; return the baseline below the last line."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and pdfmetrics.stringWidth(candidate, font, size) > max_width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    canvas.setFont(font, size)
    y = top_y
    for line in lines:
        canvas.drawCentredString(centre_x, y, line)
        y -= leading
    return y


def _draw_watermark(canvas: Canvas, text: str, font: str, width: float, height: float) -> None:
    canvas.saveState()
    canvas.setFillColor(colors.HexColor("#C8102E"))
    canvas.setFillAlpha(0.10)
    canvas.translate(width / 2, height / 2)
    canvas.rotate(25)
    size = min(110.0, 0.8 * width / max(pdfmetrics.stringWidth(text, font, 1), 1))
    canvas.setFont(font, size)
    canvas.drawCentredString(0, -size / 3, text)
    canvas.restoreState()


DOCUMENT_STAMP_TOP = 150.0  # pt from the bottom of an office document's last page kept free for signature stamps


# Where the signature stamp of a certificate goes (signing.stamp draws it 260 × 100 pt), in points from the
# bottom-left corner of the page: between the signatory's block and the QR code in landscape, above the details
# in portrait. Nothing is printed inside, so the stamp never covers text.
STAMP_SIZE = (260.0, 100.0)
LEFT_BLOCK_WIDTH = 215.0  # the details and the signatory, from the left margin (25 mm)
URL_WIDTH = 75 * mm       # the verification URL under the QR code, right-aligned


@dataclass(frozen=True)
class StampBox:
    x: float
    y: float
    width: float
    height: float

    def overlaps(self, x1: float, y1: float, x2: float, y2: float) -> bool:
        return x1 < self.x + self.width and self.x < x2 and y1 < self.y + self.height and self.y < y2


def certificate_stamp_box(landscape_page: bool = True) -> StampBox:
    width, height = STAMP_SIZE
    if landscape_page:
        return StampBox(25 * mm + LEFT_BLOCK_WIDTH + 14, 16 * mm, width, height)
    page_width = A4[0]
    return StampBox((page_width - width) / 2, 70 * mm, width, height)


def _wrap_lines(text: str, font: str, size: float, width: float, max_lines: int) -> list[str]:
    """Break at spaces into lines of `width`; the last allowed line keeps the rest (then _fit_line shrinks it)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and len(lines) < max_lines - 1 and pdfmetrics.stringWidth(candidate, font, size) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current] if current else lines


def _fit_line(text: str, font: str, size: float, width: float) -> tuple[str, float]:
    """Shrink the font down to 7 pt, then cut the text with an ellipsis, so a line stays inside its block."""
    while size > 7 and pdfmetrics.stringWidth(text, font, size) > width:
        size -= 0.25
    while len(text) > 1 and pdfmetrics.stringWidth(text, font, size) > width:
        text = text[:-2].rstrip() + "…"
    return text, size


def _cleaned_certificate(spec: CertificateSpec) -> CertificateSpec:
    texts: dict[str, Any] = {f.name: _clean(getattr(spec, f.name)) for f in fields(spec)
                             if isinstance(getattr(spec, f.name), str)}
    signatory = Signature(_clean(spec.signatory.position), _clean(spec.signatory.name))
    return replace(spec, signatory=signatory, **texts)


def render_certificate_pdf(spec: CertificateSpec, *, deterministic: bool = False,
                           font_dirs: Sequence[Path] | None = None) -> bytes:
    """A certificate of qualification on one A4 page: frame, holder, qualification, QR code."""
    _require(bool(spec.number.strip()), "a certificate needs a number")
    _require(bool(spec.holder_name.strip()), "a certificate needs the holder's name")
    _require(1 <= spec.level <= 9, f"qualification level {spec.level} is outside 1..9")
    _require(bool(spec.verification_url.strip()), "a certificate needs its verification URL")
    fonts = load_fonts(font_dirs)
    spec = _cleaned_certificate(spec)
    page = landscape(A4) if spec.landscape else A4
    width, height = page
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=page, invariant=1 if deterministic else 0, pageCompression=1,
                    initialFontName=fonts.serif)
    canvas.setTitle(f"{spec.kind_label} № {spec.number}")
    canvas.setAuthor(spec.centre_name)
    canvas.setSubject(spec.qualification)
    canvas.setCreator("Pechat")

    if spec.watermark:
        _draw_watermark(canvas, spec.watermark, fonts.serif_bold, width, height)
    canvas.setStrokeColor(colors.HexColor("#1F3A68"))
    canvas.setLineWidth(3)
    canvas.rect(10 * mm, 10 * mm, width - 20 * mm, height - 20 * mm)
    canvas.setLineWidth(0.8)
    canvas.rect(13 * mm, 13 * mm, width - 26 * mm, height - 26 * mm)

    centre_x = width / 2
    text_width = width - 60 * mm
    y = height - 28 * mm
    canvas.setFillColor(colors.HexColor("#1F3A68"))
    if spec.org_name:
        y = _wrapped_centred(canvas, spec.org_name, fonts.sans_bold, 10, centre_x, y, text_width, 13) - 6
    y = _wrapped_centred(canvas, spec.kind_label, fonts.serif_bold, 24, centre_x, y - 8, text_width, 28)
    canvas.setFillColor(colors.black)
    canvas.setFont(fonts.serif, 13)
    canvas.drawCentredString(centre_x, y - 2, f"№ {spec.number}")
    y -= 42
    canvas.setFont(fonts.serif, 12)
    canvas.drawCentredString(centre_x, y, "Настоящее свидетельство выдано")
    y = _wrapped_centred(canvas, spec.holder_name, fonts.serif_bold, 22, centre_x, y - 34, text_width, 26)
    y = _wrapped_centred(canvas, "в том, что он(а) успешно сдал(а) профессиональный экзамен и подтвердил(а) "
                         "квалификацию", fonts.serif, 11, centre_x, y - 2, text_width, 14) + 14
    y = _wrapped_centred(canvas, f"«{spec.qualification}»", fonts.serif_bold, 15, centre_x, y - 30,
                         text_width, 19)
    canvas.setFont(fonts.serif, 12)
    canvas.drawCentredString(centre_x, y - 2, f"Уровень квалификации: {spec.level}")
    y = _wrapped_centred(canvas, f"Центр оценки квалификаций: {spec.centre_name} ({spec.centre_code})",
                         fonts.serif, 11, centre_x, y - 26, text_width, 14)

    # The bottom of the page, left to right: the details and the signatory (never wider than LEFT_BLOCK_WIDTH),
    # the place reserved for the signature stamp (certificate_stamp_box: nothing is drawn there), the QR code.
    left_x = 25 * mm
    details = [
        f"Дата выдачи: {format_date_short(spec.issue_date)}",
        "Действительно до: "
        + (format_date_short(spec.valid_until) if spec.valid_until else "бессрочно"),
        f"Бланк № {spec.blank_number}",
        f"г. {spec.city}" if spec.city else "",
    ]
    line_y = 62 * mm
    for line in details:
        fitted, size = _fit_line(line, fonts.serif, 10.5, LEFT_BLOCK_WIDTH)
        canvas.setFont(fonts.serif, size)
        canvas.drawString(left_x, line_y, fitted)
        line_y -= 14

    sign_y = line_y - 8
    canvas.setStrokeColor(colors.black)
    canvas.setLineWidth(0.5)
    for text, font in ((spec.signatory.position, fonts.serif), (spec.signatory.name, fonts.serif_bold)):
        for line in _wrap_lines(text, font, 11, LEFT_BLOCK_WIDTH, max_lines=2):
            fitted, size = _fit_line(line, font, 11, LEFT_BLOCK_WIDTH)
            canvas.setFont(font, size)
            canvas.drawString(left_x, sign_y, fitted)
            sign_y -= 13
    canvas.line(left_x, sign_y, left_x + 40 * mm, sign_y)
    canvas.setFont(fonts.sans, 7)
    canvas.drawCentredString(left_x + 20 * mm, sign_y - 9, "М.П.")

    qr_size = 32 * mm
    qr_x = width - 18 * mm - qr_size
    qr_y = 28 * mm
    canvas.drawImage(ImageReader(qr_image(spec.verification_url)), qr_x, qr_y,
                     qr_size, qr_size)
    right_edge = width - 18 * mm
    url_size = 6.5
    while url_size > 4 and pdfmetrics.stringWidth(spec.verification_url, fonts.sans, url_size) > URL_WIDTH:
        url_size -= 0.5
    canvas.setFont(fonts.sans, 6.5)
    canvas.drawRightString(right_edge, qr_y - 8, "Проверка подлинности:")
    canvas.setFont(fonts.sans, url_size)
    canvas.drawRightString(right_edge, qr_y - 16, spec.verification_url)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
