"""Staff pages for certificates: the register, batch issue with a progress view, a certificate's card with
revoke/replace, and the blanks report."""
from __future__ import annotations

import logging

from flask import current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select

from dms import jobs
from dms.errors import Conflict, DmsError, Invalid, NotFound
from dms.models import Certificate, Document, IssueBatch, Organisation
from dms.security import P, access_filter, apply_filter_sql, holds_globally
from dms.certificates import service as certs
from dms.certificates.rows import read_results
from dms.certificates.service import ISSUING_KINDS
from dms.web import bp
from dms.idrange import digits

PAGE = 50
log = logging.getLogger("dms.certificates")


@bp.get("/certificates")
@login_required
def certificates_page():  # noqa: ANN201
    stmt = apply_filter_sql(select(Certificate).join(Document, Document.id == Certificate.document_id),
                            access_filter(g.db, current_user, P.VIEW))
    number = (request.args.get("number") or "").strip()
    state = request.args.get("state") or ""
    centre = request.args.get("centre") or ""
    if number:
        stmt = stmt.where(Certificate.number.contains(number))
    if state:
        stmt = stmt.where(Document.state == state)
    if centre:
        stmt = stmt.join(Organisation, Organisation.id == Certificate.centre_id).where(Organisation.code == centre)
    page = int(request.args.get("page", "1")) if digits(request.args.get("page", "1")) else 1
    total = g.db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = g.db.scalars(stmt.order_by(Certificate.id.desc()).limit(PAGE).offset((page - 1) * PAGE)).all()
    centres = g.db.scalars(select(Organisation).where(Organisation.kind.in_(ISSUING_KINDS))).all()
    return render_template("certificates.html", rows=rows, total=total, page=page, pages=max(1, -(-total // PAGE)),
                           args=request.args, centres=centres, status_ru=certs.STATUS_RU,
                           may_issue_any=any(_issuing_centres()),
                           effective=certs.effective_status)


@bp.get("/certificates/card/<path:cert_number>")
@login_required
def certificate_card(cert_number: str):  # noqa: ANN201
    cert = certs.get(g.db, current_user, cert_number)
    from dms.security import has_permission
    return render_template("certificate.html", cert=cert, view=certs.staff_view(g.db, cert),
                           can_revoke=has_permission(g.db, current_user, P.REVOKE, cert.document),
                           can_sign=has_permission(g.db, current_user, P.SIGN, cert.document),
                           today=certs.today().isoformat())


@bp.post("/certificates/card/<path:cert_number>/revoke")
@login_required
def certificate_revoke(cert_number: str):  # noqa: ANN201
    cert = certs.get(g.db, current_user, cert_number)
    cert_number = cert.number
    try:
        if request.form.get("confirm") != "1":
            raise Invalid("подтвердите аннулирование: свидетельство перестанет действовать безвозвратно")
        certs.revoke(g.db, current_user, cert, request.form.get("reason", ""), request.form.get("order_number", ""),
                     request.form.get("order_date", ""))
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
    else:
        flash(_("Свидетельство %(number)s аннулировано", number=cert_number), "success")
    return redirect(url_for("web.certificate_card", cert_number=cert_number))


@bp.post("/certificates/card/<path:cert_number>/replace")
@login_required
def certificate_replace(cert_number: str):  # noqa: ANN201
    cert_number = certs.get(g.db, current_user, cert_number).number
    rt = current_app.extensions["dms_runtime"]
    login = current_user.login
    g.db.rollback()  # replace() runs in its own transactions: release this request's first
    try:
        if request.form.get("confirm") != "1":
            raise Invalid("подтвердите замену: действующее свидетельство станет «заменено дубликатом»")
        result = certs.replace(rt, login, cert_number, request.form.get("pin", ""),
                               request.form.get("reason", ""), request.form.get("new_name", ""))
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
        return redirect(url_for("web.certificate_card", cert_number=cert_number))
    flash(_("Выдан дубликат %(number)s", number=result["new"]), "success")
    return redirect(url_for("web.certificate_card", cert_number=result["new"]))


def _issuing_centres() -> tuple[list[Organisation], list[Organisation]]:
    """The centres whose certificates the user may issue (sign) and those they may prepare a batch for."""
    centres = g.db.scalars(select(Organisation).where(Organisation.kind.in_(ISSUING_KINDS))
                           .order_by(Organisation.code)).all()
    return ([c for c in centres if certs.may_issue(g.db, current_user, c)],
            [c for c in centres if certs.may_prepare(g.db, current_user, c)])


@bp.route("/certificates/issue", methods=["GET", "POST"])
@login_required
def certificates_issue():  # noqa: ANN201
    """Issue a batch (a signatory, with the PIN) or prepare one for a signatory (a clerk): the form shows only
    what the user may do, and nothing at all to one who may do neither."""
    issuing, preparing = _issuing_centres()
    if not issuing and not preparing:
        raise NotFound("страница не найдена")
    context = {"issuing": issuing, "preparing": preparing, "centres": issuing or preparing,
               "waiting": certs.prepared_batches(g.db, current_user)}
    if request.method == "GET":
        return render_template("certificates_issue.html", errors=[], **context)
    upload = request.files.get("file")
    centre = request.form.get("centre", "")
    prepare = request.form.get("action") == "prepare" or not any(c.code == centre for c in issuing)
    try:
        if upload is None or not upload.filename:
            raise DmsError("выберите файл результатов экзамена (CSV или XLSX)")
        rows = read_results(upload.stream, upload.filename)
        if not prepare and request.form.get("confirm") != "1":
            raise Invalid("подтвердите выдачу: свидетельства будут выданы и подписаны безвозвратно")
        if prepare:
            batch = certs.prepare_batch(g.db, current_user, centre, rows, upload.filename)
        else:
            batch = certs.queue_batch(g.db, current_user, centre, rows, upload.filename)
            _start_job(batch, request.form.get("pin", ""))
    except DmsError as exc:
        g.db.rollback()
        return render_template("certificates_issue.html", message=exc.message,
                               errors=exc.details.get("rows", []), **context), exc.status
    if prepare:
        flash(_("Пакет подготовлен (%(n)s свидетельств) и ждёт подписи руководителя центра.", n=len(rows)),
              "success")
    return redirect(url_for("web.batch_page", batch_id=batch.id))


def _start_job(batch: IssueBatch, pin: str, prepared: bool = False) -> str:
    """The batch's work goes to the job queue (a job worker issues it; the page polls its progress), sent once this
    request commits. The PIN rides sealed to the listening workers, never stored: with no worker listening the
    batch is not started at all."""
    if not jobs.workers_listening(current_app.extensions["dms_runtime"]):
        raise Conflict("исполнитель заданий не запущен (dms worker): пакет не начат, попробуйте позже")
    job_id = jobs.enqueue(g.db, "certificates.issue", {"batch_id": batch.id, "owner": batch.owner,
                                                        "prepared": prepared}, current_user, secret=pin)
    log.info("batch %s queued as job %s by %s", batch.id, job_id, current_user.login)
    return job_id


@bp.post("/certificates/batches/<int:batch_id>/sign")
@login_required
def batch_sign(batch_id: int):  # noqa: ANN201
    """The signatory issues a batch a clerk prepared, with the PIN: a job does it, the page follows."""
    _batch(batch_id)
    try:
        if request.form.get("confirm") != "1":
            raise Invalid("подтвердите выдачу: свидетельства будут выданы и подписаны безвозвратно")
        batch = certs.queue_batch(g.db, current_user, "", [], prepared_id=batch_id)
        _start_job(batch, request.form.get("pin", ""), prepared=True)
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
    return redirect(url_for("web.batch_page", batch_id=batch_id))


def _batch(batch_id: int) -> IssueBatch:
    batch = g.db.get(IssueBatch, batch_id)
    if batch is None or not (batch.created_by_id == current_user.id or batch.signed_by_id == current_user.id
                             or holds_globally(current_user, P.VIEW_AUDIT)
                             or ((batch.stage == "prepared" or certs.is_stuck(batch))
                                 and certs.may_issue(g.db, current_user, g.db.get_one(Organisation, batch.centre_id)))):
        raise NotFound("пакет выдачи не найден")
    return batch


@bp.get("/certificates/batches/<int:batch_id>")
@login_required
def batch_page(batch_id: int):  # noqa: ANN201
    batch = _batch(batch_id)
    issued = g.db.scalars(select(Certificate).where(Certificate.batch_id == batch_id)
                          .order_by(Certificate.id).limit(500)).all()
    centre = g.db.get_one(Organisation, batch.centre_id)
    may = certs.may_issue(g.db, current_user, centre)
    return render_template("batch.html", batch=batch, issued=issued, centre=centre,
                           may_sign=batch.stage == "prepared" and may, stuck=certs.is_stuck(batch) and may,
                           hole=certs.hole_of(batch), may_acknowledge=may)


@bp.post("/certificates/batches/<int:batch_id>/resume")
@login_required
def batch_resume(batch_id: int):  # noqa: ANN201
    """A batch whose process died: finished with its reserved numbers and blanks (the PIN entered again)."""
    _batch(batch_id)
    rt = current_app.extensions["dms_runtime"]
    pin, login = request.form.get("pin", ""), current_user.login
    g.db.rollback()
    try:
        certs.resume_batch(rt, login, batch_id, pin)
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
    else:
        flash(_("Пакет %(id)s выдан и подписан", id=batch_id), "success")
    return redirect(url_for("web.batch_page", batch_id=batch_id))


@bp.post("/certificates/batches/<int:batch_id>/cancel")
@login_required
def batch_cancel(batch_id: int):  # noqa: ANN201
    """A batch whose process died: its numbers and blanks given back."""
    _batch(batch_id)
    rt = current_app.extensions["dms_runtime"]
    login = current_user.login
    g.db.rollback()  # the service runs its own transactions: release this request's (SQLite's lock) first
    try:
        certs.cancel_batch(rt, login, batch_id)
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
    else:
        flash(_("Пакет %(id)s отменён, номера и бланки возвращены", id=batch_id), "success")
    return redirect(url_for("web.batch_page", batch_id=batch_id))


@bp.post("/certificates/batches/<int:batch_id>/acknowledge")
@login_required
def batch_acknowledge(batch_id: int):  # noqa: ANN201
    """A cancelled batch's numbers that could not go back to the series: a signatory acknowledges the hole."""
    _batch(batch_id)
    try:
        certs.acknowledge_hole(g.db, current_user, batch_id)
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
    return redirect(url_for("web.batch_page", batch_id=batch_id))


@bp.get("/certificates/batches/<int:batch_id>.json")
@login_required
def batch_json(batch_id: int):  # noqa: ANN201
    b = _batch(batch_id)
    return jsonify({"id": b.id, "stage": b.stage, "done": b.done, "total": b.total, "error": b.error,
                    "stuck": certs.is_stuck(b)})


@bp.route("/certificates/blanks", methods=["GET", "POST"])
@login_required
def blanks_page():  # noqa: ANN201
    if not (holds_globally(current_user, P.MANAGE_BLANKS) or holds_globally(current_user, P.VIEW_AUDIT)):
        raise NotFound("страница не найдена")
    if request.method == "POST":
        try:
            if request.form.get("action") == "spoil":
                certs.spoil_blank(g.db, current_user, request.form.get("number", "").strip(),
                                  request.form.get("reason", ""))
                flash(_("Бланк списан"), "success")
            else:
                centre = certs.centre_by_code(g.db, request.form.get("centre", ""))
                first, last = request.form.get("first", ""), request.form.get("last", "")
                if not (digits(first) and digits(last)):
                    raise DmsError("номера бланков — целые числа")
                certs.allocate_blanks(g.db, current_user, centre, request.form.get("series", ""), int(first),
                                      int(last))
                flash(_("Диапазон бланков выдан центру"), "success")
        except DmsError as exc:
            g.db.rollback()
            flash(exc.message, "error")
        return redirect(url_for("web.blanks_page"))
    centres = g.db.scalars(select(Organisation).where(Organisation.kind.in_(ISSUING_KINDS))).all()
    return render_template("blanks.html", report=certs.blanks_report(g.db), centres=centres,
                           may_manage=holds_globally(current_user, P.MANAGE_BLANKS))
