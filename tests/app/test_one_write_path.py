"""One write path for versions (issue 13): every signed version — signed through the API, an agreement's copy
countersigned elsewhere, a batch-issued certificate, a B-LTA protection by `dms maintain` — is made by
dms.documents.service.new_version and gets the store's retention once its transaction commits (on the filesystem
store and, with DMS_TEST_STORAGE=s3, on an S3 bucket with object lock); a stale revision is refused on signing as
on an upload; a certificate expires through the workflow's own step."""
from __future__ import annotations

import dataclasses
import io
from datetime import date, datetime, timedelta, UTC

import pytest
from sqlalchemy import select

from dms.models import AuditEvent, Certificate, Document, EvidenceRecord, Signature, Version, WorkflowHistory
from dms.certificates import service as certs
from dms.documents import service as documents
from dms.operations import maintain
from dms.people import users
from dms.signatures import evidence
from dms.signatures import service as sig_svc
from storage import ObjectProtected
from storage.filesystem import FileStore

from .test_agreements import (draft, other_ca, parties, signed_elsewhere, to_agency_signed, trust_other_ca,  # noqa: F401
                              upload)
from .test_certificates import centre, rows  # noqa: F401  (centre: a fixture)
from .conftest import csrf_of
from .test_signing import PIN, ca_template, office, on_signing, pki  # noqa: F401


@pytest.fixture
def settings(settings, s3_server):  # noqa: ANN001, ANN201
    """Over S3, a bucket with object lock: the only kind on which a retention is real."""
    if s3_server is None:
        return settings
    return dataclasses.replace(settings, storage_url=s3_server.create_bucket(object_lock=True))


def retained_until(rt, key: str) -> datetime | None:  # noqa: ANN001
    """The retention the store keeps for the object: its record beside the file, or S3's object-lock date."""
    store = rt.store
    if isinstance(store, FileStore):
        return store._retention(store.path_of(key))
    return store._retained_until(key)


def assert_retained(rt, key: str, at_least: timedelta) -> None:  # noqa: ANN001
    until = retained_until(rt, key)
    assert until is not None, f"{key} has no retention"
    assert until >= datetime.now(UTC) + at_least - timedelta(hours=1), until
    with pytest.raises(ObjectProtected):
        rt.store.delete(key)
    assert rt.store.exists(key)


def current_key(rt, doc_id: int) -> str:  # noqa: ANN001
    with rt.db.session() as s:
        return s.get_one(Version, s.get_one(Document, doc_id).current_version_id).object_key


def etag(client, headers: dict, doc_id: int) -> str:  # noqa: ANN001
    r = client.get(f"/api/v1/documents/{doc_id}", headers=headers)
    assert r.status_code == 200
    return r.headers["ETag"]


# --- every path that makes a signed version gives it the store's retention ----------------------------------

def test_a_version_signed_through_the_api_gets_the_store_retention(rt, office, client):  # noqa: ANN001, F811
    doc_id = on_signing(rt, office)
    h = office.token(client, "director")
    unsigned = current_key(rt, doc_id)
    r = client.post(f"/api/v1/documents/{doc_id}/signatures", headers={**h, "If-Match": etag(client, h, doc_id)},
                    json={"pin": PIN})
    assert r.status_code == 201, r.get_json()
    signed = current_key(rt, doc_id)
    assert signed != unsigned and r.get_json()["version"] == 2
    assert_retained(rt, signed, sig_svc.RETENTION)
    assert retained_until(rt, unsigned) is None  # the upload itself is not signed: no retention


def test_a_detached_signature_through_the_api_gets_the_store_retention(rt, office, client):  # noqa: ANN001, F811
    doc = office.document("clerk", "/Прочее", "Протокол\n".encode() * 20, title="Протокол", filename="p.txt")
    r = client.post(f"/api/v1/documents/{doc.id}/signatures", headers=office.token(client, "director"),
                    json={"pin": PIN})
    assert r.status_code == 201, r.get_json()
    with rt.db.session() as s:
        p7s = s.scalars(select(Signature.p7s_key).where(Signature.document_id == doc.id)).one()
    assert p7s
    assert_retained(rt, p7s, sig_svc.RETENTION)


def test_an_agreements_copy_countersigned_elsewhere_gets_the_store_retention(rt, parties, client, other_ca,  # noqa: ANN001, F811
                                                                            tmp_path, monkeypatch):
    trust_other_ca(rt, other_ca, tmp_path, monkeypatch)
    doc_id = draft(rt)
    to_agency_signed(rt, doc_id)
    agency_signed = current_key(rt, doc_id)
    assert_retained(rt, agency_signed, sig_svc.RETENTION)  # the agency's signature
    r = upload(client, parties, doc_id, signed_elsewhere(rt.store.get_bytes(agency_signed), other_ca))
    assert r.status_code == 201, r.get_json()
    countersigned = current_key(rt, doc_id)
    assert countersigned != agency_signed and r.get_json()["state"] == "in_force"
    assert_retained(rt, countersigned, sig_svc.RETENTION)


