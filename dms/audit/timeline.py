"""One history of a document, newest first: versions, workflow transitions, signatures, and from the audit
trail the creation, edits, views and downloads."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, UTC

from sqlalchemy import select
from sqlalchemy.orm import Session

from dms.errors import N_, localize
from dms.models import AuditEvent, Document, Signature, User, Version, WorkflowHistory
from dms.security import P, has_permission, roles_with
from dms.workflow.rules import state_title, workflow_for

AUDIT_LIMIT = 300
# Audit actions shown in the timeline -> (kind, title: a msgid, read in the request's language). Uploads and
# transitions come from their own tables (they carry more), so the audit trail adds only what no table keeps.
AUDIT_ACTIONS = {
    "document.create": ("create", N_("Документ создан")),
    "document.update": ("edit", N_("Изменены свойства")),
    "document.view": ("view", N_("Просмотр")),
    "version.download": ("download", N_("Скачивание")),
    "certificate.revoke": ("transition", N_("Свидетельство аннулировано")),
    "certificate.expire": ("transition", N_("Срок свидетельства истёк")),
}
CHANNELS = {"web": N_("веб-интерфейс"), "web-preview": N_("просмотр в браузере"), "web-zip": N_("ZIP-архив"),
            "api": "API", "cli": N_("командная строка")}
CHANGED = {"title": N_("название"), "meta": N_("метаданные")}
# Whose reading of a document a user may see: their own always; everyone's with these.
READERS_VISIBLE_TO = roles_with(P.VIEW_AUDIT)


@dataclass
class Event:
    ts: datetime
    kind: str        # create | version | transition | signature | edit | view | download
    title: str
    who: str
    detail: str = ""


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _name(user: User | None, login: str = "") -> str:
    return (user.full_name or user.login) if user else (login or localize("система"))


def _channel(code: str) -> str:
    return localize(CHANNELS[code]) if code in CHANNELS else str(code)


def _audit_detail(ev: AuditEvent) -> str:
    d = ev.details or {}
    if ev.action == "version.download":
        return localize("версия %(n)s", {"n": d.get("version", "?")}) + (
            f", {_channel(d['channel'])}" if d.get("channel") else "")
    if ev.action == "document.update":
        return localize("изменены: %(what)s", {"what": ", ".join(localize(CHANGED[k]) if k in CHANGED else k
                                                                 for k in (d.get("changes") or {}))})
    if ev.action == "document.view" and d.get("channel"):
        return _channel(d["channel"])
    return str(d.get("reason", "")) if isinstance(d, dict) else ""


def timeline(session: Session, actor: User, doc: Document) -> list[Event]:
    wf = workflow_for(doc.doc_type)
    events: list[Event] = []
    for v in session.scalars(select(Version).where(Version.document_id == doc.id)):
        events.append(Event(v.created_at, "version", localize("Загружена версия %(n)s", {"n": v.number}),
                            _name(v.created_by),
                            f"{v.filename}" + (f" — {v.comment}" if v.comment else "")))
    for h in session.scalars(select(WorkflowHistory).where(WorkflowHistory.document_id == doc.id)):
        t = wf.transitions.get(h.transition)
        detail = f"{state_title(doc.doc_type, h.from_state)} → {state_title(doc.doc_type, h.to_state)}"
        events.append(Event(h.ts, "transition", t.title if t else h.transition, _name(h.actor),
                            detail + (f"; {h.comment}" if h.comment else "")))
    for s in session.scalars(select(Signature).where(Signature.document_id == doc.id)):
        kind = "PAdES" if s.kind == "pades" else "CMS (.p7s)"
        events.append(Event(s.signed_at, "signature", localize("Подпись"), _name(s.signer),
                            localize("%(kind)s, уровень %(level)s, версия %(n)s",
                                     {"kind": kind, "level": s.level, "n": s.version.number})))
    sees_all = bool(actor.global_roles & READERS_VISIBLE_TO) or has_permission(session, actor, P.EDIT, doc)
    stmt = (select(AuditEvent).where(AuditEvent.object_type == "document", AuditEvent.object_id == doc.id,
                                     AuditEvent.action.in_(AUDIT_ACTIONS))
            .order_by(AuditEvent.id.desc()).limit(AUDIT_LIMIT))
    audit_events = list(session.scalars(stmt))
    actor_ids = {ev.actor_id for ev in audit_events if ev.actor_id is not None}
    people = {u.id: u for u in session.scalars(select(User).where(User.id.in_(actor_ids)))} if actor_ids else {}
    for ev in audit_events:
        kind, title = AUDIT_ACTIONS[ev.action]
        if kind in ("view", "download") and not sees_all and ev.actor_id != actor.id:
            continue
        who = people.get(ev.actor_id) if ev.actor_id is not None else None
        events.append(Event(ev.ts, kind, localize(title), _name(who, ev.actor_login),
                            _audit_detail(ev)))
    events.sort(key=lambda e: _aware(e.ts), reverse=True)
    return events
