"""Durable jobs (issue 17.3): long work runs outside web requests, survives the death of the process running it,
and shows its progress.

The queue is Huey (a small maintained library with a SQLite backend that needs no service and a Redis backend
for production; Celery is far heavier and RQ has no service-free backend): SqliteHuey in `$DMS_DATA_DIR/jobs.sqlite3`
(0600) on the embedded default, RedisHuey with `DMS_JOBS_URL=redis://host:6379/0` in production. The queue carries only
a job's id; the truth is the `jobs` row (dms.models.Job), which a worker claims (queued → running, compare-and-set),
beats its heart into every HEARTBEAT_S, and finishes (done | failed | cancelled). A job whose worker died — its
heartbeat older than STALE_S — is put back on the queue by `recover` (run by every worker at start and each minute),
up to MAX_ATTEMPTS, and its handler resumes from the checkpoint it saved. `dms check` reports stuck jobs.

The whole API (certificate batches and the rest move onto it by registering a handler):

    @jobs.handler("kind")
    def run(rt: Runtime, ctx: JobContext) -> dict | None:   # the result, kept in the row
        ctx.progress(done, total, "message")                # raises JobCancelled once a cancel was asked
        ctx.save({"after_id": 500})                         # a checkpoint; ctx.checkpoint on the next attempt

    job_id = jobs.enqueue(session, "kind", {"param": 1}, actor)  # sent to the queue when `session` commits
    jobs.status(session, job_id)  -> dict | None                 # status, done/total/percent, message, result, error
    jobs.cancel(session, job_id)  -> dict                        # a queued job ends now, a running one at its next step
    jobs.run_pending(rt)                                         # run what is queued, here and now (tests, the CLI)

Workers: `dms worker` (Huey's consumer with threads), or the thread `dms serve` starts on the embedded default.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, UTC
from typing import Any
from urllib.parse import urlsplit

from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from dms.errors import N_
from dms.models import Job, User
from dms.runtime import Runtime

log = logging.getLogger("dms.jobs")

QUEUE_NAME = "pechat"
HEARTBEAT_S = 5.0
STALE_S = 60.0          # a running job whose heartbeat is older than this lost its worker
REQUEUE_AFTER_S = 300.0  # a queued job not taken this long has lost its message (a queue flushed or down): resent
MAX_ATTEMPTS = 3
RETRY_DELAY_S = 10
PROGRESS_EVERY_S = 0.5  # progress is written at most this often (and always at the end)
FINISHED = ("done", "failed", "cancelled")

Handler = Callable[[Runtime, "JobContext"], "dict | None"]
HANDLERS: dict[str, Handler] = {}


class JobCancelled(Exception):
    """Raised by JobContext.progress once a cancel was asked: the handler stops where it is."""


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that runs jobs of `kind`. It must be safe to run again after a crash (a retry starts
    it anew with the checkpoint it saved)."""
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn
    return register


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


# --- the queue -----------------------------------------------------------------------------------------------


def queue(rt: Runtime) -> Huey:
    """The Huey instance of this runtime (built once), with the two tasks registered on it."""
    huey = rt.__dict__.get("_jobs_huey")
    if huey is None:
        huey = _build(rt)
        rt.__dict__["_jobs_huey"] = huey
    return huey


def _build(rt: Runtime) -> Huey:
    url = rt.settings.jobs_url
    huey: Huey
    if url.startswith(("redis://", "rediss://", "unix://")):
        huey = RedisHuey(QUEUE_NAME, url=url, results=False, utc=True)
    elif url and not url.startswith("sqlite:"):
        raise ValueError(f"DMS_JOBS_URL: redis://host:6379/0 or sqlite:///path, not {urlsplit(url).scheme}://…")
    else:
        path = urlsplit(url).path if url else str(rt.settings.data_dir / "jobs.sqlite3")
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # SQLite gives its WAL the file's mode
        os.chmod(path, 0o600)
        huey = SqliteHuey(QUEUE_NAME, filename=path, results=False, utc=True)

    @huey.task(name="dms.run_job")
    def run_job(job_id: str) -> None:
        execute(rt, job_id)

    @huey.periodic_task(crontab(minute="*"), name="dms.recover_jobs")
    def recover_jobs() -> None:
        recover(rt)

    huey.dms_run_job = run_job
    return huey


