"""The public check of a signed document in the API (issue 14): what /verify/d/<token> shows, as JSON, and the
upload check — no token, the web page's limits and audit."""
from __future__ import annotations

from flask import current_app, g, jsonify, request

from dms.errors import Invalid, TooLarge
from dms.signatures import public_check
from dms import public_http as public
from dms.api import bp

NOT_FOUND = {"found": False, "message": "Подписанный документ не найден"}


def _document(token: str):  # noqa: ANN202
    public.limit("verify_document")
    doc = public_check.by_token(g.db, token)
    public.record_document("api-document-token", doc)
    return doc


@bp.get("/verify/document/<token>")
def verify_document(token: str):  # noqa: ANN201
    """The type, number, date, state, title (if its owner shows it) and signers' verdicts of a signed document."""
    doc = _document(token)
    if doc is None:
        return jsonify(NOT_FOUND), 404
    view = public_check.public_view(current_app.extensions["dms_runtime"], g.db, doc)
    return jsonify({"found": True, "document": view.json()})


@bp.post("/verify/document/<token>")
def verify_document_file(token: str):  # noqa: ANN201
    """multipart `file`: are these bytes a version of this document, and do their signatures validate?"""
    public.limit("verify_file")
    doc = public_check.by_token(g.db, token)
    if doc is None:
        public.record_document("api-document-token-file", None)
        return jsonify(NOT_FOUND), 404
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("нужен файл в поле file (multipart/form-data)")
    data = upload.stream.read(public.MAX_PDF + 1)
    if len(data) > public.MAX_PDF:
        raise TooLarge("файл больше %(mb)s МБ", mb=public.MAX_PDF // (1024 * 1024))
    check = public_check.check_upload(current_app.extensions["dms_runtime"], g.db, doc, data)
    public.record_document("api-document-token-file", doc, sha256=check.sha256,
                            matches_version=check.matches_version, authentic=check.authentic)
    return jsonify(check.json())
