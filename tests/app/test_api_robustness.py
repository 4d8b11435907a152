"""What the schema-driven fuzzer found (issue 12), one test per rule: an id past the largest (2^31-1, what
PostgreSQL's integer columns hold; SQLite overflowed past 2^63-1) in a path or a JSON field
is a 404/400 (it was a SQLite OverflowError, a 500), on every method; non-ASCII digits are not numbers; a `next`
with control characters redirects to /; a 405 names the allowed methods in Allow."""
from __future__ import annotations

import pytest

from dms.idrange import MAX_ID, parse_id

from .conftest import csrf_of
from .pdfs import make_pdf

TOO_BIG = [str(MAX_ID + 1), str(2**63), str(2**64), "9" * 19, "1" * 40]


@pytest.fixture
def admin(world, client):  # noqa: ANN001, ANN201
    world.user("boss", "Administrator")
    world.folder("/Приказы")
    doc = world.document("boss", "/Приказы", make_pdf("приказ"), doc_type="order", title="Приказ")
    return {"h": world.token(client, "boss"), "doc": doc.id}


def _envelope(r, status: int) -> None:  # noqa: ANN001
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.get_json()["error"]["status"] == status


@pytest.mark.parametrize("number", TOO_BIG)
def test_an_id_past_the_largest_in_any_path_is_404_on_every_method(client, admin, number: str) -> None:  # noqa: ANN001
    h = admin["h"]
    for method, path in [("GET", f"/api/v1/documents/{number}"), ("PATCH", f"/api/v1/documents/{number}"),
                         ("POST", f"/api/v1/documents/{number}/versions"),
                         ("POST", f"/api/v1/documents/{number}/signatures"), ("PUT", f"/api/v1/reports/{number}"),
                         ("GET", f"/api/v1/documents/{admin['doc']}/versions/{number}/content"),
                         ("GET", f"/api/v1/folders/{number}"), ("DELETE", f"/api/v1/tokens/{number}"),
                         ("POST", f"/api/v1/records/disposition/{number}/approve"),
                         ("GET", f"/api/v1/register/{number}")]:
        _envelope(client.open(path, method=method, headers=h, json={}), 404)
    assert client.get(f"/documents/{number}").status_code == 404  # the web UI's routes too


def test_the_largest_id_is_an_ordinary_unknown_id(client, admin) -> None:  # noqa: ANN001
    _envelope(client.get(f"/api/v1/documents/{MAX_ID}", headers=admin["h"]), 404)
    _envelope(client.patch(f"/api/v1/documents/{MAX_ID}", headers=admin["h"], json={"title": "x"}), 404)


@pytest.mark.parametrize("value", [MAX_ID + 1, 2**63, 2**64, -(2**64), 1e300, "99999999999999999999", "²"])
def test_an_id_out_of_range_in_a_json_field_is_refused_not_a_500(client, admin, value) -> None:  # noqa: ANN001
    h, doc = admin["h"], admin["doc"]
    _envelope(client.post("/api/v1/folders", headers=h, json={"name": "Новая", "parent_id": value}), 400)
    _envelope(client.post("/api/v1/documents", headers=h, json={"folder_id": value, "type": "order",
                                                                 "title": "x"}), 400)
    _envelope(client.post("/api/v1/records/holds", headers=h, json={"document_id": value, "reason": "x"}), 400)
    _envelope(client.post("/api/v1/records/holds", headers=h, json={"folder_id": value, "reason": "x"}), 400)
    _envelope(client.post("/api/v1/reports", headers=h, json={"form": "pilot_site", "folder_id": value}), 400)
    r = client.post("/api/v1/agreements", headers=h, json={"holder_id": value, "subject": "s",
                                                           "term_from": "2026-01-01", "term_to": "2027-01-01"})
    assert r.status_code == 400 and "holder_id" in r.get_json()["error"]["details"]
    _envelope(client.patch(f"/api/v1/documents/{doc}", headers=h, json={"folder_id": value}), 404)


def test_a_multipart_folder_id_out_of_range_is_400(client, admin) -> None:  # noqa: ANN001
    r = client.post("/api/v1/documents", headers=admin["h"], content_type="multipart/form-data",
                    data={"folder_id": str(2**63), "type": "order", "title": "x"})
    _envelope(r, 400)


@pytest.mark.parametrize("query", ["object_id=9223372036854775808", "object_id=²", "object_id=-1"])
def test_audit_object_id_out_of_range_is_400(client, admin, query: str) -> None:  # noqa: ANN001
    _envelope(client.get(f"/api/v1/audit?{query}", headers=admin["h"]), 400)


@pytest.mark.parametrize("query", ["page=²", "page_size=١٢", "year=²", "year=99999999999999999999999"])
def test_search_numbers_are_ascii_digits(client, admin, query: str) -> None:  # noqa: ANN001
    _envelope(client.get(f"/api/v1/search?q=приказ&{query}", headers=admin["h"]), 400)