def test_batch_issued_certificates_through_the_api_get_the_store_retention(rt, centre, world, client):  # noqa: ANN001, F811
    data = ("ФИО;Квалификация;Уровень;Дата экзамена;Номер протокола\n"
            "Гусев Олег Ильич;Монтажник;3;01.03.2026;П-3\nОрлова Вера Павловна;Монтажник;3;01.03.2026;П-3\n")
    from dms import jobs
    jobs.announce(rt)  # a job worker listens (this process: run_pending below); the batch is its job
    h = world.token(client, "head")
    r = client.post("/api/v1/certificates/batches", headers=h, content_type="multipart/form-data",
                    data={"centre": centre, "pin": PIN, "file": (io.BytesIO(data.encode()), "p.csv")})
    assert r.status_code == 202, r.get_json()
    jobs.run_pending(rt)
    issued = client.get(r.get_json()["url"], headers=h).get_json()["issued"]
    assert len(issued) == 2
    for item in issued:
        assert_retained(rt, current_key(rt, item["id"]), sig_svc.RETENTION)


def test_b_lta_protection_right_after_signing_gets_the_store_retention(rt, office, client):  # noqa: ANN001, F811
    doc_id = on_signing(rt, office)  # an order: kept permanently, so protected right after its signature
    r = client.post(f"/api/v1/documents/{doc_id}/signatures", headers=office.token(client, "director"),
                    json={"pin": PIN})
    assert r.status_code == 201, r.get_json()
    summary = maintain.maintain(rt)
    assert summary["ok"] and doc_id not in summary["evidence"]["protected"], summary  # nothing left to catch up
    with rt.db.session() as s:
        record = s.scalars(select(EvidenceRecord).where(EvidenceRecord.document_id == doc_id)).one()
        protected = s.get_one(Version, record.version_id)
        assert s.get_one(Document, doc_id).current_version_id == protected.id and protected.number == 3
        key = protected.object_key
    assert_retained(rt, key, evidence.PROTECTED_RETENTION)


def test_the_retention_waits_for_the_commit_and_a_rolled_back_signature_leaves_none(rt, office):  # noqa: ANN001, F811
    doc_id = on_signing(rt, office)
    with pytest.raises(RuntimeError), rt.db.session() as s:
        director = users.get_user(s, "director")
        sig = sig_svc.sign_document(rt, s, director, documents.get(s, director, doc_id), PIN)
        key = sig.version.object_key
        assert retained_until(rt, key) is None  # stored, not yet protected: the transaction may still fail
        raise RuntimeError("the request failed after signing")
    assert rt.store.exists(key) and retained_until(rt, key) is None  # an orphan `dms check` may remove
    with rt.db.session() as s:
        assert s.get_one(Document, doc_id).state == "on_signing"


# --- a stale revision is refused on signing as on an upload --------------------------------------------------

def test_signing_with_a_stale_revision_is_refused_over_the_api_and_the_web_and_changes_nothing(  # noqa: ANN001
        rt, office, client):  # noqa: F811
    doc_id = on_signing(rt, office)
    h = office.token(client, "director")
    seen = etag(client, h, doc_id)
    with rt.db.session() as s:  # the document changes after the signer loaded it (any change moves the revision)
        s.get_one(Document, doc_id).title = "Приказ (исправлен)"
    objects = sorted(o.key for o in rt.store.list())
    r = client.post(f"/api/v1/documents/{doc_id}/signatures", headers={**h, "If-Match": seen}, json={"pin": PIN})
    assert r.status_code == 409, r.get_json()
    assert r.get_json()["error"]["details"]["revision"] == int(etag(client, h, doc_id).strip('"'))
    r = client.post(f"/api/v1/documents/{doc_id}/signatures", headers={**h, "If-Match": "v1"}, json={"pin": PIN})
    assert r.status_code == 412
    office.login(client, "director")
    current = etag(client, h, doc_id).strip('"')
    page = client.get(f"/documents/{doc_id}").get_data(as_text=True)
    form = page[page.index(f'action="/documents/{doc_id}/sign"'):]
    assert f'name="revision" value="{current}"' in form[:form.index("</form>")]  # the form sends what was seen
    r = client.post(f"/documents/{doc_id}/sign", data={"csrf_token": csrf_of(client, f"/documents/{doc_id}"),
                                                       "pin": PIN, "revision": seen.strip('"')})
    assert r.status_code == 302
    assert "изменён другим пользователем" in client.get(f"/documents/{doc_id}").get_data(as_text=True)
    with rt.db.session() as s:
        assert s.scalars(select(Signature).where(Signature.document_id == doc_id)).all() == []
        assert s.get_one(Document, doc_id).state == "on_signing"
    assert sorted(o.key for o in rt.store.list()) == objects  # refused before anything was signed or stored
    r = client.post(f"/api/v1/documents/{doc_id}/signatures", headers={**h, "If-Match": etag(client, h, doc_id)},
                    json={"pin": PIN})
    assert r.status_code == 201, r.get_json()


