"""Web sessions and API tokens that end when their reason ends (issue 16).

A web login is a row of `user_sessions`; the cookie carries its random id (only the SHA-256 is stored) and every
request checks it: logout ends that row, idle ones lapse after DMS_SESSION_IDLE_MINUTES, and a password change, a
disable or an administrator's "end all sessions" end every row and revoke every API token of the user.
API tokens live DMS_TOKEN_TTL_HOURS; a user lists and revokes their own.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dms.errors import NotFound
from dms.models import ApiToken, User, UserSession
from dms.audit import service as audit

# Writing "last seen" on every request would make every page view a write; once a minute is precise enough for
# an idle limit counted in tens of minutes.
TOUCH_EVERY = timedelta(seconds=60)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- web sessions --------------------------------------------------------------------------------------------------

def start(session: Session, user: User, source: str = "") -> str:
    """A new server-side session for `user`; returns the id to keep in the (signed) cookie."""
    sid = secrets.token_urlsafe(32)
    now = _now()
    session.add(UserSession(user_id=user.id, sid_hash=_digest(sid), source=source[:200], created_at=now,
                            last_seen_at=now))
    session.flush()
    return sid


def resume(session: Session, user_id: int, sid: str | None, idle: timedelta, max_age: timedelta) -> User | None:
    """The user of a live session: the row exists, belongs to `user_id`, was not ended, was seen within `idle` and
    began within `max_age`; the user is active. Otherwise None (and an idle or too old row is ended)."""
    if not sid:
        return None
    row = session.scalars(select(UserSession).where(UserSession.sid_hash == _digest(sid))).first()
    if row is None or row.user_id != user_id or row.ended_at is not None:
        return None
    now = _now()
    last_seen, created = _aware(row.last_seen_at), _aware(row.created_at)
    assert last_seen is not None and created is not None
    if now - last_seen > idle or now - created > max_age:
        row.ended_at = now
        return None
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    if now - last_seen >= TOUCH_EVERY:
        row.last_seen_at = now
    return user


def end(session: Session, sid: str | None) -> bool:
    """Logout: the session ends server-side (a copy of the cookie no longer works)."""
    if not sid:
        return False
    row = session.scalars(select(UserSession).where(UserSession.sid_hash == _digest(sid))).first()
    if row is None or row.ended_at is not None:
        return False
    row.ended_at = _now()
    audit.record(session, session.get(User, row.user_id), "logout", "user", row.user_id)
    return True


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def end_all(session: Session, user: User, actor: User | None = None, reason: str = "admin") -> dict:
    """End every web session and revoke every API token of `user` (a password change, a disable, an
    administrator's order). Returns the counts; audited as `user.sessions_end`."""
    now = _now()
    ended = _rowcount(session.execute(
        update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=now).execution_options(synchronize_session=False)))
    revoked = _rowcount(session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
        .values(revoked=True).execution_options(synchronize_session=False)))
    audit.record(session, actor, "user.sessions_end", "user", user.id, login=user.login, reason=reason,
                 sessions=ended, tokens=revoked)
    return {"login": user.login, "sessions": ended, "tokens": revoked}


def live_sessions(session: Session, user: User, idle: timedelta) -> list[UserSession]:
    since = _now() - idle
    return list(session.scalars(select(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None), UserSession.last_seen_at > since)
        .order_by(UserSession.id)).all())


# --- API tokens ----------------------------------------------------------------------------------------------------

def issue_token(session: Session, user: User, ttl: timedelta) -> tuple[str, datetime, ApiToken]:
    token = "pch_" + secrets.token_urlsafe(32)
    expires = _now() + ttl
    row = ApiToken(user_id=user.id, token_hash=_digest(token), expires_at=expires)
    session.add(row)
    session.flush()
    audit.record(session, user, "token.issue", "user", user.id, token_id=row.id)
    return token, expires, row


def token_row(session: Session, token: str) -> ApiToken | None:
    """The live token row for a bearer token: not revoked, not expired, of an active user."""
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(token))).first()
    now = _now()
    expires = _aware(row.expires_at) if row is not None else None
    if row is None or row.revoked or expires is None or expires <= now or not row.user.is_active:
        return None
    last = _aware(row.last_used_at)
    if last is None or now - last >= TOUCH_EVERY:
        row.last_used_at = now
    return row


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens that still work, newest first."""
    now = _now()
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
                           .order_by(ApiToken.id.desc())).all()
    return [r for r in rows if (_aware(r.expires_at) or now) > now]


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens (another user's token is "not found")."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id or row.revoked:
        raise NotFound("токен не найден")
    row.revoked = True
    audit.record(session, user, "token.revoke", "user", user.id, token_id=row.id)
    return row


def token_json(row: ApiToken, current_id: int | None = None) -> dict:
    created, expires, used = _aware(row.created_at), _aware(row.expires_at), _aware(row.last_used_at)
    return {"id": row.id, "created_at": created.isoformat() if created else None,
            "expires_at": expires.isoformat() if expires else None,
            "last_used_at": used.isoformat() if used else None, "current": row.id == current_id}
