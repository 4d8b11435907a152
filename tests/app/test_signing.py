"""Signing documents in the archive: PAdES as the workflow's signing step (a new version, valid for pyHanko and
for poppler's pdfsig), agreements signed and countersigned, detached CMS for other files, refusals that leave the
document untouched, batch signing, validation on demand and of uploaded files."""
from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dms.models import AuditEvent, Document, Signature, Version
from dms.documents import service as documents
from dms.people import users
from dms.signatures import pki as pki_svc
from dms.signatures import service as sig_svc
from dms.workflow import service as wf
from signing.pki import CertificateAuthority
from signing.trust import TrustStore
from signing.validate import validate_detached, validate_pdf

from .conftest import csrf_of
from .pdfs import make_pdf
from .test_cli import dms
from datetime import UTC

PIN = "48219375"  # 8 characters: the minimum for a new PIN (issue 16)
PASSPHRASE = "test-pki-passphrase"


@pytest.fixture(scope="session")
def ca_template(tmp_path_factory) -> Path:  # noqa: ANN001
    """One CA per test session (key generation once); each test gets a copy in its data dir."""
    directory = tmp_path_factory.mktemp("ca") / "pki"
    CertificateAuthority.create("АНО «Тестовый центр квалификаций»",
                                public_base_url="http://127.0.0.1:5000/pki").save(directory, PASSPHRASE)
    return directory


# template directory -> {(key PEM, passphrase): the key}: the template CA's three keys, decrypted once per session
_TEMPLATE_KEYS: dict[Path, dict[tuple[bytes, bytes], object]] = {}


def _template_keys(template: Path) -> dict[tuple[bytes, bytes], object]:
    from cryptography.hazmat.primitives import serialization
    if template not in _TEMPLATE_KEYS:
        secret = PASSPHRASE.encode()
        _TEMPLATE_KEYS[template] = {(pem, secret): serialization.load_pem_private_key(pem, secret)
                                    for pem in (path.read_bytes() for path in sorted(template.glob("*.key.pem")))}
    return _TEMPLATE_KEYS[template]


@pytest.fixture
def pki(rt, ca_template, monkeypatch):  # noqa: ANN001, ANN201
    """The template CA copied into the test's data dir and loaded as the archive loads it. Opening one of the
    template's three keys (600,000 PBKDF2 rounds each: 0.3 s of CPU per test, in ~130 tests per pass) gives the key
    decrypted once per session; any other key or passphrase (a wrong one, a CA created in the test) opens for real."""
    from cryptography.hazmat.primitives import serialization
    real_open, template_keys = serialization.load_pem_private_key, _template_keys(ca_template)

    def load_pem_private_key(data, password, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        key = template_keys.get((bytes(data), bytes(password or b"")))
        return key if key is not None else real_open(data, password, *args, **kwargs)

    monkeypatch.setattr(serialization, "load_pem_private_key", load_pem_private_key)
    monkeypatch.setenv("DMS_PKI_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("DMS_TSA_URL", raising=False)
    shutil.copytree(ca_template, pki_svc.pki_dir(rt.settings))
    pki_svc.init(rt)
    return pki_svc.load(rt)


def issue(rt, login: str, pin: str = PIN):  # noqa: ANN001, ANN201
    with rt.db.session() as s:
        return pki_svc.issue(rt, s, None, users.get_user(s, login), pin)


@pytest.fixture
def office(world, pki, rt):  # noqa: ANN001, ANN201
    """A clerk who files documents, two signatories with certificates, an administrator."""
    world.user("clerk", "Clerk")
    world.user("director", "Signatory")
    world.user("deputy", "Signatory")
    world.user("admin", "Administrator")
    world.user("newcomer", "Signatory")
    world.folder("/Приказы")
    world.folder("/Соглашения")
    world.folder("/Прочее")
    issue(rt, "director")
    issue(rt, "deputy")
    return world


def on_signing(rt, world, doc_type: str = "order", data: bytes | None = None,  # noqa: ANN001
               author: str = "clerk") -> int:
    folder = {"order": "/Приказы", "agreement": "/Соглашения"}[doc_type]
    meta = {"agreement": {"counterparty": "ООО «Практика»"}}.get(doc_type)
    doc = world.document(author, folder, data or make_pdf(f"{doc_type} на подпись"), doc_type=doc_type,
                         title="Документ на подпись", meta=meta)
    steps = {"order": ("register", "send_to_signing"), "agreement": ("send_to_signing",)}[doc_type]
    with rt.db.session() as s:
        actor = users.get_user(s, author)
        for step in steps:
            wf.execute(s, actor, documents.get(s, actor, doc.id), step)
    return doc.id


def sign(rt, login: str, doc_id: int, pin: str = PIN, **kw):  # noqa: ANN001, ANN202
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        sig = sig_svc.sign_document(rt, s, actor, documents.get(s, actor, doc_id), pin, **kw)
        return sig.id, sig.version.number


def version_bytes(rt, doc_id: int, number: int) -> bytes:  # noqa: ANN001
    with rt.db.session() as s:
        key = s.scalars(select(Version.object_key).where(Version.document_id == doc_id,
                                                         Version.number == number)).one()
    return rt.store.get_bytes(key)


def trust(rt) -> TrustStore:  # noqa: ANN001
    with rt.db.session() as s:
        return pki_svc.trust_store(rt, s)


# --- pdfsig: an independent validator trusting only our root ------------------------------------------------

needs_pdfsig = pytest.mark.skipif(not (shutil.which("pdfsig") and shutil.which("certutil")),
                                  reason="pdfsig (poppler-utils) and certutil (libnss3-tools) are required")


def pdfsig(rt, pdf: bytes, tmp_path: Path) -> list[str]:  # noqa: ANN001
    nss = tmp_path / "nssdb"
    nss.mkdir()
    root = tmp_path / "root.pem"
    root.write_bytes(pki_svc.load(rt).ca.certificate_pem("root"))
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "root", "-t", "CT,C,C", "-i", str(root)],
                   check=True, capture_output=True)
    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(path)], capture_output=True, text=True, timeout=60)
    return [line.strip() for line in out.stdout.splitlines()]


