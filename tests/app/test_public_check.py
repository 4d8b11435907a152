"""The public check of every signed document (issue 14, item 6): a random token per document, the stamp's QR code
leads to /verify/d/<token> (type, number, date; the title only when the owner publishes it; the signers with their
verdicts; an upload box comparing bytes), the old /verify/document/<id> answers the same page for signed documents
and one identical not-found for everything else; rate-limited and audited."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from dms.models import AuditEvent, Document, Version
from dms.ratelimit import LIMITS, Limit
from dms.signatures import public_check

from .conftest import csrf_of
from .pdfs import make_pdf
from .test_certificates import centre  # noqa: F401  (fixture, asked for by name)
from .test_signing import ca_template, pki  # noqa: F401  (fixtures)
from .test_signing import PIN, issue, on_signing, pdfsig, sign, version_bytes


@pytest.fixture
def office(world, pki, rt):  # noqa: ANN001, ANN201, F811
    """As in test_signing: a clerk, two signatories with certificates, the folders."""
    for login, role in (("clerk", "Clerk"), ("director", "Signatory"), ("deputy", "Signatory")):
        world.user(login, role)
    for path in ("/Приказы", "/Соглашения", "/Прочее"):
        world.folder(path)
    issue(rt, "director")
    issue(rt, "deputy")
    return world


def _doc(rt, doc_id: int) -> Document:  # noqa: ANN001
    with rt.db.session() as s:
        doc = s.get(Document, doc_id)
        s.expunge(doc)
        return doc


def _signed_order(rt, office) -> Document:  # noqa: ANN001
    doc_id = on_signing(rt, office, data=make_pdf("Приказ о проверке"))
    sign(rt, "director", doc_id)
    return _doc(rt, doc_id)


def test_public_tokens_are_random_distinct_and_not_the_id(rt, office):  # noqa: ANN001
    ids = [office.document("clerk", "/Прочее", make_pdf(f"д{i}")).id for i in range(5)]
    tokens = [_doc(rt, i).public_token for i in ids]
    assert len(set(tokens)) == 5
    for doc_id, token in zip(ids, tokens, strict=True):
        assert len(token) >= 32 and token != str(doc_id) and re.fullmatch(r"[A-Za-z0-9_-]+", token)


def test_stamp_qr_of_a_signed_order_points_to_its_public_check(rt, office, client):  # noqa: ANN001
    doc = _signed_order(rt, office)
    signed = version_bytes(rt, doc.id, 2)
    url = f"{rt.settings.base_url}/verify/d/{doc.public_token}"
    # the QR code is drawn as paths; pyHanko keeps the URL nowhere else, so decode the stamp's appearance
    assert f"/verify/document/{doc.id}".encode() not in signed
    page = client.get(public_check.document_path(doc))
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert doc.reg_number and doc.reg_number in body and "Приказ" in body
    assert "Документ на подпись" not in body  # the title is hidden unless the owner publishes it
    assert "Director" in body and "действительна" in body
    assert url.startswith("http")


def test_title_is_shown_only_when_the_owner_publishes_it(rt, office, client):  # noqa: ANN001
    doc = _signed_order(rt, office)
    office.user("reader")
    office.share("/Приказы", "reader", "Reader")
    office.login(client, "reader")
    token = csrf_of(client, f"/documents/{doc.id}")
    refused = client.post(f"/documents/{doc.id}/public-title", data={"public": "1", "csrf_token": token})
    assert refused.status_code in (403, 404)
    assert _doc(rt, doc.id).public_title is False
    client.get("/logout")
    office.login(client, "clerk")  # the author, who also manages the folder's sharing
    own_page = client.get(f"/documents/{doc.id}").get_data(as_text=True)
    assert public_check.document_path(doc) in own_page and "Показывать название" in own_page
    token = csrf_of(client, f"/documents/{doc.id}")
    published = client.post(f"/documents/{doc.id}/public-title", data={"public": "1", "csrf_token": token})
    assert published.status_code == 302
    assert _doc(rt, doc.id).public_title is True
    anonymous = client.application.test_client()
    assert "Документ на подпись" in anonymous.get(public_check.document_path(doc)).get_data(as_text=True)
    with rt.db.session() as s:
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "document.public_title")).one().details[
            "public"] is True


def test_legacy_url_answers_the_same_page_for_signed_and_one_not_found_for_the_rest(rt, office, client):  # noqa: ANN001
    signed = _signed_order(rt, office)
    unsigned = office.document("clerk", "/Прочее", make_pdf("не подписан"))
    waiting = _doc(rt, on_signing(rt, office, data=make_pdf("ждёт подписи")))
    legacy = client.get(f"/verify/document/{signed.id}")
    by_token = client.get(public_check.document_path(signed))
    assert legacy.status_code == by_token.status_code == 200
    strip = [r.get_data(as_text=True).split("<main", 1)[1] for r in (legacy, by_token)]
    strip = [re.sub(r'name="csrf_token" value="[^"]+"', "", b) for b in strip]
    assert strip[0] == strip[1]
    misses = [client.get(path) for path in (
        f"/verify/document/{unsigned.id}", f"/verify/document/{waiting.id}", "/verify/document/999999",
        "/verify/document/abc", f"/verify/d/{unsigned.public_token}", f"/verify/d/{waiting.public_token}",
        "/verify/d/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/verify/d/x")]
    assert {r.status_code for r in misses} == {404}
    assert len({r.get_data() for r in misses}) == 1


def test_upload_box_says_whether_the_bytes_are_this_documents(rt, office, client):  # noqa: ANN001
    doc = _signed_order(rt, office)
    path = public_check.document_path(doc)
    signed, original = version_bytes(rt, doc.id, 2), version_bytes(rt, doc.id, 1)

    def upload(data: bytes) -> str:
        r = client.post(path, data={"file": (io.BytesIO(data), "x.pdf"), "csrf_token": csrf_of(client, path)},
                        content_type="multipart/form-data")
        assert r.status_code == 200
        return r.get_data(as_text=True)

    assert "Да: файл совпадает с подписанной версией 2" in upload(signed)
    assert "но она не подтверждена подписью" in upload(original)
    assert "Нет: файл не совпадает" in upload(signed + b"\n%tampered\n")
    with rt.db.session() as s:
        channels = [e.details.get("channel") for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == "verification", AuditEvent.object_type == "document"))]
    assert channels.count("document-token-file") == 3 and "document-token" in channels


def test_the_check_service_compares_versions_and_validates(rt, office):  # noqa: ANN001
    doc = _signed_order(rt, office)
    signed, protected_bytes = version_bytes(rt, doc.id, 2), version_bytes(rt, doc.id, 3)
    with rt.db.session() as s:
        d = s.get(Document, doc.id)
        good = public_check.check_upload(rt, s, d, signed)
        assert good.authentic and good.matches_version == 2 and good.signatures_valid
        assert not good.current  # an order is kept permanently: its B-LTA version followed the signature
        protected = public_check.check_upload(rt, s, d, protected_bytes)
        assert protected.authentic and protected.current and protected.matches_version == 3
        foreign = public_check.check_upload(rt, s, d, make_pdf("чужой"))
        assert not foreign.authentic and foreign.matches_version is None
        view = public_check.public_view(rt, s, d)
        assert view.authentic and view.title is None and view.version == 3
        assert [(x.kind, x.ok) for x in view.signers] == [("signature", True), ("document_timestamp", True)]


def test_public_document_check_is_rate_limited_and_audited(rt, office, client, monkeypatch):  # noqa: ANN001
    doc = _signed_order(rt, office)
    monkeypatch.setitem(LIMITS, "verify_document", Limit(3))
    codes = [client.get(public_check.document_path(doc)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    codes = [client.get(f"/verify/document/{doc.id}").status_code]
    assert codes == [429]
    with rt.db.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "verification",
                                                    AuditEvent.object_type == "document",
                                                    AuditEvent.object_id == doc.id).order_by(AuditEvent.id)).all()
    assert len(events) == 3 and all(e.actor_id is None and e.details["client"] for e in events)


def test_migration_gives_existing_documents_tokens(tmp_path):  # noqa: ANN001
    from alembic import command

    from dms.migrate import alembic_config
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    cfg = alembic_config(url)
    with engine.connect() as c:
        cfg.attributes["connection"] = c
        command.upgrade(cfg, "0008")
        c.execute(text("INSERT INTO folders (id, name, path, block_inheritance, created_at) "
                       "VALUES (1, 'root', '/1/', 0, '2026-01-01')"))
        for i in (1, 2, 3):
            c.execute(text("INSERT INTO documents (id, doc_type, title, folder_id, state, meta, revision, created_at, "
                           "updated_at) VALUES (:i, 'order', 't', 1, 'signed', '{}', 1, '2026-01-01', '2026-01-01')"),
                      {"i": i})
        c.commit()
        command.upgrade(cfg, "0009")
        c.commit()
        rows = c.execute(text("SELECT public_token, public_title FROM documents")).all()
    assert len({r[0] for r in rows}) == 3 and all(r[0] and len(r[0]) >= 32 and not r[1] for r in rows)


needs_qr_tools = pytest.mark.skipif(not shutil.which("pdftoppm"), reason="pdftoppm (poppler-utils) is required")


@needs_qr_tools
def test_scanning_the_qr_code_of_a_signed_order_leads_to_a_page_naming_its_number(  # noqa: ANN201
        rt, office, client, tmp_path):  # noqa: ANN001
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    doc = _signed_order(rt, office)
    pdf = tmp_path / "signed.pdf"
    pdf.write_bytes(version_bytes(rt, doc.id, 2))
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-singlefile", str(pdf), str(tmp_path / "page")], check=True,
                   timeout=60)
    found = zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"))
    urls = [b.text for b in found if "/verify/" in b.text]
    assert urls, [b.text for b in found]
    path = urls[0].removeprefix(rt.settings.base_url)
    assert path == f"/verify/d/{doc.public_token}"
    page = client.get(path)
    assert page.status_code == 200 and doc.reg_number and doc.reg_number in page.get_data(as_text=True)
    Path(pdf).unlink()


# --- item 7: orders and certificates are locked by their signature; the certificate's stamp covers no text ---------


def test_a_field_filled_over_a_signed_orders_text_is_reported_modified_by_the_app(rt, office, client):  # noqa: ANN001
    from dms.signatures import service as sig_svc
    from tests.signing.test_pades import _fill_text_field, _form_pdf

    doc_id = on_signing(rt, office, data=_form_pdf())
    sign(rt, "director", doc_id)
    signed = version_bytes(rt, doc_id, 2)
    forged = _fill_text_field(signed, "note", "CANCELLED")
    with rt.db.session() as s:
        assert sig_svc.validate_upload(rt, s, io.BytesIO(signed), "test")["authentic"] is True
        report = sig_svc.validate_upload(rt, s, io.BytesIO(forged), "test")
    assert report["authentic"] is False and report["reports"][0]["signatures"][0]["status"] == "modified"
    path = public_check.document_path(_doc(rt, doc_id))
    page = client.post(path, data={"file": (io.BytesIO(forged), "x.pdf"), "csrf_token": csrf_of(client, path)},
                       content_type="multipart/form-data").get_data(as_text=True)
    assert "Нет: файл не совпадает" in page and "изменён после подписания" in page


def test_an_issued_certificate_is_locked_and_its_stamp_sits_in_the_reserved_place(  # noqa: ANN201
        rt, request, client, tmp_path):  # noqa: ANN001
    import pypdf
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import MDPPerm

    from dms import pdfrender
    from dms.certificates import service as certs
    from dms.people import users

    from .test_certificates import rows

    [issued] = certs.issue(rt, "head", request.getfixturevalue("centre"), rows(1), PIN).issued
    with rt.db.session() as s:
        doc = s.get(Document, issued["id"])
        data = rt.store.get_bytes(s.get(Version, doc.current_version_id).object_key)
        path = public_check.document_path(doc)
    [embedded] = PdfFileReader(io.BytesIO(data)).embedded_regular_signatures
    assert embedded.docmdp_level == MDPPerm.NO_CHANGES
    [widget] = [a.get_object() for a in pypdf.PdfReader(io.BytesIO(data)).pages[0]["/Annots"]]
    box = pdfrender.certificate_stamp_box()
    assert [round(float(v)) for v in widget["/Rect"]] == [int(box.x), int(box.y), int(box.x + box.width),
                                                          int(box.y + box.height)]
    page = client.get(path)  # a certificate is a signed document too: its document check answers
    assert page.status_code == 200 and issued["number"] in page.get_data(as_text=True)
    with rt.db.session() as s:  # its title is the holder's full name: never published
        doc = s.get(Document, issued["id"])
        doc.public_title = True
        assert not public_check.may_publish_title(s, users.get_user(s, "head"), doc)
    assert issued["holder"] not in client.get(path).get_data(as_text=True)
    if shutil.which("pdfsig") and shutil.which("certutil"):  # poppler still accepts the locked signature
        lines = pdfsig(rt, data, tmp_path)
        assert "- Signature Validation: Signature is Valid." in lines
        assert "- Certificate Validation: Certificate is Trusted." in lines


def test_signature_stamps_carry_the_registration_number_and_date(rt, office):  # noqa: ANN001
    from datetime import date

    from dms.signatures import service as sig_svc

    doc = _signed_order(rt, office)
    assert doc.reg_number and doc.reg_date
    assert sig_svc.registration_note(doc) == f"Рег. № {doc.reg_number} от {doc.reg_date:%d.%m.%Y}"
    unnumbered = Document(doc_type="other", title="t", folder_id=1, reg_number=None, reg_date=date.today())
    assert sig_svc.registration_note(unnumbered) is None



def test_page_views_reuse_the_verdict_until_new_revocation_data_is_published(rt, office, client, monkeypatch):  # noqa: ANN001
    from dms.signatures import pki as pki_svc

    doc = _signed_order(rt, office)
    public_check._verdicts.clear()
    calls = []
    real = public_check._validate
    monkeypatch.setattr(public_check, "_validate", lambda *a: calls.append(1) or real(*a))
    path = public_check.document_path(doc)
    assert [client.get(path).status_code for _ in range(3)] == [200, 200, 200]
    assert len(calls) == 1
    with rt.db.session() as s:
        pki_svc.publish_crl(rt, s)
    assert client.get(path).status_code == 200 and len(calls) == 2


def test_the_api_answers_the_document_check_and_the_file_check_without_a_token(rt, office, client):  # noqa: ANN001
    doc = _signed_order(rt, office)
    url = f"/api/v1/verify/document/{doc.public_token}"
    body = client.get(url).get_json()
    assert body["found"] is True and body["document"]["reg_number"] == doc.reg_number
    assert body["document"]["authentic"] is True and body["document"]["title"] is None
    [signer] = [x for x in body["document"]["signers"] if x["kind"] == "signature"]
    assert signer["ok"] is True and signer["signed_at"].startswith(str(doc.reg_date.year))
    check = client.post(url, data={"file": (io.BytesIO(version_bytes(rt, doc.id, 2)), "x.pdf")},
                        content_type="multipart/form-data").get_json()
    assert check["authentic"] is True and check["matches_version"] == 2
    missing = [client.get("/api/v1/verify/document/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
               client.get(f"/api/v1/verify/document/{office.document('clerk', '/Прочее', make_pdf('x')).public_token}")]
    assert {r.status_code for r in missing} == {404} and missing[0].get_data() == missing[1].get_data()
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "post"} <= set(paths["/verify/document/{token}"])


def test_a_later_time_stamped_version_of_a_signed_document_counts_as_signed(rt, office, client):  # noqa: ANN001
    """A version made after signing (validation data, a document time-stamp: B-LTA and its renewals) carries the
    signatures; uploading it, or an older such version, is this document's signed bytes."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    from dms.signatures import pki as pki_svc
    from signing.tsa import timestamper_for

    doc = _signed_order(rt, office)
    # the order's B-LTA version (3) made right after its signature; two more document time-stamps as 4 and 5
    stamped: list[bytes] = [version_bytes(rt, doc.id, 3)]
    for _ in range(2):
        out = io.BytesIO()
        signers.PdfTimeStamper(timestamper_for(pki_svc.load(rt).tsa)).timestamp_pdf(
            IncrementalPdfFileWriter(io.BytesIO(stamped[-1])), md_algorithm="sha256", output=out)
        stamped.append(out.getvalue())
    with rt.db.session() as s:
        for number, data in ((4, stamped[1]), (5, stamped[2])):
            info = rt.store.put_bytes(data)
            version = Version(document_id=doc.id, number=number, object_key=info.key, sha256=info.sha256,
                              size=info.size, media_type="application/pdf", filename="signed.pdf")
            s.add(version)
            s.flush()
            s.get(Document, doc.id).current_version_id = version.id
    with rt.db.session() as s:
        d = s.get(Document, doc.id)
        older, newest = (public_check.check_upload(rt, s, d, data) for data in stamped[1:])
        assert (older.matches_version, older.signed_version, older.authentic, older.current) == (4, True, True, False)
        assert (newest.matches_version, newest.authentic, newest.current) == (5, True, True)
        view = public_check.public_view(rt, s, d)
        assert view.version == 5 and view.authentic and [x.kind for x in view.signers][-1] == "document_timestamp"


