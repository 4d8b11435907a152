"""Assessment reports in the web UI: the list (the person assessed sees only their own, and only after the
feedback session), filing a new report for a person, recording the feedback session."""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from dms.errors import DmsError, Invalid
from dms.security import P, has_permission
from dms.assessments import service as svc
from dms.documents import service as docs
from dms.web import bp
from dms.idrange import digits

FORM_FIELDS = ("person_name", "assessment_date")


def rt():  # noqa: ANN201
    return current_app.extensions["dms_runtime"]


def _page(form: dict | None = None, errors: dict | None = None, status: int = 200):  # noqa: ANN202
    items = svc.visible(g.db, current_user)
    can_feedback = {d.id: has_permission(g.db, current_user, P.TRANSITION, d) for d in items}
    return render_template("assessments.html", items=items, can_feedback=can_feedback,
                           can_file=svc.may_file(g.db, current_user),
                           form=form or {}, errors=errors or {}), status


@bp.get("/assessments")
@login_required
def assessments_page():  # noqa: ANN201
    return _page()


@bp.post("/assessments")
@login_required
def assessment_create():  # noqa: ANN201
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise Invalid(_("Приложите файл отчёта"), {"file": _("обязательное поле")})
        meta = {name: request.form.get(name, "") for name in FORM_FIELDS}
        svc.assessed_person(g.db, request.form.get("assessed", ""))  # refuse before any byte is stored
        stored = docs.store_upload(rt().store, upload.stream, upload.filename, rt().settings.max_upload_bytes)
        doc = svc.create(g.db, current_user, request.form.get("assessed", ""), request.form.get("title", ""),
                         meta, stored)
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
        return _page(request.form, exc.details, exc.status)
    flash(_("Отчёт подшит в папку оцениваемого; оцениваемый увидит его только после обратной связи."), "success")
    return redirect(url_for("web.document", doc_id=doc.id))


@bp.post("/assessments/<int:doc_id>/feedback")
@login_required
def assessment_feedback(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, current_user, doc_id, P.TRANSITION)
    raw = request.form.get("revision", "")
    try:
        svc.record_feedback(g.db, current_user, doc, request.form.get("feedback_date", ""),
                            request.form.get("note", ""), int(raw) if digits(raw) else None)
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
        return redirect(url_for("web.assessments_page"))
    flash(_("Обратная связь записана; отчёт передан оцениваемому."), "success")
    return redirect(url_for("web.assessments_page"))
