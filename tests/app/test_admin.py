"""Administration in the web (issue 15.7): users with one-time passwords that must be changed, roles, groups,
disable/enable, unlock, reset, end sessions; groups and members; the sharing picker; every screen asks ManageUsers
(or ManageSharing for the picker) and every form carries CSRF."""
from __future__ import annotations

import re

from sqlalchemy import select

from dms.models import AuditEvent, GroupMember, User

from .conftest import PASSWORD, csrf_of
from .test_signing import ca_template, pki  # noqa: F401  (fixtures)

NEW_PASSWORD = "Tverskaya-7-kv-12"


def _post(client, url: str, data: dict, page: str | None = None):  # noqa: ANN001, ANN202
    return client.post(url, data={**data, "csrf_token": csrf_of(client, page or url)})


def _create_in_web(client, world, login: str = "petrova", roles: tuple[str, ...] = ("Clerk",)) -> tuple[int, str]:  # noqa: ANN001
    r = _post(client, "/admin/users/new", {"login": login, "full_name": "Петрова Анна", "email": "",
                                           "roles": list(roles)})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.headers["Cache-Control"] == "no-store"
    page = r.get_data(as_text=True)
    found = re.search(r'id="one-time-password">([^<]+)<', page)
    assert found, page
    password = found.group(1)
    with world.rt.db.session() as s:
        user = s.scalars(select(User).where(User.login == login)).one()
        return user.id, password


def _login(client, login: str, password: str):  # noqa: ANN001, ANN202
    token = csrf_of(client, "/login")
    return client.post("/login", data={"login": login, "password": password, "csrf_token": token})


def test_a_user_created_in_the_web_logs_in_with_the_one_time_password_and_must_change_it(client, world, rt):  # noqa: ANN001
    world.user("admin", "Administrator")
    world.login(client, "admin")
    user_id, one_time = _create_in_web(client, world)
    assert len(one_time) == 19 and one_time.count("-") == 3
    with rt.db.session() as s:
        user = s.get(User, user_id)
        assert user.must_change_password and user.global_roles == {"Clerk"}
        assert one_time not in user.password_hash  # only its hash is kept
        created = s.scalars(select(AuditEvent).where(AuditEvent.action == "user.create",
                                                     AuditEvent.object_id == user_id)).one()
        assert created.actor_login == "admin"  # who created the user is in the trail
        assert one_time not in str(created.details)
    client.post("/logout", data={"csrf_token": csrf_of(client, "/")})

    assert _login(client, "petrova", one_time).status_code == 302
    r = client.get("/search")  # any page leads to the change first
    assert r.status_code == 302 and "/account/password" in r.headers["Location"]
    assert client.get("/folders/1").status_code == 302
    page = client.get("/account/password").get_data(as_text=True)
    assert "одноразовым паролем" in page
    r = _post(client, "/account/password", {"current": one_time, "new": "12345678", "new2": "12345678"})
    assert r.status_code == 400  # a weak password is refused here too
    r = _post(client, "/account/password", {"current": "wrong", "new": NEW_PASSWORD, "new2": NEW_PASSWORD})
    assert r.status_code == 400 and "текущий пароль неверен" in r.get_data(as_text=True)
    r = _post(client, "/account/password", {"current": one_time, "new": NEW_PASSWORD, "new2": NEW_PASSWORD})
    assert r.status_code == 302
    assert client.get("/search").status_code == 200  # the same browser goes on in a new session
    with rt.db.session() as s:
        assert not s.get(User, user_id).must_change_password
    client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
    assert _login(client, "petrova", one_time).status_code == 401  # the one-time password is spent
    assert _login(client, "petrova", NEW_PASSWORD).status_code == 302


def test_a_disabled_user_cannot_log_in_and_their_sessions_end(app, client, world, rt):  # noqa: ANN001
    world.user("admin", "Administrator")
    world.user("clerk", "Clerk")
    victim = app.test_client()
    world.login(victim, "clerk")
    assert victim.get("/search").status_code == 200
    world.login(client, "admin")
    with rt.db.session() as s:
        clerk_id = s.scalars(select(User.id).where(User.login == "clerk")).one()
    page = f"/admin/users/{clerk_id}"
    r = _post(client, f"{page}/disable", {}, page)  # without the confirmation nothing happens
    assert r.status_code == 302
    assert "подтвердите" in client.get(page).get_data(as_text=True)
    assert victim.get("/search").status_code == 200
    r = _post(client, f"{page}/disable", {"confirm": "1"}, page)
    assert r.status_code == 302
    assert victim.get("/search").status_code == 302  # the open session ended at once
    assert _login(app.test_client(), "clerk", PASSWORD).status_code == 401
    with rt.db.session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "user",
                                                            AuditEvent.object_id == clerk_id)
                                                                    .order_by(AuditEvent.id)).all()
    assert "user.disable" in actions and "user.sessions_end" in actions
    assert _post(client, f"{page}/enable", {}, page).status_code == 302
    assert _login(app.test_client(), "clerk", PASSWORD).status_code == 302


