"""The audit trail: append-only events, each carrying the hash of the previous one."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from types import SimpleNamespace
from datetime import datetime, timedelta, tzinfo, UTC
from typing import Any, cast
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import CursorResult, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from dms.errors import Invalid
from dms.idrange import parse_id
from dms.models import AuditEvent, AuditHead, User

logger = logging.getLogger(__name__)
GENESIS = "0" * 64
# Reading a document is recorded once per user, document and VIEW_WINDOW (see record_view).
VIEW_WINDOW = timedelta(hours=1)
DEFAULT_TIMEZONE = "Europe/Moscow"


def _ts_text(ts: datetime) -> str:
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.isoformat(timespec="microseconds")


def event_hash(ev: Any) -> str:
    """The hash of an event (an AuditEvent, or any object with its fields: record_many hashes rows)."""
    body = {
        "id": ev.id, "ts": _ts_text(ev.ts), "actor_id": ev.actor_id, "actor_login": ev.actor_login,
        "action": ev.action, "object_type": ev.object_type, "object_id": ev.object_id,
        "details": ev.details, "prev": ev.prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _head(session: Session) -> AuditHead:
    """The chain's end, locked for this transaction (FOR UPDATE on PostgreSQL; SQLite's transactions hold the write
    lock from BEGIN IMMEDIATE). Once locked, the same transaction reuses it instead of asking again per event (a batch
    of a hundred documents appends two hundred events)."""
    txn = session.get_transaction()
    cached = session.info.get("audit_head")
    if cached is not None and txn is not None and cached[0] is txn and cached[1] in session:
        return cached[1]
    # populate_existing: a session kept across commits (expire_on_commit=False) must not reuse the head it loaded
    # before another session appended events (an after-commit follow-up, another process)
    head = session.scalars(select(AuditHead).where(AuditHead.id == 1).with_for_update()
                           .execution_options(populate_existing=True)).first()
    if head is None:
        head = AuditHead(id=1, last_event_id=0, last_hash=GENESIS)
        session.add(head)
        session.flush()
    session.info["audit_head"] = (txn, head)
    return head


def record(session: Session, actor: User | None, action: str, object_type: str = "",
           object_id: int | None = None, **details: Any) -> int:
    """Append one event in the caller's transaction (it commits or rolls back with the change it records); its id.
    Public lookups recorded since the last chained write are folded into the chain first (fold_lookups)."""
    return record_many(session, actor, [Event(action, object_type, object_id, details)])[0]


def _chain_end(session: Session) -> AuditHead:
    """The chain's head, locked; the first time in a transaction, the pending lookups folded into it first."""
    fresh = session.info.get("audit_head") is None or session.info["audit_head"][0] is not session.get_transaction()
    head = _head(session)
    if fresh:  # once per transaction: a batch's later events need not look again
        _fold_near(session, head)
    return head


@dataclass
class Event:
    """One event of record_many: what record() takes, as data."""
    action: str
    object_type: str
    object_id: int | None
    details: dict[str, Any]


# Built once (see _INSERT_EVENT): the events of record_many get their chain links in one executemany.
_LINK_EVENT = update(cast(Table, AuditEvent.__table__)).where(AuditEvent.__table__.c.id == bindparam("b_id")).values(
    prev_hash=bindparam("b_prev"), hash=bindparam("b_hash"))


def record_many(session: Session, actor: User | None, events: list[Event]) -> list[int]:
    """Append `events` (one per object acted on: a batch of documents) in the caller's transaction, in that order,
    each chained to the one before: one INSERT of the rows (their ids), then their prev_hash/hash in one
    executemany UPDATE — not two unit-of-work flushes per event (issue 20.3: the events were a third of an
    ingested document's recording cost). record() is this with one event. Returns the events' ids."""
    if not events:
        return []
    head = _chain_end(session)
    now, rows = datetime.now(UTC), []
    for e in events:
        details = dict(e.details)
        rows.append({"ts": now, "actor_id": actor.id if actor else None,
                     "actor_login": actor.login if actor else details.pop("login", ""), "action": e.action,
                     "object_type": e.object_type, "object_id": e.object_id,
                     "details": json.loads(json.dumps(details, ensure_ascii=False, default=str)),
                     "prev_hash": "", "hash": ""})
    result = session.execute(_INSERT_EVENTS, rows)
    ids = [int(i) for i in result.scalars()]
    prev, links = head.last_hash, []
    for event_id, row in sorted(zip(ids, rows, strict=True), key=lambda pair: pair[0]):  # the chain runs in id order
        row["id"], row["prev_hash"] = event_id, prev
        prev = event_hash(SimpleNamespace(**row))
        links.append({"b_id": event_id, "b_prev": row["prev_hash"], "b_hash": prev})
    session.execute(_LINK_EVENT, links)
    head.last_event_id, head.last_hash = max(ids), prev
    return ids


