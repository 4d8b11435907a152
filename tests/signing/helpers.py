"""Helpers shared by the signing tests: the PIN and real PDFs made with reportlab."""

from __future__ import annotations

import io

from reportlab.pdfgen import canvas

PIN = "4821"


def make_pdf(*page_texts: str) -> bytes:
    """A real PDF with one page per text (one page saying 'Приказ № 1' by default)."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for text in page_texts or ("Order 1",):
        pdf.drawString(100, 700, text)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()