def test_an_administrator_cannot_disable_or_demote_themselves(client, world, rt):  # noqa: ANN001
    admin = world.user("admin", "Administrator")
    world.login(client, "admin")
    page = f"/admin/users/{admin.id}"
    _post(client, f"{page}/disable", {"confirm": "1"}, page)
    assert "нельзя отключить самого себя" in client.get(page).get_data(as_text=True)
    _post(client, f"{page}/roles", {"roles": ["Clerk"]}, page)
    assert "нельзя снять с себя" in client.get(page).get_data(as_text=True)
    with rt.db.session() as s:
        me = s.get(User, admin.id)
        assert me.is_active and me.global_roles == {"Administrator"}


def test_reset_password_gives_a_new_one_time_password_and_ends_sessions(app, client, world, rt):  # noqa: ANN001
    world.user("admin", "Administrator")
    clerk = world.user("clerk", "Clerk")
    other = app.test_client()
    world.login(other, "clerk")
    world.login(client, "admin")
    page = f"/admin/users/{clerk.id}"
    r = _post(client, f"{page}/password", {"confirm": "1"}, page)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    one_time = re.search(r'id="one-time-password">([^<]+)<', r.get_data(as_text=True)).group(1)
    assert other.get("/search").status_code == 302
    fresh = app.test_client()
    assert _login(fresh, "clerk", PASSWORD).status_code == 401
    assert _login(fresh, "clerk", one_time).status_code == 302
    assert "/account/password" in fresh.get("/").headers["Location"]


def test_unlock_lifts_the_lock_after_failed_logins(client, world, rt):  # noqa: ANN001
    from dms.people.users import THROTTLE_AFTER
    world.user("admin", "Administrator")
    clerk = world.user("clerk", "Clerk")
    for i in range(THROTTLE_AFTER):
        client.post("/api/v1/tokens", json={"login": "clerk", "password": f"wrong-{i}"},
                    environ_base={"REMOTE_ADDR": f"10.1.{i}.1"})
    assert client.post("/api/v1/tokens", json={"login": "clerk", "password": PASSWORD},
                       environ_base={"REMOTE_ADDR": "10.9.9.8"}).status_code == 429
    world.login(client, "admin")
    page = f"/admin/users/{clerk.id}"
    assert "вход заблокирован" in client.get(page).get_data(as_text=True)
    assert _post(client, f"{page}/unlock", {}, page).status_code == 302
    assert client.post("/api/v1/tokens", json={"login": "clerk", "password": PASSWORD},
                       environ_base={"REMOTE_ADDR": "10.9.9.8"}).status_code == 201


def test_roles_and_groups_are_set_in_the_web(client, world, rt):  # noqa: ANN001
    world.user("admin", "Administrator")
    clerk = world.user("clerk", "Clerk")
    world.login(client, "admin")
    r = _post(client, "/admin/groups", {"name": "cok-77", "title": "ЦОК Москва"}, "/admin/groups")
    assert r.status_code == 302
    group_page = r.headers["Location"]
    assert _post(client, f"{group_page}/members", {"action": "add", "login": "clerk"}, group_page).status_code == 302
    assert "Clerk" in client.get(group_page).get_data(as_text=True)  # the member's name (Clerk) is listed
    page = f"/admin/users/{clerk.id}"
    _post(client, f"{page}/roles", {"roles": ["Clerk", "Signatory"]}, page)
    with rt.db.session() as s:
        assert s.get(User, clerk.id).global_roles == {"Clerk", "Signatory"}
        assert s.scalars(select(GroupMember).where(GroupMember.user_id == clerk.id)).first() is not None
    _post(client, f"{page}/groups", {}, page)  # no box ticked: out of every group
    with rt.db.session() as s:
        assert s.scalars(select(GroupMember).where(GroupMember.user_id == clerk.id)).first() is None
        actions = set(s.scalars(select(AuditEvent.action).where(AuditEvent.action.startswith("group."))
                .order_by(AuditEvent.id)).all())
    assert actions == {"group.create", "group.member_add", "group.member_remove"}
    listing = client.get("/admin/users?q=cler").get_data(as_text=True)
    assert "clerk" in listing and "admin</a>" not in listing
    trail = client.get("/audit?object_type=group").get_data(as_text=True).split("<tbody>")[1]
    assert f'href="{group_page}">группа cok-77</a>' in trail  # the object named and linked, in Russian
    trail = client.get(f"/audit?object_type=user&object_id={clerk.id}").get_data(as_text=True).split("<tbody>")[1]
    assert f'href="/admin/users/{clerk.id}">пользователь clerk</a>' in trail


