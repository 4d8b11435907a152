"""Documents and versions through the JSON API: round trips, dedup, validation, errors, concurrency."""
from __future__ import annotations

import hashlib
import io
import json

from sqlalchemy import func, select

from dms.models import AuditEvent, Version

from .pdfs import make_pdf


def _setup(world):  # noqa: ANN001, ANN202
    world.user("clerk", "Clerk")
    world.folder("/Приказы")


def _upload(client, headers, folder_id, data, *, title="Приказ о проведении экзамена", doc_type="order",  # noqa: ANN001
            filename="prikaz.pdf", meta=None):  # noqa: ANN001
    return client.post("/api/v1/documents", headers=headers, content_type="multipart/form-data", data={
        "folder_id": str(folder_id), "type": doc_type, "title": title, "meta": json.dumps(meta or {}),
        "file": (io.BytesIO(data), filename)})


def test_downloaded_version_is_byte_identical_to_the_upload(world, client, rt):  # noqa: ANN001
    _setup(world)
    h = world.token(client, "clerk")
    folder_id = client.get("/api/v1/folders", headers=h).get_json()["folders"][0]["id"]
    pdf = make_pdf("Приказ № 1", pages=3)
    r = _upload(client, h, folder_id, pdf)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["versions"][0]["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert body["versions"][0]["media_type"] == "application/pdf"
    content = client.get(body["versions"][0]["content_url"], headers=h)
    assert content.status_code == 200
    assert content.data == pdf
    assert content.headers["Content-Type"] == "application/pdf"


def test_identical_bytes_are_stored_once(world, client, rt):  # noqa: ANN001
    _setup(world)
    h = world.token(client, "clerk")
    folder_id = client.get("/api/v1/folders", headers=h).get_json()["folders"][0]["id"]
    pdf = make_pdf("Одинаковые байты")
    for i in range(3):
        assert _upload(client, h, folder_id, pdf, title=f"Копия {i}").status_code == 201
    keys = [info.key for info in rt.store.list()]
    assert keys == [hashlib.sha256(pdf).hexdigest()]
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Version)) == 3


def test_new_version_keeps_the_old_one_and_becomes_current(world, client):  # noqa: ANN001
    _setup(world)
    h = world.token(client, "clerk")
    folder_id = client.get("/api/v1/folders", headers=h).get_json()["folders"][0]["id"]
    doc = _upload(client, h, folder_id, make_pdf("v1")).get_json()
    r = client.post(f"/api/v1/documents/{doc['id']}/versions", headers={**h, "If-Match": f'"{doc["revision"]}"'},
                    content_type="multipart/form-data", data={"file": (io.BytesIO(make_pdf("v2")), "v2.pdf")})
    assert r.status_code == 201, r.get_json()
    got = client.get(f"/api/v1/documents/{doc['id']}", headers=h).get_json()
    assert [v["number"] for v in got["versions"]] == [1, 2]
    assert got["current_version"] == 2
    v1 = client.get(f"/api/v1/documents/{doc['id']}/versions/1/content", headers=h)
    assert v1.data == make_pdf("v1")


def test_stale_if_match_is_refused_with_409(world, client):  # noqa: ANN001
    _setup(world)
    h = world.token(client, "clerk")
    folder_id = client.get("/api/v1/folders", headers=h).get_json()["folders"][0]["id"]
    doc = _upload(client, h, folder_id, make_pdf("x")).get_json()
    etag = client.get(f"/api/v1/documents/{doc['id']}", headers=h).headers["ETag"]
    ok = client.patch(f"/api/v1/documents/{doc['id']}", headers={**h, "If-Match": etag},
                      json={"title": "Новое название"})
    assert ok.status_code == 200 and ok.headers["ETag"] != etag
    stale = client.patch(f"/api/v1/documents/{doc['id']}", headers={**h, "If-Match": etag},
                         json={"title": "Ещё одно"})
    assert stale.status_code == 409
    assert "изменён другим" in stale.get_json()["error"]["message"]
    bad = client.patch(f"/api/v1/documents/{doc['id']}", headers={**h, "If-Match": "abc"}, json={"title": "x"})
    assert bad.status_code == 412


