"""Agreements with practice holders: drafted from the template into the holder's folder, certified by the agency,
countersigned by the holder (here, with a limited account, or elsewhere and uploaded), in force only when both
signatures check out; the term and termination."""
from __future__ import annotations

import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from dms.models import AuditEvent, Document, EvidenceRecord, Folder, Organisation, Signature, Version
from dms.agreements import service as agreements
from dms.documents import service as documents
from dms.documents import folders
from dms.documents import sharing
from dms.people import users
from dms.workflow import service as wf
from signing.pades import Level, SignRequest, sign_pdf
from signing.pki import CertificateAuthority, load_signer
from signing.validate import validate_pdf

from .conftest import csrf_of
from .pdfs import make_pdf
from .test_signing import PIN, ca_template, issue, needs_pdfsig, pdfsig, pki, sign, trust, version_bytes  # noqa: F401

# The versions of an agreement drafted from the template: 1 the draft («№ ______»), 2 the same text with its number
# and date (printed when it is sent to signing), 3 signed by the agency, 4 countersigned by the holder.
NUMBERED, AGENCY_SIGNED, COUNTERSIGNED = 2, 3, 4
SUBJECT = "Агентство признаёт практику сертификации квалификаций сварщиков, реализуемую Держателем практики."


@pytest.fixture(scope="module")
def other_ca() -> CertificateAuthority:
    """A CA that is not ours: the holder's certificate may come from it."""
    return CertificateAuthority.create("ООО «Сторонний удостоверяющий центр»")


@pytest.fixture
def parties(world, pki, rt):  # noqa: ANN001, ANN201
    """The agency (clerk, director with a certificate), two practice holders, each with a representative who holds
    a certificate of our CA and the local role Counterparty on their organisation's folder."""
    with rt.db.session() as s:
        for code, name, kind in (("МАРК", "АНО «Межрегиональное агентство развития квалификаций»", "agency"),
                                 ("ДП-66-001", "Ассоциация «Уральское объединение сварщиков»", "practice_holder"),
                                 ("ДП-54-002", "НП «Сибирская гильдия охраны труда»", "practice_holder")):
            s.add(Organisation(code=code, name=name, short_name=name.split("«")[1].rstrip("»"), kind=kind))
    world.user("clerk", "Clerk")
    world.user("director", "Signatory")
    issue(rt, "director")
    for login, code in (("gordeev", "ДП-66-001"), ("melnikova", "ДП-54-002")):
        with rt.db.session() as s:
            org = _org(s, code)
            users.create_user(s, login, "correct-horse-battery", (), full_name=login.title(), organisation=org)
            folder = agreements.holder_folder(s, users.get_user(s, "clerk"), org)
            sharing.grant(s, None, folder, f"user:{users.get_user(s, login).id}", "Counterparty")
        issue(rt, login)
    return world


def _org(s, code: str) -> Organisation:  # noqa: ANN001
    return s.scalars(select(Organisation).where(Organisation.code == code)).one()


def draft(rt, code: str = "ДП-66-001", term_from: date | None = None, term_to: date | None = None) -> int:  # noqa: ANN001
    today = date.today()
    with rt.db.session() as s:
        doc = agreements.draft(rt, s, users.get_user(s, "clerk"), {
            "holder_id": str(_org(s, code).id), "subject": SUBJECT,
            "term_from": (term_from or today - timedelta(days=10)).isoformat(),
            "term_to": (term_to or today + timedelta(days=365)).isoformat()})
        return doc.id


def to_agency_signed(rt, doc_id: int) -> None:  # noqa: ANN001
    with rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        wf.execute(s, clerk, documents.get(s, clerk, doc_id), "send_to_signing")
    sign(rt, "director", doc_id)


def state_of(rt, doc_id: int) -> str:  # noqa: ANN001
    with rt.db.session() as s:
        return s.get(Document, doc_id).state


def snapshot(rt, doc_id: int) -> tuple:  # noqa: ANN001
    with rt.db.session() as s:
        doc = s.get(Document, doc_id)
        return (doc.state, doc.revision, doc.current_version_id,
                s.scalar(select(func.count()).select_from(Version).where(Version.document_id == doc_id)),
                s.scalar(select(func.count()).select_from(Signature)), sorted(o.key for o in rt.store.list()))