def test_if_match_with_non_ascii_digits_is_412(client, admin) -> None:  # noqa: ANN001
    r = client.patch(f"/api/v1/documents/{admin['doc']}", headers={**admin["h"], "If-Match": '"²"'},
                     json={"title": "x"})
    _envelope(r, 412)


def test_parse_id_takes_only_ids() -> None:
    assert [parse_id(v) for v in (0, 7, "7", " 12 ", MAX_ID, str(MAX_ID))] == [0, 7, 7, 12, MAX_ID, MAX_ID]
    assert all(parse_id(v) is None for v in (True, -1, MAX_ID + 1, str(MAX_ID + 1), 1.0, "1.0", "²", "", None,
                                              "0x10", [1], {"id": 1}))


@pytest.mark.parametrize("target", ["/%0d%0aSet-Cookie:%20x=1", "/folders%0a", "/a%00b", "/%09x", "/x%7f",
                                    "/x%c2%85y"])
def test_next_with_control_characters_redirects_to_the_root(client, target: str) -> None:  # noqa: ANN001
    r = client.get(f"/language/en?next={target}")
    assert r.status_code == 302
    assert r.headers["Location"] == "/"
    assert "Set-Cookie: x" not in str(r.headers)


def test_login_next_with_control_characters_goes_to_the_root(client, world) -> None:  # noqa: ANN001
    from .conftest import PASSWORD
    world.user("clerk1", "Clerk")
    token = csrf_of(client, "/login")
    r = client.post("/login?next=/%0d%0aLocation:%20//evil.example", data={"login": "clerk1", "password": PASSWORD,
                                                                          "csrf_token": token})
    assert r.status_code == 302
    assert r.headers["Location"] == "/"


def test_a_plain_next_still_works(client) -> None:  # noqa: ANN001
    assert client.get("/language/en?next=/search?q=1").headers["Location"] == "/search?q=1"


def test_a_405_names_the_allowed_methods(client) -> None:  # noqa: ANN001
    r = client.delete("/api/v1/folders")
    _envelope(r, 405)
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    r = client.put("/api/v1/tokens")
    _envelope(r, 405)
    assert "POST" in r.headers["Allow"]
    r = client.delete("/login")
    assert r.status_code == 405 and "GET" in r.headers["Allow"]


@pytest.mark.parametrize("body", [[None, None], "cancel", 7])
def test_a_transition_with_a_json_body_that_is_no_object_is_not_a_500(client, admin, body) -> None:  # noqa: ANN001
    r = client.post(f"/api/v1/documents/{admin['doc']}/transitions/no-such-step", headers=admin["h"], json=body)
    assert 400 <= r.status_code < 500, r.get_data(as_text=True)[:300]
    assert r.get_json()["error"]["status"] == r.status_code


def test_a_number_too_large_for_the_database_anywhere_is_400_not_500(app, client) -> None:  # noqa: ANN001
    """The net under routes that do not check their numbers: SQLite's OverflowError (binding a parameter past
    2^63-1) and PostgreSQL's "integer out of range" (past 2^31-1 for an integer column) are the request's fault."""
    def probe() -> str:  # a lookup no route makes any more: SQLite overflows, PostgreSQL is out of int4's range
        from flask import g

        from dms.models import Folder
        return str(g.db.get(Folder, 2**70 if g.db.get_bind().dialect.name == "sqlite" else 2**40))

    app.add_url_rule("/probe/overflow", "probe_overflow", probe)
    app.add_url_rule("/api/v1/probe/overflow", "api_probe_overflow", probe)
    assert client.get("/probe/overflow").status_code == 400
    _envelope(client.get("/api/v1/probe/overflow"), 400)


def test_certificate_numbers_do_not_swallow_the_api_s_own_paths(client, admin) -> None:  # noqa: ANN001
    h = admin["h"]
    _envelope(client.post("/api/v1/certificates/batches/null,null/issue", headers=h, json={"pin": ""}), 404)
    r = client.get("/api/v1/certificates/batches", headers=h)  # POST only: GET is not the certificate «batches»
    _envelope(r, 405)
    assert "GET" not in r.headers["Allow"]
    _envelope(client.get("/api/v1/certificates/ЦОК-0-2026-00001", headers=h), 404)
    _envelope(client.get("/api/v1/certificates/ЦОК/2026/1", headers=h), 404)  # a number with '/' still routes


@pytest.mark.parametrize("ids", [[False], [True, 1], [MAX_ID + 1], [-1], [1.5]])
def test_notification_ids_are_ids(client, admin, ids: list) -> None:  # noqa: ANN001
    """Found by the fuzz run on PostgreSQL: [false] reached the query (integer = boolean: a 500)."""
    _envelope(client.post("/api/v1/notifications/read", headers=admin["h"], json={"ids": ids}), 400)


@pytest.mark.parametrize("parent", [True, MAX_ID + 1, 2**63, -1])
def test_a_comment_s_parent_id_is_an_id(client, admin, parent) -> None:  # noqa: ANN001
    r = client.post(f"/api/v1/documents/{admin['doc']}/comments", headers=admin["h"],
                    json={"body": "вопрос", "parent_id": parent})
    _envelope(r, 400)
