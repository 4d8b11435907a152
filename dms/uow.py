"""The unit of work's follow-ups: operations that must run only once the transaction that caused them has
committed — send the e-mails it queued, put its jobs on the queue, delete the objects it stopped referencing.

`after_commit(session, operation)` registers one on the session (web request, CLI command, job: any session of
`dms.db`); they run in order right after the commit, each on its own (one failing is logged and never undoes the
commit: its owner retries from durable state — pending notices, queued job rows, `dms check` for orphans); a
rollback drops them. So no caller commits and then cleans up by hand. A SAVEPOINT (`session.begin_nested()`) is not
the transaction: releasing one runs nothing (SQLAlchemy signals it as a commit), rolling one back drops only what was
registered inside it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger("dms.uow")
KEY = "dms_after_commit"
MARKS = "dms_after_commit_marks"  # SAVEPOINT -> how many follow-ups were registered when it began


def after_commit(session: Session, operation: Callable[[], object]) -> None:
    pending: list[Callable[[], object]] | None = session.info.get(KEY)
    if pending is None:
        pending = session.info[KEY] = []
        session.info[MARKS] = {}
        event.listen(session, "after_commit", _run)
        event.listen(session, "after_rollback", _drop)
        event.listen(session, "after_transaction_create", _mark)
    pending.append(operation)


def _mark(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        session.info[MARKS][transaction] = len(session.info[KEY])


def _run(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: its follow-ups wait for the transaction's commit
        return
    pending = session.info.get(KEY) or []
    operations, pending[:] = list(pending), []
    session.info[MARKS].clear()
    for operation in operations:
        try:
            operation()
        except Exception:  # committed: a follow-up that failed is retried by its owner from durable state
            log.exception("an after-commit operation failed")


def _drop(session: Session) -> None:
    pending = session.info.get(KEY)
    if pending is None:
        return
    savepoint = session.get_nested_transaction()
    if savepoint is not None:  # a SAVEPOINT rolled back: what was registered before it still waits for the commit
        del pending[session.info[MARKS].pop(savepoint, 0):]
        return
    pending.clear()
    session.info[MARKS].clear()