def signed_elsewhere(data: bytes, ca: CertificateAuthority, name: str = "Гордеев Виктор Ильич") -> bytes:
    """The holder signs our agency-signed copy in their own software, into the field reserved for them."""
    signer = load_signer(ca.issue_user_certificate(name, PIN), PIN, ca.chain_der)
    signed = sign_pdf(data, signer, SignRequest(level=Level.B_B, field_name="Holder"))
    assert signed is not None
    return signed


def content_changed(data: bytes) -> bytes:
    """An incremental update that draws new text on the agreement's first page."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    stream = generic.StreamObject(stream_data=b"BT /F1 18 Tf 72 400 Td (Srok: 99 let) Tj ET")
    writer.add_stream_to_page(0, writer.add_object(stream))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def trust_other_ca(rt, other_ca, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """The holder's CA configured as a trusted root, its revocation list as fetched from its distribution point
    (an unknown status blocks "in force")."""
    monkeypatch.setattr("signing.revocation.fetch_crls", lambda cert, timeout=5.0: [other_ca.build_crl([])])
    root = tmp_path / "holder-root.pem"
    root.write_bytes(other_ca.certificate_pem("root"))
    rt.settings.trusted_roots = (root,)


def upload(client, world, doc_id: int, data: bytes, login: str = "clerk"):  # noqa: ANN001, ANN201
    return client.post(f"/api/v1/agreements/{doc_id}/countersigned", headers=world.token(client, login),
                       data={"file": (io.BytesIO(data), "signed.pdf")}, content_type="multipart/form-data")


# --- drafting ------------------------------------------------------------------------------------------------

def test_agreement_is_drafted_from_the_template_into_the_holders_folder_and_numbered_when_sent(rt, parties, client):  # noqa: ANN001
    parties.login(client, "clerk")
    with rt.db.session() as s:
        holder_id = _org(s, "ДП-66-001").id
    token = csrf_of(client, "/agreements/new")
    bad = client.post("/agreements/new", data={"csrf_token": token, "holder_id": str(holder_id), "subject": SUBJECT,
                                               "term_from": "2026-07-01", "term_to": "2025-06-30"})
    assert bad.status_code == 400 and "срок окончания раньше начала" in bad.get_data(as_text=True)
    r = client.post("/agreements/new", data={"csrf_token": token, "holder_id": str(holder_id), "subject": SUBJECT,
                                             "term_from": "2026-07-01", "term_to": "2029-06-30"})
    assert r.status_code == 302
    doc_id = int(r.headers["Location"].rsplit("/", 1)[1])
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(version_bytes(rt, doc_id, 1))).pages)
    assert "СОГЛАШЕНИЕ" in text and "Уральское объединение сварщиков" in text and "«01» июля 2026 г." in text and "«30» июня 2029 г." in text
    with rt.db.session() as s:
        doc = s.get(Document, doc_id)
        assert doc.folder.organisation_id == holder_id and doc.organisation.code == "МАРК"
        assert doc.meta == {"counterparty": "ДП-66-001", "term_from": "2026-07-01", "term_to": "2029-06-30",
                            "subject": SUBJECT}
        clerk = users.get_user(s, "clerk")
        wf.execute(s, clerk, doc, "send_to_signing")
        assert doc.reg_number == f"СГ-МАРК-{date.today().year}-001" and doc.state == "on_signing"


def _text(data: bytes) -> str:
    return " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(data)).pages)


def test_the_agreement_the_agency_signs_prints_its_registration_number_and_date(rt, parties):  # noqa: ANN001
    """The draft prints «№ ______» (no number yet); sending it to signing numbers it and prints the number and date
    into the text as a new version, and that is the version the agency signs."""
    from dms.pdfrender import format_date_ru

    doc_id = draft(rt)
    assert "№ ______" in _text(version_bytes(rt, doc_id, 1))
    to_agency_signed(rt, doc_id)
    with rt.db.session() as s:
        doc = s.get(Document, doc_id)
        number, day = doc.reg_number, format_date_ru(doc.reg_date)
        versions = s.scalars(select(Version).where(Version.document_id == doc_id).order_by(Version.number)).all()
        assert [v.number for v in versions] == [1, NUMBERED, AGENCY_SIGNED]
        assert versions[1].comment == agreements.NUMBERED_COMMENT
        [sig] = s.scalars(select(Signature).where(Signature.document_id == doc_id)).all()
        assert sig.source_version_id == versions[1].id and sig.version_id == versions[2].id
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "agreement.numbered_text",
                                                    AuditEvent.object_id == doc_id).order_by(AuditEvent.id)).all()
        assert [(e.details["version"], e.details["reg_number"]) for e in events] == [(NUMBERED, number)]
    assert number and number.startswith("СГ-МАРК-")
    signed = version_bytes(rt, doc_id, AGENCY_SIGNED)
    text = _text(signed)
    assert f"№ {number}" in text and day in text and "№ ______" not in text
    assert "Уральское объединение сварщиков" in text and SUBJECT[:40] in text  # the same agreement, now numbered
    assert validate_pdf(signed, trust(rt)).authentic


def test_an_agreement_numbered_by_its_approval_route_prints_the_number_before_signing(rt, parties):  # noqa: ANN001
    from dms.approvals import service as approvals

    parties.user("lawyer", "Clerk")
    doc_id = draft(rt)
    with rt.db.session() as s:
        approvals.start(s, users.get_user(s, "clerk"), s.get_one(Document, doc_id),
                        approvals.plan_from_logins([["lawyer"]]))
    with rt.db.session() as s:
        approvals.decide(rt, s, users.get_user(s, "lawyer"), s.get_one(Document, doc_id), "approve")
    with rt.db.session() as s:
        doc = s.get_one(Document, doc_id)
        assert doc.state == "on_signing" and doc.reg_number
        number = doc.reg_number
        assert s.get_one(Version, doc.current_version_id).comment == agreements.NUMBERED_COMMENT
    sign(rt, "director", doc_id)
    with rt.db.session() as s:
        signed = s.get_one(Version, s.get_one(Document, doc_id).current_version_id)
    assert f"№ {number}" in _text(rt.store.get_bytes(signed.object_key))


def test_an_agreement_whose_draft_was_replaced_by_an_upload_is_signed_as_uploaded(rt, parties):  # noqa: ANN001
    """Only the text drafted from the template is printed again: a version uploaded in its place stays as it is."""
    doc_id = draft(rt)
    own = make_pdf("Agreement as the parties wrote it")
    with rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        stored = documents.store_upload(rt.store, io.BytesIO(own), "own.pdf", 10**7)
        documents.add_version(s, clerk, documents.get(s, clerk, doc_id), stored, "редакция сторон")
    to_agency_signed(rt, doc_id)
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).where(Version.document_id == doc_id)) == 3  # draft, upload, signed
        assert not s.scalars(select(AuditEvent).where(AuditEvent.action == "agreement.numbered_text")
                .order_by(AuditEvent.id)).all()
    assert "Agreement as the parties wrote it" in _text(version_bytes(rt, doc_id, 3))


# --- both signatures ---------------------------------------------------------------------------------------

@needs_pdfsig
def test_agreement_signed_by_both_parties_validates_both_signatures_with_pyhanko_and_pdfsig(rt, parties, client,
                                                                                          tmp_path):  # noqa: ANN001
    doc_id = draft(rt)
    to_agency_signed(rt, doc_id)
    parties.login(client, "gordeev")
    page = client.get(f"/agreements/{doc_id}").get_data(as_text=True)
    assert "подписано агентством" in page and "Подписать второй стороной" in page
    r = client.post(f"/documents/{doc_id}/sign", data={"csrf_token": csrf_of(client, f"/agreements/{doc_id}"),
                                                        "pin": PIN})
    assert r.status_code == 302 and state_of(rt, doc_id) == "in_force"

    signed = version_bytes(rt, doc_id, COUNTERSIGNED)
    report = validate_pdf(signed, trust(rt))
    assert report.authentic and len(report.signatures) == 2
    agency, holder = report.signatures
    assert agency.certification == "fill_forms" and agency.modification_level == "form_filling"
    assert holder.field_name == "Holder" and holder.coverage == "entire_file" and holder.trusted
    lines = pdfsig(rt, signed, tmp_path)
    assert lines.count("- Signature Validation: Signature is Valid.") == 2
    assert lines.count("- Certificate Validation: Certificate is Trusted.") == 2
    assert "действует" in client.get(f"/agreements/{doc_id}").get_data(as_text=True)


def test_the_agency_signature_alone_leaves_the_agreement_signed_by_agency_not_in_force(rt, parties, client):  # noqa: ANN001
    doc_id = draft(rt)
    to_agency_signed(rt, doc_id)
    h = parties.token(client, "clerk")
    r = client.post(f"/api/v1/documents/{doc_id}/transitions/accept_countersigned", headers=h)
    assert r.status_code == 409 and "нет подписи второй стороны" in r.get_json()["error"]["message"]
    body = client.get(f"/api/v1/agreements/{doc_id}", headers=h).get_json()
    assert body["state"] == "signed_by_agency" and body["status_ru"] == "подписано агентством"
    # Uploading the agency-signed bytes back is no countersignature either.
    before = snapshot(rt, doc_id)
    r = upload(client, parties, doc_id, version_bytes(rt, doc_id, AGENCY_SIGNED))
    assert r.status_code == 400 and "нет подписи второй стороны" in r.get_json()["error"]["message"]
    assert snapshot(rt, doc_id) == before


def test_a_countersignature_by_the_agencys_own_certificate_is_refused(rt, parties):  # noqa: ANN001
    """Even given the role, the agency's signatory cannot stand in for the holder: the guard finds one signer."""
    doc_id = draft(rt)
    to_agency_signed(rt, doc_id)
    with rt.db.session() as s:
        folder = s.get(Document, doc_id).folder
        sharing.grant(s, None, folder, f"user:{users.get_user(s, 'director').id}", "Counterparty")
    before = snapshot(rt, doc_id)
    with pytest.raises(Exception, match="тот же сертификат"):
        sign(rt, "director", doc_id)
    assert snapshot(rt, doc_id)[:5] == before[:5]


