"""The audit trail: append-only events, each carrying the hash of the previous one."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo, UTC
from typing import Any
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import Invalid
from ..idrange import parse_id
from ..models import AuditEvent, AuditHead, User

GENESIS = "0" * 64
# Reading a document is recorded once per user, document and VIEW_WINDOW (see record_view).
VIEW_WINDOW = timedelta(hours=1)
DEFAULT_TIMEZONE = "Europe/Moscow"


def _ts_text(ts: datetime) -> str:
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.isoformat(timespec="microseconds")


def event_hash(ev: AuditEvent) -> str:
    body = {
        "id": ev.id, "ts": _ts_text(ev.ts), "actor_id": ev.actor_id, "actor_login": ev.actor_login,
        "action": ev.action, "object_type": ev.object_type, "object_id": ev.object_id,
        "details": ev.details, "prev": ev.prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _head(session: Session) -> AuditHead:
    head = session.scalars(select(AuditHead).where(AuditHead.id == 1).with_for_update()).first()
    if head is None:
        head = AuditHead(id=1, last_event_id=0, last_hash=GENESIS)
        session.add(head)
        session.flush()
    return head


def record(session: Session, actor: User | None, action: str, object_type: str = "",
           object_id: int | None = None, **details: Any) -> AuditEvent:
    """Append one event in the caller's transaction (it commits or rolls back with the change it records)."""
    head = _head(session)
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


def record_view(session: Session, actor: User | None, object_type: str, object_id: int,
                window: timedelta = VIEW_WINDOW, **details: Any) -> AuditEvent | None:
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


def verify_chain(session: Session, batch: int = 5000) -> Iterator[ChainProblem]:
    """Walk the chain in id order; yields the first problem found (and stops)."""
    prev = GENESIS
    last_id = 0
    count = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)).all()
        if not rows:
            break
        for ev in rows:
            if ev.prev_hash != prev:
                yield ChainProblem(ev.id, "ссылка на предыдущее событие не совпадает (событие удалено или вставлено)")
                return
            if event_hash(ev) != ev.hash:
                yield ChainProblem(ev.id, "содержимое события изменено")
                return
            prev = ev.hash
            last_id = ev.id
            count += 1
        session.expunge_all()
    head = session.get(AuditHead, 1)
    if head is not None and (head.last_event_id != last_id or head.last_hash != prev):
        yield ChainProblem(head.last_event_id, "конец цепочки не совпадает (события удалены с конца)")


@dataclass
class AuditQuery:
    actor: str | None = None       # login
    action: str | None = None      # exact, or a prefix ending in "." (e.g. "workflow.")
    object_type: str | None = None
    object_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def require_audit_reader(actor: User | None) -> None:
    from ..security import Forbidden, P, roles_with
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
