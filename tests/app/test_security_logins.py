"""Issue 16, items 6 and 7: trusted proxies, concurrent wrong logins, weak passwords."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from dms.app import create_app
from dms.errors import AuthError, Invalid, Throttled
from dms.models import AuditEvent
from dms.ratelimit import LIMITS, RateLimiter
from dms.runtime import Runtime
from dms.people import users

from .conftest import PASSWORD


def test_forty_concurrent_wrong_logins_check_at_most_five_passwords(rt, world, tmp_path, monkeypatch):  # noqa: ANN001
    world.user("clerk", "Clerk")
    limiter = RateLimiter(tmp_path / "limits.sqlite3")
    checked = []
    real = users._hasher

    class Counting:
        def verify(self, hashed: str, password: str) -> bool:
            checked.append(password)
            return real.verify(hashed, password)

        def __getattr__(self, name: str):  # noqa: ANN204
            return getattr(real, name)

    monkeypatch.setattr(users, "_hasher", Counting())
    start = threading.Barrier(40)
    outcomes: list[str] = []

    def guess(i: int) -> None:
        start.wait()
        with rt.db.sessionmaker() as s:
            try:
                users.authenticate(s, "clerk", f"guess-{i}", limiter=limiter, address="203.0.113.7")
            except (AuthError, Throttled) as exc:
                outcomes.append(type(exc).__name__)
            s.commit()

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 40
    assert len(checked) <= LIMITS["login_pair"].per_window == 5
    assert outcomes.count("Throttled") >= 35


def test_a_successful_login_does_not_use_up_the_attempts(rt, world, tmp_path):  # noqa: ANN001
    world.user("clerk", "Clerk")
    limiter = RateLimiter(tmp_path / "limits.sqlite3")
    with rt.db.session() as s:
        for _ in range(10):
            users.authenticate(s, "clerk", PASSWORD, limiter=limiter, address="203.0.113.7")


@pytest.mark.parametrize("password", ["12345678", "password", "Password", "short", "qwertyuiop", "aaaaaaaaaaaa",
                                      "87654321", "clerk2026clerk"])
def test_weak_passwords_are_refused(rt, password):  # noqa: ANN001
    with rt.db.session() as s, pytest.raises(Invalid):
        users.create_user(s, "clerk2026", password, ["Clerk"])


def test_weak_password_refused_on_change_too(rt, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    with rt.db.session() as s, pytest.raises(Invalid):
        users.set_password(s, users.get_user(s, "clerk"), "12345678")


def _source_of_failed_login(app, rt) -> str:  # noqa: ANN001
    client = app.test_client()
    r = client.post("/api/v1/tokens", json={"login": "nobody", "password": "wrong-password"},
                    headers={"X-Forwarded-For": "198.51.100.9"})
    assert r.status_code == 401
    with rt.db.session() as s:
        return s.scalars(select(AuditEvent.details).where(AuditEvent.action == "login.failed")
                         .order_by(AuditEvent.id.desc())).first()["source"]


def test_without_trusted_proxies_a_forwarded_for_header_is_ignored(app, rt):  # noqa: ANN001
    assert _source_of_failed_login(app, rt) == "api:127.0.0.1"


def test_with_one_trusted_proxy_the_client_is_the_forwarded_address(settings):  # noqa: ANN001
    from dataclasses import replace
    from dms.operations import setup
    runtime = Runtime(replace(settings, trusted_proxies=1))
    setup.initialise(runtime)
    try:
        assert _source_of_failed_login(create_app(runtime=runtime), runtime) == "api:198.51.100.9"
    finally:
        runtime.close()


def test_trusted_proxies_setting_takes_a_count_or_a_list():
    from dms.config import Settings
    base = {"DMS_DATA_DIR": "/tmp/x", "DMS_SECRET_KEY": "k"}
    assert Settings.from_env(base).trusted_proxies == 0
    assert Settings.from_env({**base, "DMS_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    assert Settings.from_env({**base, "DMS_TRUSTED_PROXIES": "10.0.0.1, 10.0.0.2"}).trusted_proxies == 2
