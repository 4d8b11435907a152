"""Text extraction from real files made here; broken and hostile files give errors, not crashes."""

from __future__ import annotations

import io
import shutil
import time
import zipfile

import pytest

from search.extract import extract_text

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
SENTENCE = "Соглашение с держателем практики о свидетельстве квалификации"


def make_pdf(font: str, lines: list[str]) -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("TestCyrillic", font))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.setFont("TestCyrillic", 12)
    for n, line in enumerate(lines):
        pdf.drawString(50, 780 - 20 * n, line)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def make_scan(font: str, fmt: str) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (1400, 300), 255)
    ImageDraw.Draw(image).text((40, 100), "Свидетельство о квалификации", font=ImageFont.truetype(font, 56), fill=0)
    buffer = io.BytesIO()
    image.save(buffer, fmt, resolution=150)
    return buffer.getvalue()


def test_pdf_text_is_extracted(cyrillic_font):
    result = extract_text(make_pdf(cyrillic_font, [SENTENCE, "Приказ № 12-34/2024"]), PDF)
    assert result.error is None
    assert SENTENCE in result.text and "12-34/2024" in result.text
    assert not result.ocr


def test_pdf_text_is_extracted_without_poppler(cyrillic_font, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither pdftotext nor tesseract on PATH
    result = extract_text(make_pdf(cyrillic_font, [SENTENCE]), PDF)
    assert (result.method, result.error) == ("pdf:pypdf", None)
    assert SENTENCE in " ".join(result.text.split())


def test_docx_paragraphs_and_tables_are_extracted(tmp_path):
    import docx

    document = docx.Document()
    document.add_paragraph(SENTENCE)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Номер"
    table.rows[0].cells[1].text = "ЦОК-77.01-123"
    path = tmp_path / "agreement.docx"
    document.save(path)
    result = extract_text(path, DOCX)
    assert result.error is None
    assert SENTENCE in result.text and "ЦОК-77.01-123" in result.text


def test_odt_headings_and_paragraphs_are_extracted(tmp_path):
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text="Приказ о создании центра"))
    document.text.addElement(P(text=SENTENCE))
    path = tmp_path / "order.odt"
    document.save(str(path))
    result = extract_text(path, ODT)
    assert result.error is None
    assert "Приказ о создании центра" in result.text and SENTENCE in result.text


def test_html_text_skips_scripts_and_honours_its_charset():
    page = (
        "<html><head><meta charset='windows-1251'><title>Реестр</title><style>p{}</style></head>"
        f"<body><p>{SENTENCE} &amp; приказ</p><script>var secret = 1;</script></body></html>"
    ).encode("cp1251")
    result = extract_text(page, "text/html; charset=windows-1251")
    assert result.error is None
    assert f"{SENTENCE} & приказ" in result.text and "secret" not in result.text


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1251", "koi8-r", "cp866"])
def test_plain_text_in_russian_code_pages_is_decoded(encoding):
    result = extract_text(f"{SENTENCE}. Ещё одна строка текста.".encode(encoding), "text/plain")
    assert result.text == f"{SENTENCE}. Ещё одна строка текста."


@pytest.mark.parametrize("media_type, payload", [
    (PDF, b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage"),
    (DOCX, b"PK\x03\x04 not really a zip"),
    (ODT, b"\x00\x01\x02"),
])
def test_a_broken_file_gives_an_error_not_a_crash(media_type, payload):
    result = extract_text(payload, media_type)
    assert result.text == "" and result.error and "unreadable" in result.error


def test_an_unknown_media_type_is_reported():
    result = extract_text(b"MZ\x90\x00", "application/x-msdownload")
    assert result.error and "no text extractor" in result.error


def test_a_zip_bomb_is_stopped_by_the_memory_limit(tmp_path):
    import docx

    plain, path = tmp_path / "plain.docx", tmp_path / "bomb.docx"
    docx.Document().save(plain)
    body = b'<w:p><w:r><w:t>' + "свидетельство ".encode() * 8_000_000 + b"</w:t></w:r></w:p>"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "word/document.xml":
                data = data.replace(b"<w:body>", b"<w:body>" + body, 1)
            bomb.writestr(item, data)
    assert path.stat().st_size < 5_000_000
    started = time.monotonic()
    result = extract_text(path, DOCX, max_memory_mb=150, timeout_s=20)
    assert result.text == "" and result.error is not None
    assert "MB" in result.error
    assert time.monotonic() - started < 20


def test_extraction_is_killed_at_the_deadline():
    endless = b"<div>" * 8_000_000  # the HTML parser needs many seconds for this
    started = time.monotonic()
    result = extract_text(endless, "text/html", timeout_s=1)
    elapsed = time.monotonic() - started
    assert result.error == "text extraction timed out after 1 s"
    assert elapsed < 5


@pytest.mark.skipif(not shutil.which("tesseract"), reason="Tesseract is not installed")
@pytest.mark.parametrize("fmt, media_type", [("PDF", PDF), ("PNG", "image/png")])
def test_scans_are_read_with_ocr(cyrillic_font, fmt, media_type):
    if fmt == "PDF" and not shutil.which("pdftoppm"):
        pytest.skip("poppler-utils is not installed")
    result = extract_text(make_scan(cyrillic_font, fmt), media_type, timeout_s=60)
    assert result.error is None and result.ocr and result.ocr_status == "done"
    assert "свидетельство" in result.text.lower()


def test_scans_are_marked_when_ocr_is_unavailable(cyrillic_font, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    for fmt, media_type in (("PDF", PDF), ("PNG", "image/png")):
        result = extract_text(make_scan(cyrillic_font, fmt), media_type)
        assert result.error is None and not result.ocr
        assert result.ocr_unavailable


def test_a_pdf_with_a_text_layer_is_read_by_pdftotext_without_a_python_child(monkeypatch):
    import shutil as _shutil

    import pytest as _pytest

    from search import extract as extract_module
    if not _shutil.which("pdftotext"):
        _pytest.skip("poppler-utils is not installed")
    from reportlab.pdfgen import canvas
    import io as _io
    buf = _io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(72, 720, "Agreement with the holder of a certification practice " * 2)
    c.save()
    monkeypatch.setattr(extract_module, "_run_child", lambda *a, **k: (_ for _ in ()).throw(AssertionError("child")))
    result = extract_module.extract_text(buf.getvalue(), "application/pdf")
    assert result.method == "pdf:pdftotext" and "holder of a certification practice" in result.text