def _fold_near(session: Session, head: AuditHead) -> None:
    # Pending lookups sit after the chain's end (on PostgreSQL a straggler a little before it, committed after the
    # last fold): a short primary-key range, not FOLD_SLACK rows on every chained write.
    _fold(session, head, since_id=max(0, head.last_event_id - FOLD_NEAR))


def _append(session: Session, head: AuditHead, actor: User | None, action: str, object_type: str,
            object_id: int | None, **details: Any) -> AuditEvent:
    ev = AuditEvent(
        ts=datetime.now(UTC), actor_id=actor.id if actor else None,
        actor_login=actor.login if actor else details.pop("login", ""), action=action,
        object_type=object_type, object_id=object_id,
        details=json.loads(json.dumps(details, ensure_ascii=False, default=str)), prev_hash=head.last_hash,
        hash="",
    )
    session.add(ev)
    session.flush()
    ev.hash = event_hash(ev)
    head.last_event_id = ev.id
    head.last_hash = ev.hash
    return ev


# --- public lookups: recorded without the chain lock, folded into the chain in batches (issue 20.2) ----------
#
# A public lookup (the certificate check, the document check) is one INSERT of an audit event whose prev_hash is
# PENDING: no chain head is read or locked, so lookups do not queue behind each other or behind chained writes.
# A fold (the next chained write, every FOLD_EVERY-th lookup, `dms audit verify`, `dms maintain`) appends one
# chained FOLD_ACTION event listing the folded events' ids and hashes, and marks each folded event with
# prev_hash "fold:<id of that event>" and its own hash. Verification then names a folded lookup event that was
# altered (its hash, or its hash in the fold) or deleted (listed in a fold, absent). An event still PENDING has
# no protection yet: the window is the time to the next fold.
PENDING = "lookup"
FOLDED_PREFIX = "fold:"
FOLD_ACTION = "audit.fold"
FOLD_EVERY = 256      # a lookup whose id is a multiple of this folds the pending ones in its own transaction
FOLD_SLACK = 4096     # a lookup's fold looks this far below the chain's end for pending events (PK range, no scan)
FOLD_NEAR = 64        # a chained write's fold looks this far below it
FOLD_HASH_CHARS = 32  # of each folded event's hash kept in the fold event (128 bits)


# Built once: a statement made per call costs more to build and to key for the compiled cache than to run.
_INSERT_EVENT = insert(cast(Table, AuditEvent.__table__))
_INSERT_EVENTS = _INSERT_EVENT.returning(AuditEvent.__table__.c.id, sort_by_parameter_order=True)


def lookup_row(action: str, object_type: str = "", object_id: int | None = None, **details: Any) -> dict:
    """The row of an anonymous public lookup's event (pending: not yet in the chain)."""
    return {"ts": datetime.now(UTC), "actor_id": None, "actor_login": details.pop("login", ""), "action": action,
            "object_type": object_type, "object_id": object_id,
            "details": json.loads(json.dumps(details, ensure_ascii=False, default=str)), "prev_hash": PENDING,
            "hash": ""}


def record_lookups(session: Session, rows: list[dict]) -> list[int]:
    """Public lookups' events (lookup_row), appended in the caller's transaction without the chain lock: one Core
    INSERT (no head read, no ORM unit of work). When an id reaches a multiple of FOLD_EVERY the pending events are
    folded into the chain in the same transaction. Returns the events' ids in the rows' order."""
    ids = _insert_lookups(session, rows)
    fold_due(session, ids)
    return ids


def _insert_lookups(session: Session, rows: list[dict]) -> list[int]:
    if not rows:
        return []
    if len(rows) == 1:  # one row: no executemany (its RETURNING needs no ordering)
        result = cast(CursorResult, session.execute(_INSERT_EVENT, rows[0]))
        return [int(result.inserted_primary_key[0])]  # type: ignore[index]
    return [int(i) for i in session.execute(_INSERT_EVENTS, rows).scalars()]


def fold_due(session: Session, ids: list[int]) -> None:
    """The fold that lookup events `ids` call for (an id at a multiple of FOLD_EVERY), in the caller's transaction."""
    due = [i for i in ids if i % FOLD_EVERY == 0]
    if due:
        head = _head(session)
        _fold(session, head, since_id=max(0, min(head.last_event_id, due[0] - FOLD_EVERY) - FOLD_SLACK))