# --- orders -------------------------------------------------------------------------------------------------

@needs_pdfsig
def test_signed_order_is_a_new_version_that_pyhanko_and_pdfsig_trust(rt, office, client, tmp_path):  # noqa: ANN001
    doc_id = on_signing(rt, office)
    h = office.token(client, "director")
    r = client.post(f"/api/v1/documents/{doc_id}/signatures", headers=h, json={"pin": PIN})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["document"]["state"] == "signed" and body["version"] == 2 and body["source_version"] == 1
    assert body["kind"] == "pades" and body["level"] == "B-T" and body["transition"] == "sign"
    original, signed = version_bytes(rt, doc_id, 1), version_bytes(rt, doc_id, 2)
    assert signed.startswith(original) and len(signed) > len(original)  # an incremental update, never a rewrite

    report = client.get(f"/api/v1/documents/{doc_id}/versions/2/validation", headers=h).get_json()
    assert report["authentic"] is True
    (only,) = report["reports"][0]["signatures"]
    assert only["status"] == "valid" and only["trusted"] and only["timestamp_trusted"] and only["level"] == "B-T"
    assert "действительны" in report["summary_ru"]
    listed = client.get(f"/api/v1/documents/{doc_id}/signatures", headers=h).get_json()["items"]
    assert [s["validation"]["status"] for s in listed] == ["valid"]

    lines = pdfsig(rt, signed, tmp_path)
    assert "- Signature Validation: Signature is Valid." in lines
    assert "- Certificate Validation: Certificate is Trusted." in lines
    with rt.db.session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.object_id == doc_id)
                .order_by(AuditEvent.id)).all()
        assert {"signature", "verification", "workflow.transition"} <= set(actions)
        assert [h.transition for h in wf.history(s, s.get(Document, doc_id))][-1] == "sign"


def test_long_term_level_embeds_revocation_data(rt, office):  # noqa: ANN001
    doc_id = on_signing(rt, office)
    sign(rt, "director", doc_id, level="B-LT")
    report = validate_pdf(version_bytes(rt, doc_id, 2), trust(rt))
    assert report.authentic and report.signatures[0].level == "B-LT"


# --- agreements: the agency certifies, the holder countersigns into the reserved field --------------------

