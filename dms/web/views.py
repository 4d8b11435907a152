from __future__ import annotations

from flask import current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from dms import ratelimit
from dms.documents import doctypes
from dms.http import send_version
from dms.errors import DmsError, Invalid, NotFound
from dms.i18n import format_day, same_site_path
from dms.models import Document, Folder
from dms.security import P, has_permission
from dms.documents import bulk
from dms.documents import service as docs
from dms.documents import folders as folders_svc
from dms.people import users
from dms.workflow.rules import state_title, workflow_for
from dms.web import bp
from dms.idrange import digits

PAGE_SIZE = 50


def rt():  # noqa: ANN201
    return current_app.extensions["dms_runtime"]


@bp.app_context_processor
def _helpers() -> dict:
    from dms.security import roles_with
    can_audit = bool(current_user.is_authenticated and current_user.global_roles & roles_with(P.VIEW_AUDIT))
    from dms.workflow.rules import state_label
    return {"doc_types": doctypes.DOC_TYPES, "state_title": state_title, "state_label": state_label,
            "can_audit": can_audit}


@bp.app_template_filter("ru_date")
def _ru_date(value: str | None) -> str:
    """An ISO date (as the JSON views carry it) as the current locale writes a day (the `day` filter's older name)."""
    return format_day(value)


@bp.app_template_filter("reject_page")
def _reject_page(args: dict) -> dict:
    return {k: v for k, v in args.items() if k != "page"}


def _safe_next(target: str | None) -> str:
    return same_site_path(target) or url_for("web.index")


@bp.get("/")
@login_required
def index():  # noqa: ANN201
    from dms.reports import dashboard
    return dashboard.page()


@bp.route("/login", methods=["GET", "POST"])
def login():  # noqa: ANN201
    error = None
    if request.method == "POST":
        try:
            user = users.authenticate(g.db, request.form.get("login", ""), request.form.get("password", ""),
                                      source=f"web:{request.remote_addr}", limiter=ratelimit.for_app(),
                                      address=request.remote_addr or "")
        except DmsError as exc:
            g.commit_on_error = True
            error = exc.message
            return render_template("login.html", error=error), exc.status
        from flask import session

        from dms.extensions import SESSION_KEY
        from dms.people import sessions
        sessions.end(g.db, session.pop(SESSION_KEY, None))  # a login over a live session replaces it
        session[SESSION_KEY] = sessions.start(g.db, user, source=f"web:{request.remote_addr}")
        login_user(user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error)


@bp.post("/logout")
def logout():  # noqa: ANN201
    """Ends the session server-side: a copy of the cookie kept elsewhere no longer logs anyone in."""
    from flask import session

    from dms.extensions import SESSION_KEY
    from dms.people import sessions
    sessions.end(g.db, session.pop(SESSION_KEY, None))
    logout_user()
    return redirect(url_for("web.login"))


def _visible_folder(folder_id: int):  # noqa: ANN202
    folder = folders_svc.get(g.db, folder_id)
    if not has_permission(g.db, current_user, P.VIEW, folder):
        raise NotFound("папка не найдена")
    return folder