def test_legacy_url_of_every_signed_document_is_its_page_and_everything_else_one_identical_not_found(
        rt, office, client):  # noqa: ANN001
    """/verify/document/<id> (the QR code of PDFs signed before public tokens): for every signed document (an order,
    an agreement signed by the agency) the very page of /verify/d/<token>, GET and upload; for an unsigned document,
    one waiting for its signature, one in the trash, a destroyed one (purged from the trash), an unknown id and a
    non-number, by GET or by POST with a file: the same 404, byte for byte (it carries no form, so no CSRF token),
    each audited under its channel (the shared rate limit: test_public_document_check_is_rate_limited_and_audited)."""
    from dms.people import users
    from dms.records import service as records

    office.user("admin", "Administrator")
    order = _signed_order(rt, office)
    agreement = _doc(rt, on_signing(rt, office, "agreement", data=make_pdf("Соглашение на подписи")))
    sign(rt, "director", agreement.id)
    gone = office.document("clerk", "/Прочее", make_pdf("уничтожен"))
    unsigned = office.document("clerk", "/Прочее", make_pdf("не подписан"))
    trashed = office.document("clerk", "/Прочее", make_pdf("в корзине"))
    waiting = _doc(rt, on_signing(rt, office, data=make_pdf("ждёт подписи")))
    with rt.db.session() as s:
        records.trash(s, users.get_user(s, "clerk"), s.get(Document, gone.id))
    with rt.db.session() as s:
        purged = records.purge(s, users.get_user(s, "admin"), days=0, store=rt.store).purged
        assert [p["document"] for p in purged] == [gone.id] and s.get(Document, gone.id) is None
        records.trash(s, users.get_user(s, "clerk"), s.get(Document, trashed.id))

    def page(response) -> str:  # noqa: ANN001
        assert response.status_code == 200, response.status_code
        body = response.get_data(as_text=True).split("<main", 1)[1]
        return re.sub(r'name="csrf_token" value="[^"]+"', "", body)

    for doc in (order, agreement):
        legacy, by_token = f"/verify/document/{doc.id}", public_check.document_path(doc)
        assert page(client.get(legacy)) == page(client.get(by_token))
        assert doc.reg_number and doc.reg_number in page(client.get(legacy))
        uploads = [client.post(path, data={"file": (io.BytesIO(version_bytes(rt, doc.id, 2)), "x.pdf"),
                                           "csrf_token": csrf_of(client, by_token)}, content_type="multipart/form-data")
                   for path in (legacy, by_token)]
        assert page(uploads[0]) == page(uploads[1]) and "Да: файл совпадает с подписанной версией 2" in page(uploads[0])

    token = csrf_of(client, public_check.document_path(order))
    missing_ids = [str(unsigned.id), str(waiting.id), str(trashed.id), str(gone.id), "999999", "abc", "1" * 25]
    missing_tokens = [unsigned.public_token, waiting.public_token, trashed.public_token, gone.public_token,
                      "A" * 32, "x"]
    misses = [client.get(f"/verify/document/{i}") for i in missing_ids]
    misses += [client.get(f"/verify/d/{t}") for t in missing_tokens]
    misses += [client.post(f"/verify/document/{i}", data={"file": (io.BytesIO(b"%PDF-1.4"), "x.pdf"),
                                                          "csrf_token": token}, content_type="multipart/form-data")
               for i in (unsigned.id, gone.id)]
    assert {r.status_code for r in misses} == {404}
    bodies = {re.sub(r'name="csrf_token" value="[^"]+"', "", r.get_data(as_text=True)) for r in misses}
    assert len(bodies) == 1 and "csrf_token" not in bodies.pop()  # no form, no token: the very same bytes
    assert len({r.get_data() for r in misses}) == 1

    with rt.db.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "verification",
                                                    AuditEvent.object_type == "document").order_by(AuditEvent.id)).all()
    by_id = [e for e in events if e.details["channel"] == "document-id"]
    assert sorted(e.object_id for e in by_id if e.details["found"]) == sorted([order.id, order.id, agreement.id,
                                                                               agreement.id])
    assert sum(1 for e in by_id if not e.details["found"] and e.object_id is None) == len(missing_ids) + 2
    assert sum(1 for e in events if e.details["channel"] == "document-id-file") == 2
    assert all(e.actor_id is None and e.details["client"] for e in events)
