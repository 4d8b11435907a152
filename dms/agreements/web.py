"""Agreements with practice holders in the web UI: the list (a holder's representative sees only their own), the
drafting form, the agreement page with its status, the holder's signing form, the upload of a copy the holder
signed elsewhere, termination."""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from dms.errors import DmsError, Invalid
from dms.models import Document
from dms.security import Forbidden, P, has_permission
from dms.agreements import service as svc
from dms.documents import service as docs
from dms.documents import folders as folders_svc
from dms.workflow.rules import workflow_for
from dms.web import bp
from dms.idrange import digits


def rt():  # noqa: ANN201
    return current_app.extensions["dms_runtime"]


def _agreement(doc_id: int, permission: P = P.VIEW) -> Document:
    doc = docs.get(g.db, current_user, doc_id, permission)
    if doc.doc_type != svc.DOC_TYPE:
        raise Invalid(_("Этот документ не является соглашением"))
    return doc


@bp.app_context_processor
def _agreement_helpers() -> dict:
    return {"agreement_status": lambda doc: svc.status(g.db, doc)}


def _can_draft() -> bool:
    return svc.may_draft(g.db, current_user)


@bp.get("/agreements")
@login_required
def agreements_page():  # noqa: ANN201
    items = [(d, svc.status(g.db, d)) for d in svc.visible(g.db, current_user)]
    return render_template("agreements.html", items=items, can_draft=_can_draft())


@bp.route("/agreements/new", methods=["GET", "POST"])
@login_required
def agreement_new():  # noqa: ANN201
    if not _can_draft():
        raise Forbidden(P.ADD, "в папке соглашений")
    if request.method == "POST":
        try:
            doc = svc.draft(rt(), g.db, current_user, request.form)
        except DmsError as exc:
            g.db.rollback()
            flash(exc.message, "error")
            return render_template("agreement_new.html", holders=svc.holders(g.db), form=request.form,
                                   errors=exc.details or {}), exc.status
        flash(_("Проект соглашения составлен по шаблону; отправьте его на подпись."), "success")
        return redirect(url_for("web.agreement_page", doc_id=doc.id))
    return render_template("agreement_new.html", holders=svc.holders(g.db), form={}, errors={})


@bp.get("/agreements/<int:doc_id>")
@login_required
def agreement_page(doc_id: int):  # noqa: ANN201
    doc = _agreement(doc_id)
    from dms.signatures import service as sig_svc
    from dms.workflow import service as wf_svc
    perms = {p: has_permission(g.db, current_user, p, doc) for p in P}
    accept = workflow_for(svc.DOC_TYPE).transitions[svc.ACCEPT_STEP]
    return render_template("agreement.html", doc=doc, status=svc.status(g.db, doc), perms=perms,
                           workflow=workflow_for(doc.doc_type), crumbs=folders_svc.breadcrumbs(g.db, doc.folder),
                           signatures=sig_svc.signatures_of(g.db, doc), history=wf_svc.history(g.db, doc),
                           can_accept=doc.state in accept.sources and perms[P.TRANSITION],
                           can_terminate=doc.state == "in_force" and perms[P.TRANSITION])


@bp.post("/agreements/<int:doc_id>/countersigned")
@login_required
def agreement_upload_countersigned(doc_id: int):  # noqa: ANN201
    doc = _agreement(doc_id, P.TRANSITION)
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise Invalid(_("Выберите PDF-файл, подписанный второй стороной"))
        raw = request.form.get("revision", "")
        version = svc.accept_countersigned(rt(), g.db, current_user, doc, upload.stream, upload.filename,
                                           request.form.get("comment", ""), int(raw) if digits(raw) else None)
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
        return redirect(url_for("web.agreement_page", doc_id=doc_id))
    flash(_("Экземпляр второй стороны принят (версия %(n)s); соглашение вступило в силу.", n=version.number),
          "success")
    return redirect(url_for("web.agreement_page", doc_id=doc_id))


@bp.post("/agreements/<int:doc_id>/terminate")
@login_required
def agreement_terminate(doc_id: int):  # noqa: ANN201
    doc = _agreement(doc_id, P.TRANSITION)
    raw = request.form.get("revision", "")
    try:
        svc.terminate(g.db, current_user, doc, request.form.get("reason", ""), int(raw) if digits(raw) else None)
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
        return redirect(url_for("web.agreement_page", doc_id=doc_id))
    flash(_("Соглашение прекращено."), "success")
    return redirect(url_for("web.agreement_page", doc_id=doc_id))