def test_patch_folder_id_moves_the_document_only_with_edit_here_and_add_there(world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.user("contributor")
    for path in ("/Входящие", "/Дела", "/Закрытая"):
        world.folder(path)
    world.share("/Входящие", "contributor", "Contributor")
    world.share("/Дела", "contributor", "Contributor")
    doc = world.document("clerk", "/Входящие", make_pdf("письмо"), title="Письмо")
    folders = {f["name"]: f["id"] for f in client.get("/api/v1/folders", headers=world.token(client, "clerk"))
               .get_json()["folders"]}
    h = world.token(client, "contributor")
    r = client.patch(f"/api/v1/documents/{doc.id}", headers=h, json={"folder_id": folders["Дела"]})
    assert r.status_code == 403  # Add on the target, but no Edit on the folder the document leaves
    h = world.token(client, "clerk")
    assert client.patch(f"/api/v1/documents/{doc.id}", headers=h, json={"folder_id": "2"}).status_code == 404
    etag = client.get(f"/api/v1/documents/{doc.id}", headers=h).headers["ETag"]
    r = client.patch(f"/api/v1/documents/{doc.id}", headers={**h, "If-Match": etag},
                     json={"folder_id": folders["Дела"]})
    assert r.status_code == 200 and r.get_json()["folder_id"] == folders["Дела"] and r.headers["ETag"] != etag
    stale = client.patch(f"/api/v1/documents/{doc.id}", headers={**h, "If-Match": etag},
                         json={"folder_id": folders["Закрытая"]})
    assert stale.status_code == 409
    again = client.patch(f"/api/v1/documents/{doc.id}", headers=h, json={"folder_id": folders["Дела"]})
    assert again.status_code == 400 and "уже в этой папке" in again.get_json()["error"]["message"]
    with world.rt.db.session() as s:
        moves = s.scalars(select(AuditEvent).where(AuditEvent.action == "document.move").order_by(AuditEvent.id)).all()
        assert [(e.details["source"], e.details["target"]) for e in moves] == [(folders["Входящие"], folders["Дела"])]


def test_metadata_is_validated_per_type(world, client):  # noqa: ANN001
    _setup(world)
    h = world.token(client, "clerk")
    folder_id = client.get("/api/v1/folders", headers=h).get_json()["folders"][0]["id"]
    r = _upload(client, h, folder_id, make_pdf(), doc_type="certificate", title="Свидетельство",
                meta={"holder": "Иванов Иван", "level": "пятый", "colour": "red"})
    assert r.status_code == 400
    details = r.get_json()["error"]["details"]
    assert set(details) == {"qualification", "level", "colour"}
    ok = _upload(client, h, folder_id, make_pdf(), doc_type="certificate", title="Свидетельство",
                 meta={"holder": "Иванов Иван", "qualification": "Сварщик", "level": "4", "issue_date": "2026-03-01"})
    assert ok.status_code == 201
    assert ok.get_json()["meta"] == {"holder": "Иванов Иван", "qualification": "Сварщик", "level": 4,
                                     "issue_date": "2026-03-01"}


def test_media_type_is_sniffed_from_bytes_not_trusted_from_the_client(world, client):  # noqa: ANN001
    _setup(world)
    h = world.token(client, "clerk")
    folder_id = client.get("/api/v1/folders", headers=h).get_json()["folders"][0]["id"]
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200
    r = _upload(client, h, folder_id, exe, filename="report.pdf")
    assert r.status_code == 415
    text = _upload(client, h, folder_id, "Пояснительная записка".encode("cp1251"), filename="note.pdf")
    assert text.status_code == 201
    assert text.get_json()["versions"][0]["media_type"] == "text/plain"


def test_filename_is_sanitised(world, client):  # noqa: ANN001
    _setup(world)
    h = world.token(client, "clerk")
    folder_id = client.get("/api/v1/folders", headers=h).get_json()["folders"][0]["id"]
    r = _upload(client, h, folder_id, make_pdf(), filename="../../etc/Приказ <№5>;rm -rf.pdf")
    name = r.get_json()["versions"][0]["filename"]
    assert "/" not in name and ".." not in name and "<" not in name and ";" not in name
    assert name.endswith(".pdf") and "Приказ" in name


def test_upload_over_the_size_limit_is_refused_with_413_and_nothing_is_referenced(world, client, rt):  # noqa: ANN001
    _setup(world)
    h = world.token(client, "clerk")
    folder_id = client.get("/api/v1/folders", headers=h).get_json()["folders"][0]["id"]
    big = b"%PDF-1.7\n" + b"0" * (rt.settings.max_upload_bytes + 10)
    r = _upload(client, h, folder_id, big)
    assert r.status_code == 413
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Version)) == 0


def test_errors_are_json_with_the_right_status(world, client):  # noqa: ANN001
    _setup(world)
    assert client.get("/api/v1/documents/1").status_code == 401
    assert client.get("/api/v1/documents/1", headers={"Authorization": "Bearer nope"}).status_code == 401
    h = world.token(client, "clerk")
    r = client.get("/api/v1/documents/999", headers=h)
    assert r.status_code == 404 and r.get_json()["error"]["message"]
    r = client.post("/api/v1/documents", headers=h, data="x", content_type="text/plain")
    assert r.status_code == 415
    r = client.post("/api/v1/documents", headers=h, json={"folder_id": "abc"})
    assert r.status_code == 400
    bad_login = client.post("/api/v1/tokens", json={"login": "clerk", "password": "wrong-password"})
    assert bad_login.status_code == 401


def test_openapi_document_lists_the_endpoints(client):  # noqa: ANN001
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/tokens", "/folders", "/documents", "/documents/{doc_id}/versions",
                 "/documents/{doc_id}/versions/{number}/content"):
        assert path in spec["paths"]


def test_every_upload_and_download_is_audited(world, client, rt):  # noqa: ANN001
    _setup(world)
    h = world.token(client, "clerk")
    folder_id = client.get("/api/v1/folders", headers=h).get_json()["folders"][0]["id"]
    doc = _upload(client, h, folder_id, make_pdf()).get_json()
    client.get(f"/api/v1/documents/{doc['id']}/versions/1/content", headers=h)
    with rt.db.session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.object_id == doc["id"],
                                                            AuditEvent.object_type == "document")
                                                                    .order_by(AuditEvent.id)).all()
    assert {"document.create", "version.upload", "version.download"} <= set(actions)
