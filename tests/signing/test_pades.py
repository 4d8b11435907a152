from __future__ import annotations

import io
import shutil
import subprocess
from datetime import datetime, timedelta, UTC

import pypdf
from cryptography import x509
from cryptography.hazmat.primitives import serialization
import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers

from signing.errors import (
    BrokenPdf,
    CertificateExpired,
    EncryptedPdf,
    ModificationForbidden,
    NotAPdf,
    SignatureFailed,
)
from signing.pades import FieldSlot, Level, SignRequest, sign_pdf
from signing.signer import SignerIdentity
from signing.stamp import StampPlacement, StampText, render_stamp_pdf
from signing.validate import validate_pdf

from .helpers import PIN, make_pdf


@pytest.mark.parametrize("level", list(Level))
def test_signature_of_each_level_validates_as_trusted(pki, one_page_pdf, level):
    signed = sign_pdf(one_page_pdf, pki.agency_signer, SignRequest(level=level, timestamper=pki.tsa, trust=pki.trust))
    report = validate_pdf(signed, pki.trust)
    [signature] = report.signatures
    assert (signature.status, signature.level) == ("valid", level.value)
    assert signature.trusted and signature.intact and not signature.revoked
    assert signature.signer == "Иванов Иван Иванович"


def test_b_lt_embeds_the_crls_in_the_document_security_store(pki, one_page_pdf):
    request = SignRequest(level=Level.B_LT, timestamper=pki.tsa, trust=pki.trust)
    signed = sign_pdf(one_page_pdf, pki.agency_signer, request)
    dss = PdfFileReader(io.BytesIO(signed)).root["/DSS"]
    embedded = {bytes(stream.get_object().data) for stream in dss["/CRLs"]}
    assert set(pki.trust.crls) <= embedded


def test_signing_appends_and_never_rewrites_the_input(pki, one_page_pdf):
    first = sign_pdf(one_page_pdf, pki.agency_signer)
    second = sign_pdf(first, pki.holder_signer)
    assert first.startswith(one_page_pdf)
    assert second.startswith(first)


def test_visible_stamp_is_placed_on_the_requested_page(pki):
    pdf = make_pdf("стр. 1", "стр. 2")
    placement = StampPlacement(page=-1, x=300, y=40, width=250, height=90, verify_url="https://example.org/v/abc")
    signed = sign_pdf(pdf, pki.agency_signer, SignRequest(level=Level.B_B, stamp=placement))
    reader = pypdf.PdfReader(io.BytesIO(signed))
    [widget] = [a.get_object() for a in reader.pages[1].get("/Annots", [])]
    assert [round(float(v)) for v in widget["/Rect"]] == [300, 40, 550, 130]
    assert "/AP" in widget
    assert not reader.pages[0].get("/Annots")
    assert validate_pdf(signed, pki.trust).authentic


def test_stamp_says_signed_electronically_with_serial_owner_validity_and_time(pki):
    text = StampText.for_certificate(pki.agency_signer.certificate)
    drawing = pypdf.PdfReader(io.BytesIO(render_stamp_pdf(text, 260, 100))).pages[0].extract_text()
    flat = " ".join(drawing.split())
    assert "ДОКУМЕНТ ПОДПИСАН ЭЛЕКТРОННОЙ ПОДПИСЬЮ" in flat
    assert "Иванов Иван Иванович" in flat
    assert format(pki.agency_signer.certificate.serial_number, "x") in flat.replace(" ", "")
    assert f"{text.valid_to:%d.%m.%Y}" in flat and "Подписан:" in flat
    assert "квалифицирован" not in flat.lower()


