"""Records management pages (issue 7): legal holds, the trash, disposition lists; document actions (trash,
restore, declare a record) posted from the document page."""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from dms.errors import DmsError, Invalid
from dms.records.retention import RETENTION
from dms.documents import service as docs
from dms.documents import folders as folders_svc
from dms.records import service as svc
from dms.web import bp
from dms.idrange import digits


def _form_int(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    if not digits(raw):
        raise Invalid("%(field)s: ожидается число", field=name)
    return int(raw)


def _refusal(exc: DmsError, where: str):  # noqa: ANN202
    """A refusal a user can fix comes back as a message on the page it came from; 403/404 stay errors."""
    if exc.status in (403, 404):
        raise exc
    g.db.rollback()
    flash(exc.message, "error")
    return redirect(where)


def _acted(fn, success: str, where: str):  # noqa: ANN001, ANN202
    """Run an action and flash its success, or show the refusal (_refusal)."""
    try:
        fn()
    except DmsError as exc:
        return _refusal(exc, where)
    flash(success, "success")
    return redirect(where)


@bp.get("/records")
@login_required
def records_page():  # noqa: ANN201
    return render_template("records_holds.html", holds=svc.holds(g.db, current_user, include_released=True),
                           can_manage=svc.can(current_user, "manage"), rules=RETENTION.values())


@bp.post("/records/holds")
@login_required
def records_place_hold():  # noqa: ANN201
    svc.require_duty(current_user, "manage")

    def place() -> None:
        doc_id, folder_path = _form_int("document_id"), request.form.get("folder", "").strip()
        svc.place_hold(g.db, current_user, request.form.get("reason", ""),
                       document=docs.get(g.db, current_user, doc_id) if doc_id else None,
                       folder=folders_svc.resolve(g.db, folder_path) if folder_path else None)
    return _acted(place, _("Удержание установлено"), url_for("web.records_page"))


@bp.post("/records/holds/<int:hold_id>/release")
@login_required
def records_release_hold(hold_id: int):  # noqa: ANN201
    svc.require_duty(current_user, "manage")
    return _acted(lambda: svc.release_hold(g.db, current_user, hold_id, request.form.get("reason", "")),
                  _("Удержание снято"), url_for("web.records_page"))


@bp.get("/records/trash")
@login_required
def records_trash_page():  # noqa: ANN201
    return render_template("records_trash.html", entries=svc.trashed(g.db, current_user),
                           days=current_app.extensions["dms_runtime"].settings.trash_days)


@bp.post("/documents/<int:doc_id>/trash")
@login_required
def records_trash_document(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, current_user, doc_id)
    folder_id = doc.folder_id
    try:
        svc.trash(g.db, current_user, doc, request.form.get("reason", ""))
    except DmsError as exc:
        return _refusal(exc, url_for("web.document", doc_id=doc_id))
    flash(_("Документ перемещён в корзину"), "success")
    return redirect(url_for("web.folder", folder_id=folder_id))


@bp.post("/documents/<int:doc_id>/restore")
@login_required
def records_restore_document(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, current_user, doc_id)
    return _acted(lambda: svc.restore(g.db, current_user, doc), _("Документ восстановлен из корзины"),
                  url_for("web.document", doc_id=doc_id))


@bp.post("/documents/<int:doc_id>/record")
@login_required
def records_declare(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, current_user, doc_id)
    svc.require_duty(current_user, "manage")
    return _acted(lambda: svc.declare_record(g.db, current_user, doc, request.form.get("reason", "")),
                  _("Документ объявлен архивной записью"), url_for("web.document", doc_id=doc_id))


@bp.get("/records/disposition")
@login_required
def records_disposition_page():  # noqa: ANN201
    return render_template("records_disposition.html", due=svc.due_for_disposition(g.db, current_user),
                           batches=svc.batches(g.db, current_user), can_manage=svc.can(current_user, "manage"))


@bp.post("/records/disposition")
@login_required
def records_disposition_propose():  # noqa: ANN201
    svc.require_duty(current_user, "manage")
    try:
        batch = svc.propose(g.db, current_user)
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
        return redirect(url_for("web.records_disposition_page"))
    flash(_("Составлен акт № %(id)s; он ждёт утверждения", id=batch.id), "success")
    return redirect(url_for("web.records_disposition_batch", disposition_id=batch.id))


@bp.get("/records/disposition/<int:disposition_id>")
@login_required
def records_disposition_batch(disposition_id: int):  # noqa: ANN201
    batch = svc.get_batch(g.db, current_user, disposition_id)
    return render_template("records_batch.html", batch=batch, act_id=svc.act_document_id(batch),
                           can_manage=svc.can(current_user, "manage"))


@bp.post("/records/disposition/<int:disposition_id>/approve")
@login_required
def records_disposition_approve(disposition_id: int):  # noqa: ANN201
    svc.require_duty(current_user, "manage")
    return _acted(lambda: svc.approve(g.db, current_user, disposition_id), _("Акт утверждён"),
                  url_for("web.records_disposition_batch", disposition_id=disposition_id))


@bp.post("/records/disposition/<int:disposition_id>/execute")
@login_required
def records_disposition_execute(disposition_id: int):  # noqa: ANN201
    svc.require_duty(current_user, "manage")
    where = url_for("web.records_disposition_batch", disposition_id=disposition_id)
    from dms import jobs
    from dms.jobs.tasks import check_disposition_executable
    try:
        check_disposition_executable(g.db, current_user, disposition_id)
    except DmsError as exc:
        return _refusal(exc, where)
    # A durable job (issue 17.3): the page follows its progress; a worker that dies is replaced by the next one.
    job_id = jobs.enqueue(g.db, "disposition.execute", {"disposition_id": disposition_id}, current_user)
    return redirect(url_for("web.job_page", job_id=job_id))
