"""The API document is the API: every route under /api/v1 is described (methods too) and every description has a
route; every operation answers with real schemas and names its error statuses; real answers conform to the
described schemas; the browsable page is served from this origin."""
from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate as validate_spec

from dms.api.openapi import NOT_OPERATIONS, openapi_document
from dms.fulltext import indexing
from tests.fuzz.conformance import problems

from .pdfs import make_pdf

PREFIX = "/api/v1"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _routes(app) -> set[tuple[str, str]]:  # noqa: ANN001
    """(METHOD, /path/{param}) of every API route in the URL map."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(PREFIX):])
        if path in NOT_OPERATIONS:
            continue
        found |= {(m, path) for m in rule.methods - IGNORED_METHODS}
    return found


def _described(spec: dict) -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, item in spec["paths"].items() for m in item}


def test_every_api_route_is_described_and_every_description_is_a_route(app) -> None:  # noqa: ANN001
    routes, described = _routes(app), _described(openapi_document())
    assert not routes - described, f"routes without a description in dms/api/openapi.py: {sorted(routes - described)}"
    assert not described - routes, f"descriptions without a route: {sorted(described - routes)}"


def test_the_served_document_is_valid_openapi_3_1(client) -> None:  # noqa: ANN001
    r = client.get(f"{PREFIX}/openapi.json")
    assert r.status_code == 200
    spec = r.get_json()
    assert spec["openapi"] == "3.1.0"
    validate_spec(spec)  # raises on any structural error or dangling $ref


def _schemas_in(node: object):  # noqa: ANN202
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _schemas_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schemas_in(value)


def test_every_operation_has_real_response_schemas_and_its_error_statuses() -> None:
    spec = openapi_document()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            ok = [code for code in op["responses"] if code.startswith("2")]
            assert len(ok) == 1, where
            content = op["responses"][ok[0]].get("content", {})
            if ok[0] != "204" and "application/json" in content:
                schema = content["application/json"]["schema"]
                assert schema != {"type": "object"}, f"{where}: a bare object is no description"
                resolved = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema \
                    else schema
                assert "properties" in resolved or "allOf" in resolved or "additionalProperties" in resolved, where
            errors = [code for code in op["responses"] if code[0] in "45"]
            assert errors, f"{where}: no error status"
            for code in errors:
                body = op["responses"][code]["content"]["application/json"]["schema"]
                assert "#/components/schemas/Error" in str(body), f"{where} {code}: not the error envelope"
            if op.get("security") != []:
                assert "401" in op["responses"], f"{where}: a bearer-token operation answers 401"
            if "{" in path:
                assert "404" in op["responses"], f"{where}: a path parameter can name nothing"
            params = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert params == set(re.findall(r"{([^}]+)}", path)), where
    # the error envelope itself: status, message, details
    error = spec["components"]["schemas"]["Error"]["properties"]["error"]
    assert set(error["required"]) == {"status", "message", "details"}


def conforms(spec: dict, method: str, path: str, status: int, body: object) -> None:
    """`body` is what the document says `method path` answers with `status`."""
    found = problems(spec, method, path, status, body)
    assert not found, "; ".join(found)


def test_the_conformance_check_sees_a_wrong_answer() -> None:
    spec = openapi_document()
    assert problems(spec, "GET", "/folders", 418, {})  # an undocumented status
    assert problems(spec, "GET", "/documents/{doc_id}", 200, {"id": "1"})  # missing fields, a string id
    assert problems(spec, "GET", "/documents/{doc_id}", 404, {"error": {"status": 404}})  # an envelope without text
    assert not problems(spec, "GET", "/documents/{doc_id}", 404, {"error": {"status": 404, "message": "нет",
                                                                               "details": {}}})


@pytest.fixture
def archive(world, client):  # noqa: ANN001, ANN201
    from dms.signatures import pki
    pki.init(world.rt)
    world.user("boss", "Administrator")
    world.folder("/Приказы")
    doc = world.document("boss", "/Приказы", make_pdf("приказ о проверке"), doc_type="order", title="Приказ")
    indexing.drain(world.rt)
    return {"headers": world.token(client, "boss"), "doc": doc.id}


def test_real_answers_conform_to_the_described_schemas(client, archive) -> None:  # noqa: ANN001
    spec, h, doc = openapi_document(), archive["headers"], archive["doc"]
    folder = client.get(f"{PREFIX}/folders", headers=h).get_json()["folders"][0]["id"]
    gets = {"/folders": "/folders", "/folders/{folder_id}": f"/folders/{folder}",
            "/document-types": "/document-types", "/documents/{doc_id}": f"/documents/{doc}",
            "/documents/{doc_id}/versions": f"/documents/{doc}/versions",
            "/documents/{doc_id}/versions/{number}": f"/documents/{doc}/versions/1",
            "/documents/{doc_id}/transitions": f"/documents/{doc}/transitions",
            "/documents/{doc_id}/history": f"/documents/{doc}/history", "/worklist": "/worklist",
            "/audit": "/audit", "/documents/{doc_id}/signatures": f"/documents/{doc}/signatures",
            "/documents/{doc_id}/versions/{number}/validation": f"/documents/{doc}/versions/1/validation",
            "/documents/{doc_id}/records": f"/documents/{doc}/records", "/records/holds": "/records/holds",
            "/records/trash": "/records/trash", "/records/disposition": "/records/disposition",
            "/pki/credentials": "/pki/credentials", "/agreements": "/agreements",
            "/assessment-reports": "/assessment-reports", "/report-forms": "/report-forms",
            "/register": "/register", "/certificates/blanks": "/certificates/blanks", "/tokens": "/tokens"}
    for described, real in gets.items():
        r = client.get(PREFIX + real, headers=h)
        conforms(spec, "GET", described, r.status_code, r.get_json())
        assert r.status_code == 200, (real, r.get_json())
    r = client.get(f"{PREFIX}/search", query_string={"q": "приказ"}, headers=h)
    conforms(spec, "GET", "/search", r.status_code, r.get_json())
    assert [i["id"] for i in r.get_json()["items"]] == [doc]  # an integer, as the schema says
    r = client.post(f"{PREFIX}/folders", json={"name": "Новая"}, headers=h)
    conforms(spec, "POST", "/folders", r.status_code, r.get_json())
    r = client.patch(f"{PREFIX}/documents/{doc}", json={"title": "Приказ №2"}, headers=h)
    conforms(spec, "PATCH", "/documents/{doc_id}", r.status_code, r.get_json())
    r = client.post(f"{PREFIX}/records/holds", json={"document_id": doc, "reason": "проверка"}, headers=h)
    conforms(spec, "POST", "/records/holds", r.status_code, r.get_json())
    # errors are the envelope
    r = client.get(f"{PREFIX}/documents/{doc + 1000}", headers=h)
    conforms(spec, "GET", "/documents/{doc_id}", 404, r.get_json())
    r = client.get(f"{PREFIX}/folders")
    conforms(spec, "GET", "/folders", 401, r.get_json())
    r = client.get(f"{PREFIX}/verify?number=X&surname=Y")
    conforms(spec, "GET", "/verify", 404, r.get_json())


def test_the_browsable_page_is_swagger_ui_from_this_origin(client) -> None:  # noqa: ANN001
    r = client.get(f"{PREFIX}/docs")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert f'data-spec="{PREFIX}/openapi.json"' in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") for s in sources), sources  # nothing from a CDN
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]  # the page needs no inline script
    assert "<script>" not in html
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert asset.data, source
    bundle = client.get("/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js").get_data(as_text=True)
    assert "SwaggerUIBundle" in bundle
