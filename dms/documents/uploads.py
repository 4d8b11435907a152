"""Untrusted upload bytes: the media type sniffed from the bytes, filenames sanitised, size bounded."""
from __future__ import annotations

import io
import re
import unicodedata
from typing import IO

import filetype

from dms.errors import TooLarge, UnsupportedMediaType

SNIFF_BYTES = 8192

# Media types the archive accepts, with the extension used when a name has none.
ACCEPTED: dict[str, str] = {
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    "application/msword": ".doc",
    "application/vnd.ms-excel": ".xls",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
    "text/plain": ".txt",
    "text/csv": ".csv",
    "text/html": ".html",
    "application/xhtml+xml": ".xhtml",
    "image/svg+xml": ".svg",
    "application/xml": ".xml",
    "application/pkcs7-signature": ".p7s",
}
# The extensions a name may keep for each media type (anything else takes ACCEPTED's: `report.pdf` holding HTML is
# kept as `report.html`).
EXTENSIONS: dict[str, frozenset[str]] = {
    "image/jpeg": frozenset({".jpg", ".jpeg"}),
    "image/tiff": frozenset({".tif", ".tiff"}),
    "text/plain": frozenset({".txt", ".text", ".log", ".md"}),
    "text/html": frozenset({".html", ".htm"}),
    "application/pkcs7-signature": frozenset({".p7s", ".sig"}),
}

# Shown in the browser (Content-Disposition: inline) only these: PDFs and raster images. Everything else, HTML,
# XHTML and SVG (an image that runs script) above all, is an attachment in a sandbox (CONTENT_SANDBOX), so that
# no uploaded byte ever runs or renders a page in the archive's origin.
INLINE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg"})
CONTENT_SANDBOX = "sandbox; default-src 'none'; frame-ancestors 'none'"
IMAGE_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'"


def shown_inline(media_type: str, asked: bool) -> bool:
    """Whether a stored version may be served inline when the viewer asks for it."""
    return asked and media_type in INLINE_TYPES


def content_headers(media_type: str, inline: bool) -> dict[str, str]:
    """The headers that keep user content out of our origin: never sniffed, sandboxed unless it is an inline
    PDF (whose viewer needs a plugin, which a sandbox forbids; the PDF viewer's scripts run in the viewer, not in
    the page)."""
    headers = {"X-Content-Type-Options": "nosniff"}
    if not inline:
        headers["Content-Security-Policy"] = CONTENT_SANDBOX
    elif media_type.startswith("image/"):
        headers["Content-Security-Policy"] = IMAGE_CSP
    return headers


# filetype reports OLE2 files (doc, xls) as these.
_ALIASES = {"application/x-ole-storage": "application/msword", "application/x-msi": "application/msword"}


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    for enc in ("utf-8", "cp1251"):
        try:
            head.decode(enc)
            return True
        except UnicodeDecodeError as exc:
            if enc == "utf-8" and exc.start >= len(head) - 4:  # a character cut at the sniff boundary
                return True
    return False


# Markup a browser would render as a page (a fake login form, a <meta refresh>, a script) wherever it appears in
# the head of a file that starts with a tag.
_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<meta", b"<iframe", b"<form",
                 b"<frameset", b"<object", b"<embed", b"<a ", b"<img", b"<style", b"<title", b"<base", b"<link")


def _text_subtype(head: bytes, filename: str) -> str:
    lower = head[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lower.startswith(b"<"):
        if b"<svg" in lower:
            return "image/svg+xml"
        if b"http://www.w3.org/1999/xhtml" in lower and lower.startswith(b"<?xml"):
            return "application/xhtml+xml"
        if any(m in lower for m in _HTML_MARKERS):
            return "text/html"
    if lower.startswith(b"<?xml"):
        return "application/xml"
    if filename.lower().endswith(".csv"):
        return "text/csv"
    return "text/plain"


def _is_der_pkcs7(head: bytes) -> bool:
    # SEQUENCE { OID 1.2.840.113549.1.7.2 (signedData) ... }
    return head[:1] == b"\x30" and b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02" in head[:32]


def sniff(head: bytes, filename: str = "") -> str:
    """The media type of these first bytes; raises UnsupportedMediaType for anything the archive refuses."""
    kind = filetype.guess(head)
    if kind is not None:
        mime = _ALIASES.get(kind.mime, kind.mime)
        if mime == "application/zip":
            mime = _zip_office_type(head) or mime
    elif head.startswith(b"%PDF-"):
        mime = "application/pdf"
    elif _is_der_pkcs7(head):
        mime = "application/pkcs7-signature"
    elif _looks_like_text(head):
        mime = _text_subtype(head, filename)
    else:
        mime = "application/octet-stream"
    if mime not in ACCEPTED:
        raise UnsupportedMediaType(
            f"тип файла {mime} не принимается; допустимы PDF, DOCX, ODT, XLSX, изображения и текст")
    return mime


def _zip_office_type(head: bytes) -> str | None:
    if b"word/" in head:
        return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    if b"xl/" in head:
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    if b"mimetypeapplication/vnd.oasis.opendocument.text" in head:
        return "application/vnd.oasis.opendocument.text"
    return None


_UNSAFE = re.compile(r"[^\w.\- ()№]+", re.UNICODE)


def safe_filename(name: str | None, media_type: str) -> str:
    """A display name: no directories, no control characters, bounded length, the right extension."""
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/").split("/")[-1])
    name = _UNSAFE.sub("_", name).strip(" ._")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = stem[:150] or "document"
    ext = "." + ext.lower() if ext else ""
    if ext not in EXTENSIONS.get(media_type, frozenset({ACCEPTED.get(media_type, ".bin")})):
        ext = ACCEPTED.get(media_type, ".bin")  # the name follows the sniffed type, never the other way round
    return stem + ext


class BoundedReader(io.RawIOBase):
    """Replays the sniffed head, then the rest of the stream; raises TooLarge past `limit` bytes."""

    def __init__(self, head: bytes, rest: IO[bytes], limit: int):
        self._head = memoryview(head)
        self._rest = rest
        self._limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # noqa: ANN001
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
        else:
            data = self._rest.read(len(b))
            n = len(data)
            b[:n] = data
        self.count += n
        if self.count > self._limit:
            raise TooLarge("файл больше допустимого размера (%(mb)s МБ)", mb=self._limit // (1024 * 1024))
        return n


def open_upload(stream: IO[bytes], filename: str | None, limit: int) -> tuple[str, str, io.BufferedReader]:
    """(media_type, safe filename, a bounded stream of the whole upload)."""
    head = stream.read(SNIFF_BYTES)
    media_type = sniff(head, filename or "")
    return media_type, safe_filename(filename, media_type), io.BufferedReader(BoundedReader(head, stream, limit),
                                                                              buffer_size=1 << 20)