# --- the holder's copy signed elsewhere ---------------------------------------------------------------------

def test_a_copy_countersigned_under_a_configured_trusted_root_is_accepted_as_the_new_version(rt, parties, client,
                                                                                           other_ca, tmp_path,
                                                                                           monkeypatch):  # noqa: ANN001
    trust_other_ca(rt, other_ca, tmp_path, monkeypatch)
    doc_id = draft(rt)
    to_agency_signed(rt, doc_id)
    r = upload(client, parties, doc_id, signed_elsewhere(version_bytes(rt, doc_id, AGENCY_SIGNED), other_ca))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["state"] == "in_force" and r.get_json()["version"] == COUNTERSIGNED
    with rt.db.session() as s:
        row = s.scalars(select(Signature).where(Signature.document_id == doc_id)
                        .order_by(Signature.id.desc())).first()
        assert (row.transition, row.field_name, row.signer_id) == ("accept_countersigned", "Holder", None)
        assert row.validation["signature"]["signer"] == "Гордеев Виктор Ильич"
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.object_id == doc_id)
                .order_by(AuditEvent.id)).all()
        assert "agreement.countersigned_copy" in actions
    both = validate_pdf(version_bytes(rt, doc_id, COUNTERSIGNED), agreements.trust_store(rt, rt.db.sessionmaker()))
    assert both.authentic and len(both.signatures) == 2
    with rt.db.session() as s:  # its last signature: the B-LTA version followed the acceptance (issue 14)
        [record] = s.scalars(select(EvidenceRecord).where(EvidenceRecord.document_id == doc_id)).all()
        assert s.get_one(Version, record.version_id).number == COUNTERSIGNED + 1


