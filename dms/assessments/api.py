"""Assessment reports in the API: file a report for a person (multipart), record the feedback session. Listing,
reading and downloading go through the ordinary document routes, which keep the report from the person until then."""
from __future__ import annotations

from flask import g, jsonify, request

from dms.errors import UnsupportedMediaType
from dms.security import P
from dms.assessments import service as svc
from dms.documents import service as docs
from dms.api import bp
from dms.api.routes import _json_body, _parse_meta, _with_etag, document_json, rt, token_required


@bp.get("/assessment-reports")
@token_required
def list_assessment_reports():  # noqa: ANN201
    return jsonify({"items": [document_json(d) for d in svc.visible(g.db, g.api_user)]})


@bp.post("/assessment-reports")
@token_required
def create_assessment_report():  # noqa: ANN201
    """multipart/form-data: assessed (login), title, meta (JSON, optional), file."""
    upload = request.files.get("file")
    if request.mimetype != "multipart/form-data" or upload is None:
        raise UnsupportedMediaType("ожидается multipart/form-data: assessed, title, meta?, file")
    svc.assessed_person(g.db, request.form.get("assessed", ""))  # refuse before any byte is stored
    stored = docs.store_upload(rt().store, upload.stream, upload.filename, rt().settings.max_upload_bytes)
    doc = svc.create(g.db, g.api_user, request.form.get("assessed", ""), request.form.get("title", ""),
                     _parse_meta(request.form.get("meta")), stored)
    resp = jsonify(document_json(doc))
    resp.status_code = 201
    return _with_etag(resp, doc)


@bp.post("/assessment-reports/<int:doc_id>/feedback")
@token_required
def record_assessment_feedback(doc_id: int):  # noqa: ANN201
    """{"date": "ГГГГ-ММ-ДД", "note": "..."}: the feedback session took place; the report is released."""
    doc = docs.get(g.db, g.api_user, doc_id, P.TRANSITION)
    body = _json_body()
    revision = body.get("revision")
    svc.record_feedback(g.db, g.api_user, doc, str(body.get("date", "")), str(body.get("note", "")),
                        revision if isinstance(revision, int) else None)
    return _with_etag(jsonify(document_json(doc)), doc)