def test_agreement_certified_by_agency_and_countersigned_by_holder_keeps_both_valid(pki, one_page_pdf):
    by_agency = sign_pdf(
        one_page_pdf,
        pki.agency_signer,
        SignRequest(
            level=Level.B_T,
            timestamper=pki.tsa,
            certify=True,
            stamp=StampPlacement(x=36),
            reserve_fields=(FieldSlot("Holder", StampPlacement(x=310)),),
        ),
    )
    countersigned = sign_pdf(
        by_agency,
        pki.holder_signer,
        SignRequest(level=Level.B_T, timestamper=pki.tsa, field_name="Holder", stamp=StampPlacement()),
    )
    report = validate_pdf(countersigned, pki.trust)
    assert [s.status for s in report.signatures] == ["valid", "valid"]
    assert report.signatures[0].certification == "fill_forms"
    assert report.signatures[0].modification_level == "form_filling"
    assert [s.signer for s in report.signatures] == ["Иванов Иван Иванович", "Петрова Анна Сергеевна"]


def test_signing_a_field_that_is_already_signed_is_refused(pki, one_page_pdf):
    signed = sign_pdf(one_page_pdf, pki.agency_signer, SignRequest(level=Level.B_B, field_name="Director"))
    with pytest.raises(SignatureFailed):
        sign_pdf(signed, pki.holder_signer, SignRequest(level=Level.B_B, field_name="Director"))


def test_certification_must_be_the_first_signature(pki, one_page_pdf):
    signed = sign_pdf(one_page_pdf, pki.agency_signer)
    with pytest.raises(ModificationForbidden):
        sign_pdf(signed, pki.holder_signer, SignRequest(level=Level.B_B, certify=True))


def test_document_whose_certification_forbids_changes_is_refused(pki, one_page_pdf):
    writer = IncrementalPdfFileWriter(io.BytesIO(one_page_pdf))
    locked = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Lock", certify=True, docmdp_permissions=fields.MDPPerm.NO_CHANGES),
        pki.agency_signer.pyhanko_signer(),
    ).sign_pdf(writer).getvalue()
    output = io.BytesIO()
    with pytest.raises(ModificationForbidden):
        sign_pdf(locked, pki.holder_signer, output=output)
    assert output.getvalue() == b""


def _encrypted(pdf: bytes) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf)))
    writer.encrypt("user", "owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("make_input", "refusal"),
    [
        (lambda pdf: b"PK\x03\x04 this is a zip, not a PDF" * 10, NotAPdf),
        (lambda pdf: b"", NotAPdf),
        (lambda pdf: pdf[:200], BrokenPdf),
        (lambda pdf: pdf[:30] + bytes(range(256)) * 8, BrokenPdf),
        (_encrypted, EncryptedPdf),
    ],
    ids=["zip", "empty", "truncated", "garbled", "encrypted"],
)
def test_unsignable_input_is_refused_clearly_and_produces_nothing(pki, one_page_pdf, make_input, refusal):
    output = io.BytesIO(b"")
    with pytest.raises(refusal) as raised:
        sign_pdf(make_input(one_page_pdf), pki.agency_signer, output=output)
    assert output.getvalue() == b""
    assert raised.value.message_ru and raised.value.message_en in str(raised.value)


def test_big_pdf_is_signed_from_stream_to_stream(pki, tmp_path):
    source = tmp_path / "big.pdf"
    source.write_bytes(make_pdf(*[f"page {i} " + "x" * 80 for i in range(400)]))
    target = tmp_path / "big.signed.pdf"
    with source.open("rb") as inp, target.open("wb+") as out:
        assert sign_pdf(inp, pki.agency_signer, output=out) is None
    assert target.read_bytes().startswith(source.read_bytes())
    assert validate_pdf(target.read_bytes(), pki.trust).authentic


def test_signer_whose_certificate_expired_since_loading_is_refused(pki, one_page_pdf):
    old = pki.ca.issue_user_certificate(
        "Истёк", PIN, valid_days=1, not_before=datetime.now(UTC) - timedelta(days=2)
    )
    key = serialization.load_pem_private_key(old.encrypted_key_pem, PIN.encode())
    expired = SignerIdentity(x509.load_der_x509_certificate(old.certificate_der), key, [])
    output = io.BytesIO()
    with pytest.raises(CertificateExpired):
        sign_pdf(one_page_pdf, expired, output=output)
    assert output.getvalue() == b""


