"""Text out of one file per format. Runs inside the sandboxed extraction child only.

Every reader takes a path to a private temporary copy of the bytes and returns
``(text, method, ocr_status)``. External tools get argument lists, never a shell.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

OCR_LANGUAGES = "rus+eng"
OCR_DPI = "300"
MAX_OCR_PAGES = 50
# A PDF page with less text than this is taken for a scan.
SCAN_CHARS_PER_PAGE = 20
TOOL_TIMEOUT_S = 600

OCR_NOT_NEEDED = "not_needed"
OCR_DONE = "done"
OCR_UNAVAILABLE = "unavailable"

Reader = Callable[[Path], tuple[str, str, str]]

# Letters frequent in Russian, lower case: the right legacy code page decodes to many of them.
_RUSSIAN_COMMON = frozenset("оеаинтсрвлкмдпуяыьгзбчйхжшюцщэф ")
LEGACY_ENCODINGS = ("cp1251", "koi8-r", "cp866")


def decode_text(data: bytes) -> str:
    """Decodes plain text: UTF-8 (with or without BOM), else the likeliest Russian code page."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    sample = data[:65536]

    def score(encoding: str) -> int:
        decoded = sample.decode(encoding, errors="replace")
        return sum(ch in _RUSSIAN_COMMON for ch in decoded)

    return data.decode(max(LEGACY_ENCODINGS, key=score), errors="replace")


def read_text(path: Path) -> tuple[str, str, str]:
    return decode_text(path.read_bytes()), "text", OCR_NOT_NEEDED


class _TextOfHtml(HTMLParser):
    SKIPPED = frozenset({"script", "style", "head", "template", "noscript"})
    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in self.SKIPPED:
            self._skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html_charset(data: bytes) -> str | None:
    head = data[:2048].lower()
    marker = head.find(b"charset=")
    if marker < 0:
        return None
    value = head[marker + 8 : marker + 40].strip(b"\"' ")
    name = value.split(b'"')[0].split(b"'")[0].split(b";")[0].split(b">")[0].strip()
    return name.decode("ascii", errors="ignore") or None


def read_html(path: Path) -> tuple[str, str, str]:
    data = path.read_bytes()
    charset = _html_charset(data)
    try:
        text = data.decode(charset) if charset else decode_text(data)
    except (LookupError, UnicodeDecodeError):
        text = decode_text(data)
    parser = _TextOfHtml()
    parser.feed(text)
    parser.close()
    return tidy("".join(parser.parts)), "html", OCR_NOT_NEEDED


def read_docx(path: Path) -> tuple[str, str, str]:
    import docx

    document = docx.Document(str(path))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append("\t".join(cell.text for cell in row.cells))
    return tidy("\n".join(parts)), "docx", OCR_NOT_NEEDED


def read_odt(path: Path) -> tuple[str, str, str]:
    from odf import teletype
    from odf import text as odf_text
    from odf.opendocument import load

    document = load(str(path))
    parts = [
        teletype.extractText(element)
        for element in document.getElementsByType(odf_text.H) + document.getElementsByType(odf_text.P)
    ]
    return tidy("\n".join(parts)), "odt", OCR_NOT_NEEDED


def _pdf_pages(path: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(str(path)).pages)


def _pdf_text_poppler(path: Path) -> str:
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-q", "--", str(path), "-"],
        capture_output=True,
        timeout=TOOL_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise ValueError(f"pdftotext could not read the PDF (exit {done.returncode})")
    return done.stdout.decode("utf-8", errors="replace")


def _pdf_text_pypdf(path: Path) -> str:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def read_pdf(path: Path) -> tuple[str, str, str]:
    pages = _pdf_pages(path)
    if shutil.which("pdftotext"):
        text, method = _pdf_text_poppler(path), "pdf:pdftotext"
    else:
        text, method = _pdf_text_pypdf(path), "pdf:pypdf"
    text = tidy(text)
    if len(text.replace(" ", "")) >= SCAN_CHARS_PER_PAGE * max(pages, 1):
        return text, method, OCR_NOT_NEEDED
    if not (shutil.which("pdftoppm") and shutil.which("tesseract")):
        return text, method, OCR_UNAVAILABLE
    with tempfile.TemporaryDirectory(prefix="ocr-") as work:
        subprocess.run(
            ["pdftoppm", "-r", OCR_DPI, "-gray", "-png", "-l", str(MAX_OCR_PAGES), "--",
             str(path), os.path.join(work, "page")],
            capture_output=True,
            timeout=TOOL_TIMEOUT_S,
            check=True,
        )
        images = sorted(Path(work).glob("page*.png"))
        ocr_text = "\n".join(_tesseract(image) for image in images)
    return tidy(f"{text}\n{ocr_text}"), "pdf:ocr", OCR_DONE


def _tesseract(image: Path) -> str:
    done = subprocess.run(
        ["tesseract", str(image), "stdout", "-l", OCR_LANGUAGES],
        capture_output=True,
        timeout=TOOL_TIMEOUT_S,
        check=False,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
    )
    if done.returncode != 0:
        raise ValueError(f"tesseract could not read the image (exit {done.returncode})")
    return done.stdout.decode("utf-8", errors="replace")


def read_image(path: Path) -> tuple[str, str, str]:
    if not shutil.which("tesseract"):
        return "", "image", OCR_UNAVAILABLE
    return tidy(_tesseract(path)), "image:ocr", OCR_DONE


def tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.replace("\x00", "").splitlines())
    return "\n".join(line for line in lines if line)


READERS: dict[str, Reader] = {
    "application/pdf": read_pdf,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": read_docx,
    "application/vnd.oasis.opendocument.text": read_odt,
    "text/plain": read_text,
    "text/csv": read_text,
    "text/markdown": read_text,
    "text/html": read_html,
    "application/xhtml+xml": read_html,
    "image/png": read_image,
    "image/jpeg": read_image,
    "image/tiff": read_image,
    "image/bmp": read_image,
}
