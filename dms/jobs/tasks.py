"""The jobs of issue 17.3 that run on dms.jobs: rebuilding the search index, executing a disposition list, issuing
a certificate batch started from the web. (Bulk actions, archive renewal and e-mail move here by registering their
own handlers.)"""
from __future__ import annotations

from dms.errors import N_, Conflict
from dms.models import DispositionBatch, User
from dms.runtime import Runtime
from dms.jobs.core import JobCancelled, JobContext, JobRefused, handler


@handler("evidence.protect")
def protect_signed(rt: Runtime, ctx: JobContext) -> dict:
    """The B-LTA versions of documents just signed in a batch (dms.signatures.evidence.enqueue_protection); each
    is skipped if protected meanwhile, so a retry or `dms maintain` never protects twice."""
    from dms.signatures import evidence
    ids = [int(i) for i in ctx.params.get("ids", [])]
    return evidence.protect_many(rt, ids, lambda done, total: ctx.progress(done, total)).to_dict()


@handler("reindex")
def reindex(rt: Runtime, ctx: JobContext) -> dict:
    """The whole index rebuilt into a side generation and swapped; a retried attempt starts the rebuild anew (the
    live index is untouched until the swap)."""
    from dms.fulltext import indexing
    from dms.fulltext.indexing import pending_count
    with rt.db.session() as s:
        from sqlalchemy import func, select

        from dms.models import Document
        total = s.scalar(select(func.count()).select_from(Document)) or 0
    done = 0
    ctx.progress(0, total, N_("перестройка индекса"), force=True)

    def step(n: int) -> None:
        nonlocal done
        done += n
        ctx.progress(done, total, N_("перестройка индекса"))

    documents = indexing.reindex(rt, progress=step)
    with rt.db.session() as s:
        pending = pending_count(s)
    ctx.progress(total, total, N_("индекс перестроен"), force=True)
    return {"documents": documents, "pending": pending}


def check_disposition_executable(session, actor: User, batch_id: int) -> DispositionBatch:  # noqa: ANN001
    """What `records.execute` refuses before it changes anything, asked before a job is queued: the request answers
    403/404/409 at once instead of a job that fails."""
    from dms.records import service as records
    records.require_duty(actor, "manage")
    batch = records.get_batch(session, actor, batch_id)
    if batch.status != "approved":
        raise Conflict(N_("акт не утверждён: уничтожение только по утверждённому акту")
                       if batch.status == "proposed" else N_("акт уже исполнен"))
    return batch


@handler("disposition.execute")
def execute_disposition(rt: Runtime, ctx: JobContext) -> dict:
    """One transaction destroys the list's documents and files the sealed act (records.act.execute); once it
    commits, the objects nothing references any more are removed (the service registered that with
    dms.uow.after_commit). A retry after a crash before the commit runs the list again; after it, the list is
    executed and the leftover objects are orphans that `dms check --delete-orphans` removes."""
    from dms.records import act
    batch_id = int(ctx.params["disposition_id"])
    ctx.progress(0, None, N_("исполнение акта"), force=True)
    with rt.db.session() as s:
        actor = s.get(User, ctx.actor_id)
        if actor is None:
            raise LookupError(f"user {ctx.actor_id} of job {ctx.id}")
        batch = s.get(DispositionBatch, batch_id)
        if batch is not None and batch.status == "executed" and ctx.attempt > 1:
            return {"disposition_id": batch_id, "destroyed": sum(i.status == "destroyed" for i in batch.items),
                    "resumed": True}
        batch, objects, filed = act.execute(s, rt, actor, batch_id)  # objects removed after the commit
        destroyed = sum(i.status == "destroyed" for i in batch.items)
        skipped = sum(i.status == "skipped" for i in batch.items)
    ctx.progress(destroyed + skipped, destroyed + skipped, N_("удаление объектов"), force=True)
    return {"disposition_id": batch_id, "destroyed": destroyed, "skipped": skipped, "objects": objects.as_dict(),
            "act_document_id": filed.id if filed else None}


@handler("certificates.issue")
def issue_certificates(rt: Runtime, ctx: JobContext) -> dict:
    """A batch a signatory started from the web (certificates.queue_batch). The PIN came sealed in this attempt's
    message (ctx.secret); a retry after its worker died has none, so the batch is left for a signatory to resume with
    the PIN or cancel (its reservation, if any, is durable). A refusal (PIN, blanks, Register) or a failure ends the
    job at once: the batch has already given its numbers and blanks back and carries the reason."""
    from dms.certificates import service as certs
    from dms.errors import DmsError
    batch_id, token = int(ctx.params["batch_id"]), str(ctx.params["owner"])
    if ctx.secret is None:
        certs.batch_needs_pin(rt, batch_id, token)
        raise JobRefused(f"batch {batch_id}: its PIN left with a worker that stopped; resume it with the PIN")

    def progress(stage: str, done: int, total: int) -> None:
        ctx.progress(done, total, stage)

    try:
        result = certs.run_queued_batch(rt, batch_id, token, ctx.secret, progress,
                                        prepared=bool(ctx.params.get("prepared")))
    except JobCancelled:
        raise
    except DmsError as exc:
        raise JobRefused(exc.message) from None
    except Exception as exc:  # noqa: BLE001  the batch gave its reservation back and says why; a retry has no PIN
        raise JobRefused(f"{type(exc).__name__}: {exc}") from exc
    ctx.progress(len(result.issued), len(result.issued), "done", force=True)
    return {"batch_id": batch_id, "issued": len(result.issued),
            "numbers": [result.issued[0]["number"], result.issued[-1]["number"]] if result.issued else []}
