"""What the API and the web share about jobs, without importing either blueprint (dms.api and dms.web never import
each other): who may see a job, who may start a rebuild of the index, the 202 answer that hands out a job."""
from __future__ import annotations

from flask import g, jsonify, url_for

from dms import jobs
from dms.errors import N_, NotFound
from dms.models import Job, User
from dms.security import Forbidden, P, holds_globally


def visible_job(session, actor: User, job_id: str) -> Job:  # noqa: ANN001
    job = session.get(Job, job_id) if len(job_id) <= 32 else None
    if job is None or not (job.created_by_id == actor.id or holds_globally(actor, P.MANAGE_USERS)):
        raise NotFound(N_("задание не найдено"))
    return job


def require_reindex(actor: User) -> None:
    if not holds_globally(actor, P.MANAGE_RECORDS):
        raise Forbidden(P.MANAGE_RECORDS, N_("на перестройку поискового индекса"))


def accepted(job_id: str):  # noqa: ANN201
    """202 Accepted: the job's state and where to follow it."""
    resp = jsonify({"job": jobs.as_dict(g.db.get(Job, job_id))})
    resp.status_code = 202
    resp.headers["Location"] = url_for("api.job_status", job_id=job_id)
    return resp
