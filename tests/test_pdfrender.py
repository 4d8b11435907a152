"""Rendering of Russian documents and certificates: real, parseable PDFs with extractable text."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pypdf
import pytest
import qrcode
from PIL import Image

from dms.pdfrender import (
    FONT_DIR_ENV,
    FONT_FILES,
    QR_MASK_PATTERN,
    CertificateSpec,
    FontMissing,
    InvalidSpec,
    RenderSpec,
    Signature,
    certificate_stamp_box,
    load_fonts,
    render_certificate_pdf,
    render_document_pdf,
    render_text_pdf,
)

ORDER = RenderSpec(
    org_name="Автономная некоммерческая организация «Агентство оценки квалификаций „Пример“»",
    doc_kind="ПРИКАЗ",
    title="О проведении профессионального экзамена по квалификации «Сварщик»",
    reg_number="17-п",
    reg_date=date(2025, 3, 5),
    city="Калуга",
    paragraphs=(
        "На основании заявлений соискателей и в соответствии с порядком независимой оценки квалификации",
        "ПРИКАЗЫВАЮ:",
        "1. Провести профессиональный экзамен 24 марта 2025 года в экзаменационном центре.",
        "2. Утвердить состав экспертной комиссии: Ёлкина Жанна Эдуардовна (председатель).",
    ),
    table=(("№", "Соискатель", "Квалификация"), ("1", "Щукин Юрий Фёдорович", "Сварщик")),
    signature=Signature("Генеральный директор", "А. Б. Вымышленная"),
    footer="Документ для проверки рендеринга",
)

CERTIFICATE = CertificateSpec(
    number="77.001.2025.00042",
    blank_number="СК 7700042",
    holder_name="Белозёрова Анастасия Игоревна",
    qualification="Специалист по управлению персоналом",
    level=6,
    centre_name="ООО «Центр оценки квалификаций „Пример“»",
    centre_code="ЦОК-77-001",
    issue_date=date(2025, 4, 12),
    valid_until=date(2028, 4, 12),
    verification_url="https://pechat.example/verify/3f9a1c0b7d2e4a6f9b8c7d6e5f4a3b2c",
    signatory=Signature("Руководитель центра", "М. А. Зуев"),
    org_name="Совет по профессиональным квалификациям",
)


def extracted_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return normalise(" ".join(page.extract_text() for page in reader.pages))


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_document_pdf_parses_and_its_cyrillic_text_is_extractable() -> None:
    pdf = render_document_pdf(ORDER)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert pdf.startswith(b"%PDF-")
    assert len(reader.pages) == 1
    assert reader.metadata is not None and reader.metadata.title == ORDER.title
    text = extracted_text(pdf)
    for expected in (ORDER.title, ORDER.doc_kind, "№ 17-п", "«05» марта 2025 г.", "г. Калуга",
                     "Ёлкина Жанна Эдуардовна", "Щукин Юрий Фёдорович", "А. Б. Вымышленная",
                     ORDER.paragraphs[0]):
        assert expected in text


@pytest.mark.parametrize("render", [lambda: render_document_pdf(ORDER),
                                    lambda: render_certificate_pdf(CERTIFICATE)], ids=["order", "certificate"])
def test_fonts_are_embedded_not_borrowed_from_the_reader(render) -> None:  # noqa: ANN001
    reader = pypdf.PdfReader(io.BytesIO(render()))
    fonts: Any = reader.pages[0]["/Resources"]["/Font"]  # type: ignore[index]
    assert fonts
    for ref in fonts.values():
        descriptor = ref.get_object()["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor


def test_markup_characters_in_text_are_printed_literally() -> None:
    spec = replace(ORDER, paragraphs=("Пункт <b>жирный</b> & «кавычки» <unclosed",))
    assert "Пункт <b>жирный</b> & «кавычки» <unclosed" in extracted_text(render_document_pdf(spec))


def test_identical_specs_give_identical_bytes_when_deterministic() -> None:
    first = render_document_pdf(ORDER, deterministic=True)
    assert render_document_pdf(ORDER, deterministic=True) == first
    assert render_certificate_pdf(CERTIFICATE, deterministic=True) == render_certificate_pdf(
        CERTIFICATE, deterministic=True)


def test_a_changed_spec_gives_different_bytes() -> None:
    changed = replace(ORDER, reg_number="18-п")
    assert render_document_pdf(changed, deterministic=True) != render_document_pdf(ORDER, deterministic=True)


def test_multi_page_document_numbers_its_pages_and_single_page_does_not() -> None:
    long_spec = replace(ORDER, paragraphs=tuple(f"Абзац номер {i}. " + "Текст апробации модели. " * 40
                                                for i in range(12)))
    reader = pypdf.PdfReader(io.BytesIO(render_document_pdf(long_spec)))
    total = len(reader.pages)
    assert total > 1
    for number, page in enumerate(reader.pages, start=1):
        assert f"Страница {number} из {total}" in normalise(page.extract_text())
    assert "Абзац номер 11." in extracted_text(render_document_pdf(long_spec))
    assert "Страница" not in extracted_text(render_document_pdf(ORDER))


def test_document_without_number_or_date_leaves_blanks_to_fill() -> None:
    text = extracted_text(render_document_pdf(replace(ORDER, reg_number=None, reg_date=None, table=None,
                                                      signature=None)))
    assert "№ ______" in text
    assert ORDER.title in text


def test_document_without_title_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="title"):
        render_document_pdf(replace(ORDER, title="  "))


def test_text_pdf_helper_prints_title_and_every_paragraph() -> None:
    text = extracted_text(render_text_pdf("Проверочный документ", "Первый абзац о держателе практики.\n\n"
                                                                  "Второй абзац о центре оценки."))
    for expected in ("Проверочный документ", "Первый абзац о держателе практики.", "Второй абзац о центре оценки."):
        assert expected in text


def test_certificate_pdf_prints_number_holder_and_dates() -> None:
    pdf = render_certificate_pdf(CERTIFICATE)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    text = extracted_text(pdf)
    for expected in ("СВИДЕТЕЛЬСТВО О КВАЛИФИКАЦИИ", "№ 77.001.2025.00042", "Белозёрова Анастасия Игоревна",
                     "«Специалист по управлению персоналом»", "Уровень квалификации: 6", "ЦОК-77-001",
                     "Дата выдачи: 12.04.2025", "Действительно до: 12.04.2028", "Бланк № СК 7700042",
                     "М. А. Зуев", CERTIFICATE.verification_url):
        assert expected in text


def test_certificate_qr_image_encodes_the_verification_url() -> None:
    reader = pypdf.PdfReader(io.BytesIO(render_certificate_pdf(CERTIFICATE)))
    images = reader.pages[0].images
    assert len(images) == 1
    picture = Image.open(io.BytesIO(images[0].data)).convert("L")
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0,
                         mask_pattern=QR_MASK_PATTERN)
    code.add_data(CERTIFICATE.verification_url)
    code.make(fit=True)
    modules = code.get_matrix()
    border = (picture.width - len(modules)) // 2
    assert picture.width == picture.height == len(modules) + 2 * border
    for y, row in enumerate(modules):
        for x, dark in enumerate(row):
            assert (picture.getpixel((x + border, y + border)) < 128) == dark  # type: ignore[operator]


def test_certificate_with_another_url_carries_another_qr_image() -> None:
    other = replace(CERTIFICATE, verification_url=CERTIFICATE.verification_url + "0")
    first = pypdf.PdfReader(io.BytesIO(render_certificate_pdf(CERTIFICATE))).pages[0].images[0].data
    second = pypdf.PdfReader(io.BytesIO(render_certificate_pdf(other))).pages[0].images[0].data
    assert first != second


def test_certificate_watermark_is_printed_only_when_asked() -> None:
    assert "ОБРАЗЕЦ" in extracted_text(render_certificate_pdf(replace(CERTIFICATE, watermark="ОБРАЗЕЦ")))
    assert "ОБРАЗЕЦ" not in extracted_text(render_certificate_pdf(CERTIFICATE))


def test_certificate_without_expiry_is_printed_as_unlimited() -> None:
    text = extracted_text(render_certificate_pdf(replace(CERTIFICATE, valid_until=None, landscape=False)))
    assert "Действительно до: бессрочно" in text


def test_certificate_level_outside_one_to_nine_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="level"):
        render_certificate_pdf(replace(CERTIFICATE, level=10))


def test_missing_fonts_raise_font_missing_naming_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(FontMissing, match="fonts-dejavu-core") as caught:
        load_fonts([tmp_path])
    assert str(tmp_path) in str(caught.value)
    with pytest.raises(FontMissing):
        render_document_pdf(ORDER, font_dirs=[tmp_path])
    with pytest.raises(FontMissing):
        render_certificate_pdf(CERTIFICATE, font_dirs=[tmp_path])


def test_a_directory_with_only_part_of_the_family_is_not_enough(tmp_path: Path) -> None:
    complete = load_fonts().directory
    (tmp_path / "DejaVuSerif.ttf").write_bytes((complete / "DejaVuSerif.ttf").read_bytes())
    with pytest.raises(FontMissing, match="DejaVuSans-Bold.ttf"):
        load_fonts([tmp_path])


def test_fonts_are_registered_once_per_search_path() -> None:
    assert load_fonts() is load_fonts()


def test_control_characters_and_lone_surrogates_are_dropped_not_fatal() -> None:
    spec = replace(ORDER, paragraphs=("Текст\x00 с\x07 мусором \ud800 и смайликом 😀",))
    assert "Текст с мусором и смайликом" in extracted_text(render_document_pdf(spec))
    holder = "Иванова\x00 Мария\ud800 Петровна"
    assert "Иванова Мария Петровна" in extracted_text(render_certificate_pdf(replace(CERTIFICATE, holder_name=holder)))


def test_table_rows_taller_than_a_page_are_split_across_pages() -> None:
    spec = replace(ORDER, table=(("Процесс", "Вывод"), ("длинный вывод " * 1500, "кратко")))
    reader = pypdf.PdfReader(io.BytesIO(render_document_pdf(spec)))
    assert len(reader.pages) > 2


def test_a_block_that_cannot_fit_a_page_is_refused_with_a_clear_error() -> None:
    spec = replace(ORDER, signature=Signature("Должность " * 600, "И. И. Иванов"))
    with pytest.raises(InvalidSpec, match="A4"):
        render_document_pdf(spec)


def test_font_directory_from_the_environment_is_searched_first(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    installed = load_fonts().directory
    for name in FONT_FILES.values():
        (tmp_path / name).write_bytes((installed / name).read_bytes())
    monkeypatch.setenv(FONT_DIR_ENV, str(tmp_path))
    assert load_fonts().directory == tmp_path
    assert "Проверка" in extracted_text(render_text_pdf("Проверка", "шрифта из каталога окружения"))


# --- the stamp's place on a certificate (issue 14, item 7) -------------------------------------------------------

needs_pdftotext = pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext (poppler-utils) is required")


def _word_boxes(pdf: bytes, tmp_path: Path) -> list[tuple[str, float, float, float, float]]:
    """Every word poppler finds, as (word, x1, y1, x2, y2) in points from the bottom-left corner."""
    path = tmp_path / "c.pdf"
    path.write_bytes(pdf)
    html = subprocess.run(["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    height = float(re.search(r'<page width="[\d.]+" height="([\d.]+)"', html).group(1))  # type: ignore[union-attr]
    return [(m[4], float(m[0]), height - float(m[3]), float(m[2]), height - float(m[1])) for m in re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', html)]


LONG = replace(CERTIFICATE, holder_name="Константинопольская-Белозёрова Анастасия-Виктория Игоревна",
               qualification="Специалист по управлению персоналом в организациях строительной отрасли (6 уровень)",
               centre_name="Общество с ограниченной ответственностью «Центр оценки квалификаций в строительстве»",
               signatory=Signature("Руководитель Центра оценки квалификаций",
                                   "Константинопольский Константин Константинович"), city="Санкт-Петербург")


@needs_pdftotext
@pytest.mark.parametrize("spec", [CERTIFICATE, LONG, replace(LONG, landscape=False)], ids=["plain", "long", "portrait"])
def test_certificate_reserves_the_stamps_place_no_text_lies_under_it(spec, tmp_path: Path) -> None:  # noqa: ANN001
    box = certificate_stamp_box(spec.landscape)
    words = _word_boxes(render_certificate_pdf(spec), tmp_path)
    printed = " ".join(w[0] for w in words)
    for expected in ("М.П.", f"г. {spec.city}", spec.signatory.position.split()[0], "Действительно"):
        assert expected in printed
    assert not [w for w in words if box.overlaps(*w[1:])]
    page_width = 841.89 if spec.landscape else 595.27
    assert all(w[1] >= 13 * 2.8346 and w[3] <= page_width - 13 * 2.8346 for w in words), "text leaves the frame"


def test_certificate_stamp_box_fits_the_stamp_inside_the_frame() -> None:
    for landscape_page, (width, height) in ((True, (841.89, 595.27)), (False, (595.27, 841.89))):
        box = certificate_stamp_box(landscape_page)
        assert (box.width, box.height) == (260.0, 100.0)
        assert box.x > 37 and box.x + box.width < width - 37 and box.y > 37 and box.y + box.height < height - 37


@needs_pdftotext
def test_office_documents_keep_the_bottom_of_their_last_page_free_for_signature_stamps(tmp_path: Path) -> None:
    """Whatever the length of the text, nothing but the page footer lies where the stamps go (44–144 pt)."""
    from dms.pdfrender import DOCUMENT_STAMP_TOP

    paragraph = "Настоящим приказом утверждается порядок проведения профессионального экзамена. " * 4
    for count in range(8, 16):
        pdf = render_document_pdf(replace(ORDER, paragraphs=[paragraph] * count, table=None))
        pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
        path = tmp_path / "last.pdf"
        writer = pypdf.PdfWriter()
        writer.add_page(pages[-1])
        with path.open("wb") as out:
            writer.write(out)
        words = _word_boxes(path.read_bytes(), tmp_path)
        low = [w for w in words if w[2] < DOCUMENT_STAMP_TOP and w[4] > 44]
        assert not low, (count, low[:3])