def test_adding_a_new_field_to_a_certified_document_is_refused(pki, one_page_pdf):
    certified = sign_pdf(
        one_page_pdf,
        pki.agency_signer,
        SignRequest(level=Level.B_B, certify=True, reserve_fields=(FieldSlot("Holder"),)),
    )
    output = io.BytesIO()
    with pytest.raises(ModificationForbidden) as refusal:
        sign_pdf(certified, pki.holder_signer, SignRequest(level=Level.B_B), output=output)
    assert "Holder" in str(refusal.value) and output.getvalue() == b""


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="pdftoppm (poppler-utils) is required")
def test_stamp_qr_code_reads_back_as_the_verification_url(pki, tmp_path):
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    url = "https://dms.example.org/verify/d/iBFXo0a4ivx1F4yCJZOyegtbX9hzNCqW"
    text = StampText.for_certificate(pki.agency_signer.certificate)
    drawing = render_stamp_pdf(text, 260, 100, verify_url=url, note="Рег. № 1 от 05.12.2026")
    (tmp_path / "stamp.pdf").write_bytes(drawing)
    subprocess.run(["pdftoppm", "-r", "300", "-png", "stamp.pdf", "stamp"], cwd=tmp_path, check=True, timeout=60)
    [image] = sorted(tmp_path.glob("stamp*.png"))
    assert [code.text for code in zxingcpp.read_barcodes(Image.open(image))] == [url]


# --- locks (issue 14, item 7): a single signer's approval locks the document --------------------------------