def _send(rt: Runtime, job_id: str, delay: float = 0) -> None:
    task = queue(rt).dms_run_job
    if delay:
        task.schedule(args=(job_id,), delay=delay)
    else:
        task(job_id)


def ping(rt: Runtime) -> dict:
    """For /readyz: the queue answers; how many messages wait."""
    huey = queue(rt)
    return {"backend": "redis" if isinstance(huey, RedisHuey) else "sqlite", "pending": huey.pending_count()}


# --- the API -------------------------------------------------------------------------------------------------


def enqueue(session: Session, kind: str, params: dict[str, Any] | None = None, actor: User | None = None) -> str:
    """A new job of `kind`, in `session`'s transaction; its message goes to the queue after that commits (a job
    never runs before the data it needs is visible, and a rolled-back request leaves no job)."""
    if kind not in _handlers():
        raise ValueError(f"no handler for jobs of kind {kind!r}")
    job = Job(id=secrets.token_hex(16), kind=kind, params=params or {}, status="queued",
              created_by_id=actor.id if actor else None, checkpoint={})
    session.add(job)
    session.flush()
    pending = session.info.setdefault("dms_jobs_pending", [])
    if not pending and not session.info.get("dms_jobs_listening"):
        session.info["dms_jobs_listening"] = True
        event.listen(session, "after_commit", _send_pending)
        event.listen(session, "after_rollback", lambda s: s.info.get("dms_jobs_pending", []).clear())
    pending.append(job.id)
    return job.id


def _send_pending(session: Session) -> None:
    from dms.runtime import RUNTIME_KEY
    rt: Runtime = session.info[RUNTIME_KEY]
    pending = session.info.get("dms_jobs_pending", [])
    ids, pending[:] = list(pending), []
    for job_id in ids:
        try:
            _send(rt, job_id)
        except Exception:  # noqa: BLE001  the row is committed: recover() resends it once the queue is back
            log.exception("job %s committed but not sent to the queue; it will be resent", job_id)


def status(session: Session, job_id: str) -> dict | None:
    job = session.get(Job, job_id)
    return as_dict(job) if job is not None else None


def as_dict(job: Job) -> dict:
    def moment(value: datetime | None) -> str | None:
        return _aware(value).isoformat() if value is not None else None  # type: ignore[union-attr]
    percent = round(100 * job.done / job.total) if job.total else (100 if job.status == "done" else 0)
    return {"id": job.id, "kind": job.kind, "status": job.status, "done": job.done, "total": job.total,
            "percent": min(100, percent), "message": job.message, "result": job.result, "error": job.error or None,
            "attempts": job.attempts, "cancel_requested": job.cancel_requested, "finished": job.status in FINISHED,
            "created_at": moment(job.created_at), "started_at": moment(job.started_at),
            "heartbeat_at": moment(job.heartbeat_at), "finished_at": moment(job.finished_at)}


def cancel(session: Session, job_id: str) -> dict:
    """A queued job is cancelled at once; a running one stops at its next progress step (JobCancelled)."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        raise LookupError(job_id)
    if job.status == "queued":
        job.status, job.finished_at, job.message = "cancelled", _now(), N_("отменено до начала")
    elif job.status == "running":
        job.cancel_requested = True
    session.flush()
    return as_dict(job)


def run_pending(rt: Runtime, limit: int = 1000) -> int:
    """Run the queue's waiting messages in this thread (tests, and a CLI that wants the work done now)."""
    huey = queue(rt)
    count = 0
    while count < limit:
        task = huey.dequeue()
        if task is None:
            break
        huey.execute(task)
        count += 1
    return count


# --- running a job -------------------------------------------------------------------------------------------


