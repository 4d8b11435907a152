"""The public verification pages: no login, Russian, usable on a phone. By number and surname, by the QR
token, or by uploading the PDF. Unknown number and wrong surname get the same answer."""
from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from dms.documents import service as documents
from dms.signatures import public_check
from dms.certificates import service as certs
from dms.public_http import MAX_PDF, check_file, limit, lookup, lookup_token, record_document
from dms.web import bp
from dms.idrange import digits


@bp.route("/verify", methods=["GET", "POST"])
def verify_page():  # noqa: ANN201
    view, asked = None, False
    number = (request.values.get("number") or "").strip()
    surname = (request.values.get("surname") or "").strip()
    # A link with the number alone (a replaced certificate's «check the duplicate») fills the form in, asks nothing.
    if surname or (number and request.method == "POST"):
        asked = True
        cert = lookup(number, surname)
        view = certs.public_view(g.db, cert) if cert else None
    return render_template("verify.html", view=view, asked=asked, number=number, surname=surname,
                           status=404 if asked and view is None else 200), 404 if asked and view is None else 200


@bp.get("/verify/t/<token>")
def verify_token(token: str):  # noqa: ANN201
    cert = lookup_token(token, "token")
    view = certs.public_view(g.db, cert) if cert else None
    return render_template("verify.html", view=view, asked=True, number="", surname=""), 200 if view else 404


@bp.route("/verify/file", methods=["GET", "POST"])
def verify_file():  # noqa: ANN201
    result = None
    if request.method == "POST":
        limit("verify_file")
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            abort(400)
        result = check_file(upload.stream)
    return render_template("verify_file.html", result=result)


# --- the public check of a signed document (issue 14) ------------------------------------------------------


def _not_found():  # noqa: ANN202
    """One answer for every document that has no public check (unknown token or id, unsigned, in the trash): the
    same status and the very same bytes, whatever was asked (no path, no form, no token in the body)."""
    return render_template("verify_document_missing.html", language_return="/verify"), 404


def _document_check(doc, channel: str):  # noqa: ANN001, ANN202
    """The page of one signed document (GET), or the page with the verdict on an uploaded file (POST)."""
    upload = None
    if request.method == "POST":
        limit("verify_file")
        file = request.files.get("file")
        if file is None or not file.filename:
            abort(400)
        data = file.stream.read(MAX_PDF + 1)
        if len(data) > MAX_PDF:
            record_document(f"{channel}-file", doc, too_large=True)
            return render_template("verify_document.html", view=public_check.public_view(rt_(), g.db, doc),
                                   upload=None, too_large=MAX_PDF // (1024 * 1024)), 413
        upload = public_check.check_upload(rt_(), g.db, doc, data)
        record_document(f"{channel}-file", doc, sha256=upload.sha256, matches_version=upload.matches_version,
                         authentic=upload.authentic)
    else:
        record_document(channel, doc)
    view = public_check.public_view(rt_(), g.db, doc)
    return render_template("verify_document.html", view=view, upload=upload, too_large=None)


def rt_():  # noqa: ANN201
    return current_app.extensions["dms_runtime"]


@bp.route("/verify/d/<token>", methods=["GET", "POST"])
def verify_document_token(token: str):  # noqa: ANN201
    limit("verify_document")
    doc = public_check.by_token(g.db, token)
    if doc is None:
        record_document("document-token", None)
        return _not_found()
    return _document_check(doc, "document-token")


@bp.route("/verify/document/<doc_id>", methods=["GET", "POST"])
def verify_document_legacy(doc_id: str):  # noqa: ANN201
    """The QR codes of PDFs signed before public tokens: the same page for a signed document; anything else
    (not a number, unknown, unsigned) gets the one not-found."""
    limit("verify_document")
    doc = public_check.by_legacy_id(g.db, int(doc_id)) if digits(doc_id) and len(doc_id) < 19 else None
    if doc is None:
        record_document("document-id", None)
        return _not_found()
    return _document_check(doc, "document-id")


@bp.post("/documents/<int:doc_id>/public-title")
@login_required
def document_public_title(doc_id: int):  # noqa: ANN201
    doc = documents.get(g.db, current_user, doc_id)
    public_check.set_public_title(g.db, current_user, doc, request.form.get("public") == "1")
    flash(_("Название документа показывается на странице проверки.") if doc.public_title
          else _("Название документа скрыто на странице проверки."), "success")
    return redirect(url_for("web.document", doc_id=doc.id, tab="signatures") + "#tab-signatures")


@bp.app_template_global()
def public_check_panel(doc) -> dict:  # noqa: ANN001
    """For the document page: the public check's address (once signed) and whether the viewer may publish the
    title."""
    signed = public_check.by_legacy_id(g.db, doc.id) is not None
    return {"signed": signed, "path": public_check.document_path(doc),
            "url": public_check.document_url(rt_().settings.base_url, doc),
            "may_publish": current_user.is_authenticated and public_check.may_publish_title(g.db, current_user, doc)}