def _form_pdf(value: str = "") -> bytes:
    """One page of text with a text field placed over it (empty: a form someone could fill after signing)."""
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.drawString(72, 700, "Order 1: approve the plan")
    pdf.acroForm.textfield(name="note", x=72, y=690, width=300, height=24, value=value, borderWidth=0)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _fill_text_field(pdf: bytes, name: str, text: str) -> bytes:
    """What a forger does after signing: fill the form field lying over the text, as an incremental update that
    the PDF form rules allow (a new value and its appearance), so the signed bytes stay intact."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name, pdf_string

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    font = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/Type1"),
        pdf_name("/BaseFont"): pdf_name("/Helvetica")}))
    for ref in writer.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field.get("/T") != name:
            continue
        x1, y1, x2, y2 = (float(v) for v in field["/Rect"])
        appearance = generic.StreamObject({
            pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
            pdf_name("/BBox"): generic.ArrayObject([generic.FloatObject(v) for v in (0, 0, x2 - x1, y2 - y1)]),
            pdf_name("/Resources"): generic.DictionaryObject({
                pdf_name("/Font"): generic.DictionaryObject({pdf_name("/Helv"): font})}),
        }, stream_data=f"BT /Helv 14 Tf 2 6 Td ({text}) Tj ET".encode())
        field[pdf_name("/V")] = pdf_string(text)
        field[pdf_name("/AP")] = generic.DictionaryObject({pdf_name("/N"): writer.add_object(appearance)})
        writer.mark_update(ref)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _pyhanko_docmdp_ok(pdf: bytes, pki) -> bool | None:  # noqa: ANN001
    from pyhanko.sign.validation import validate_pdf_signature

    [embedded] = PdfFileReader(io.BytesIO(pdf)).embedded_regular_signatures
    return validate_pdf_signature(embedded, signer_validation_context=pki.trust.validation_context()).docmdp_ok


@pytest.mark.parametrize("level", [Level.B_T, Level.B_LT])
def test_a_field_filled_over_the_text_after_a_locking_signature_is_reported_modified(pki, level):
    request = SignRequest(level=level, timestamper=pki.tsa, trust=pki.trust, lock=True, stamp=StampPlacement(x=300))
    signed = sign_pdf(_form_pdf(), pki.agency_signer, request)
    assert validate_pdf(signed, pki.trust).authentic
    forged = _fill_text_field(signed, "note", "CANCELLED")
    assert forged.startswith(signed)
    assert _pyhanko_docmdp_ok(forged, pki) is False
    [report] = validate_pdf(forged, pki.trust).signatures
    assert report.status == "modified" and not validate_pdf(forged, pki.trust).authentic


def test_without_the_lock_form_filling_after_signing_stays_allowed(pki):
    """Why orders and certificates lock: an approval signature without a lock allows filling forms."""
    signed = sign_pdf(_form_pdf(), pki.agency_signer, SignRequest(level=Level.B_B))
    forged = _fill_text_field(signed, "note", "CANCELLED")
    assert _pyhanko_docmdp_ok(forged, pki) is True and validate_pdf(forged, pki.trust).authentic


def test_a_locking_signature_carries_docmdp_no_changes_in_its_field_lock(pki, one_page_pdf):
    signed = sign_pdf(one_page_pdf, pki.agency_signer, SignRequest(level=Level.B_B, lock=True, field_name="Approval"))
    [embedded] = PdfFileReader(io.BytesIO(signed)).embedded_regular_signatures
    assert embedded.sig_field["/Lock"]["/P"] == 1
    assert embedded.docmdp_level == fields.MDPPerm.NO_CHANGES
    assert embedded.fieldmdp is not None  # the signature's reference says so too (/TransformMethod /FieldMDP)


def test_a_signature_into_a_pdf_with_form_fields_stays_valid_at_b_lt_with_the_lock(pki):
    signed = sign_pdf(_form_pdf(), pki.agency_signer,
                      SignRequest(level=Level.B_LT, timestamper=pki.tsa, trust=pki.trust, lock=True))
    [report] = validate_pdf(signed, pki.trust).signatures
    assert report.status == "valid" and report.modification_level == "lta_updates"


def test_a_locked_document_still_takes_validation_data_and_a_document_timestamp(pki, one_page_pdf):
    from signing.tsa import timestamper_for

    signed = sign_pdf(one_page_pdf, pki.agency_signer, SignRequest(level=Level.B_T, timestamper=pki.tsa, lock=True))
    out = io.BytesIO()
    signers.PdfTimeStamper(timestamper_for(pki.tsa)).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(signed)), md_algorithm="sha256", output=out)
    report = validate_pdf(out.getvalue(), pki.trust)
    assert report.authentic and [s.kind for s in report.signatures] == ["signature", "document_timestamp"]


def test_a_locking_signature_refuses_to_reserve_fields_for_later_signers(pki, one_page_pdf):
    with pytest.raises(SignatureFailed):
        SignRequest(level=Level.B_B, lock=True, reserve_fields=(FieldSlot("Holder"),))


def test_stamp_prints_the_documents_registration_note_under_its_title(pki):
    text = StampText.for_certificate(pki.agency_signer.certificate)
    note = "Рег. № СГ-МАРК-2026-001 от 05.12.2026"
    drawing = render_stamp_pdf(text, 260, 100, verify_url="https://example.org/verify/d/abc", note=note)
    flat = " ".join(pypdf.PdfReader(io.BytesIO(drawing)).pages[0].extract_text().split())
    assert note in flat and flat.index("ЭЛЕКТРОННОЙ ПОДПИСЬЮ") < flat.index(note) < flat.index("Сертификат")


def test_a_signature_into_a_reserved_field_keeps_the_stamps_note(pki, one_page_pdf, monkeypatch):
    import signing.pades as pades

    drawn: list[StampPlacement] = []
    real = pades.stamp_style
    monkeypatch.setattr(pades, "stamp_style", lambda text, placement: drawn.append(placement) or real(text, placement))
    certified = sign_pdf(one_page_pdf, pki.agency_signer, SignRequest(
        level=Level.B_B, certify=True, stamp=StampPlacement(), reserve_fields=(FieldSlot("Holder"),)))
    both = sign_pdf(certified, pki.holder_signer, SignRequest(
        level=Level.B_B, field_name="Holder", stamp=StampPlacement(note="Рег. № 1 от 05.12.2026")))
    assert validate_pdf(both, pki.trust).authentic
    assert drawn[-1].note == "Рег. № 1 от 05.12.2026" and (drawn[-1].width, drawn[-1].height) == (260, 100)