def _handlers() -> dict[str, Handler]:
    from dms.jobs import tasks  # noqa: F401  (registers the handlers)
    return HANDLERS


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@dataclass
class JobContext:
    rt: Runtime
    id: str
    kind: str
    params: dict[str, Any]
    actor_id: int | None
    attempt: int
    worker: str
    checkpoint: dict[str, Any] = field(default_factory=dict)
    _last_write: float = 0.0

    def progress(self, done: int, total: int | None = None, message: str | None = None, force: bool = False) -> None:
        """Record progress (throttled); raises JobCancelled when a cancel was asked."""
        if not force and time.monotonic() - self._last_write < PROGRESS_EVERY_S:
            return
        self._last_write = time.monotonic()
        values: dict[str, Any] = {"done": done, "heartbeat_at": _now()}
        if total is not None:
            values["total"] = total
        if message is not None:
            values["message"] = message[:2000]
        with self.rt.db.session() as s:
            s.execute(update(Job).where(Job.id == self.id, Job.worker == self.worker).values(**values))
            cancelled = s.scalar(select(Job.cancel_requested).where(Job.id == self.id))
        if cancelled:
            raise JobCancelled(self.id)

    def save(self, checkpoint: dict[str, Any]) -> None:
        """Where a later attempt resumes (ctx.checkpoint there)."""
        self.checkpoint = dict(checkpoint)
        with self.rt.db.session() as s:
            s.execute(update(Job).where(Job.id == self.id, Job.worker == self.worker)
                      .values(checkpoint=self.checkpoint, heartbeat_at=_now()))


def execute(rt: Runtime, job_id: str) -> str | None:
    """Claim the job (only a queued one: a duplicate message finds it taken) and run it; returns its final status,
    or None when there was nothing to run."""
    me, now = _me(), _now()
    with rt.db.session() as s:
        claimed = _rowcount(s.execute(update(Job).where(Job.id == job_id, Job.status == "queued").values(
            status="running", worker=me, attempts=Job.attempts + 1, heartbeat_at=now,
            started_at=func.coalesce(Job.started_at, now))))
        job = s.get(Job, job_id) if claimed else None
        if job is None:
            return None
        ctx = JobContext(rt, job.id, job.kind, dict(job.params or {}), job.created_by_id, job.attempts, me,
                         dict(job.checkpoint or {}))
        cancelled = job.cancel_requested
    fn = _handlers().get(ctx.kind)
    if cancelled or fn is None:
        return _finish(rt, ctx, "cancelled" if cancelled else "failed",
                       error="" if cancelled else f"no handler for jobs of kind {ctx.kind!r}")
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(rt, ctx, stop), name=f"dms-job-{job_id[:8]}", daemon=True)
    beat.start()
    try:
        result = fn(rt, ctx)
    except JobCancelled:
        return _finish(rt, ctx, "cancelled", message=N_("отменено"))
    except Exception as exc:  # noqa: BLE001  a failed attempt is recorded, then retried or given up
        log.exception("job %s (%s) attempt %s failed", job_id, ctx.kind, ctx.attempt)
        error = f"{type(exc).__name__}: {exc}"[:4000]
        if ctx.attempt < MAX_ATTEMPTS:
            _finish(rt, ctx, "queued", error=error)
            _send(rt, job_id, delay=RETRY_DELAY_S)
            return "queued"
        return _finish(rt, ctx, "failed", error=error)
    finally:
        stop.set()
        beat.join(5)
    return _finish(rt, ctx, "done", result=result or {})


def _finish(rt: Runtime, ctx: JobContext, final: str, *, error: str = "", message: str | None = None,
            result: dict | None = None) -> str:
    values: dict[str, Any] = {"status": final, "error": error, "heartbeat_at": _now()}
    if final == "queued":
        values["enqueued_at"] = _now()
    else:
        values["finished_at"] = _now()
    if message is not None:
        values["message"] = message
    if result is not None:
        values["result"] = result
    with rt.db.session() as s:
        # Only while this worker still holds it: one that recover() gave to another worker is not overwritten.
        s.execute(update(Job).where(Job.id == ctx.id, Job.worker == ctx.worker, Job.status == "running")
                  .values(**values))
    return final