def _untrusted(rt, doc_id: int, other_ca) -> bytes:  # noqa: ANN001
    return signed_elsewhere(version_bytes(rt, doc_id, AGENCY_SIGNED), other_ca)


def _content_modified(rt, doc_id: int, other_ca) -> bytes:  # noqa: ANN001
    return signed_elsewhere(content_changed(version_bytes(rt, doc_id, AGENCY_SIGNED)), other_ca)


def _not_our_bytes(rt, doc_id: int, other_ca) -> bytes:  # noqa: ANN001
    return signed_elsewhere(make_pdf("другое соглашение"), other_ca)


def _the_draft_signed(rt, doc_id: int, other_ca) -> bytes:  # noqa: ANN001
    return signed_elsewhere(version_bytes(rt, doc_id, 1), other_ca)


REFUSED_COPIES = {
    # case: (how the copy is made, whether the other CA is trusted, the reason expected in the refusal)
    "untrusted_ca": (_untrusted, False, "не выдан доверенным удостоверяющим центром"),
    "content_modified": (_content_modified, True, "изменено содержимое"),
    "not_based_on_our_bytes": (_not_our_bytes, True, "не является продолжением версии"),
    "the_unsigned_draft": (_the_draft_signed, True, "не является продолжением версии"),
}


@pytest.mark.parametrize("case", list(REFUSED_COPIES))
def test_a_countersigned_copy_that_fails_the_check_is_refused_with_the_reason_and_nothing_changes(
        rt, parties, client, other_ca, tmp_path, case):  # noqa: ANN001
    make, trusted, reason = REFUSED_COPIES[case]
    if trusted:
        root = tmp_path / "holder-root.pem"
        root.write_bytes(other_ca.certificate_pem("root"))
        rt.settings.trusted_roots = (root,)
    doc_id = draft(rt)
    to_agency_signed(rt, doc_id)
    copy = make(rt, doc_id, other_ca)
    before = snapshot(rt, doc_id)
    r = upload(client, parties, doc_id, copy)
    assert r.status_code == 400, r.get_json()
    assert reason in r.get_json()["error"]["message"]
    assert snapshot(rt, doc_id) == before
    parties.login(client, "clerk")
    page = client.post(f"/agreements/{doc_id}/countersigned", follow_redirects=True, data={
        "csrf_token": csrf_of(client, f"/agreements/{doc_id}"), "file": (io.BytesIO(copy), "signed.pdf")},
        content_type="multipart/form-data").get_data(as_text=True)
    assert reason in page and snapshot(rt, doc_id) == before


