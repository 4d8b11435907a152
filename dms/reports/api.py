"""Report forms over the API: the definitions, a report filled from JSON answers (a draft with its PDF), its
answers, a new version of a draft, and the aggregate across sites. Submitting and accepting are the document
transitions (POST /documents/{id}/transitions/submit|accept)."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from dms.errors import N_, Invalid, NotFound
from dms.idrange import parse_id
from dms.models import Document
from dms.reports.forms import FORMS, ReportForm
from dms.security import P, has_permission
from dms.documents import folders as folders_svc
from dms.reports import service as svc
from dms.api import bp
from dms.api.routes import _if_match, _json_body, _with_etag, document_json, rt, token_required


def _filled(body: dict, form_code: str) -> svc.Filled:
    answers = body.get("answers")
    if answers is not None and not isinstance(answers, dict):
        raise Invalid("answers: ожидается JSON-объект «код вопроса → ответ»", {"answers": N_("ожидается объект")})
    return svc.check(g.db, form_code, str(body.get("site", "")), str(body.get("period", "")), answers or {})


def _report_json(doc: Document, form: ReportForm, answers: dict[str, Any]) -> dict:
    return {**document_json(doc), "form": form.code, "answers": answers}


@bp.get("/report-forms")
@token_required
def report_forms():  # noqa: ANN201
    return jsonify({"items": [svc.form_json(f) for f in FORMS.values()]})


@bp.post("/reports")
@token_required
def create_report():  # noqa: ANN201
    """{"form", "site", "period", "answers", "folder_id"?} -> 201 with the draft (its PDF is version 1)."""
    body = _json_body()
    folder = None
    if body.get("folder_id") not in (None, ""):
        folder_id = parse_id(body["folder_id"])
        if folder_id is None:
            raise Invalid("folder_id должен быть целым числом")
        folder = folders_svc.get(g.db, folder_id)
        if not has_permission(g.db, g.api_user, P.VIEW, folder):
            raise NotFound("папка не найдена")
    filled = _filled(body, str(body.get("form", "")))
    doc = svc.save(g.db, rt().store, rt().settings.max_upload_bytes, g.api_user, filled, folder=folder)
    return _with_etag(jsonify(_report_json(doc, filled.form, filled.answers)), doc), 201


@bp.get("/reports/<int:doc_id>")
@token_required
def get_report(doc_id: int):  # noqa: ANN201
    doc, form, answers = svc.form_report(g.db, g.api_user, doc_id)
    return _with_etag(jsonify(_report_json(doc, form, answers)), doc)


@bp.put("/reports/<int:doc_id>")
@token_required
def update_report(doc_id: int):  # noqa: ANN201
    """The whole form again ({"site", "period", "answers"}): a new PDF version of a draft or returned report."""
    doc, form, _ = svc.form_report(g.db, g.api_user, doc_id, P.EDIT)
    filled = _filled(_json_body(), form.code)
    svc.save(g.db, rt().store, rt().settings.max_upload_bytes, g.api_user, filled, doc=doc,
             expected_revision=_if_match())
    return _with_etag(jsonify(_report_json(doc, form, filled.answers)), doc)


@bp.get("/reports/aggregate")
@token_required
def reports_aggregate():  # noqa: ANN201
    agg = svc.aggregate(g.db, g.api_user, request.args.get("form", ""), period=request.args.get("period", ""),
                        site=request.args.get("site", ""), scope=request.args.get("scope", "final"))
    return jsonify(svc.aggregate_json(agg))
