"""Small real PDFs for tests (reportlab, deterministic)."""
from __future__ import annotations

import io

from reportlab.pdfgen import canvas


def make_pdf(text: str = "Тестовый документ", pages: int = 1) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1)
    c.setTitle(text)  # the standard fonts cannot draw Cyrillic; the title keeps different texts different bytes
    for i in range(pages):
        c.drawString(72, 720, f"{text} {i + 1}")
        c.drawString(72, 700, text.encode("unicode_escape").decode("ascii"))
        c.showPage()
    c.save()
    return buf.getvalue()