def record_lookup(session: Session, action: str, object_type: str = "", object_id: int | None = None,
                  **details: Any) -> int:
    """One public lookup's event in the caller's transaction (record_lookups with one row). Returns its id."""
    return record_lookups(session, [lookup_row(action, object_type, object_id, **details)])[0]


class LookupLog:
    """Public lookups' events, group-committed: each caller waits until its own event is committed (durable before
    the answer is sent, as when it was written in the request's transaction), but the callers that arrive while a
    commit is in flight are written together by the next one — one transaction (one write lock on SQLite, one
    autocommit INSERT on PostgreSQL) for all of them, instead of one each (issue 20.2).

    No thread of its own: the first waiting caller writes the batch (the leader), the others wait on a condition
    and one of them leads the next batch. Safe across fork (nothing runs between requests). A failed commit raises
    in every caller of its batch (their answers are errors: no lookup is answered unaudited)."""

    def __init__(self, db: Any, max_batch: int = 512):
        self._db = db
        self._max = max_batch
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._flushing = False
        self.commits = 0  # batches written (the tests read it)

    def write(self, action: str, object_type: str = "", object_id: int | None = None, **details: Any) -> int:
        """Append one lookup's event; returns its id once it is committed."""
        entry = _Pending(lookup_row(action, object_type, object_id, **details))
        with self._cond:
            self._pending.append(entry)
            while not entry.done:
                if self._flushing:
                    self._cond.wait()
                    continue
                batch, self._pending = self._pending[:self._max], self._pending[self._max:]
                self._flushing = True
                self._cond.release()
                try:
                    self._commit(batch)
                finally:
                    self._cond.acquire()
                    self._flushing = False
                    self._cond.notify_all()
        if entry.error is not None:
            raise entry.error
        return entry.event_id

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            rows = [e.row for e in batch]
            if self._db.is_sqlite:
                with self._db.session() as session:
                    ids = record_lookups(session, rows)
            else:
                # PostgreSQL: the INSERT is its own transaction (autocommit: one round trip, not BEGIN + INSERT +
                # COMMIT, while the batch's callers wait), the rare fold a transaction of its own after it.
                with self._db.autocommit_session() as session:
                    ids = _insert_lookups(session, rows)
                if any(i % FOLD_EVERY == 0 for i in ids):
                    self._fold_later_if_it_fails(ids)
        except BaseException as exc:
            for e in batch:
                e.error, e.done = exc, True
            if not isinstance(exc, Exception):
                raise
            return
        self.commits += 1
        for e, event_id in zip(batch, ids, strict=True):
            e.event_id, e.done = event_id, True

    def _fold_later_if_it_fails(self, ids: list[int]) -> None:
        """The events are committed already: a failed fold leaves them pending (the next chained write, fold or
        `dms audit verify` folds them), it does not turn their lookups' answers into errors."""
        try:
            with self._db.session() as session:
                fold_due(session, ids)
        except Exception:  # noqa: BLE001
            logger.exception("folding lookup events failed; they stay pending until the next fold")


@dataclass(slots=True)
class _Pending:
    row: dict
    event_id: int = 0
    error: BaseException | None = None
    done: bool = False


def _fold(session: Session, head: AuditHead, since_id: int = 0, limit: int = 10_000) -> int:
    """Fold the pending lookup events with id > since_id (committed ones; on PostgreSQL one still in flight is
    folded by a later fold) into the chain; the caller holds the head. Returns how many were folded."""
    done = 0
    while True:
        pending = session.scalars(select(AuditEvent).where(AuditEvent.id > since_id,
                                                           AuditEvent.prev_hash == PENDING)
                                  .order_by(AuditEvent.id).limit(limit)).all()
        if not pending:
            return done
        fold = _append(session, head, None, FOLD_ACTION, "audit", None, login="system", count=len(pending),
                       events=[])
        marker = f"{FOLDED_PREFIX}{fold.id}"
        listed = []
        for ev in pending:
            ev.prev_hash = marker
            ev.hash = event_hash(ev)
            listed.append([ev.id, ev.hash[:FOLD_HASH_CHARS]])
        fold.details = {**fold.details, "events": listed}
        fold.hash = event_hash(fold)
        head.last_hash = fold.hash
        session.flush()
        done += len(pending)
        since_id = pending[-1].id
        if len(pending) < limit:
            return done


def fold_lookups(session: Session) -> int:
    """Fold every pending lookup event (a full scan: for `dms audit verify` and `dms maintain`)."""
    return _fold(session, _head(session))