def test_the_admin_pages_are_403_for_a_clerk(client, world, rt):  # noqa: ANN001
    world.user("admin", "Administrator")
    clerk = world.user("clerk", "Clerk")
    world.login(client, "clerk")
    token = csrf_of(client, "/")
    for url in ("/admin/users", "/admin/users/new", f"/admin/users/{clerk.id}", "/admin/groups",
                "/admin/principals?q=ad"):
        assert client.get(url).status_code == 403, url
    for url in (f"/admin/users/{clerk.id}/roles", f"/admin/users/{clerk.id}/disable", "/admin/groups",
                f"/admin/users/{clerk.id}/password", "/admin/users/new"):
        assert client.post(url, data={"csrf_token": token, "roles": ["Administrator"], "confirm": "1",
                                      "login": "x", "name": "x"}).status_code == 403, url
    with rt.db.session() as s:
        assert s.get(User, clerk.id).global_roles == {"Clerk"}
    assert "/admin/users" not in client.get("/").get_data(as_text=True)  # no link to what does not open


def test_admin_forms_need_the_csrf_token(client, world, rt):  # noqa: ANN001
    world.user("admin", "Administrator")
    clerk = world.user("clerk", "Clerk")
    world.login(client, "admin")
    r = client.post(f"/admin/users/{clerk.id}/disable", data={"confirm": "1"})
    assert r.status_code == 400
    with rt.db.session() as s:
        assert s.get(User, clerk.id).is_active


def test_the_sharing_picker_finds_users_and_groups_only_for_those_who_manage_sharing(client, world, rt):  # noqa: ANN001
    from dms.people import groups
    world.user("admin", "Administrator")
    world.user("ivanov", "Clerk")
    world.user("reader")
    folder = world.folder("/Дела")
    with rt.db.session() as s:
        groups.create(s, None, "signers", "Подписанты агентства")
        s.get(User, s.scalars(select(User.id).where(User.login == "ivanov")).one()).full_name = "Иванов Иван"
    world.login(client, "admin")
    items = client.get(f"/folders/{folder.id}/sharing/principals?q=иван").get_json()["items"]
    assert [i["name"] for i in items] == ["ivanov"]  # Cyrillic names match in any letter case, also on SQLite
    assert items[0]["principal"] == f"user:{items[0]['id']}" and isinstance(items[0]["id"], int)
    items = client.get(f"/folders/{folder.id}/sharing/principals?q=подпис").get_json()["items"]
    assert [(i["kind"], i["name"]) for i in items] == [("group", "signers")]
    page = client.get(f"/folders/{folder.id}/sharing").get_data(as_text=True)
    assert f'data-picker="/folders/{folder.id}/sharing/principals"' in page
    r = _post(client, f"/folders/{folder.id}/sharing", {"action": "grant", "principal": "group:signers",
                                                        "role": "Reader"}, f"/folders/{folder.id}/sharing")
    assert r.status_code == 302
    assert "группа signers" in client.get(f"/folders/{folder.id}/sharing").get_data(as_text=True)
    world.login(client, "reader")
    assert client.get(f"/folders/{folder.id}/sharing/principals?q=иван").status_code in (403, 404)


