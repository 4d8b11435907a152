"""Certificates in the API: public verification for employers' systems (no token, rate-limited, audited) and
the staff's batch issue and lifecycle."""
from __future__ import annotations

from flask import current_app, g, jsonify, request, url_for
from sqlalchemy import select

from dms import jobs
from dms.errors import Conflict, Invalid, NotFound
from dms.models import Certificate, IssueBatch, Job
from dms.security import P, holds_globally
from dms.certificates import service as certs
from dms.certificates.rows import read_results
from dms import public_http as public
from dms.api import bp
from dms.api.routes import _json_body, token_required

NOT_FOUND = {"found": False, "message": "Свидетельство не найдено"}


def _answer(cert):  # noqa: ANN001, ANN202
    if cert is None:
        return jsonify(NOT_FOUND), 404
    return jsonify({"found": True, "certificate": certs.public_view(g.db, cert)})


@bp.get("/verify")
def verify_by_number():  # noqa: ANN201
    """?number=…&surname=… — the same 404 for an unknown number and for a wrong surname."""
    return _answer(public.lookup(request.args.get("number", ""), request.args.get("surname", "")))


@bp.get("/verify/token/<token>")
def verify_by_token(token: str):  # noqa: ANN201
    return _answer(public.lookup_token(token, "api-token"))


@bp.post("/verify/certificate")
def verify_certificate_file():  # noqa: ANN201
    """multipart `file`: are these exact bytes a certificate we issued, and does the signature validate?"""
    public.limit("verify_file")
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("нужен файл в поле file (multipart/form-data)")
    return jsonify(public.check_file(upload.stream))


def _issued_by_job(batch: IssueBatch, pin: str, prepared: bool = False):  # noqa: ANN202
    """202 Accepted: the batch (written in this request, queued) and the durable job that issues it (a job worker,
    as from the web: dms.certificates.web). The PIN rides sealed to the listening workers, never stored; with no
    worker listening nothing starts (409). GET /jobs/{id} (Location) follows the job, GET /certificates/batches/{id}
    the batch and its certificates."""
    if not jobs.workers_listening(current_app.extensions["dms_runtime"]):
        raise Conflict("исполнитель заданий не запущен (dms worker): пакет не начат, попробуйте позже")
    job_id = jobs.enqueue(g.db, "certificates.issue", {"batch_id": batch.id, "owner": batch.owner,
                                                        "prepared": prepared}, g.api_user, secret=pin)
    resp = jsonify({**_batch_json(batch), "job": jobs.as_dict(g.db.get_one(Job, job_id))})
    resp.status_code = 202
    resp.headers["Location"] = url_for("api.job_status", job_id=job_id)
    return resp


def _batch_json(batch: IssueBatch) -> dict:
    return {"batch": batch.id, "stage": batch.stage, "total": batch.total, "done": batch.done,
            "error": batch.error or None, "url": url_for("api.issue_batch_status", batch_id=batch.id)}


@bp.post("/certificates/batches")
@token_required
def issue_batch():  # noqa: ANN201
    """multipart: file (CSV/XLSX), centre, pin; the whole file or nothing, issued by a job (202). Refusals that need
    no PIN (the file, the centre, the Register, rows already issued) come at once."""
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("нужен файл результатов экзамена в поле file")
    rows = read_results(upload.stream, upload.filename or "")
    batch = certs.queue_batch(g.db, g.api_user, request.form.get("centre", ""), rows, upload.filename or "")
    return _issued_by_job(batch, request.form.get("pin", ""))


@bp.get("/certificates/batches/<int:batch_id>")
@token_required
def issue_batch_status(batch_id: int):  # noqa: ANN201
    """A batch one started or signed (or any, with ViewAudit): its stage and the certificates issued so far."""
    batch = g.db.get(IssueBatch, batch_id)
    if batch is None or g.api_user.id not in (batch.created_by_id, batch.signed_by_id) and not holds_globally(
            g.api_user, P.VIEW_AUDIT):
        raise NotFound("пакет выдачи не найден")
    issued = g.db.execute(select(Certificate.document_id, Certificate.number, Certificate.blank_number,
                                 Certificate.holder_name).where(Certificate.batch_id == batch_id)
                          .order_by(Certificate.id)).all()
    return jsonify({**_batch_json(batch), "stuck": certs.is_stuck(batch),
                    "issued": [{"id": d, "number": n, "blank": b, "holder": h} for d, n, b, h in issued]})


