"""The audit trail: chained, tamper-evident, readable by auditors only, exportable."""
from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

from sqlalchemy import select, text, update

from dms.models import AuditEvent

from .pdfs import make_pdf


def _verify(settings) -> subprocess.CompletedProcess:  # noqa: ANN001
    env = {**os.environ, "DMS_DATA_DIR": str(settings.data_dir), "DMS_DATABASE_URL": settings.database_url,
           "DMS_STORAGE_URL": settings.storage_url, "DMS_SECRET_KEY": "x"}
    return subprocess.run([sys.executable, "-m", "dms", "audit", "verify"], env=env, capture_output=True,
                          text=True, timeout=120)


def _some_history(world) -> None:  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Дела")
    for i in range(3):
        world.document("clerk", "/Дела", make_pdf(f"д{i}"), title=f"Дело {i}")


def test_editing_one_audit_row_in_the_database_is_detected_and_named(rt, world, settings):  # noqa: ANN001
    _some_history(world)
    assert _verify(settings).returncode == 0
    with rt.db.session() as s:
        victim = s.scalars(select(AuditEvent).where(AuditEvent.action == "version.upload")).first().id
        s.execute(update(AuditEvent).where(AuditEvent.id == victim).values(actor_login="someone-else"))
    r = _verify(settings)
    assert r.returncode == 1
    assert f"событии {victim}" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_deleting_an_audit_row_breaks_the_chain(rt, world, settings):  # noqa: ANN001
    _some_history(world)
    with rt.db.session() as s:
        ids = s.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
        s.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": ids[3]})
    r = _verify(settings)
    assert r.returncode == 1 and f"событии {ids[4]}" in r.stderr
    with rt.db.session() as s:  # removing the tail is caught too
        s.execute(text("DELETE FROM audit_events WHERE id >= :i"), {"i": ids[3]})
    assert _verify(settings).returncode == 1


def test_auditor_filters_events_and_exports_csv_and_the_export_is_audited(rt, world, client):  # noqa: ANN001
    _some_history(world)
    world.user("auditor", "Auditor")
    h = world.token(client, "auditor")
    r = client.get("/api/v1/audit?action=version.upload&actor=clerk", headers=h)
    assert r.status_code == 200
    body = r.get_json()
    assert body["total"] == 3 and {e["action"] for e in body["items"]} == {"version.upload"}
    assert client.get("/api/v1/audit?since=yesterday", headers=h).status_code == 400
    world.login(client, "auditor")
    page = client.get("/audit?action=document.").get_data(as_text=True)
    assert "document.create" in page and "Создан документ" in page  # each event says what it means
    assert '<option value="version.upload" >Загружена версия</option>' in page  # the filter offers every action
    page = client.get("/audit?action=version.upload").get_data(as_text=True)
    assert "Загружена версия" in page and "Создан документ" not in page.split("<tbody>")[1]
    export = client.get("/audit.csv?actor=clerk")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:4] == ["id", "ts", "actor_login", "action"]
    assert {r[2] for r in rows[1:]} == {"clerk"} and len(rows) > 3
    assert rows[0][-1] == "ts_local" and rows[1][-1].endswith("+03:00")  # the same moment in Moscow, for people
    with rt.db.session() as s:
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "audit.export")).first() is not None


def test_only_auditors_and_administrators_read_the_trail(rt, world, client):  # noqa: ANN001
    _some_history(world)
    h = world.token(client, "clerk")
    assert client.get("/api/v1/audit", headers=h).status_code == 403
    world.login(client, "clerk")
    assert client.get("/audit").status_code == 403
    assert client.get("/audit.csv").status_code == 403


def test_nothing_in_the_product_edits_or_deletes_events(app):  # noqa: ANN001
    audit_rules = [r for r in app.url_map.iter_rules() if "audit" in r.rule]
    assert audit_rules and all(r.methods <= {"GET", "HEAD", "OPTIONS"} for r in audit_rules)


def test_failed_logins_throttle_the_account_even_for_the_right_password(world, client, rt):  # noqa: ANN001
    from .conftest import PASSWORD
    world.user("clerk", "Clerk")
    codes = [client.post("/api/v1/tokens", json={"login": "clerk", "password": f"wrong-{i}"}).status_code
             for i in range(10)]
    assert codes[0] == 401 and codes[-1] == 429
    assert client.post("/api/v1/tokens", json={"login": "clerk", "password": PASSWORD}).status_code == 429
    with rt.db.session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.action.startswith("login."))
                .order_by(AuditEvent.id)).all()
    assert actions.count("login.failed") >= 5 and "login.throttled" in actions