def test_agreement_signed_then_countersigned_keeps_both_signatures_valid(rt, office):  # noqa: ANN001
    doc_id = on_signing(rt, office, "agreement")
    sign(rt, "director", doc_id)
    with rt.db.session() as s:
        assert s.get(Document, doc_id).state == "signed_by_agency"
    first = validate_pdf(version_bytes(rt, doc_id, 2), trust(rt))
    assert first.authentic and first.signatures[0].certification is not None

    # The second party: the holder's representative (local role Counterparty), not another agency signatory.
    office.user("holder-rep")
    office.share("/Соглашения", "holder-rep", "Counterparty")
    issue(rt, "holder-rep")
    with pytest.raises(Exception, match="подпись"):
        sign(rt, "deputy", doc_id)
    _, number = sign(rt, "holder-rep", doc_id)
    assert number == 3
    both = validate_pdf(version_bytes(rt, doc_id, 3), trust(rt))
    assert both.authentic and len(both.signatures) == 2
    assert [s.field_name for s in both.signatures][-1] == "Holder"
    with rt.db.session() as s:
        doc = s.get(Document, doc_id)
        assert doc.state == "in_force"
        rows = sig_svc.signatures_of(s, doc)
        assert [(r.transition, r.field_name) for r in rows] == [("sign", "PechatSignature1"), ("countersign", "Holder")]


# --- refusals leave everything as it was ----------------------------------------------------------------

def _snapshot(rt, doc_id: int) -> tuple:  # noqa: ANN001
    with rt.db.session() as s:
        doc = s.get(Document, doc_id)
        return (doc.state, doc.revision, doc.current_version_id,
                s.scalar(select(func.count()).select_from(Version).where(Version.document_id == doc_id)),
                s.scalar(select(func.count()).select_from(Signature)),
                s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "signature")),
                sorted(o.key for o in rt.store.list()))


def _encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf("зашифрованный"))))
    writer.encrypt("user-password", "owner-password")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _revoke(rt, login: str) -> None:  # noqa: ANN001
    with rt.db.session() as s:
        pki_svc.revoke(rt, s, None, users.get_user(s, login), "key_compromise")