@bp.post("/certificates/batches/prepared")
@token_required
def prepare_batch():  # noqa: ANN201
    """multipart: file (CSV/XLSX), centre — a clerk prepares a batch; a signatory then issues it with the PIN."""
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("нужен файл результатов экзамена в поле file")
    rows = read_results(upload.stream, upload.filename or "")
    batch = certs.prepare_batch(g.db, g.api_user, request.form.get("centre", ""), rows, upload.filename or "")
    return jsonify({"batch": batch.id, "stage": batch.stage, "total": batch.total}), 201


@bp.get("/certificates/batches/prepared")
@token_required
def prepared_batches():  # noqa: ANN201
    return jsonify({"items": [{"batch": b.id, "centre_id": b.centre_id, "file": b.filename, "total": b.total,
                               "created_at": b.created_at.isoformat(), "error": b.error}
                              for b in certs.prepared_batches(g.db, g.api_user)]})


@bp.post("/certificates/batches/<int:batch_id>/issue")
@token_required
def issue_prepared(batch_id: int):  # noqa: ANN201
    """{"pin"}: the signatory issues a prepared batch, by a job (202); a batch one may not see is a 404, one no
    longer waiting a 409, at once."""
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    batch = certs.queue_batch(g.db, g.api_user, "", [], prepared_id=batch_id)
    return _issued_by_job(batch, str(body.get("pin", "")), prepared=True)


@bp.post("/certificates/blanks")
@token_required
def allocate_blanks():  # noqa: ANN201
    """{"centre", "series", "first", "last"}: a range of blank forms for a centre in force in the Register."""
    body = _json_body()
    first, last = body.get("first"), body.get("last")
    if not isinstance(first, int) or not isinstance(last, int):
        raise Invalid("first и last — целые числа")
    centre = certs.centre_by_code(g.db, str(body.get("centre", "")))
    rng = certs.allocate_blanks(g.db, g.api_user, centre, str(body.get("series", "")), first, last)
    return jsonify({"centre": centre.code, "series": rng.series, "first": rng.first, "last": rng.last}), 201


@bp.get("/certificates/<certno:cert_number>")
@token_required
def certificate(cert_number: str):  # noqa: ANN201
    cert = certs.get(g.db, g.api_user, cert_number)
    return jsonify({**certs.staff_view(g.db, cert), "document_id": cert.document_id})


@bp.post("/certificates/<certno:cert_number>/revoke")
@token_required
def revoke(cert_number: str):  # noqa: ANN201
    """{"reason", "order_number", "order_date"}: the Revoke permission, a reason and the order (number and date)."""
    cert = certs.get(g.db, g.api_user, cert_number)
    body = _json_body()
    certs.revoke(g.db, g.api_user, cert, str(body.get("reason", "")), str(body.get("order_number", "")),
                 str(body.get("order_date", "")))
    return jsonify(certs.public_view(g.db, cert))


@bp.post("/certificates/<certno:cert_number>/replace")
@token_required
def replace(cert_number: str):  # noqa: ANN201
    """{"reason", "pin", "new_name"?}: a duplicate; `new_name` for a documented change of name."""
    cert_number = certs.get(g.db, g.api_user, cert_number).number  # 404 for what the caller may not see, first
    body = _json_body()
    login = g.api_user.login
    g.db.rollback()  # replace() runs in its own transactions: release this request's first
    result = certs.replace(current_app.extensions["dms_runtime"], login, cert_number,
                           str(body.get("pin", "")), str(body.get("reason", "")), str(body.get("new_name", "")))
    return jsonify(result), 201


@bp.get("/certificates/blanks")
@token_required
def blanks():  # noqa: ANN201
    if not (holds_globally(g.api_user, P.MANAGE_BLANKS) or holds_globally(g.api_user, P.VIEW_AUDIT)):
        raise NotFound("нет доступа к учёту бланков")
    return jsonify({"items": certs.blanks_report(g.db)})