def test_guessing_from_one_address_does_not_lock_the_owner_out_from_another(world, client, rt):  # noqa: ANN001
    from .conftest import PASSWORD
    world.user("clerk", "Clerk")
    attacker, owner = {"REMOTE_ADDR": "203.0.113.7"}, {"REMOTE_ADDR": "198.51.100.20"}
    codes = [client.post("/api/v1/tokens", json={"login": "clerk", "password": f"wrong-{i}"},
                         environ_base=attacker).status_code for i in range(8)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429] * 3  # the guesser is stopped after five
    assert client.post("/api/v1/tokens", json={"login": "clerk", "password": PASSWORD},
                       environ_base=attacker).status_code == 429
    assert client.post("/api/v1/tokens", json={"login": "clerk", "password": PASSWORD},
                       environ_base=owner).status_code == 201  # the owner still gets in


def test_one_address_trying_many_accounts_is_stopped(world, client, rt):  # noqa: ANN001
    from dms.ratelimit import LIMITS
    from .conftest import PASSWORD
    world.user("clerk", "Clerk")
    sprayer = {"REMOTE_ADDR": "203.0.113.9"}
    per_address = LIMITS["login_address"].per_window
    codes = [client.post("/api/v1/tokens", json={"login": f"user{i}", "password": "Spring2026!"},
                         environ_base=sprayer).status_code for i in range(per_address + 1)]
    assert codes[:per_address] == [401] * per_address and codes[-1] == 429
    assert client.post("/api/v1/tokens", json={"login": "clerk", "password": PASSWORD},
                       environ_base=sprayer).status_code == 429


def test_the_account_locks_after_many_failures_from_many_addresses(world, client, rt):  # noqa: ANN001
    from dms.people.users import THROTTLE_AFTER
    from .conftest import PASSWORD
    world.user("clerk", "Clerk")
    for i in range(THROTTLE_AFTER):
        r = client.post("/api/v1/tokens", json={"login": "clerk", "password": f"wrong-{i}"},
                        environ_base={"REMOTE_ADDR": f"10.0.{i}.1"})
        assert r.status_code == 401
    r = client.post("/api/v1/tokens", json={"login": "clerk", "password": PASSWORD},
                    environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert r.status_code == 429  # a distributed guesser still meets the account lock


# --- Audit that reads (issue 15.6) ------------------------------------------------------------------------------

def _doc_page_views(rt, doc_id: int) -> list[AuditEvent]:  # noqa: ANN001
    with rt.db.session() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.object_type == "document", AuditEvent.object_id == doc_id,
                                                  AuditEvent.action.in_(["document.view", "version.download"]))
                         .order_by(AuditEvent.id)).all()
        s.expunge_all()
        return list(rows)


def test_a_page_view_is_one_event_and_views_repeat_once_per_hour(rt, world, client):  # noqa: ANN001
    from datetime import datetime, timedelta, UTC

    import time_machine

    from dms.documents import service as documents
    from dms.people import users
    from dms.audit.service import verify_chain
    world.user("clerk", "Clerk")
    world.folder("/Дела")
    doc = world.document("clerk", "/Дела", make_pdf("д"), title="Дело")
    world.login(client, "clerk")
    for _ in range(3):  # the page, its preview frame, reloads
        assert client.get(f"/documents/{doc.id}").status_code == 200
        assert client.get(f"/documents/{doc.id}/versions/1/preview").status_code == 200
    events = _doc_page_views(rt, doc.id)
    assert [(e.action, e.details["channel"]) for e in events] == [("document.view", "web")]
    for _ in range(2):  # taking a copy is a download, every time
        assert client.get(f"/documents/{doc.id}/versions/1/download").status_code == 200
    assert [e.action for e in _doc_page_views(rt, doc.id)].count("version.download") == 2
    with rt.db.session() as s:  # another user's view is their own event
        auditor = world.user("auditor2", "Auditor")
        documents.record_view(s, s.get(type(auditor), auditor.id), documents.get(s, auditor, doc.id), "api")
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=61)), rt.db.session() as s:
        actor = users.get_user(s, "clerk")  # an hour later the same user's view is recorded again
        documents.record_view(s, actor, documents.get(s, actor, doc.id), "web")
        documents.record_view(s, actor, documents.get(s, actor, doc.id), "web")
    views = [e for e in _doc_page_views(rt, doc.id) if e.action == "document.view"]
    assert [e.actor_login for e in views] == ["clerk", "auditor2", "clerk"]
    with rt.db.session() as s:
        assert list(verify_chain(s)) == []  # skipping a write never breaks the chain


