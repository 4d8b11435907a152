from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .. import doctypes
from ..api.routes import send_version
from ..errors import DmsError, Invalid, NotFound
from ..models import Document
from ..security import P, ROLE_LABELS_RU, has_permission
from ..services import documents as docs
from ..services import folders as folders_svc
from ..services import users
from ..workflow import state_title, workflow_for
from . import bp

PAGE_SIZE = 50


def rt():  # noqa: ANN201
    return current_app.extensions["dms_runtime"]


@bp.app_context_processor
def _helpers() -> dict:
    from ..security import roles_with
    can_audit = bool(current_user.is_authenticated and current_user.global_roles & roles_with(P.VIEW_AUDIT))
    return {"doc_types": doctypes.DOC_TYPES, "state_title": state_title, "role_labels": ROLE_LABELS_RU,
            "can_audit": can_audit}


@bp.app_template_filter("reject_page")
def _reject_page(args: dict) -> dict:
    return {k: v for k, v in args.items() if k != "page"}


def _safe_next(target: str | None) -> str:
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("web.index")


@bp.get("/healthz")
def healthz():  # noqa: ANN201
    """For load balancers and compose health checks: the database answers."""
    from sqlalchemy import text
    g.db.execute(text("SELECT 1"))
    return {"status": "ok"}


@bp.get("/")
@login_required
def index():  # noqa: ANN201
    return redirect(url_for("web.folder", folder_id=folders_svc.root(g.db).id))


@bp.route("/login", methods=["GET", "POST"])
def login():  # noqa: ANN201
    error = None
    if request.method == "POST":
        try:
            user = users.authenticate(g.db, request.form.get("login", ""), request.form.get("password", ""),
                                      source=f"web:{request.remote_addr}")
        except DmsError as exc:
            g.commit_on_error = True
            error = exc.message
            return render_template("login.html", error=error), exc.status
        login_user(user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error)


@bp.post("/logout")
def logout():  # noqa: ANN201
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
    f = folders_svc.get(g.db, folder_id)
    navigable = folders_svc.navigable_ids(g.db, current_user)
    if navigable is not None and f.id not in navigable:
        raise NotFound("папка не найдена")
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    doc_type = request.args.get("type") or None
    state = request.args.get("state") or None
    total, items = folders_svc.documents(g.db, current_user, f, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
                                         doc_type=doc_type, state=state)
    subfolders = [c for c in folders_svc.children(g.db, f) if navigable is None or c.id in navigable]
    return render_template("folder.html", folder=f, crumbs=folders_svc.breadcrumbs(g.db, f), subfolders=subfolders,
                           documents=items, total=total, page=page, pages=max(1, -(-total // PAGE_SIZE)),
                           doc_type=doc_type, state=state,
                           can_add=has_permission(g.db, current_user, P.ADD, f),
                           can_share=has_permission(g.db, current_user, P.MANAGE_SHARING, f))


@bp.post("/folders/<int:folder_id>/folders")
@login_required
def create_folder(folder_id: int):  # noqa: ANN201
    parent = _visible_folder(folder_id)
    child = folders_svc.create(g.db, current_user, parent, request.form.get("name", ""))
    flash(f"Папка «{child.name}» создана", "success")
    return redirect(url_for("web.folder", folder_id=child.id))


@bp.route("/folders/<int:folder_id>/new", methods=["GET", "POST"])
@login_required
def new_document(folder_id: int):  # noqa: ANN201
    f = _visible_folder(folder_id)
    if not has_permission(g.db, current_user, P.ADD, f):
        from ..security import Forbidden
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
        flash("Документ создан", "success")
        return redirect(url_for("web.document", doc_id=doc.id))
    return render_template("document_new.html", folder=f, crumbs=folders_svc.breadcrumbs(g.db, f),
                           doc_type=doc_type, form={}, errors=errors)


def _document_page(doc: Document, status: int = 200, errors: dict | None = None, form: dict | None = None):  # noqa: ANN202
    from ..services import workflow as wf_svc
    perms = {p: has_permission(g.db, current_user, p, doc) for p in P}
    wf = workflow_for(doc.doc_type)
    return render_template("document.html", doc=doc, crumbs=folders_svc.breadcrumbs(g.db, doc.folder),
                           versions=docs.versions(g.db, doc), perms=perms, workflow=wf,
                           spec=doctypes.DOC_TYPES[doc.doc_type], errors=errors or {},
                           form=form or {}, options=wf_svc.options(g.db, current_user, doc),
                           history=wf_svc.history(g.db, doc)), status


@bp.get("/documents/<int:doc_id>")
@login_required
def document(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, current_user, doc_id)
    docs.record_view(g.db, current_user, doc, "web")
    return _document_page(doc)


def _form_revision() -> int | None:
    raw = request.form.get("revision", "")
    return int(raw) if raw.isdigit() else None


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
    flash(f"Загружена версия {version.number}", "success")
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
    flash("Изменения сохранены", "success")
    return redirect(url_for("web.document", doc_id=doc.id))


@bp.get("/documents/<int:doc_id>/versions/<int:number>/download")
@login_required
def download(doc_id: int, number: int):  # noqa: ANN201
    doc = docs.get(g.db, current_user, doc_id)
    version = docs.get_version(g.db, current_user, doc, number)
    docs.record_download(g.db, current_user, doc, version, "web")
    return send_version(version, as_attachment=request.args.get("inline") != "1")