REFUSALS = {
    # name: (signer, document bytes, preparation, expected error text)
    "wrong_pin": ("director", None, None, "Неверный PIN"),
    "revoked_certificate": ("director", None, lambda rt: _revoke(rt, "director"), "отозван"),
    "no_certificate": ("newcomer", None, None, "нет сертификата"),
    "no_sign_permission": ("clerk", None, None, "нет права «подпись»"),
    "encrypted_pdf": ("director", _encrypted_pdf(), None, "зашифрован"),
    "broken_pdf": ("director", b"%PDF-1.7\n1 0 obj <</Type /Catalog>> garbage", None, "повреж"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_signature_leaves_the_document_unchanged(rt, office, case):  # noqa: ANN001
    login, data, prepare, text = REFUSALS[case]
    doc_id = on_signing(rt, office, data=data)
    if prepare:
        prepare(rt)
    before = _snapshot(rt, doc_id)
    with pytest.raises(Exception) as caught:
        sign(rt, login, doc_id, pin="000000" if case == "wrong_pin" else PIN)
    message = getattr(caught.value, "message", None) or str(caught.value)
    assert text.lower() in message.lower(), message
    assert _snapshot(rt, doc_id) == before


def test_the_author_of_an_order_may_not_sign_it(rt, office):  # noqa: ANN001
    office.user("clerk-signatory", "Clerk", "Signatory")
    issue(rt, "clerk-signatory")
    doc_id = on_signing(rt, office, author="clerk-signatory")
    before = _snapshot(rt, doc_id)
    with pytest.raises(Exception, match="автор"):
        sign(rt, "clerk-signatory", doc_id)
    assert _snapshot(rt, doc_id) == before


def test_refusal_over_the_api_is_a_clear_error_and_changes_nothing(rt, office, client):  # noqa: ANN001
    doc_id = on_signing(rt, office)
    before = _snapshot(rt, doc_id)
    h = office.token(client, "director")
    r = client.post(f"/api/v1/documents/{doc_id}/signatures", headers=h, json={"pin": "999999"})
    assert r.status_code == 403 and "PIN" in r.get_json()["error"]["message"]
    r = client.post(f"/api/v1/documents/{doc_id}/signatures", headers=office.token(client, "clerk"), json={"pin": PIN})
    assert r.status_code == 403
    assert _snapshot(rt, doc_id)[:6] == before[:6]


# --- detached CMS for files that are not PDFs -------------------------------------------------------------

def test_text_version_gets_a_detached_cms_signature_that_validates(rt, office, client):  # noqa: ANN001
    text = "Протокол заседания комиссии\n".encode() * 50
    doc = office.document("clerk", "/Прочее", text, doc_type="other", title="Протокол", filename="protocol.txt")
    sig_id, number = sign(rt, "director", doc.id)
    assert number == 1  # the version is unchanged: the signature is a separate object
    with rt.db.session() as s:
        row = s.get(Signature, sig_id)
        assert row.kind == "cms" and row.p7s_key and s.get(Document, doc.id).state == "draft"
        p7s = rt.store.get_bytes(row.p7s_key)
    assert validate_detached(text, p7s, trust(rt)).authentic
    assert not validate_detached(text + b"!", p7s, trust(rt)).authentic
    from datetime import datetime, timedelta

    from dms.operations.check import check_objects
    with rt.db.session() as s:  # the .p7s is referenced: never an orphan, never deleted by `dms check`
        later = check_objects(s, rt.store, delete_orphans=True, now=datetime.now(UTC) + timedelta(days=3))
    assert later.ok and row.p7s_key not in later.orphans_deleted and rt.store.exists(row.p7s_key)
    h = office.token(client, "director")
    report = client.get(f"/api/v1/documents/{doc.id}/versions/1/validation", headers=h).get_json()
    assert report["authentic"] is True and report["reports"][0]["kind"] != "pdf"
    office.login(client, "director")
    r = client.get(f"/documents/{doc.id}/signatures/{sig_id}.p7s")
    assert r.status_code == 200 and r.data == p7s


# --- many documents ---------------------------------------------------------------------------------------

def test_sign_many_signs_each_ready_document_and_reports_each_refusal(rt, office):  # noqa: ANN001
    ready = [on_signing(rt, office, data=make_pdf(f"приказ {i}")) for i in range(3)]
    draft = office.document("clerk", "/Приказы", make_pdf("проект"), doc_type="order").id
    seen: list[tuple[int, int]] = []
    outcomes = sig_svc.sign_many(rt, "director", [*ready, draft], PIN, chunk=2,
                                 progress=lambda done, total: seen.append((done, total)))
    assert [o.ok for o in outcomes] == [True, True, True, False]
    assert "не подписывают" in outcomes[-1].error
    assert seen == [(2, 4), (4, 4)]
    for doc_id in ready:
        assert validate_pdf(version_bytes(rt, doc_id, 2), trust(rt)).authentic
    with rt.db.session() as s:
        assert {s.get(Document, i).state for i in ready} == {"signed"}


# --- validation of files from elsewhere, by API and by `dms verify` --------------------------------------

def test_uploaded_pdf_is_checked_publicly_and_a_tampered_copy_is_not_authentic(rt, office, client, settings,
                                                                                tmp_path):  # noqa: ANN001
    doc_id = on_signing(rt, office)
    sign(rt, "director", doc_id)
    signed = version_bytes(rt, doc_id, 2)
    r = client.post("/api/v1/verify/pdf", data={"file": (io.BytesIO(signed), "a.pdf")},
                    content_type="multipart/form-data")
    assert r.status_code == 200 and r.get_json()["authentic"] is True
    tampered = bytearray(signed)
    tampered[tampered.index(b"ReportLab")] ^= 0x20
    r = client.post("/api/v1/verify/pdf", data={"file": (io.BytesIO(bytes(tampered)), "b.pdf")},
                    content_type="multipart/form-data")
    assert r.status_code == 200 and r.get_json()["authentic"] is False

    good, bad = tmp_path / "good.pdf", tmp_path / "bad.pdf"
    good.write_bytes(signed)
    bad.write_bytes(bytes(tampered))
    ok = dms(settings, "verify", str(good), "--json")
    assert ok.returncode == 0, ok.stderr
    refused = dms(settings, "verify", str(bad))
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "не подлинный" in refused.stderr


# --- the web page -------------------------------------------------------------------------------------------

def test_document_page_offers_signing_with_a_pin_and_checks_signatures(rt, office, client):  # noqa: ANN001
    doc_id = on_signing(rt, office)
    office.login(client, "director")
    page = client.get(f"/documents/{doc_id}").get_data(as_text=True)
    assert 'name="pin"' in page and "Подписать" in page
    token = csrf_of(client, f"/documents/{doc_id}")
    r = client.post(f"/documents/{doc_id}/sign", data={"pin": "000000", "csrf_token": token})
    assert r.status_code == 302
    assert "Неверный PIN" in client.get(f"/documents/{doc_id}").get_data(as_text=True)
    r = client.post(f"/documents/{doc_id}/sign", data={"pin": PIN, "csrf_token": token})
    assert r.status_code == 302
    page = client.get(f"/documents/{doc_id}").get_data(as_text=True)
    assert "Документ подписан" in page and "не проверялась" in page
    r = client.post(f"/documents/{doc_id}/versions/2/verify", data={"csrf_token": token}, follow_redirects=True)
    assert "Все подписи действительны" in r.get_data(as_text=True)
    assert "действительна" in r.get_data(as_text=True)
    with rt.db.session() as s:
        assert s.get(Document, doc_id).state == "signed"


def test_the_validation_report_follows_the_ui_language_russian_by_default(rt, office, client):  # noqa: ANN001
    """The verdict after «Проверить подписи», the signatures table and the downloaded report: Russian by default,
    English in the English UI (no Russian sentence of the report left)."""
    doc_id = on_signing(rt, office)
    sign(rt, "director", doc_id)
    office.login(client, "clerk")
    token = csrf_of(client, f"/documents/{doc_id}")
    page = client.post(f"/documents/{doc_id}/versions/2/verify", data={"csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "Версия 2: Подписей в документе: 1. Все подписи действительны." in page and "Signatures in" not in page
    # the link is to the current version: the B-LTA one (3) made right after the signature
    assert f'href="/documents/{doc_id}/versions/3/validation.txt"' in page and "Скачать отчёт о проверке" in page
    r = client.get(f"/documents/{doc_id}/versions/2/validation.txt")
    assert r.status_code == 200 and r.mimetype == "text/plain" and "attachment" in r.headers["Content-Disposition"]
    russian = r.get_data(as_text=True)
    assert russian.startswith("Отчёт о проверке электронных подписей\nДокумент: Документ на подпись")
    assert "Подписей в документе: 1. Все подписи действительны." in russian and "Signature" not in russian

    client.get(f"/language/en?next=/documents/{doc_id}")
    page = client.post(f"/documents/{doc_id}/versions/2/verify", data={"csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "Version 2: Signatures in the document: 1. All signatures are valid." in page
    assert "Подписей в документе" not in page and "Download the validation report" in page
    assert "действительна" not in page  # the table's verdict too
    english = client.get(f"/documents/{doc_id}/versions/2/validation.txt").get_data(as_text=True)
    assert english.startswith("Electronic signature validation report\nDocument: Документ на подпись")
    assert "Version 2: " in english and "Checked: " in english
    assert "Signatures in the document: 1. All signatures are valid." in english
    for russian_words in ("Подпис", "Отчёт", "Версия", "Проверено", "действительн", "Время подписания"):
        assert russian_words not in english, russian_words

    signed = version_bytes(rt, doc_id, 2)  # the public file check's report too
    public = client.post("/verify/file", data={"file": (io.BytesIO(signed), "a.pdf"),
                                               "csrf_token": csrf_of(client, "/verify/file")}).get_data(as_text=True)
    assert '<pre class="report">Signatures in the document: 1. All signatures are valid.' in public


def test_the_web_signing_form_offers_b_lt_and_a_b_lt_signature_carries_its_validation_data(rt, office, client):  # noqa: ANN001
    """The form's level select (B-T by default, as before); B-LT chosen in the web gives what the API gives: a
    signature whose certificates and CRLs are in the file's DSS, and it validates as B-LT."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    default, long_term = on_signing(rt, office), on_signing(rt, office)
    office.login(client, "director")
    page = client.get(f"/documents/{default}").get_data(as_text=True)
    assert '<select name="level">' in page and '<option value="B-T" selected>' in page and 'value="B-LT"' in page
    token = csrf_of(client, f"/documents/{default}")
    assert client.post(f"/documents/{default}/sign", data={"pin": PIN, "csrf_token": token}).status_code == 302
    assert client.post(f"/documents/{long_term}/sign",
                       data={"pin": PIN, "level": "B-LT", "csrf_token": token}).status_code == 302
    with rt.db.session() as s:
        levels = {d: s.scalars(select(Signature.level).where(Signature.document_id == d)).one()
                  for d in (default, long_term)}
    assert levels == {default: "B-T", long_term: "B-LT"}
    plain, signed = version_bytes(rt, default, 2), version_bytes(rt, long_term, 2)
    assert "/DSS" not in PdfFileReader(io.BytesIO(plain)).root
    dss = PdfFileReader(io.BytesIO(signed)).root["/DSS"]
    assert len(dss["/Certs"]) >= 2 and len(dss["/CRLs"]) >= 1  # the signer's chain and its revocation lists
    report = validate_pdf(signed, trust(rt))
    assert report.authentic and report.signatures[0].level == "B-LT"
    other = on_signing(rt, office)  # a level the form does not offer is refused by the service, nothing signed
    r = client.post(f"/documents/{other}/sign", data={"pin": PIN, "level": "B-X", "csrf_token": token},
                    follow_redirects=True)
    assert "уровень подписи: один из" in r.get_data(as_text=True)
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).where(Signature.document_id == other)) == 0


def test_signing_form_needs_its_csrf_token(rt, office, client):  # noqa: ANN001
    doc_id = on_signing(rt, office)
    office.login(client, "director")
    assert client.post(f"/documents/{doc_id}/sign", data={"pin": PIN}).status_code == 400
    with rt.db.session() as s:
        assert s.get(Document, doc_id).state == "on_signing"


def test_a_reserved_size_that_no_longer_fits_is_measured_anew(rt, office):  # noqa: ANN001
    first = on_signing(rt, office, data=make_pdf("первый"))
    sign(rt, "director", first)
    cache = pki_svc.load(rt).reservations
    assert len(cache) == 1  # measured once for this signer and level
    key = next(iter(cache))
    cache[key] = 64  # far too small for any signature container
    second = on_signing(rt, office, data=make_pdf("второй"))
    sign(rt, "director", second)
    assert validate_pdf(version_bytes(rt, second, 2), trust(rt)).authentic
    assert cache.get(key, 0) != 64


def test_an_external_tsa_url_is_used_when_configured(rt, office, app, monkeypatch):  # noqa: ANN001
    """DMS_TSA_URL pointing at our own /tsa endpoint over real HTTP: the signature carries its time stamp."""
    import threading

    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("DMS_TSA_URL", f"http://127.0.0.1:{server.server_port}/tsa")
        doc_id = on_signing(rt, office)
        sign(rt, "director", doc_id)
    finally:
        server.shutdown()
    (only,) = validate_pdf(version_bytes(rt, doc_id, 2), trust(rt)).signatures
    assert only.status == "valid" and only.timestamp is not None and only.timestamp_trusted


def test_an_unreachable_tsa_refuses_instead_of_signing_without_a_time_stamp(rt, office, monkeypatch):  # noqa: ANN001
    monkeypatch.setenv("DMS_TSA_URL", "http://127.0.0.1:9/tsa")
    doc_id = on_signing(rt, office)
    before = _snapshot(rt, doc_id)
    with pytest.raises(pki_svc.SigningRefused) as caught:
        sign(rt, "director", doc_id)
    assert caught.value.status == 503
    assert _snapshot(rt, doc_id) == before


def test_signature_routes_are_in_the_openapi_document_and_public_verify_takes_only_pdfs(client):  # noqa: ANN001
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/documents/{doc_id}/signatures", "/documents/{doc_id}/versions/{number}/validation",
                 "/verify/pdf", "/pki/credentials"):
        assert path in paths
    assert paths["/verify/pdf"]["post"]["security"] == []
    r = client.post("/api/v1/verify/pdf", data={"file": (io.BytesIO(b"not a pdf at all"), "a.pdf")},
                    content_type="multipart/form-data")
    assert r.status_code == 415


def test_a_declared_record_takes_no_new_signature(rt, office):  # noqa: ANN001
    from dms.errors import DmsError
    from dms.records import service as records
    text = "Акт приёма-передачи\n".encode() * 20
    doc = office.document("clerk", "/Прочее", text, doc_type="other", title="Акт", filename="akt.txt")
    with rt.db.session() as s:
        records.declare_record(s, users.get_user(s, "admin"), documents.get(s, users.get_user(s, "admin"), doc.id),
                               "архивное хранение")
    with pytest.raises(DmsError):
        sign(rt, "director", doc.id)
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Signature).where(Signature.document_id == doc.id)) == 0
