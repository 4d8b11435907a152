"""The core of the durable jobs (dms.jobs, whose docstring describes them): the queue, the job row's life
(enqueue, claim, progress, finish, recover) and the handlers' registry. Handlers register from their own modules
(dms.jobs.tasks); the worker loops live in dms.jobs.worker, which imports them. This module imports neither.
"""
from __future__ import annotations

import base64
import json
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

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dms import uow
from dms.errors import N_
from dms.models import Job, User
from dms.runtime import RUNTIME_KEY, Runtime

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


class JobRefused(Exception):
    """Raised by a handler whose work was refused or already given back (a wrong PIN, a batch failed and released):
    the job fails at once, never retried."""


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
    def run_job(job_id: str, sealed: dict[str, str] | None = None) -> None:
        execute(rt, job_id, sealed)

    @huey.periodic_task(crontab(minute="*"), name="dms.recover_jobs")
    def recover_jobs() -> None:
        announce(rt)
        recover(rt)

    huey.dms_run_job = run_job
    return huey


def _send(rt: Runtime, job_id: str, delay: float = 0, sealed: dict[str, str] | None = None) -> None:
    task = queue(rt).dms_run_job
    if delay:
        task.schedule(args=(job_id,), delay=delay)
    else:
        task(job_id, sealed)


# --- a secret for one job (a signatory's PIN): never in the job row, never readable from the queue at rest -----
# Each process that runs jobs holds an X25519 key in memory only and announces its public half in the queue's
# key-value store (refreshed each minute). A secret is sealed to the workers announced at enqueue time and travels
# in the message alone; a worker opens it with its own key. Once the worker process is gone its key is gone, so a
# copy of the queue (the SQLite file, a Redis dump) never yields the secret, and a job retried without it (its
# worker died) asks for it again — the PIN is entered anew, as the issue wants.

KEY_PREFIX = "dms.jobkey."
KEY_FRESH_S = 180.0  # an announcement older than this is a worker that stopped
_process_key: tuple[int, str, X25519PrivateKey] | None = None


def _my_key() -> tuple[str, X25519PrivateKey]:
    global _process_key
    if _process_key is None or _process_key[0] != os.getpid():  # a forked child makes its own
        _process_key = (os.getpid(), f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}",
                        X25519PrivateKey.generate())
    return _process_key[1], _process_key[2]


def announce(rt: Runtime) -> str:
    """This process runs jobs: its public key goes to the queue's store (and stale announcements are dropped)."""
    wid, key = _my_key()
    storage = queue(rt).storage
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    storage.put_data(KEY_PREFIX + wid, json.dumps({"key": base64.b64encode(raw).decode(), "at": time.time()}).encode())
    for name in list(_announced(rt, fresh=False)):
        if name not in _announced(rt):
            storage.delete_data(KEY_PREFIX + name)
    return wid


def _announced(rt: Runtime, fresh: bool = True) -> dict[str, bytes]:
    out = {}
    for name, value in queue(rt).storage.result_items().items():
        name = name.decode() if isinstance(name, bytes) else str(name)
        if not name.startswith(KEY_PREFIX):
            continue
        try:
            data = json.loads(bytes(value))
            if not fresh or time.time() - float(data["at"]) < KEY_FRESH_S:
                out[name[len(KEY_PREFIX):]] = base64.b64decode(data["key"])
        except (ValueError, KeyError, TypeError):
            continue
    return out


def workers_listening(rt: Runtime) -> int:
    """How many job workers announced themselves lately (a secret can be sealed only to them)."""
    return len(_announced(rt))


def _aead_key(shared: bytes, job_id: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"dms job secret " + job_id.encode()
                ).derive(shared)


def _seal(rt: Runtime, job_id: str, secret: str) -> dict[str, str]:
    sealed = {}
    for wid, raw in _announced(rt).items():
        ephemeral = X25519PrivateKey.generate()
        nonce = secrets.token_bytes(12)
        box = AESGCM(_aead_key(ephemeral.exchange(X25519PublicKey.from_public_bytes(raw)), job_id))
        public = ephemeral.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        sealed[wid] = base64.b64encode(public + nonce + box.encrypt(nonce, secret.encode(), job_id.encode())).decode()
    return sealed


def _open(job_id: str, sealed: dict[str, str] | None) -> str | None:
    wid, key = _my_key()
    blob = (sealed or {}).get(wid)
    if blob is None:
        return None
    try:
        raw = base64.b64decode(blob)
        shared = key.exchange(X25519PublicKey.from_public_bytes(raw[:32]))
        return AESGCM(_aead_key(shared, job_id)).decrypt(raw[32:44], raw[44:], job_id.encode()).decode()
    except Exception:  # noqa: BLE001  sealed for another key: as if none came
        log.warning("the secret of job %s could not be opened by this worker", job_id)
        return None


def ping(rt: Runtime) -> dict:
    """For /readyz: the queue answers; how many messages wait."""
    huey = queue(rt)
    return {"backend": "redis" if isinstance(huey, RedisHuey) else "sqlite", "pending": huey.pending_count()}


# --- the API -------------------------------------------------------------------------------------------------


def enqueue(session: Session, kind: str, params: dict[str, Any] | None = None, actor: User | None = None, *,
            secret: str | None = None) -> str:
    """A new job of `kind`, in `session`'s transaction; its message goes to the queue once that commits
    (dms.uow.after_commit: a job never runs before the data it needs is visible, and a rolled-back request leaves
    no job). `secret` (a PIN) is sealed to the workers listening now and rides in the message only."""
    if kind not in HANDLERS:
        raise ValueError(f"no handler for jobs of kind {kind!r}")
    job = Job(id=secrets.token_hex(16), kind=kind, params=params or {}, status="queued",
              created_by_id=actor.id if actor else None, checkpoint={})
    session.add(job)
    session.flush()
    rt: Runtime = session.info[RUNTIME_KEY]
    job_id = job.id
    sealed = _seal(rt, job_id, secret) if secret is not None else None
    uow.after_commit(session, lambda: _send(rt, job_id, sealed=sealed))  # failing: recover() resends the row's id
    return job_id


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


# --- running a job -------------------------------------------------------------------------------------------


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
    secret: str | None = field(default=None, repr=False)  # came sealed in this attempt's message, else None
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


def execute(rt: Runtime, job_id: str, sealed: dict[str, str] | None = None) -> str | None:
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
                         dict(job.checkpoint or {}), _open(job_id, sealed))
        cancelled = job.cancel_requested
    fn = HANDLERS.get(ctx.kind)
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
    except JobRefused as exc:
        return _finish(rt, ctx, "failed", error=str(exc)[:4000])
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