# --- the limited account ---------------------------------------------------------------------------------------

def test_the_holders_representative_sees_only_their_signed_agreements_and_may_do_nothing_else(rt, parties, client):  # noqa: ANN001
    ours = draft(rt)
    to_agency_signed(rt, ours)
    our_draft = draft(rt)
    theirs = draft(rt, "ДП-54-002")
    to_agency_signed(rt, theirs)
    with rt.db.session() as s:
        folder = agreements.holder_folder(s, users.get_user(s, "clerk"), _org(s, "ДП-66-001"))
        folder_id, holder_id = folder.id, folder.organisation_id
        path = folders.display_path(s, folder)
    order = parties.document("clerk", path, make_pdf("приказ в папке держателя"), doc_type="order", title="Приказ")

    h = parties.token(client, "gordeev")
    listed = client.get("/api/v1/agreements", headers=h).get_json()["items"]
    assert [a["id"] for a in listed] == [ours]
    for hidden in (our_draft, theirs, order.id):
        assert client.get(f"/api/v1/documents/{hidden}", headers=h).status_code == 404
        assert client.get(f"/api/v1/documents/{hidden}/versions/1/content", headers=h).status_code == 404
    # Their folder opens (the way to their agreements: no dead breadcrumbs) and lists only what they may view.
    listing = client.get(f"/api/v1/folders/{folder_id}", headers=h).get_json()["documents"]
    assert [d["id"] for d in listing["items"]] == [ours] and listing["total"] == 1
    assert client.get(f"/api/v1/documents/{ours}/versions/{AGENCY_SIGNED}/content", headers=h).status_code == 200
    refused = [
        client.post(f"/api/v1/documents/{ours}/transitions/accept_countersigned", headers=h),
        client.post(f"/api/v1/agreements/{ours}/termination", headers=h, json={"reason": "хочу"}),
        client.post(f"/api/v1/documents/{ours}/versions", headers=h,
                    data={"file": (io.BytesIO(make_pdf("подмена")), "x.pdf")}, content_type="multipart/form-data"),
        client.patch(f"/api/v1/documents/{ours}", headers=h, json={"title": "Другое"}),
        upload(client, parties, ours, version_bytes(rt, ours, AGENCY_SIGNED), login="gordeev"),
        client.post(f"/api/v1/documents/{theirs}/signatures", headers=h, json={"pin": PIN}),
        client.post("/api/v1/agreements", headers=h, json={"holder_id": str(holder_id), "subject": "x", "term_from": "2026-01-01",
                                                           "term_to": "2027-01-01"}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403, 403, 404, 403]
    parties.login(client, "gordeev")
    page = client.get("/agreements").get_data(as_text=True)
    assert f"/agreements/{ours}" in page and f"/agreements/{theirs}" not in page and f"/agreements/{our_draft}" not in page
    assert client.get(f"/agreements/{theirs}").status_code == 404
    assert client.get("/agreements/new").status_code == 403 and "Составить соглашение" not in page
    assert client.get("/").status_code == 200
    with rt.db.session() as s:
        crumbs = [f.id for f in folders.breadcrumbs(s, s.get(Folder, folder_id))]
    assert all(client.get(f"/folders/{fid}").status_code == 200 for fid in crumbs)  # the way down is open
    page = client.get(f"/folders/{folder_id}").get_data(as_text=True)
    assert set(re.findall(r'href="/documents/(\d+)"', page)) == {str(ours)}  # not the draft, not the order
    tasks = client.get("/worklist").get_data(as_text=True)
    assert f"/documents/{ours}" in tasks and f"/documents/{theirs}" not in tasks
    assert state_of(rt, ours) == "signed_by_agency"


# --- term and termination -----------------------------------------------------------------------------------

def test_an_agreement_in_force_past_its_term_shows_expired_and_one_signed_after_its_end_does_not_enter_into_force(
        rt, parties):  # noqa: ANN001
    doc_id = draft(rt)
    to_agency_signed(rt, doc_id)
    sign(rt, "gordeev", doc_id)
    with rt.db.session() as s:
        doc = s.get(Document, doc_id)
        end = date.fromisoformat(doc.meta["term_to"])
        assert agreements.status(s, doc).label_ru == "действует"
        late = agreements.status(s, doc, today=end + timedelta(days=1))
        assert (late.code, late.label_ru) == ("expired", "срок истёк") and end.strftime("%d.%m.%Y") in late.reason_ru
        assert agreements.status(s, doc, today=date.fromisoformat(doc.meta["term_from"]) - timedelta(days=1)).code \
            == "not_yet"

    old = draft(rt, term_from=date.today() - timedelta(days=400), term_to=date.today() - timedelta(days=1))
    to_agency_signed(rt, old)
    with pytest.raises(Exception, match="срок соглашения истёк"):
        sign(rt, "gordeev", old)
    assert state_of(rt, old) == "signed_by_agency"


def test_termination_needs_a_reason_which_the_history_audit_and_status_keep(rt, parties, client):  # noqa: ANN001
    doc_id = draft(rt)
    to_agency_signed(rt, doc_id)
    sign(rt, "gordeev", doc_id)
    h = parties.token(client, "clerk")
    r = client.post(f"/api/v1/agreements/{doc_id}/termination", headers=h, json={"reason": "  "})
    assert r.status_code == 400 and "укажите причину" in r.get_json()["error"]["message"]
    assert state_of(rt, doc_id) == "in_force"
    parties.login(client, "clerk")
    r = client.post(f"/agreements/{doc_id}/terminate", follow_redirects=True, data={
        "csrf_token": csrf_of(client, f"/agreements/{doc_id}"), "reason": "Держатель практики ликвидирован"})
    assert "прекращено" in r.get_data(as_text=True) and state_of(rt, doc_id) == "terminated"
    body = client.get(f"/api/v1/agreements/{doc_id}", headers=h).get_json()
    assert body["status"] == "terminated" and "Держатель практики ликвидирован" in body["reason_ru"]
    with rt.db.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.object_id == doc_id,
                                                   AuditEvent.action == "workflow.transition")
                          .order_by(AuditEvent.id.desc())).first()
        assert event.details["transition"] == "terminate"
        assert event.details["comment"] == "Держатель практики ликвидирован"
    page = client.get(f"/documents/{doc_id}").get_data(as_text=True)
    assert "прекращено" in page and "Держатель практики ликвидирован" in page


def test_agreement_routes_are_in_the_openapi_document(client):  # noqa: ANN001
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/agreements", "/agreements/{doc_id}", "/agreements/{doc_id}/countersigned",
            "/agreements/{doc_id}/termination"} <= set(paths)


def test_an_unreadable_trusted_root_is_a_clear_error(rt, parties, client, tmp_path):  # noqa: ANN001
    rt.settings.trusted_roots = (Path(tmp_path / "missing.pem"),)
    doc_id = draft(rt)
    to_agency_signed(rt, doc_id)
    r = upload(client, parties, doc_id, version_bytes(rt, doc_id, AGENCY_SIGNED))
    assert r.status_code == 503 and "DMS_TRUSTED_ROOTS" in r.get_json()["error"]["message"]
