"""Issue 16, item 1: sessions and tokens end when their reason ends; tokens listed and revoked; lifetimes."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import select, update

from dms.cli import main
from dms.config import Settings
from dms.models import AuditEvent, UserSession
from dms.people import users

from .conftest import PASSWORD, csrf_of


def _session_cookie(client) -> str:  # noqa: ANN001
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _logged_in(client) -> bool:  # noqa: ANN001
    return client.get("/").status_code == 200


def test_logout_ends_the_session_server_side_a_copied_cookie_no_longer_works(client, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.login(client, "clerk")
    stolen = _session_cookie(client)
    assert _logged_in(client)
    r = client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
    assert r.status_code == 302
    client.set_cookie("session", stolen)  # the cookie as it was before logout (copied, or replayed)
    assert not _logged_in(client)


def test_password_change_ends_every_session_and_token(client, app, rt, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.login(client, "clerk")
    headers = world.token(client, "clerk")
    assert client.get("/api/v1/folders", headers=headers).status_code == 200
    with rt.db.session() as s:
        users.set_password(s, users.get_user(s, "clerk"), "a-new-long-passphrase")
    assert not _logged_in(client)
    assert client.get("/api/v1/folders", headers=headers).status_code == 401


def test_disable_ends_every_session_and_token_and_enable_lets_the_user_in_again(client, rt, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.login(client, "clerk")
    headers = world.token(client, "clerk")
    runner = CliRunner()
    env = {"DMS_DATA_DIR": str(rt.settings.data_dir), "DMS_DATABASE_URL": rt.settings.database_url,
           "DMS_STORAGE_URL": rt.settings.storage_url, "DMS_INDEX_DIR": str(rt.settings.index_dir)}
    r = runner.invoke(main, ["user", "disable", "clerk"], env=env)
    assert r.exit_code == 0, r.output
    assert not _logged_in(client)
    assert client.get("/api/v1/folders", headers=headers).status_code == 401
    assert client.post("/api/v1/tokens", json={"login": "clerk", "password": PASSWORD}).status_code == 401
    assert runner.invoke(main, ["user", "enable", "clerk"], env=env).exit_code == 0
    world.login(client, "clerk")
    assert _logged_in(client)


def test_admin_ends_all_sessions_of_a_user_from_the_cli(client, rt, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.login(client, "clerk")
    headers = world.token(client, "clerk")
    env = {"DMS_DATA_DIR": str(rt.settings.data_dir), "DMS_DATABASE_URL": rt.settings.database_url,
           "DMS_STORAGE_URL": rt.settings.storage_url, "DMS_INDEX_DIR": str(rt.settings.index_dir)}
    listed = CliRunner().invoke(main, ["user", "sessions", "list", "clerk", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert '"sessions": [' in listed.output and '"tokens": [' in listed.output
    r = CliRunner().invoke(main, ["user", "sessions", "end", "clerk"], env=env)
    assert r.exit_code == 0, r.output
    assert "завершено сеансов 1, отозвано токенов 1" in r.output
    assert not _logged_in(client)
    assert client.get("/api/v1/folders", headers=headers).status_code == 401
    with rt.db.session() as s:
        assert s.scalars(select(AuditEvent.action).where(AuditEvent.action == "user.sessions_end")
                .order_by(AuditEvent.id)).all()


def test_tokens_are_listed_and_revoked_one_by_one_and_the_current_one(client, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.user("other", "Clerk")
    first, second = world.token(client, "clerk"), world.token(client, "clerk")
    others = world.token(client, "other")
    listing = client.get("/api/v1/tokens", headers=first).get_json()["items"]
    assert len(listing) == 2 and [t["current"] for t in listing].count(True) == 1
    assert all("token" not in t for t in listing)  # ids and times, never the secret
    second_id = next(t["id"] for t in listing if not t["current"])
    first_id = next(t["id"] for t in listing if t["current"])
    # another user cannot revoke it
    assert client.delete(f"/api/v1/tokens/{second_id}", headers=others).status_code == 404
    assert client.get("/api/v1/folders", headers=second).status_code == 200
    assert client.delete(f"/api/v1/tokens/{second_id}", headers=first).status_code == 204
    assert client.get("/api/v1/folders", headers=second).status_code == 401
    assert [t["id"] for t in client.get("/api/v1/tokens", headers=first).get_json()["items"]] == [first_id]
    assert client.delete("/api/v1/tokens/current", headers=first).status_code == 204
    assert client.get("/api/v1/folders", headers=first).status_code == 401
    assert client.get("/api/v1/folders", headers=others).status_code == 200


def test_token_lifetime_defaults_to_8_hours_and_is_configurable(client, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    r = client.post("/api/v1/tokens", json={"login": "clerk", "password": PASSWORD}).get_json()
    left = datetime.fromisoformat(r["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=7, minutes=59) < left <= timedelta(hours=8)
    env = {"DMS_DATA_DIR": "/tmp/x", "DMS_SECRET_KEY": "k", "DMS_TOKEN_TTL_HOURS": "2",
           "DMS_SESSION_IDLE_MINUTES": "15", "DMS_SESSION_MAX_HOURS": "9"}
    s = Settings.from_env(env)
    assert (s.token_ttl_hours, s.session_idle_minutes, s.session_max_hours) == (2, 15, 9)
    d = Settings.from_env({"DMS_DATA_DIR": "/tmp/x", "DMS_SECRET_KEY": "k"})
    assert (d.token_ttl_hours, d.session_idle_minutes, d.session_max_hours) == (8, 60, 12)


def test_an_idle_session_ends_after_the_idle_limit(client, rt, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.login(client, "clerk")
    assert _logged_in(client)
    idle = timedelta(minutes=rt.settings.session_idle_minutes)
    with rt.db.session() as s:
        s.execute(update(UserSession).values(last_seen_at=datetime.now(UTC) - idle - timedelta(minutes=1)))
    assert not _logged_in(client)
    with rt.db.session() as s:
        assert s.scalars(select(UserSession.ended_at)).one() is not None