def record_view(session: Session, actor: User | None, object_type: str, object_id: int,
                window: timedelta = VIEW_WINDOW, **details: Any) -> int | None:
    """A "document.view" event, unless the same user's view of the same object is already recorded within `window`
    (then None: nothing is written).

    Why per hour and not per session: the same rule then holds for the web, API tokens and the command line (which
    have no web session); a web session may last a working day, and one event for it would hide that the
    document was read again in the afternoon; an hour keeps "who read it, and roughly when" and drops the
    reloads, tab switches and the preview frame that made a page view two events. Anonymous reads (no actor)
    are always recorded."""
    if actor is not None:
        since = datetime.now(UTC) - window
        # Only the last hour's events are read, through the ts index: the coalesce() wrappers keep SQLite from
        # picking the actor_id or action index instead (a reader's whole history: 180 ms per view at 300k events,
        # 1 ms this way).
        seen = session.scalar(select(AuditEvent.id).where(
            AuditEvent.ts >= since, func.coalesce(AuditEvent.actor_id, 0) == actor.id,
            func.coalesce(AuditEvent.action, "") == "document.view",
            AuditEvent.object_type == object_type, AuditEvent.object_id == object_id).limit(1))
        if seen is not None:
            return None
    return record(session, actor, "document.view", object_type, object_id, **details)


def display_zone() -> tzinfo:
    """The time zone the trail is shown in and its days are read in: DMS_TIMEZONE (an IANA name), Europe/Moscow by
    default; an unknown name falls back to the default rather than failing every page."""
    name = os.environ.get("DMS_TIMEZONE", "").strip() or DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def local_time(ts: datetime | None, zone: tzinfo | None = None) -> datetime | None:
    """A stored moment (UTC; naive ones from SQLite are UTC too) in the display zone."""
    if ts is None:
        return None
    aware = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    return aware.astimezone(zone or display_zone())


@dataclass
class ChainProblem:
    event_id: int
    reason: str


class ChainChecker:
    """Checks events fed in id order (the database, a backup's dump): the chain of chained events, and every folded
    lookup event against the fold that lists it. `problem` holds the first problem found."""

    def __init__(self) -> None:
        self.prev = GENESIS
        self.last_id = 0
        self.pending = 0
        self.problem: ChainProblem | None = None
        self._folded: dict[int, tuple[str, str]] = {}  # folded lookup events not yet matched with their fold

    def add(self, ev: Any) -> bool:
        """False once a problem is found."""
        if self.problem is not None:
            return False
        prev = ev.prev_hash or ""
        if prev == PENDING:
            self.pending += 1
        elif prev.startswith(FOLDED_PREFIX):
            if event_hash(ev) != ev.hash:
                self.problem = ChainProblem(ev.id, "содержимое события изменено")
            else:
                self._folded[ev.id] = (prev, ev.hash)
        elif prev != self.prev:
            self.problem = ChainProblem(
                ev.id, "ссылка на предыдущее событие не совпадает (событие удалено или вставлено)")
        elif event_hash(ev) != ev.hash:
            self.problem = ChainProblem(ev.id, "содержимое события изменено")
        else:
            self.prev, self.last_id = ev.hash, ev.id
            if ev.action == FOLD_ACTION:
                self._check_fold(ev)
        return self.problem is None

    def _check_fold(self, fold: Any) -> None:
        marker = f"{FOLDED_PREFIX}{fold.id}"
        for item in (fold.details or {}).get("events") or []:
            event_id, digest = int(item[0]), str(item[1])
            seen = self._folded.pop(event_id, None)
            if seen is None:
                self.problem = ChainProblem(event_id, f"событие удалено (оно входит в свёртку {fold.id})")
                return
            if seen[0] != marker or seen[1][:FOLD_HASH_CHARS] != digest:
                self.problem = ChainProblem(event_id, "содержимое события изменено")
                return

    def finish(self, head_id: int | None, head_hash: str | None) -> ChainProblem | None:
        if self.problem is None and self._folded:
            self.problem = ChainProblem(min(self._folded), "событие не входит в свёртку, на которую ссылается "
                                                           "(вставлено)")
        if self.problem is None and head_id is not None and (head_id != self.last_id or head_hash != self.prev):
            self.problem = ChainProblem(head_id, "конец цепочки не совпадает (события удалены с конца)")
        return self.problem