@bp.get("/folders/<int:folder_id>")
@login_required
def folder(folder_id: int):  # noqa: ANN201
    from dms.documents import listing as folder_listing
    f = folders_svc.get(g.db, folder_id)
    navigable = folders_svc.navigable_ids(g.db, current_user)
    if navigable is not None and f.id not in navigable:
        raise NotFound("папка не найдена")
    filter_error = None
    try:
        query = folder_listing.parse(request.args)
    except DmsError as exc:
        filter_error, query = exc.message, folder_listing.ListingQuery()
    total, items = folder_listing.documents(g.db, current_user, f, query, PAGE_SIZE)
    subfolders = [c for c in folders_svc.children(g.db, f) if navigable is None or c.id in navigable]
    return render_template("folder.html", folder=f, crumbs=folders_svc.breadcrumbs(g.db, f), subfolders=subfolders,
                           documents=items, total=total, page=query.page, pages=max(1, -(-total // PAGE_SIZE)),
                           query=query, filter_error=filter_error,
                           state_choices=folder_listing.state_choices(query.doc_type),
                           organisations=folder_listing.organisations(g.db, current_user, f),
                           transitions=folder_listing.transition_choices(items),
                           move_targets=folder_listing.move_targets(g.db, current_user, f),
                           can_add=has_permission(g.db, current_user, P.ADD, f),
                           can_share=has_permission(g.db, current_user, P.MANAGE_SHARING, f))


@bp.post("/folders/<int:folder_id>/folders")
@login_required
def create_folder(folder_id: int):  # noqa: ANN201
    parent = _visible_folder(folder_id)
    child = folders_svc.create(g.db, current_user, parent, request.form.get("name", ""))
    flash(_("Папка «%(name)s» создана", name=child.name), "success")
    return redirect(url_for("web.folder", folder_id=child.id))


@bp.route("/folders/<int:folder_id>/new", methods=["GET", "POST"])
@login_required
def new_document(folder_id: int):  # noqa: ANN201
    f = _visible_folder(folder_id)
    if not has_permission(g.db, current_user, P.ADD, f):
        from dms.security import Forbidden
        raise Forbidden(P.ADD, "в этой папке")
    doc_type = request.values.get("type", "order")
    if doc_type not in doctypes.DOC_TYPES:
        doc_type = "order"
    errors: dict[str, str] = {}
    if request.method == "POST":
        meta = {fld.name: request.form.get(f"meta_{fld.name}", "") for fld in doctypes.DOC_TYPES[doc_type].fields}
        upload_file = request.files.get("file")
        try:
            stored = None
            if upload_file is not None and upload_file.filename:
                stored = docs.store_upload(rt().store, upload_file.stream, upload_file.filename,
                                           rt().settings.max_upload_bytes)
            doc = docs.create(g.db, current_user, f, doc_type, request.form.get("title", ""), meta)
            if stored is not None:
                docs.add_version(g.db, current_user, doc, stored, request.form.get("comment", ""))
        except DmsError as exc:
            g.db.rollback()
            errors = exc.details or {"_": exc.message}
            flash(exc.message, "error")
            return render_template("document_new.html", folder=f, crumbs=folders_svc.breadcrumbs(g.db, f),
                                   doc_type=doc_type, form=request.form, errors=errors), exc.status
        flash(_("Документ создан"), "success")
        return redirect(url_for("web.document", doc_id=doc.id))
    return render_template("document_new.html", folder=f, crumbs=folders_svc.breadcrumbs(g.db, f),
                           doc_type=doc_type, form={}, errors=errors)


def _document_page(doc: Document, status: int = 200, errors: dict | None = None, form: dict | None = None,
                   tab: str | None = None):  # noqa: ANN202
    from dms.records import service as records_svc
    from dms.audit import timeline as timeline_svc
    from dms.workflow import service as wf_svc
    perms = {p: has_permission(g.db, current_user, p, doc) for p in P}
    wf = workflow_for(doc.doc_type)
    versions = docs.versions(g.db, doc)
    current = next((v for v in versions if v.id == doc.current_version_id), None)
    return render_template("document.html", doc=doc, crumbs=folders_svc.breadcrumbs(g.db, doc.folder),
                           versions=versions, latest=current, perms=perms, workflow=wf,
                           spec=doctypes.DOC_TYPES[doc.doc_type], errors=errors or {},
                           form=form or {}, options=wf_svc.options(g.db, current_user, doc),
                           history=wf_svc.history(g.db, doc),
                           timeline=timeline_svc.timeline(g.db, current_user, doc),
                           can_share=has_permission(g.db, current_user, P.MANAGE_SHARING, doc.folder),
                           rec=records_svc.status(g.db, doc),
                           can_manage_records=records_svc.can(current_user, "manage"),
                           tab=tab or ("props" if errors or form else "view")), status


@bp.get("/documents/<int:doc_id>")
@login_required
def document(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, current_user, doc_id)
    docs.record_view(g.db, current_user, doc, "web")
    return _document_page(doc, tab=request.args.get("tab"))


def _form_revision() -> int | None:
    raw = request.form.get("revision", "")
    return int(raw) if digits(raw) else None


@bp.post("/documents/<int:doc_id>/versions")
@login_required
def upload_version(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, current_user, doc_id, P.EDIT)
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        raise Invalid("выберите файл")
    try:
        stored = docs.store_upload(rt().store, upload_file.stream, upload_file.filename,
                                   rt().settings.max_upload_bytes)
        version = docs.add_version(g.db, current_user, doc, stored, request.form.get("comment", ""),
                                   _form_revision())
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
        return _document_page(docs.get(g.db, current_user, doc_id), exc.status)
    flash(_("Загружена версия %(n)s", n=version.number), "success")
    return redirect(url_for("web.document", doc_id=doc.id))


@bp.post("/documents/<int:doc_id>/edit")
@login_required
def edit_document(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, current_user, doc_id, P.EDIT)
    meta = {fld.name: request.form.get(f"meta_{fld.name}", "") for fld in doctypes.DOC_TYPES[doc.doc_type].fields}
    try:
        docs.update_metadata(g.db, current_user, doc, title=request.form.get("title", ""), meta=meta,
                             expected_revision=_form_revision())
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
        return _document_page(docs.get(g.db, current_user, doc_id), exc.status, exc.details, request.form)
    flash(_("Изменения сохранены"), "success")
    return redirect(url_for("web.document", doc_id=doc.id))


@bp.get("/documents/<int:doc_id>/versions/<int:number>/download")
@login_required
def download(doc_id: int, number: int):  # noqa: ANN201
    doc = docs.get(g.db, current_user, doc_id)
    version = docs.get_version(g.db, current_user, doc, number)
    docs.record_download(g.db, current_user, doc, version, "web")
    return send_version(version, as_attachment=request.args.get("inline") != "1")


# --- Bulk actions on the folder table, and the PDF preview of the document page ---------------------------------

BULK_LIMIT = 200
PREVIEW_CSP = ("default-src 'none'; object-src 'self'; plugin-types application/pdf; frame-ancestors 'self'; "
               "base-uri 'none'; form-action 'none'")


def _selected_ids() -> list[int]:
    ids = list(dict.fromkeys(int(x) for x in request.form.getlist("ids") if digits(x)))
    if not ids:
        raise Invalid("отметьте хотя бы один документ")
    if len(ids) > BULK_LIMIT:
        raise Invalid("за один раз можно обработать не больше %(n)s документов", n=BULK_LIMIT)
    return ids


@bp.get("/documents/<int:doc_id>/versions/<int:number>/preview")
@login_required
def preview(doc_id: int, number: int):  # noqa: ANN201
    """A PDF version inline, for the frame of the document page (the download route forbids any framing)."""
    doc = docs.get(g.db, current_user, doc_id)
    version = docs.get_version(g.db, current_user, doc, number)
    if version.media_type != "application/pdf":
        raise Invalid("в браузере показываются только PDF-файлы")
    docs.record_download(g.db, current_user, doc, version, "web-preview")
    resp = send_version(version, as_attachment=False)
    resp.headers["Content-Security-Policy"] = PREVIEW_CSP
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    return resp


@bp.post("/folders/<int:folder_id>/bulk/zip")
@login_required
def bulk_zip(folder_id: int):  # noqa: ANN201
    """The current versions of the selected documents as one ZIP, streamed; each download audited."""
    _visible_folder(folder_id)
    try:
        ids = _selected_ids()
    except DmsError as exc:
        flash(exc.message, "error")
        return redirect(url_for("web.folder", folder_id=folder_id))
    plan = bulk.plan_zip(g.db, current_user, ids, "web-zip")
    if not plan.files:
        flash(_("Среди отмеченных нет файлов, которые вам можно скачать."), "error")
        return redirect(url_for("web.folder", folder_id=folder_id))
    g.db.commit()  # the audit records are written before the first byte leaves
    from flask import Response, stream_with_context
    resp = Response(stream_with_context(bulk.zip_stream(rt().store, plan)), mimetype="application/zip")
    resp.headers["Content-Disposition"] = "attachment; filename*=UTF-8''" + bulk.zip_name_quoted()
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _wants_json() -> bool:
    """The folder page's script asks for JSON (one chunk of a bulk action at a time, to draw live progress);
    without the script the form posts everything and gets the result page."""
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def _bulk(folder_id: int, run):  # noqa: ANN001, ANN202
    """The common part of the bulk actions that change documents: parse the selection, run, answer."""
    f = _visible_folder(folder_id)
    try:
        ids = _selected_ids()
        results = run(ids)
    except DmsError as exc:
        if _wants_json():
            return jsonify(error=exc.message), exc.status
        flash(exc.message, "error")
        return redirect(url_for("web.folder", folder_id=folder_id))
    if _wants_json():
        return jsonify(results=[bulk.outcome_json(r) for r in results], done=sum(r.ok for r in results))
    return render_template("folder_bulk.html", folder=f, crumbs=folders_svc.breadcrumbs(g.db, f), results=results,
                           done=sum(r.ok for r in results))


@bp.post("/folders/<int:folder_id>/bulk/transition")
@login_required
def bulk_transition(folder_id: int):  # noqa: ANN201
    """One named transition applied to each selected document; the page lists what was done and what refused."""

    def run(ids: list[int]):  # noqa: ANN202
        name = request.form.get("transition", "")
        if not name:
            raise Invalid("выберите переход")
        return bulk.transition_each(g.db, current_user, ids, name, request.form.get("comment", ""))
    return _bulk(folder_id, run)


@bp.post("/folders/<int:folder_id>/bulk/move")
@login_required
def bulk_move(folder_id: int):  # noqa: ANN201
    """The selected documents moved to another folder, each checked on its own (Edit here, Add there, no hold)."""

    def run(ids: list[int]):  # noqa: ANN202
        raw = request.form.get("target", "")
        target = g.db.get(Folder, int(raw)) if digits(raw) else None
        if target is None or not folders_svc.can_navigate(g.db, current_user, target):
            raise Invalid("выберите папку, в которую переместить документы")
        return bulk.move_each(g.db, current_user, ids, target)
    return _bulk(folder_id, run)
