"""Progress of durable jobs: `GET /api/v1/jobs/{id}` and the web page `/jobs/{id}` (which reloads itself until the
job ends); cancelling; starting a rebuild of the search index (Administrator). A job is visible to whoever started
it and to administrators; an id nobody else may see is a 404."""
from __future__ import annotations

from flask import current_app, flash, g, jsonify, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from dms import jobs
from dms.api import bp as api_bp
from dms.api.routes import token_required
from dms.errors import N_
from dms.web import bp as web_bp
from dms.jobs.http import accepted, require_reindex, visible_job


@api_bp.get("/jobs/<job_id>")
@token_required
def job_status(job_id: str):  # noqa: ANN201
    return jsonify(jobs.as_dict(visible_job(g.db, g.api_user, job_id)))


@api_bp.post("/jobs/<job_id>/cancel")
@token_required
def job_cancel(job_id: str):  # noqa: ANN201
    visible_job(g.db, g.api_user, job_id)
    return jsonify(jobs.cancel(g.db, job_id))


@api_bp.post("/search/reindex")
@token_required
def reindex_job():  # noqa: ANN201
    require_reindex(g.api_user)
    job_id = jobs.enqueue(g.db, "reindex", {}, g.api_user)
    return accepted(job_id)


JOB_KINDS = {"reindex": N_("перестройка поискового индекса"),
             "disposition.execute": N_("исполнение акта об уничтожении")}
JOB_STATUSES = {"queued": N_("в очереди"), "running": N_("выполняется"), "done": N_("выполнено"),
                "failed": N_("не выполнено"), "cancelled": N_("отменено")}
BACK = {"disposition.execute": lambda p: url_for("web.records_disposition_batch", disposition_id=p["disposition_id"])}


@web_bp.get("/jobs/<job_id>")
@login_required
def job_page(job_id: str):  # noqa: ANN201
    row = visible_job(g.db, current_user, job_id)
    job = jobs.as_dict(row)
    back = BACK[row.kind](row.params) if row.kind in BACK else None
    resp = make_response(render_template("job.html", job=job, job_kinds=JOB_KINDS, job_statuses=JOB_STATUSES,
                                         back=back))
    if not job["finished"]:
        resp.headers["Refresh"] = "2"  # the page follows the job without a script (the CSP allows none inline)
    return resp


@web_bp.post("/jobs/<job_id>/cancel")
@login_required
def job_cancel_page(job_id: str):  # noqa: ANN201
    visible_job(g.db, current_user, job_id)
    jobs.cancel(g.db, job_id)
    flash(_("Отмена задания запрошена"), "success")
    return redirect(url_for("web.job_page", job_id=job_id))


@web_bp.post("/search/reindex")
@login_required
def reindex_page():  # noqa: ANN201
    require_reindex(current_user)
    job_id = jobs.enqueue(g.db, "reindex", {}, current_user)
    current_app.logger.info("reindex job %s queued by %s", job_id, current_user.login)
    return redirect(url_for("web.job_page", job_id=job_id))