def test_every_admin_page_opens_and_is_english_in_the_english_ui(client, world, rt):  # noqa: ANN001
    """Each screen renders (GET) for an administrator; in English no Russian word is left (the data here is Latin)."""
    from dms.people import groups
    admin = world.user("admin", "Administrator")
    with rt.db.session() as s:
        group = groups.create(s, None, "signers", "Signers")
    world.login(client, "admin")
    pages = ["/admin/users", "/admin/users/new", f"/admin/users/{admin.id}", "/admin/groups",
             f"/admin/groups/{group.id}", "/account/password", "/audit"]
    for url in pages:
        r = client.get(url)
        assert r.status_code == 200, url
        assert 'name="csrf_token"' in r.get_data(as_text=True) or url == "/audit", url  # every form carries CSRF
    client.get("/language/en")
    cyrillic = re.compile("[А-Яа-яЁё]+")
    for url in pages:
        body = client.get(url).get_data(as_text=True)
        body = body.split("<main", 1)[1]
        body = re.sub(r'<(select|option)[^>]*lang="ru"[^>]*>', "", body)
        words = sorted(set(cyrillic.findall(re.sub(r"<[^>]+>", " ", body))) - {"Русский", "Рус"})
        assert words == [], (url, words)


def test_admin_templates_wrap_every_russian_text_in_gettext():
    """tests/app/test_i18n.py checks templates/*.html; the admin screens live in templates/admin/."""
    from pathlib import Path

    import jinja2

    from .test_i18n import _unwrapped_in_template
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"])
    root = Path(__file__).resolve().parents[2] / "templates" / "admin"
    paths = sorted(root.glob("*.html"))
    assert len(paths) >= 7
    assert [p for path in paths for p in _unwrapped_in_template(env, path)] == []


def test_no_api_token_for_a_one_time_password_until_it_is_changed(client, world, rt):  # noqa: ANN001
    world.user("admin", "Administrator")
    world.login(client, "admin")
    _, one_time = _create_in_web(client, world, login="sidorov")
    r = client.post("/api/v1/tokens", json={"login": "sidorov", "password": one_time})
    assert r.status_code == 403 and "одноразовый" in r.get_json()["error"]["message"]
    client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
    _login(client, "sidorov", one_time)
    _post(client, "/account/password", {"current": one_time, "new": NEW_PASSWORD, "new2": NEW_PASSWORD})
    assert client.post("/api/v1/tokens", json={"login": "sidorov", "password": NEW_PASSWORD}).status_code == 201


def test_pkcs12_import_for_a_user_in_the_web(client, world, rt, pki):  # noqa: ANN001, F811
    import io

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import (BestAvailableEncryption, load_pem_private_key,
                                                              pkcs12)

    from dms.models import SigningCredential
    from dms.signatures import pki as pki_svc
    from dms.people import users

    from .test_signing import PIN
    world.user("admin", "Administrator")
    holder = world.user("holder", "Signatory")
    world.user("clerk", "Clerk")
    external = pki.ca.issue_user_certificate("Волков Андрей Ильич", "p12-key-pin")
    key = load_pem_private_key(external.encrypted_key_pem, b"p12-key-pin")
    cert = x509.load_der_x509_certificate(external.certificate_der)
    p12 = pkcs12.serialize_key_and_certificates(b"holder", key, cert, None, BestAvailableEncryption(b"file-pass"))
    page = f"/admin/users/{holder.id}"

    def upload(password: str):  # noqa: ANN202
        return client.post(f"{page}/pkcs12", data={"csrf_token": csrf_of(client, page), "password": password,
                                                   "pin": PIN, "pin2": PIN, "file": (io.BytesIO(p12), "holder.p12")},
                           content_type="multipart/form-data")

    world.login(client, "clerk")
    assert upload("file-pass").status_code == 403
    world.login(client, "admin")
    assert "PKCS#12" in client.get(page).get_data(as_text=True)
    assert upload("wrong").status_code == 302
    with rt.db.session() as s:
        assert s.scalars(select(SigningCredential).where(SigningCredential.user_id == holder.id)).first() is None
    assert upload("file-pass").status_code == 302
    assert "Сертификат подписи загружен" in client.get(page).get_data(as_text=True)
    with rt.db.session() as s:
        row = s.scalars(select(SigningCredential).where(SigningCredential.user_id == holder.id)).one()
        assert row.imported and row.fingerprint == external.fingerprint
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "pki.import")).one()
        assert event.actor_login == "admin"
        signer, _ = pki_svc.unlock(rt, s, users.get_user(s, "holder"), PIN)  # the holder signs with the new PIN
        assert signer.fingerprint == external.fingerprint
