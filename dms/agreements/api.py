"""Agreements with practice holders in the API: list (with the status in words), draft from the template, status,
accept the copy the holder signed elsewhere, terminate. Signing goes through POST /documents/{id}/signatures and
sending to signing through the document's transitions, as for any document."""
from __future__ import annotations

from flask import g, jsonify, request

from dms.errors import Invalid, UnsupportedMediaType
from dms.models import Document
from dms.security import P
from dms.agreements import service as svc
from dms.documents import service as docs
from dms.api import bp
from dms.api.routes import _if_match, _json_body, _with_etag, document_json, rt, token_required


def _agreement(doc_id: int, permission: P = P.VIEW) -> Document:
    doc = docs.get(g.db, g.api_user, doc_id, permission)
    if doc.doc_type != svc.DOC_TYPE:
        raise Invalid("документ не является соглашением")
    return doc


@bp.get("/agreements")
@token_required
def list_agreements():  # noqa: ANN201
    return jsonify({"items": [svc.status_json(g.db, d) for d in svc.visible(g.db, g.api_user)]})


@bp.post("/agreements")
@token_required
def draft_agreement():  # noqa: ANN201
    """{"holder_id", "subject", "term_from", "term_to", "title"?}: a draft generated from the template."""
    doc = svc.draft(rt(), g.db, g.api_user, _json_body())
    resp = jsonify({**document_json(doc), "agreement": svc.status_json(g.db, doc)})
    resp.status_code = 201
    return _with_etag(resp, doc)


@bp.get("/agreements/<int:doc_id>")
@token_required
def agreement_status(doc_id: int):  # noqa: ANN201
    doc = _agreement(doc_id)
    return _with_etag(jsonify(svc.status_json(g.db, doc)), doc)


@bp.post("/agreements/<int:doc_id>/countersigned")
@token_required
def accept_countersigned(doc_id: int):  # noqa: ANN201
    """multipart/form-data with `file`: the PDF the holder signed elsewhere. If-Match: the revision seen."""
    doc = _agreement(doc_id, P.TRANSITION)
    expected = _if_match()
    upload = request.files.get("file")
    if request.mimetype != "multipart/form-data" or upload is None:
        raise UnsupportedMediaType("ожидается multipart/form-data с PDF-файлом в поле file")
    version = svc.accept_countersigned(rt(), g.db, g.api_user, doc, upload.stream, upload.filename or "",
                                       request.form.get("comment", ""), expected)
    resp = jsonify({**svc.status_json(g.db, doc), "version": version.number})
    resp.status_code = 201
    return _with_etag(resp, doc)


@bp.post("/agreements/<int:doc_id>/termination")
@token_required
def terminate_agreement(doc_id: int):  # noqa: ANN201
    """{"reason": "..."}: the agreement ends early; the reason is required and kept in the history and audit."""
    doc = _agreement(doc_id, P.TRANSITION)
    body = _json_body()
    revision = body.get("revision")
    svc.terminate(g.db, g.api_user, doc, str(body.get("reason", "")), revision if isinstance(revision, int) else None)
    return _with_etag(jsonify(svc.status_json(g.db, doc)), doc)