def _heartbeat(rt: Runtime, ctx: JobContext, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        try:
            with rt.db.session() as s:
                s.execute(update(Job).where(Job.id == ctx.id, Job.worker == ctx.worker, Job.status == "running")
                          .values(heartbeat_at=_now()))
        except Exception:  # noqa: BLE001  a missed beat is retried; a long outage makes the job look stale
            log.warning("heartbeat of job %s failed", ctx.id, exc_info=True)


# --- recovery and the stuck-job report -----------------------------------------------------------------------


def recover(rt: Runtime, now: datetime | None = None) -> dict:
    """Jobs whose worker died (heartbeat older than STALE_S) go back on the queue — or fail after MAX_ATTEMPTS —
    and queued jobs whose message was lost are resent. Safe in several workers at once (compare-and-set)."""
    now = now or _now()
    report: dict[str, list[str]] = {"requeued": [], "failed": [], "resent": []}
    with rt.db.session() as s:
        dead = s.execute(select(Job.id, Job.heartbeat_at, Job.attempts).where(
            Job.status == "running", Job.heartbeat_at < now - timedelta(seconds=STALE_S))).all()
        for job_id, beat, attempts in dead:
            gave_up = attempts >= MAX_ATTEMPTS
            values: dict[str, Any] = ({"status": "failed", "finished_at": now,
                                       "error": f"its worker stopped {attempts} times; given up"} if gave_up else
                                      {"status": "queued", "enqueued_at": now,
                                       "message": N_("работа прервана; продолжается заново")})
            if _rowcount(s.execute(update(Job).where(Job.id == job_id, Job.status == "running",
                                                     Job.heartbeat_at == beat).values(**values))):
                report["failed" if gave_up else "requeued"].append(job_id)
        lost = s.scalars(select(Job.id).where(Job.status == "queued",
                                              Job.enqueued_at < now - timedelta(seconds=REQUEUE_AFTER_S))).all()
        for job_id in lost:
            s.execute(update(Job).where(Job.id == job_id, Job.status == "queued").values(enqueued_at=now))
            report["resent"].append(job_id)
    for job_id in report["requeued"] + report["resent"]:
        _send(rt, job_id)
    if any(report.values()):
        log.warning("jobs recovered: %s", report)
    return report


def stuck(session: Session, now: datetime | None = None) -> list[dict]:
    """For `dms check`: running jobs without a heartbeat for STALE_S, queued ones not taken for REQUEUE_AFTER_S."""
    now = now or _now()
    rows = session.scalars(select(Job).where(
        ((Job.status == "running") & (Job.heartbeat_at < now - timedelta(seconds=STALE_S)))
        | ((Job.status == "queued") & (Job.enqueued_at < now - timedelta(seconds=REQUEUE_AFTER_S))))
        .order_by(Job.created_at)).all()
    return [{"id": j.id, "kind": j.kind, "status": j.status, "attempts": j.attempts,
             "since": (_aware(j.heartbeat_at if j.status == "running" else j.enqueued_at) or now).isoformat()}
            for j in rows]


# --- workers -------------------------------------------------------------------------------------------------


def run_worker(rt: Runtime, workers: int = 2) -> None:
    """`dms worker`: Huey's consumer (threads; SIGINT stops gracefully, SIGTERM at once) after a recovery pass."""
    huey = queue(rt)
    _handlers()
    recover(rt)
    huey.create_consumer(workers=workers, worker_type="thread", periodic=True, max_delay=2.0).run()


def start_thread(rt: Runtime, idle_sleep: float = 1.0) -> tuple[threading.Thread, threading.Event]:
    """The embedded default: one thread of `dms serve` runs the queue (like the indexer thread); a recovery pass
    at start and each minute."""
    stop = threading.Event()

    def loop() -> None:
        huey = queue(rt)
        _handlers()
        last_recover = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - last_recover > 60:
                    last_recover = time.monotonic()
                    recover(rt)
                for task in huey.read_schedule(_now().replace(tzinfo=None)):  # retries whose delay has passed
                    huey.enqueue(task)
                task = huey.dequeue()
                if task is None:
                    stop.wait(idle_sleep)
                    continue
                huey.execute(task)
            except Exception:  # noqa: BLE001  the loop outlives one bad message
                log.exception("job queue loop failed; continuing")
                stop.wait(5)

    thread = threading.Thread(target=loop, name="dms-jobs", daemon=True)
    thread.start()
    return thread, stop
