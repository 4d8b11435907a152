"""The unit of work's follow-ups: operations that must run only once the transaction that caused them has
committed — send the e-mails it queued, put its jobs on the queue, delete the objects it stopped referencing.

`after_commit(session, operation)` registers one on the session (web request, CLI command, job: any session of
`dms.db`); they run in order right after the commit, each on its own (one failing is logged and never undoes the
commit: its owner retries from durable state — pending notices, queued job rows, `dms check` for orphans); a
rollback drops them. So no caller commits and then cleans up by hand.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("dms.uow")
KEY = "dms_after_commit"


def after_commit(session: Session, operation: Callable[[], object]) -> None:
    pending: list[Callable[[], object]] | None = session.info.get(KEY)
    if pending is None:
        pending = session.info[KEY] = []
        event.listen(session, "after_commit", _run)
        event.listen(session, "after_rollback", _drop)
    pending.append(operation)


def _run(session: Session) -> None:
    pending = session.info.get(KEY) or []
    operations, pending[:] = list(pending), []
    for operation in operations:
        try:
            operation()
        except Exception:  # committed: a follow-up that failed is retried by its owner from durable state
            log.exception("an after-commit operation failed")


def _drop(session: Session) -> None:
    pending = session.info.get(KEY)
    if pending:
        pending.clear()