def verify_chain(session: Session, batch: int = 5000) -> Iterator[ChainProblem]:
    """Walk the chain in id order; yields the first problem found (and stops). Lookup events not folded yet are
    skipped (fold_lookups first to cover them)."""
    checker = ChainChecker()
    last_id = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)).all()
        if not rows:
            break
        for ev in rows:
            if not checker.add(ev):
                assert checker.problem is not None
                yield checker.problem
                return
            last_id = ev.id
        session.expunge_all()
    head = session.get(AuditHead, 1)
    problem = checker.finish(head.last_event_id if head else None, head.last_hash if head else None)
    if problem is not None:
        yield problem


@dataclass
class AuditQuery:
    actor: str | None = None       # login
    action: str | None = None      # exact, or a prefix ending in "." (e.g. "workflow.")
    object_type: str | None = None
    object_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def require_audit_reader(actor: User | None) -> None:
    from dms.security import Forbidden, P, roles_with
    if actor is None or not (actor.global_roles & roles_with(P.VIEW_AUDIT)):
        raise Forbidden(P.VIEW_AUDIT, "к журналу аудита")


def _filtered(q: AuditQuery):  # noqa: ANN202
    stmt = select(AuditEvent)
    if q.actor:
        stmt = stmt.where(AuditEvent.actor_login == q.actor)
    if q.action:
        stmt = stmt.where(AuditEvent.action.startswith(q.action) if q.action.endswith(".")
                          else AuditEvent.action == q.action)
    if q.object_type:
        stmt = stmt.where(AuditEvent.object_type == q.object_type)
    if q.object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == q.object_id)
    if q.since:
        stmt = stmt.where(AuditEvent.ts >= q.since)
    if q.until:
        stmt = stmt.where(AuditEvent.ts < q.until)
    return stmt


def search(session: Session, actor: User, q: AuditQuery, limit: int = 100,
           offset: int = 0) -> tuple[int, list[AuditEvent]]:
    require_audit_reader(actor)
    stmt = _filtered(q)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)).all()
    return total, list(rows)


# ts is UTC (what the hash covers); ts_local the same moment in the display zone (DMS_TIMEZONE), for people.
CSV_COLUMNS = ("id", "ts", "actor_login", "action", "object_type", "object_id", "details", "hash", "ts_local")


def export_csv(session: Session, actor: User, q: AuditQuery) -> Iterator[str]:
    """CSV rows of every matching event (the export itself is an audit event)."""
    import csv
    import io
    require_audit_reader(actor)
    record(session, actor, "audit.export", "audit", None, filters={k: v for k, v in q.__dict__.items() if v})
    session.commit()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    zone = display_zone()
    last_id = 0
    while True:
        rows = session.scalars(_filtered(q).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(1000)).all()
        for ev in rows:
            local = local_time(ev.ts, zone)
            writer.writerow([ev.id, _ts_text(ev.ts), ev.actor_login, ev.action, ev.object_type, ev.object_id or "",
                             json.dumps(ev.details, ensure_ascii=False), ev.hash,
                             local.isoformat(timespec="seconds") if local else ""])
            last_id = ev.id
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
        if len(rows) < 1000:
            return


def event_json(ev: AuditEvent) -> dict:
    return {"id": ev.id, "ts": _ts_text(ev.ts) + "Z", "actor": ev.actor_login, "action": ev.action,
            "object_type": ev.object_type, "object_id": ev.object_id, "details": ev.details, "hash": ev.hash}


def parse_query(args) -> AuditQuery:  # noqa: ANN001
    """An AuditQuery from request parameters (actor, action, object_type, object_id or document, since, until).
    `since` and `until` are days of the display zone (DMS_TIMEZONE): until=2026-12-05 takes that whole day in
    Moscow, not in UTC. `document=ID` is short for object_type=document&object_id=ID."""
    zone = display_zone()

    def day(name: str, shift: int = 0) -> datetime | None:
        raw = args.get(name, "").strip()
        if not raw:
            return None
        try:
            start = datetime.fromisoformat(raw)
        except ValueError:
            raise Invalid("%(field)s: ожидается дата ГГГГ-ММ-ДД", field=name) from None
        local = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=shift)
        return local.replace(tzinfo=zone).astimezone(UTC)

    def number(name: str) -> int | None:
        raw = args.get(name, "").strip()
        if not raw:
            return None
        value = parse_id(raw)
        if value is None:
            raise Invalid("%(field)s: ожидается число", field=name)
        return value

    object_type, object_id = args.get("object_type") or None, number("object_id")
    document = number("document")
    if document is not None:
        object_type, object_id = "document", document
    return AuditQuery(actor=(args.get("actor") or "").strip() or None, action=args.get("action") or None,
                      object_type=object_type, object_id=object_id, since=day("since"), until=day("until", 1))
