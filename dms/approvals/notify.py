"""Notifications: in-app (the bell) and e-mail through SMTP.

`notify()` writes a notice in the caller's transaction, unique per event and person (`dedupe_key`), so a retried
request or a rerun reminder never notifies twice. E-mails are sent after commit by `send_pending()` — from the
request's end, `dms notify send`, the daily maintenance, or the sender thread of `dms serve` — and marked sent only
once the server accepted them: a mail server that is down leaves them pending, retried on the next run, never lost.
Each e-mail is in the recipient's language and carries only the document's type, number and title and the event —
never anyone's personal data (SNILS, birth dates).

`DMS_SMTP_URL`: smtp://[user:password@]host[:port][?starttls=1] or smtps://…; `DMS_SMTP_FROM` the sender; none
configured → in-app only.
"""
from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dms.models import Document, User
from dms.approvals.models import Notification, NotificationSettings
from dms.approvals.rules import DEFAULT_CHANNEL, Channel, Kind, kind_label

log = logging.getLogger("dms.notify")
CLAIM_TIMEOUT = timedelta(minutes=10)
MAX_ATTEMPTS = 50  # about two days of retries at the sender's pace before a notice is marked failed


def settings_of(session: Session, user: User) -> NotificationSettings:
    row = session.get(NotificationSettings, user.id)
    if row is None:
        row = NotificationSettings(user_id=user.id, language="ru", channels={})
        session.add(row)
        session.flush()
    return row


def channel(session: Session, user: User, kind: str) -> Channel:
    row = session.get(NotificationSettings, user.id)
    value = (row.channels or {}).get(kind) if row else None
    try:
        return Channel(value) if value else DEFAULT_CHANNEL
    except ValueError:
        return DEFAULT_CHANNEL


def set_preferences(session: Session, user: User, channels: dict[str, str] | None = None,
                    language: str | None = None) -> NotificationSettings:
    row = settings_of(session, user)
    if channels:
        clean = dict(row.channels or {})
        for kind, value in channels.items():
            Kind(kind)
            clean[kind] = str(Channel(value))
        row.channels = clean
    if language is not None:
        if language not in ("ru", "en"):
            raise ValueError(language)
        row.language = language
    session.flush()
    return row


def notify(session: Session, user: User, kind: Kind, doc: Document | None, event_key: str,
           **payload: Any) -> Notification | None:
    """One notice of one event to one person (None if they turned this kind off or already have it)."""
    chosen = channel(session, user, kind)
    if chosen is Channel.OFF or not user.is_active:
        return None
    key = f"{kind}:{event_key}:{user.id}"[:200]
    if session.scalars(select(Notification.id).where(Notification.dedupe_key == key)).first() is not None:
        return None
    email = "none"
    if user.email:
        email = "pending" if chosen is Channel.EMAIL else "digest" if chosen is Channel.DIGEST else "none"
    note = Notification(user_id=user.id, kind=str(kind), document_id=doc.id if doc else None,
                        payload=_safe(payload), dedupe_key=key, email_state=email, created_at=datetime.now(UTC))
    try:
        with session.begin_nested():
            session.add(note)
    except IntegrityError:  # the same notice written by a concurrent request
        return None
    return note


def _safe(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, (str, int, float, bool)) or v is None else str(v)) for k, v in payload.items()}


def unread_count(session: Session, user: User) -> int:
    from sqlalchemy import func
    return session.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


def list_for(session: Session, user: User, limit: int = 50, unread_only: bool = False) -> list[Notification]:
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return list(session.scalars(stmt.order_by(Notification.id.desc()).limit(limit)))


