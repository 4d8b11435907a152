"""The audit trail: append-only events, each carrying the hash of the previous one."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import AuditEvent, AuditHead, User

GENESIS = "0" * 64


def _ts_text(ts: datetime) -> str:
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
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
        ts=datetime.now(timezone.utc), actor_id=actor.id if actor else None,
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
