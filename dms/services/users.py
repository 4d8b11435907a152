"""Users, passwords (Argon2id), login with throttling, API tokens."""
from __future__ import annotations

import hashlib
import os
import secrets
from datetime import datetime, timedelta, UTC

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import AuthError, Invalid, Throttled
from ..ratelimit import RateLimiter
from ..models import ApiToken, Organisation, User, UserRole
from ..security import GLOBAL_ROLES
from . import audit

def _password_hasher() -> PasswordHasher:
    """Argon2id with the library's RFC 9106 defaults; DMS_ARGON2_PROFILE=CHEAPEST exists only for test suites,
    where hundreds of users are created (each default hash costs ~0.3 s here)."""
    profile = os.environ.get("DMS_ARGON2_PROFILE")
    return PasswordHasher.from_parameters(getattr(profiles, profile)) if profile else PasswordHasher()


_hasher = _password_hasher()
# Failed logins (from any address) before the account itself is locked, and for how long (doubling with every
# further failure). Guessing from one address is stopped much earlier, without locking the account's owner out:
# the "login_pair" and "login_address" limits of dms.ratelimit.LIMITS.
THROTTLE_AFTER = 20
LOCK_BASE = timedelta(seconds=30)
LOCK_MAX = timedelta(minutes=30)
MIN_PASSWORD = 8


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise Invalid("пароль короче %(n)s символов", n=MIN_PASSWORD)
    return _hasher.hash(password)


def create_user(session: Session, login: str, password: str, roles: list[str] | tuple[str, ...] = (),
                full_name: str = "", email: str = "", organisation: Organisation | None = None) -> User:
    login = login.strip()
    if not login or len(login) > 64 or not all(c.isalnum() or c in "._-@" for c in login):
        raise Invalid("логин: буквы, цифры и . _ - @, не длиннее 64 символов")
    unknown = [r for r in roles if r not in GLOBAL_ROLES]
    if unknown:
        raise Invalid("неизвестная роль: %(unknown)s; допустимые: %(known)s", unknown=", ".join(unknown),
                      known=", ".join(GLOBAL_ROLES))
    if session.scalar(select(User.id).where(User.login == login)):
        raise Invalid("пользователь «%(login)s» уже существует", login=login)
    user = User(login=login, full_name=full_name, email=email, password_hash=hash_password(password),
                organisation_id=organisation.id if organisation else None)
    user.roles = [UserRole(role=r) for r in dict.fromkeys(roles)]
    session.add(user)
    session.flush()
    audit.record(session, None, "user.create", "user", user.id, login=login, roles=list(roles))
    return user


def set_password(session: Session, user: User, password: str, actor: User | None = None) -> None:
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, actor, "user.password", "user", user.id, login=user.login)


def authenticate(session: Session, login: str, password: str, source: str = "", *,
                 limiter: RateLimiter | None = None, address: str = "") -> User:
    """Check a login and password. Failures are counted per account and address and per address (with a
    `limiter`: 429 over those limits, whatever the password), and per account: the account is locked for a
    growing time after THROTTLE_AFTER failures in a row from anywhere."""
    now = datetime.now(UTC)
    pair = f"{login.strip().lower()}|{address}"
    if limiter is not None and not (limiter.within("login_pair", pair) and limiter.within("login_address", address)):
        audit.record(session, None, "login.throttled", "user", None, login=login, source=source)
        raise Throttled("слишком много неудачных попыток входа с вашего адреса; повторите позже")
    user = session.scalars(select(User).where(User.login == login).with_for_update(of=User)).first()
    if user is not None and user.locked_until is not None and _aware(user.locked_until) > now:
        audit.record(session, None, "login.throttled", "user", user.id, login=login, source=source)
        raise Throttled("слишком много неудачных попыток входа; повторите позже")
    ok = False
    if user is not None and user.is_active:
        try:
            ok = _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        _hasher.hash(password or "x")  # the same work for an unknown login: no timing oracle
    if not ok:
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= THROTTLE_AFTER:
                extra = user.failed_logins - THROTTLE_AFTER
                user.locked_until = now + min(LOCK_BASE * (2 ** extra), LOCK_MAX)
        if limiter is not None:
            limiter.allow("login_pair", pair)
            limiter.allow("login_address", address)
        audit.record(session, None, "login.failed", "user", user.id if user else None, login=login, source=source)
        raise AuthError("неверный логин или пароль")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(session, user, "login", "user", user.id, source=source)
    return user


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, ttl: timedelta) -> tuple[str, datetime]:
    token = "pch_" + secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + ttl
    session.add(ApiToken(user_id=user.id, token_hash=_token_digest(token), expires_at=expires))
    audit.record(session, user, "token.issue", "user", user.id)
    return token, expires


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == _token_digest(token))).first()
    if row is None or row.revoked or _aware(row.expires_at) <= datetime.now(UTC):
        return None
    return row.user if row.user.is_active else None


def get_user(session: Session, login: str) -> User:
    user = session.scalars(select(User).where(User.login == login)).first()
    if user is None:
        raise Invalid("нет пользователя «%(login)s»", login=login)
    return user