def mark_read(session: Session, user: User, ids: list[int] | None = None) -> int:
    stmt = select(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    notes = list(session.scalars(stmt))
    for n in notes:
        n.read_at = datetime.now(UTC)
    session.flush()
    return len(notes)


# --- texts -----------------------------------------------------------------------------------------------------------

TYPE_NAMES = {"order": ("приказ", "order"), "agreement": ("соглашение", "agreement"), "report": ("отчёт", "report"),
              "certificate": ("свидетельство", "certificate"), "other": ("документ", "document")}


def describe_document(doc: Document | None, language: str) -> str:
    if doc is None:
        return ""
    ru, en = TYPE_NAMES.get(doc.doc_type, ("документ", "document"))
    kind = en if language == "en" else ru
    number = f" № {doc.reg_number}" if doc.reg_number else ""
    return f"{kind}{number} «{doc.title}»"


def text_of(note: Notification, doc: Document | None, language: str) -> tuple[str, str]:
    """(subject, body) of a notice in `language`."""
    p = note.payload or {}
    title = kind_label(note.kind, language)
    what = describe_document(doc, language)
    en = language == "en"
    lines = [f"{title}: {what}" if what else title]
    if p.get("stage"):
        lines.append(("Stage: " if en else "Этап: ") + str(p["stage"]))
    if p.get("due"):
        lines.append(("Due: " if en else "Срок: ") + _moment(str(p["due"]), language))
    if p.get("on_behalf"):
        lines.append(("As deputy for: " if en else "Вы заместитель: за ") + str(p["on_behalf"]))
    if p.get("by"):
        lines.append(("By: " if en else "Кто: ") + str(p["by"]))
    if p.get("reason"):
        lines.append(("Reason: " if en else "Причина: ") + str(p["reason"]))
    if p.get("excerpt"):
        lines.append(("Message: " if en else "Сообщение: ") + str(p["excerpt"]))
    if p.get("text"):
        lines.append(str(p["text"]))
    brand = "[Pechat]" if en else "[Печать]"
    return f"{brand} {title}" + (f": {what}" if what else ""), "\n".join(lines)


def _moment(iso: str, language: str) -> str:
    from dms.approvals.calendar import MOSCOW
    try:
        value = datetime.fromisoformat(iso).astimezone(MOSCOW)
    except ValueError:
        return iso
    return value.strftime("%d %b %Y %H:%M (MSK)") if language == "en" else value.strftime("%d.%m.%Y %H:%M (МСК)")


# --- e-mail ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    user: str = ""
    password: str = ""
    tls: str = ""  # "", "starttls" or "ssl"
    sender: str = "pechat@localhost"
    timeout: float = 10.0

    @classmethod
    def from_url(cls, url: str, sender: str = "") -> SmtpConfig | None:
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("DMS_SMTP_URL: smtp://host:port or smtps://host:port")
        query = parse_qs(parts.query)
        tls = "ssl" if parts.scheme == "smtps" else ("starttls" if query.get("starttls", ["0"])[0] in ("1", "true")
                                                   else "")
        return cls(parts.hostname or "localhost", parts.port or (465 if tls == "ssl" else 25),
                   unquote(parts.username or ""), unquote(parts.password or ""), tls,
                   sender or query.get("from", ["pechat@localhost"])[0])


def _connect(cfg: SmtpConfig) -> smtplib.SMTP:
    if cfg.tls == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout,
                                               context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        if cfg.tls == "starttls":
            client.starttls(context=ssl.create_default_context())
    if cfg.user:
        client.login(cfg.user, cfg.password)
    return client


def _message(cfg: SmtpConfig, user: User, note: Notification, doc: Document | None, language: str,
             base_url: str) -> EmailMessage:
    subject, body = text_of(note, doc, language)
    if doc is not None:
        body += "\n\n" + f"{base_url.rstrip('/')}/documents/{doc.id}"
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = cfg.sender
    msg["To"] = user.email
    # One notice, one Message-ID derived from its unique key: a receiver can drop a duplicate should one ever pass.
    msg["Message-ID"] = make_msgid(idstring=f"n{note.id}", domain="pechat.local")
    msg["X-Pechat-Notification"] = note.dedupe_key
    msg.set_content(body)
    return msg


def send_pending(db: Any, cfg: SmtpConfig | None, base_url: str = "", limit: int = 200) -> dict[str, int]:
    """Send the pending e-mails. Each is claimed first (pending → sending, one conditional UPDATE, so two senders
    never take the same one), then sent, then marked sent. A server that refuses or is unreachable stops the run:
    the rest stay pending for the next. A claim older than CLAIM_TIMEOUT (a sender that died mid-way) is pending
    again."""
    counts = {"sent": 0, "failed": 0, "pending": 0}
    if cfg is None:
        return counts
    with db.session() as s:
        stale = datetime.now(UTC) - CLAIM_TIMEOUT
        s.execute(update(Notification).where(Notification.email_state == "sending",
                                             Notification.email_claimed_at < stale)
                  .values(email_state="pending"))
        ids = list(s.scalars(select(Notification.id).where(Notification.email_state == "pending")
                             .order_by(Notification.id).limit(limit)))
    if not ids:
        return counts
    try:
        client = _connect(cfg)
    except (OSError, smtplib.SMTPException) as exc:
        _note_failure(db, ids[0], exc)
        counts["pending"] = len(ids)
        return counts
    try:
        for note_id in ids:
            with db.session() as s:
                claimed = s.execute(update(Notification).where(Notification.id == note_id,
                                                               Notification.email_state == "pending")
                                    .values(email_state="sending", email_claimed_at=datetime.now(UTC)))
                if claimed.rowcount != 1:
                    continue
                note = s.get_one(Notification, note_id)
                user = s.get_one(User, note.user_id)
                doc = s.get(Document, note.document_id) if note.document_id else None
                prefs = s.get(NotificationSettings, user.id)
                msg = _message(cfg, user, note, doc, prefs.language if prefs is not None else "ru", base_url)
            with db.session() as s:
                note = s.get_one(Notification, note_id)
                try:
                    client.send_message(msg)
                except smtplib.SMTPRecipientsRefused as exc:  # this address will never work: do not retry it
                    note.email_state, note.email_error = "failed", str(exc)[:500]
                    counts["failed"] += 1
                    continue
                except (OSError, smtplib.SMTPException):
                    note.email_state = "pending"  # not accepted: the next run sends it
                    raise
                note.email_state, note.email_sent_at = "sent", datetime.now(UTC)
                counts["sent"] += 1
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail server failed while sending: %s (the rest stay pending)", exc)
        counts["pending"] = len(ids) - counts["sent"] - counts["failed"]
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            client.quit()
    return counts


def send_digests(db: Any, cfg: SmtpConfig | None, base_url: str = "") -> dict[str, int]:
    """Once a day: one e-mail per user with every notice they chose to get as a digest since the last one."""
    counts = {"users": 0, "notices": 0}
    if cfg is None:
        return counts
    with db.session() as s:
        user_ids = sorted(set(s.scalars(select(Notification.user_id).where(Notification.email_state == "digest"))))
    if not user_ids:
        return counts
    try:
        client = _connect(cfg)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail server unreachable: %s (digests wait for the next run)", exc)
        return counts
    try:
        for user_id in user_ids:
            with db.session() as s:
                user = s.get_one(User, user_id)
                notes = list(s.scalars(select(Notification).where(Notification.user_id == user_id,
                                                                  Notification.email_state == "digest")
                                       .order_by(Notification.id)))
                prefs = s.get(NotificationSettings, user_id)
                language = prefs.language if prefs is not None else "ru"
                docs = {n.document_id: s.get(Document, n.document_id) for n in notes if n.document_id}
                msg = EmailMessage()
                msg["Subject"] = ("[Pechat] Daily digest: " if language == "en" else "[Печать] Сводка за день: ") + \
                    str(len(notes))
                msg["From"], msg["To"] = cfg.sender, user.email
                msg["Message-ID"] = make_msgid(idstring=f"digest{user_id}-{notes[-1].id}", domain="pechat.local")
                msg.set_content("\n\n".join(text_of(n, docs.get(n.document_id) if n.document_id else None,
                                                     language)[1] for n in notes))
                client.send_message(msg)
                for n in notes:
                    n.email_state, n.email_sent_at = "sent", datetime.now(UTC)
                if prefs is not None:
                    prefs.last_digest_at = datetime.now(UTC)
                counts["users"] += 1
                counts["notices"] += len(notes)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail server failed while sending digests: %s", exc)
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            client.quit()
    return counts


def _note_failure(db: Any, note_id: int, exc: Exception) -> None:
    log.warning("mail server unreachable: %s (e-mails stay pending)", exc)
    with db.session() as s:
        note = s.get(Notification, note_id)
        if note is not None:
            note.email_attempts += 1
            note.email_error = str(exc)[:500]
            if note.email_attempts >= MAX_ATTEMPTS:
                note.email_state = "failed"


def send_in_background(rt: Any) -> None:
    """After a request's commit: send its e-mails in a thread, so a slow mail server never delays the answer (what
    is not sent stays pending for `dms notify send` / the next request)."""
    cfg = config_from_env()
    if cfg is None:
        return

    def run() -> None:
        with _SENDING:
            try:
                send_pending(rt.db, cfg, rt.settings.base_url, limit=50)
            except Exception:  # the mail stays pending; the next run retries it
                log.exception("sending notifications failed")

    threading.Thread(target=run, name="dms-notify", daemon=True).start()


_SENDING = threading.Lock()  # one sender thread per process at a time


def config_from_env(environ: dict[str, str] | None = None) -> SmtpConfig | None:
    import os
    env = environ if environ is not None else os.environ
    return SmtpConfig.from_url(env.get("DMS_SMTP_URL", ""), env.get("DMS_SMTP_FROM", ""))