def test_accepting_a_countersigned_copy_with_a_stale_revision_is_refused(rt, parties, client, other_ca):  # noqa: ANN001, F811
    doc_id = draft(rt)
    to_agency_signed(rt, doc_id)
    agency_signed = current_key(rt, doc_id)
    h = parties.token(client, "clerk")
    seen = client.get(f"/api/v1/agreements/{doc_id}", headers=h).headers["ETag"]
    with rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        doc = documents.get(s, clerk, doc_id)
        doc.title = doc.title + " "  # any change of the row moves its revision
    r = client.post(f"/api/v1/agreements/{doc_id}/countersigned", headers={**h, "If-Match": seen},
                    data={"file": (io.BytesIO(signed_elsewhere(rt.store.get_bytes(agency_signed), other_ca)), "s.pdf")},
                    content_type="multipart/form-data")
    assert r.status_code == 409, r.get_json()
    assert current_key(rt, doc_id) == agency_signed
    with rt.db.session() as s:
        assert s.get_one(Document, doc_id).state == "signed_by_agency"


# --- expiry takes the workflow's step ----------------------------------------------------------------------

def test_expiry_takes_the_workflow_step_with_a_history_row_and_audit_events(rt, centre):  # noqa: ANN001, F811
    issued = certs.issue(rt, "head", centre, rows(1), PIN).issued[0]
    with rt.db.session() as s:
        cert = s.scalars(select(Certificate).where(Certificate.number == issued["number"])).one()
        cert.valid_until = date.today() - timedelta(days=1)
        revision = cert.document.revision
    with rt.db.session() as s:
        assert certs.expire_due(s) == [issued["number"]]
    with rt.db.session() as s:
        doc = s.get_one(Document, issued["id"])
        assert doc.state == "expired" and doc.revision > revision
        last = s.scalars(select(WorkflowHistory).where(WorkflowHistory.document_id == doc.id)
                         .order_by(WorkflowHistory.id.desc())).first()
        assert (last.transition, last.from_state, last.to_state, last.actor_id) == ("expire", "issued", "expired",
                                                                                    None)
        events = s.scalars(select(AuditEvent).where(AuditEvent.object_type == "document",
                                                    AuditEvent.object_id == doc.id).order_by(AuditEvent.id)).all()
        assert any(e.action == "workflow.transition" and e.details.get("transition") == "expire" for e in events)
        assert any(e.action == "certificate.expire" and e.details["number"] == issued["number"] for e in events)
    with rt.db.session() as s:
        assert certs.expire_due(s) == []  # once only


# --- two writers racing for one document's next version -----------------------------------------------------

def test_two_uploads_racing_for_one_document_give_two_versions_or_a_409_never_a_500(rt, world) -> None:  # noqa: ANN001
    import threading

    from dms.errors import DmsError
    world.user("clerk", "Clerk")
    world.folder("/Прочее")
    doc = world.document("clerk", "/Прочее", b"v1\n", title="race", filename="a.txt")
    stored = [documents.store_upload(rt.store, io.BytesIO(f"v{n}\n".encode()), "a.txt", rt.settings.max_upload_bytes)
              for n in (2, 3)]
    outcome: dict[str, object] = {}
    first = rt.db.sessionmaker()
    clerk = users.get_user(first, "clerk")
    assert documents.add_version(first, clerk, documents.get(first, clerk, doc.id), stored[0]).number == 2

    def second() -> None:
        try:
            with rt.db.session() as s:
                actor = users.get_user(s, "clerk")
                outcome["second"] = documents.add_version(s, actor, documents.get(s, actor, doc.id), stored[1]).number
        except DmsError as exc:
            outcome["second"] = exc.status
        except Exception as exc:  # noqa: BLE001 - what the request would have answered with a 500
            outcome["second"] = repr(exc)

    racer = threading.Thread(target=second)
    racer.start()
    racer.join(1.5)  # it waits: on version 2's unique key (PostgreSQL) or for the write lock (SQLite)
    first.commit()
    first.close()
    racer.join(60)
    # SQLite's writers queue (BEGIN IMMEDIATE): the second reads after the first and makes version 3. PostgreSQL's
    # read the same last number: the second is refused as a stale write, as a stale revision is.
    assert outcome["second"] == (3 if rt.db.is_sqlite else 409), outcome
    with rt.db.session() as s:
        numbers = s.scalars(select(Version.number).where(Version.document_id == doc.id).order_by(Version.number)).all()
    assert numbers == ([1, 2, 3] if rt.db.is_sqlite else [1, 2])
