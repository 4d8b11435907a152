"""Administration from the command line (issue 15.7): dms folder add, dms user list, dms group add|members|list;
ids in JSON output are numbers (dms search --json too); dms ingest into a missing folder says what to do."""
from __future__ import annotations

import json

from sqlalchemy import select

from dms.models import AuditEvent

from .pdfs import make_pdf
from .test_cli import dms


def test_folder_add_creates_one_folder_or_a_path_with_parents(settings, rt, world, tmp_path):  # noqa: ANN001
    world.user("clerk", "Clerk")
    r = dms(settings, "folder", "add", "/Агентство/Приказы/2027", "--json")
    assert r.returncode == 3 and "--parents" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = dms(settings, "folder", "add", "/Агентство/Приказы/2027", "--parents", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["path"] == "/Агентство/Приказы/2027" and isinstance(out["id"], int)
    assert [c["path"] for c in out["created"]] == ["/Агентство", "/Агентство/Приказы", "/Агентство/Приказы/2027"]
    again = dms(settings, "folder", "add", "/Агентство/Приказы/2027", "--parents", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["created"] == []  # like mkdir -p
    assert dms(settings, "folder", "add", "/Агентство/Приказы/2027").returncode != 0  # without -p: it exists
    r = dms(settings, "folder", "add", "/Агентство/Письма", "--as", "clerk")
    assert r.returncode == 0 and "/Агентство/Письма" in r.stdout
    with rt.db.session() as s:
        creators = s.scalars(select(AuditEvent.actor_login).where(AuditEvent.action == "folder.create")
                             .order_by(AuditEvent.id.desc())).first()
    assert creators == "clerk"
    world.user("auditor", "Auditor")
    assert dms(settings, "folder", "add", "/Агентство/Чужое", "--as", "auditor").returncode == 3  # needs Add

    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(make_pdf())
    r = dms(settings, "ingest", str(pdf), "--folder", "/Нет/Такой", "--type", "order", "--as", "clerk")
    assert r.returncode == 3 and "dms folder add" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = dms(settings, "ingest", str(pdf), "--folder", "/Агентство/Письма", "--type", "order", "--as", "clerk")
    assert r.returncode == 0 and isinstance(json.loads(r.stdout)["id"], int)


def test_user_list_and_groups_from_the_command_line(settings, rt, world):  # noqa: ANN001
    world.user("admin", "Administrator")
    world.user("clerk", "Clerk")
    r = dms(settings, "group", "add", "cok-77", "--title", "ЦОК Москва", "--json")
    assert r.returncode == 0, r.stderr
    group = json.loads(r.stdout)
    assert isinstance(group["id"], int) and group["name"] == "cok-77"
    assert dms(settings, "group", "add", "cok-77").returncode == 2  # exists
    assert dms(settings, "group", "add", "bad name").returncode == 2
    r = dms(settings, "group", "members", "cok-77", "--add", "clerk", "--add", "admin", "--json")
    assert r.returncode == 0, r.stderr
    assert [m["login"] for m in json.loads(r.stdout)["members"]] == ["admin", "clerk"]
    r = dms(settings, "group", "members", "cok-77", "--remove", "admin", "--json")
    assert [m["login"] for m in json.loads(r.stdout)["members"]] == ["clerk"]
    assert dms(settings, "group", "members", "cok-77", "--add", "nobody").returncode == 2
    assert dms(settings, "group", "members", "no-such").returncode == 3
    listed = json.loads(dms(settings, "group", "list", "--json").stdout)
    assert listed == [{"id": group["id"], "name": "cok-77", "title": "ЦОК Москва", "members": 1}]
    r = dms(settings, "user", "list", "--json")
    assert r.returncode == 0, r.stderr
    rows = {u["login"]: u for u in json.loads(r.stdout)}
    assert rows["clerk"]["groups"] == ["cok-77"] and rows["clerk"]["roles"] == ["Clerk"]
    assert all(isinstance(u["id"], int) for u in rows.values()) and rows["admin"]["active"] is True
    assert dms(settings, "user", "disable", "clerk").returncode == 0
    human = dms(settings, "user", "list").stdout
    assert "clerk" in human and "отключён" in human


def test_search_json_gives_ids_as_numbers(settings, rt, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Дела")
    doc = world.document("clerk", "/Дела", make_pdf("Приказ о проверке"), title="Приказ о проверке")
    assert dms(settings, "indexer", "--once").returncode == 0
    r = dms(settings, "search", "проверке", "--as", "clerk", "--json")
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)["items"]
    assert [i["id"] for i in items] == [doc.id]  # a number, as dms ingest prints it
