"""Users, passwords (Argon2id), login with throttling, API tokens."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, UTC

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from dms.errors import N_, AuthError, DmsError, Invalid, Throttled
from dms.ratelimit import RateLimiter
from dms.models import Organisation, User, UserRole
from dms.security import GLOBAL_ROLES
from dms.audit import service as audit
from dms.people import sessions

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


# Passwords anyone tries first (the top of the public leaked-password lists, and the Russian keyboard's favourites):
# refused for new passwords, compared case-insensitively.
_COMMON = """
12345678 123456789 1234567890 0123456789 87654321 11111111 00000000 12341234 11223344 12121212 123123123 1q2w3e4r
1q2w3e4r5t 1qaz2wsx qwertyui qwertyuiop qwerty123 qwerty12 password password1 password123 passw0rd p@ssw0rd
iloveyou sunshine princess football baseball superman trustno1 letmein1 welcome1 abc12345 abcd1234 asdfghjk
asdfghjkl zxcvbnm1 zxcvbnmm qazwsxedc 1qazxsw2 aaaaaaaa q1w2e3r4 q1w2e3r4t5 administrator admin123 adminadmin
changeme changeme1 default1 master12 secret12 starwars dragon12 monkey12 michael1 computer internet
йцукенгш йцукенгшщз пароль123 пароль12 парольпароль 1234qwer qwer1234 zaq12wsx xsw21qaz 123qweasd
"""
COMMON_PASSWORDS = frozenset(_COMMON.split())


def check_password_strength(password: str, login: str = "") -> None:
    """Refuse passwords that are short, common, one repeated character, a run of digits, or the login."""
    if len(password) < MIN_PASSWORD:
        raise Invalid("пароль короче %(n)s символов", n=MIN_PASSWORD)
    lowered = password.lower()
    digits = "01234567890123456789"
    if (lowered in COMMON_PASSWORDS or len(set(lowered)) <= 2 or lowered in digits or lowered in digits[::-1]
            or (login and login.lower() in lowered)):
        raise Invalid("пароль слишком простой (распространённый, из одного символа, подряд идущие цифры или "
                      "содержит логин); выберите другой")


def hash_password(password: str, login: str = "") -> str:
    check_password_strength(password, login)
    return _hasher.hash(password)


def create_user(session: Session, login: str, password: str, roles: list[str] | tuple[str, ...] = (),
                full_name: str = "", email: str = "", organisation: Organisation | None = None,
                actor: User | None = None) -> User:
    login = login.strip()
    if not login or len(login) > 64 or not all(c.isalnum() or c in "._-@" for c in login):
        raise Invalid("логин: буквы, цифры и . _ - @, не длиннее 64 символов")
    unknown = [r for r in roles if r not in GLOBAL_ROLES]
    if unknown:
        raise Invalid("неизвестная роль: %(unknown)s; допустимые: %(known)s", unknown=", ".join(unknown),
                      known=", ".join(GLOBAL_ROLES))
    if session.scalar(select(User.id).where(User.login == login)):
        raise Invalid("пользователь «%(login)s» уже существует", login=login)
    user = User(login=login, full_name=full_name, email=email, password_hash=hash_password(password, login),
                organisation_id=organisation.id if organisation else None)
    user.roles = [UserRole(role=r) for r in dict.fromkeys(roles)]
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", "user", user.id, login=login, roles=list(roles))
    return user


def set_password(session: Session, user: User, password: str, actor: User | None = None) -> None:
    """A new password; every session and API token of the user ends with the old one."""
    user.password_hash = hash_password(password, user.login)
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, actor, "user.password", "user", user.id, login=user.login)
    sessions.end_all(session, user, actor, reason="password")


def set_active(session: Session, user: User, active: bool, actor: User | None = None) -> None:
    """Disable (every session and token ends) or enable a user."""
    user.is_active = active
    audit.record(session, actor, "user.enable" if active else "user.disable", "user", user.id, login=user.login)
    if not active:
        sessions.end_all(session, user, actor, reason="disable")


def authenticate(session: Session, login: str, password: str, source: str = "", *,
                 limiter: RateLimiter | None = None, address: str = "") -> User:
    """Check a login and password. Failures are counted per account and address and per address (with a
    `limiter`: 429 over those limits, whatever the password), and per account: the account is locked for a
    growing time after THROTTLE_AFTER failures in a row from anywhere."""
    now = datetime.now(UTC)
    pair = f"{login.strip().lower()}|{address}"
    # The attempt is counted atomically BEFORE the password is checked (and the count given back on success):
    # concurrent guesses cannot all read "4 failures so far" and then each check a password.
    taken: list[tuple[str, str, float]] = []
    if limiter is not None:
        for bucket, client in (("login_pair", pair), ("login_address", address)):
            stamp = limiter.take(bucket, client)
            if stamp is None:
                for b, c, t in taken:
                    limiter.give_back(b, c, t)
                audit.record(session, None, "login.throttled", "user", None, login=login, source=source)
                raise Throttled("слишком много неудачных попыток входа с вашего адреса; повторите позже")
            taken.append((bucket, client, stamp))
    user = session.scalars(select(User).where(User.login == login).with_for_update(of=User)).first()
    locked_until = _aware(user.locked_until) if user is not None else None
    if user is not None and locked_until is not None and locked_until > now:
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
    if not ok or user is None:
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= THROTTLE_AFTER:
                extra = user.failed_logins - THROTTLE_AFTER
                user.locked_until = now + min(LOCK_BASE * (2 ** extra), LOCK_MAX)
        audit.record(session, None, "login.failed", "user", user.id if user else None, login=login, source=source)
        raise AuthError("неверный логин или пароль")
    if limiter is not None:
        for b, c, t in taken:  # a success is not a failed attempt
            limiter.give_back(b, c, t)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(session, user, "login", "user", user.id, source=source)
    return user


def issue_token(session: Session, user: User, ttl: timedelta) -> tuple[str, datetime]:
    token, expires, _row = sessions.issue_token(session, user, ttl)
    return token, expires


def user_for_token(session: Session, token: str) -> User | None:
    row = sessions.token_row(session, token)
    return row.user if row is not None else None


def get_user(session: Session, login: str) -> User:
    user = session.scalars(select(User).where(User.login == login)).first()
    if user is None:
        raise Invalid("нет пользователя «%(login)s»", login=login)
    return user


# --- Administration (issue 15.7): what the web's user screens do, each asking for ManageUsers -------------------

# One-time passwords: no look-alike characters (0/O, 1/l/I), read aloud or copied from the screen once.
ONE_TIME_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


def one_time_password() -> str:
    """Four groups of four random characters (80 bits), e.g. "k7mq-2xpa-9fhd-w3ne"."""
    import secrets
    return "-".join("".join(secrets.choice(ONE_TIME_ALPHABET) for _ in range(4)) for _ in range(4))


class PasswordChangeRequired(DmsError):
    status = 403


def require_own_password(user: User) -> None:
    """API tokens are not given for a one-time password: it is changed in the web first."""
    if user.must_change_password:
        raise PasswordChangeRequired(N_("пароль одноразовый: сначала смените его, войдя в веб-интерфейс"))


def require_user_admin(actor: User | None) -> None:
    """None is the system (the CLI run by the operator); a person needs ManageUsers."""
    from dms.security import Forbidden, P, holds_globally
    if actor is not None and not holds_globally(actor, P.MANAGE_USERS):
        raise Forbidden(P.MANAGE_USERS, "на управление пользователями")


def create_with_one_time_password(session: Session, actor: User | None, login: str, roles: list[str] | tuple[str, ...],
                                  full_name: str = "", email: str = "",
                                  organisation: Organisation | None = None) -> tuple[User, str]:
    """A new user with a one-time password (returned once, never stored in clear) to be changed at first login."""
    require_user_admin(actor)
    password = one_time_password()
    user = create_user(session, login, password, roles, full_name=full_name.strip(), email=email.strip(),
                       organisation=organisation, actor=actor)
    user.must_change_password = True
    return user, password


def reset_password(session: Session, actor: User | None, user: User) -> str:
    """A new one-time password (the old one stops working, every session and token ends); returned once."""
    require_user_admin(actor)
    password = one_time_password()
    set_password(session, user, password, actor)
    user.must_change_password = True
    return password


def change_own_password(session: Session, user: User, current: str, new: str) -> None:
    """The user replaces their password (a one-time one included); the current one must be given."""
    ok: bool
    try:
        ok = _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        raise Invalid("текущий пароль неверен")
    if new == current:
        raise Invalid("новый пароль должен отличаться от прежнего")
    set_password(session, user, new, user)
    user.must_change_password = False


def set_global_roles(session: Session, actor: User | None, user: User, roles: list[str] | tuple[str, ...]) -> None:
    """Replace the user's global roles. An administrator cannot take ManageUsers away from themselves (nobody
    would be left to give it back)."""
    from dms.security import P, forget_roles, roles_with
    require_user_admin(actor)
    unknown = [r for r in roles if r not in GLOBAL_ROLES]
    if unknown:
        raise Invalid("неизвестная роль: %(unknown)s; допустимые: %(known)s", unknown=", ".join(unknown),
                      known=", ".join(GLOBAL_ROLES))
    wanted = list(dict.fromkeys(roles))
    if actor is not None and actor.id == user.id and not set(wanted) & roles_with(P.MANAGE_USERS):
        raise Invalid("нельзя снять с себя право управлять пользователями")
    before = set(user.global_roles)
    if before == set(wanted):
        return
    user.roles = [r for r in user.roles if r.role in wanted] + [UserRole(role=r) for r in wanted if r not in before]
    session.flush()
    forget_roles(session)
    audit.record(session, actor, "user.roles", "user", user.id, login=user.login,
                 added=sorted(set(wanted) - before), removed=sorted(before - set(wanted)))


def update_details(session: Session, actor: User | None, user: User, full_name: str, email: str,
                   organisation: Organisation | None) -> None:
    require_user_admin(actor)
    changes: dict[str, list] = {}
    org_id = organisation.id if organisation else None
    for field, value in (("full_name", full_name.strip()[:300]), ("email", email.strip()[:300]),
                         ("organisation_id", org_id)):
        if getattr(user, field) != value:
            changes[field] = [getattr(user, field), value]
            setattr(user, field, value)
    if changes:
        audit.record(session, actor, "user.update", "user", user.id, login=user.login, changes=changes)


def unlock_login(session: Session, actor: User | None, user: User) -> None:
    """Lift the account's lock after failed logins (the password stays)."""
    require_user_admin(actor)
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, actor, "user.unlock", "user", user.id, login=user.login)