def test_audit_events_are_titled_in_the_page_language_with_times_in_moscow(rt, world, client, monkeypatch):  # noqa: ANN001
    from datetime import datetime, UTC

    import time_machine

    from dms.audit import service as audit
    from dms.people import users
    world.user("auditor", "Auditor")
    world.user("clerk", "Clerk")
    with time_machine.travel(datetime(2026, 12, 5, 21, 30, 5, tzinfo=UTC), tick=False), rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        audit.record(s, clerk, "document.update", "document", 7, changes={"title": ["a", "b"]})
    world.login(client, "auditor")
    page = client.get("/audit?document=7").get_data(as_text=True)
    assert "06.12.2026 00:30:05" in page and "Время (MSK)" in page  # 21:30 UTC is half past midnight in Moscow
    assert "Изменены свойства документа" in page and "изменения:" in page
    assert "changes:" not in page  # no raw keys
    monkeypatch.setenv("DMS_TIMEZONE", "UTC")
    assert "05.12.2026 21:30:05" in client.get("/audit?document=7").get_data(as_text=True)
    monkeypatch.delenv("DMS_TIMEZONE")
    client.get("/language/en")
    page = client.get("/audit?document=7").get_data(as_text=True)
    assert "Document properties changed" in page and "changes:" in page and "Изменены свойства" not in page


def test_audit_filters_by_document_user_action_and_period_in_the_display_zone(rt, world, client):  # noqa: ANN001
    from datetime import datetime, UTC

    import time_machine

    from dms.audit import service as audit
    from dms.people import users
    world.user("auditor", "Auditor")
    world.user("clerk", "Clerk")
    world.user("other", "Clerk")
    moments = [datetime(2026, 12, 5, 20, 0, tzinfo=UTC),   # 5 Dec 23:00 in Moscow
               datetime(2026, 12, 5, 21, 30, tzinfo=UTC),  # 6 Dec 00:30 in Moscow
               datetime(2026, 12, 6, 12, 0, tzinfo=UTC)]   # 6 Dec 15:00
    for i, moment in enumerate(moments):
        with time_machine.travel(moment, tick=False), rt.db.session() as s:
            audit.record(s, users.get_user(s, "clerk"), "document.update", "document", 100 + i, changes={})
            audit.record(s, users.get_user(s, "other"), "version.download", "document", 100 + i, channel="web")
    h = world.token(client, "auditor")

    def ids(query: str) -> list[tuple[str, int]]:
        body = client.get(f"/api/v1/audit?{query}", headers=h).get_json()
        return sorted((e["actor"], e["object_id"]) for e in body["items"] if e["object_type"] == "document")

    assert ids("document=101") == [("clerk", 101), ("other", 101)]
    assert ids("actor=other&action=version.download&since=2026-12-06&until=2026-12-06") == [
        ("other", 101), ("other", 102)]  # the day of 6 December in Moscow starts at 21:00 UTC on the 5th
    assert ids("actor=clerk&until=2026-12-05") == [("clerk", 100)]
    assert ids("action=version.&document=100") == [("other", 100)]
    assert client.get("/api/v1/audit?document=x", headers=h).status_code == 400
    world.login(client, "auditor")
    table = client.get("/audit?actor=clerk&since=2026-12-06").get_data(as_text=True).split("<tbody>")[1]
    assert "документ 101" in table and "документ 102" in table and "документ 100" not in table


def test_every_action_the_product_records_has_a_title_in_both_languages():
    """A code recorded anywhere in dms/ is titled (never shown as a bare code): the ACTIONS table, the register's
    steps, or its family's title."""
    import pathlib
    import re

    from dms.audit.web import ACTIONS, FAMILIES
    root = pathlib.Path(__file__).resolve().parents[2] / "dms"
    codes = set()
    for path in root.rglob("*.py"):
        text = path.read_text()
        codes |= set(re.findall(r"audit\.record\(\s*[\w.]+,\s*[^,]+,\s*\"([a-z_.]+)\"", text))
        codes |= set(re.findall(r"audit\.record\(\s*[\w.]+,\s*[^,]+,\s*\"[a-z_.]+\" if [^\n]+ else "
                                r"\"([a-z_.]+)\"", text))  # the second code of a conditional one
    assert len(codes) > 30
    untitled = sorted(c for c in codes if c not in ACTIONS and c.partition(".")[0] != "register")
    assert untitled == [], untitled
    assert all(ru and en and ru != en for ru, en in ACTIONS.values() if ru != "API")
    assert all(c.partition(".")[0] in FAMILIES for c in codes if "." in c)


def test_the_document_history_shows_times_in_moscow(rt, world, client):  # noqa: ANN001
    from datetime import datetime, UTC

    import time_machine
    world.user("clerk", "Clerk")
    world.folder("/Дела")
    with time_machine.travel(datetime(2026, 12, 5, 21, 30, tzinfo=UTC), tick=False):
        doc = world.document("clerk", "/Дела", make_pdf("д"), title="Дело")
    world.login(client, "clerk")
    history = client.get(f"/documents/{doc.id}").get_data(as_text=True).split('id="tab-history"')[1]
    assert "06.12.2026 00:30" in history and "05.12.2026 21:30" not in history
