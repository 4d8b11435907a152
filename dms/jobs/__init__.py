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
    jobs.enqueue(session, "kind", {...}, actor, secret=pin)      # ctx.secret: sealed to the live workers, never stored
    jobs.status(session, job_id)  -> dict | None                 # status, done/total/percent, message, result, error
    jobs.cancel(session, job_id)  -> dict                        # a queued job ends now, a running one at its next step
    jobs.run_pending(rt)                                         # run what is queued, here and now (tests, the CLI)

Workers: `dms worker` (Huey's consumer with threads), or the thread `dms serve` starts on the embedded default.

Modules: dms.jobs.core (queue, job rows, registry), dms.jobs.tasks (handlers, registered on import), dms.jobs.worker
(the loops; imports the handlers). This package only re-exports them: core and tasks never import it back.
"""
from __future__ import annotations

from dms.jobs.core import (FINISHED, HANDLERS, MAX_ATTEMPTS, STALE_S, Handler, JobCancelled, JobContext, JobRefused,
                           announce, as_dict, cancel, enqueue, execute, handler, ping, queue, recover, status, stuck,
                           workers_listening)
from dms.jobs.worker import run_pending, run_worker, start_thread

__all__ = ["FINISHED", "HANDLERS", "MAX_ATTEMPTS", "STALE_S", "Handler", "JobCancelled", "JobContext", "JobRefused",
           "announce", "as_dict", "cancel", "enqueue", "execute", "handler", "ping", "queue", "recover",
           "run_pending", "run_worker", "start_thread", "status", "stuck", "workers_listening"]
