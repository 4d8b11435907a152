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
    assert "document.create" in page
    export = client.get("/audit.csv?actor=clerk")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:4] == ["id", "ts", "actor_login", "action"]
    assert {r[2] for r in rows[1:]} == {"clerk"} and len(rows) > 3
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
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.action.startswith("login."))).all()
    assert actions.count("login.failed") >= 5 and "login.throttled" in actions
