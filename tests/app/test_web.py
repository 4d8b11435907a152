"""The web pages of the foundation: login, browse, create with upload, new version, download, CSRF."""
from __future__ import annotations

import io
import re

from .conftest import PASSWORD, csrf_of
from .pdfs import make_pdf


def _folder_id(client, name: str) -> int:  # noqa: ANN001
    html = client.get("/", follow_redirects=True).get_data(as_text=True)
    m = re.search(r'href="/folders/(\d+)" class="folder-link">' + re.escape(name), html)
    assert m, html
    return int(m.group(1))


def test_pages_need_a_login(client):  # noqa: ANN001
    r = client.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_clerk_files_a_document_with_a_file_and_downloads_it(world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Приказы")
    world.login(client, "clerk")
    fid = _folder_id(client, "Приказы")
    token = csrf_of(client, f"/folders/{fid}/new?type=order")
    pdf = make_pdf("О проведении профессионального экзамена")
    r = client.post(f"/folders/{fid}/new", content_type="multipart/form-data", data={
        "csrf_token": token, "type": "order", "title": "О проведении профессионального экзамена",
        "meta_subject": "экзамен", "file": (io.BytesIO(pdf), "prikaz.pdf")})
    assert r.status_code == 302, r.get_data(as_text=True)
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "О проведении профессионального экзамена" in page and "prikaz.pdf" in page
    link = re.search(r'href="(/documents/\d+/versions/1/download)"', page).group(1)
    assert client.get(link).data == pdf
    listing = client.get(f"/folders/{fid}").get_data(as_text=True)
    assert "О проведении профессионального экзамена" in listing


def test_new_version_from_the_document_page_and_stale_form_is_refused(world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Приказы")
    doc = world.document("clerk", "/Приказы", make_pdf("v1"), doc_type="order", title="Приказ")
    world.login(client, "clerk")
    page = client.get(f"/documents/{doc.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    revision = re.search(r'name="revision" value="(\d+)"', page).group(1)
    r = client.post(f"/documents/{doc.id}/versions", content_type="multipart/form-data", data={
        "csrf_token": token, "revision": revision, "file": (io.BytesIO(make_pdf("v2")), "v2.pdf")})
    assert r.status_code == 302
    # The same (now stale) revision again: someone else changed it in between.
    r = client.post(f"/documents/{doc.id}/edit", data={"csrf_token": token, "revision": revision,
                                                      "title": "Другое название"})
    assert r.status_code == 409
    assert "изменён другим пользователем" in r.get_data(as_text=True)


def test_form_post_without_csrf_token_is_refused(world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Приказы")
    world.login(client, "clerk")
    fid = _folder_id(client, "Приказы")
    r = client.post(f"/folders/{fid}/folders", data={"name": "Без токена"})
    assert r.status_code == 400
    assert "CSRF" in r.get_data(as_text=True)
    assert "Без токена" not in client.get(f"/folders/{fid}").get_data(as_text=True)


def test_login_form_without_csrf_is_refused(world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    r = client.post("/login", data={"login": "clerk", "password": PASSWORD})
    assert r.status_code == 400


def test_security_headers_are_set(client):  # noqa: ANN001
    r = client.get("/login")
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_unknown_page_is_a_russian_404_without_a_stack_trace(world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.login(client, "clerk")
    r = client.get("/documents/424242")
    assert r.status_code == 404
    body = r.get_data(as_text=True)
    assert "не найден" in body and "Traceback" not in body