def is_locked(user: User, now: datetime | None = None) -> bool:
    until = _aware(user.locked_until)
    return until is not None and until > (now or datetime.now(UTC))


def set_active_by(session: Session, actor: User | None, user: User, active: bool) -> None:
    """Disable or enable as an administrator; nobody disables themselves."""
    require_user_admin(actor)
    if not active and actor is not None and actor.id == user.id:
        raise Invalid("нельзя отключить самого себя")
    if user.is_active != active:
        set_active(session, user, active, actor)


def end_sessions_by(session: Session, actor: User | None, user: User) -> dict:
    require_user_admin(actor)
    return sessions.end_all(session, user, actor, reason="admin")


def list_users(session: Session, query: str = "") -> list[User]:
    """Users by login; with `query`, those whose login, name or e-mail contains it (compared in Python: SQLite's
    lower() folds only ASCII, names are Cyrillic)."""
    everyone = list(session.scalars(select(User).order_by(User.login)).all())
    q = query.strip().casefold()
    return [u for u in everyone if not q or q in u.login.casefold() or q in (u.full_name or "").casefold()
            or q in (u.email or "").casefold()]


def user_json(user: User, groups: list[str] | None = None) -> dict:
    """A user as `dms user list --json` prints it (ids as numbers)."""
    last = _aware(user.last_login_at)
    return {"id": user.id, "login": user.login, "full_name": user.full_name, "email": user.email,
            "roles": sorted(user.global_roles), "groups": groups or [], "active": bool(user.is_active),
            "locked": is_locked(user), "must_change_password": bool(user.must_change_password),
            "organisation_id": user.organisation_id, "last_login_at": last.isoformat() if last else None}
