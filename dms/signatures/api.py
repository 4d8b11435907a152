"""Signatures in the API: list and sign a document's signatures, validate a version, verify an uploaded PDF
(public), one's own signing certificates."""
from __future__ import annotations

from flask import g, jsonify, request

from dms.errors import Invalid
from dms.documents import service as docs
from dms.signatures import pki as pki_svc
from dms.signatures import service as sig_svc
from dms import public_http as public
from dms.api import bp
from dms.api.routes import _if_match, _json_body, _with_etag, document_json, rt, token_required


@bp.get("/documents/<int:doc_id>/signatures")
@token_required
def list_signatures(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, g.api_user, doc_id)
    return jsonify({"items": [sig_svc.signature_json(g.db, s) for s in sig_svc.signatures_of(g.db, doc)]})


@bp.post("/documents/<int:doc_id>/signatures")
@token_required
def sign_document(doc_id: int):  # noqa: ANN201
    """{"pin": "...", "level": "B-T"?, "comment": ""?}: sign the current version (and take the signing step).
    If-Match: the revision the signer saw (412 if malformed, 409 if the document changed since)."""
    doc = docs.get(g.db, g.api_user, doc_id)
    expected = _if_match()
    body = _json_body()
    pin = body.get("pin")
    if not isinstance(pin, str) or not pin:
        raise Invalid("укажите pin — PIN-код ключа подписи")
    sig = sig_svc.sign_document(rt(), g.db, g.api_user, doc, pin, level=body.get("level"),
                                comment=str(body.get("comment", "")), expected_revision=expected)
    resp = jsonify({**sig_svc.signature_json(g.db, sig), "document": document_json(doc)})
    resp.status_code = 201
    return _with_etag(resp, doc)


@bp.get("/documents/<int:doc_id>/versions/<int:number>/validation")
@token_required
def version_validation(doc_id: int, number: int):  # noqa: ANN201
    doc = docs.get(g.db, g.api_user, doc_id)
    return jsonify(sig_svc.validate_version(rt(), g.db, g.api_user, doc, number))


@bp.post("/verify/pdf")
def verify_pdf():  # noqa: ANN201
    """Public: the signatures of a PDF signed anywhere, checked against the organisation's CA."""
    public.limit("verify_file")
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("нужен PDF-файл в поле file (multipart/form-data)")
    return jsonify(sig_svc.validate_upload(rt(), g.db, upload.stream, "api"))


@bp.get("/pki/credentials")
@token_required
def my_credentials():  # noqa: ANN201
    return jsonify({"items": [pki_svc.credential_json(c) for c in pki_svc.credentials_of(g.db, g.api_user)]})
