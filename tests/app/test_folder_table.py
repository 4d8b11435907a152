"""The folder contents table: sorting both ways with a stable order, filters, bulk ZIP and bulk transition, each
document checked on its own."""
from __future__ import annotations

import io
import re
import zipfile

from sqlalchemy import select

from dms.models import AuditEvent, Document
from dms.documents import folders
from dms.people import users
from dms.workflow import service as wf_svc

from .conftest import csrf_of
from .pdfs import make_pdf


def _fid(rt, path: str) -> int:  # noqa: ANN001
    with rt.db.session() as s:
        return folders.resolve(s, path).id


def _titles(html: str) -> list[str]:
    return re.findall(r'<a href="/documents/\d+">([^<]+)</a>', html)


def test_sorting_by_title_works_both_ways_and_equal_titles_keep_a_stable_order(rt, world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Папка")
    for title in ("Бета", "Альфа", "Гамма", "Бета"):
        world.document("clerk", "/Папка", title=title)
    world.login(client, "clerk")
    fid = _fid(rt, "/Папка")
    up = client.get(f"/folders/{fid}?sort=title&dir=asc").get_data(as_text=True)
    down = client.get(f"/folders/{fid}?sort=title&dir=desc").get_data(as_text=True)
    assert _titles(up) == ["Альфа", "Бета", "Бета", "Гамма"]
    assert _titles(down) == ["Гамма", "Бета", "Бета", "Альфа"]
    ids_up = re.findall(r'name="ids" value="(\d+)"', up)
    ids_down = re.findall(r'name="ids" value="(\d+)"', down)
    assert ids_up == list(reversed(ids_down))  # the tie is broken by id, in the same direction
    assert 'href="/folders/%d?sort=title&amp;dir=desc"' % fid in up  # the header flips the direction


def test_filters_by_state_and_type_use_russian_titles(rt, world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Папка")
    draft = world.document("clerk", "/Папка", title="Черновой")
    registered = world.document("clerk", "/Папка", title="Зарегистрированный")
    world.document("clerk", "/Папка", make_pdf("п"), doc_type="order", title="Приказ")
    with rt.db.session() as s:
        wf_svc.execute(s, users.get_user(s, "clerk"), s.get(Document, registered.id), "register")
    world.login(client, "clerk")
    fid = _fid(rt, "/Папка")
    page = client.get(f"/folders/{fid}?type=other&state=registered").get_data(as_text=True)
    assert _titles(page) == ["Зарегистрированный"]
    assert '<option value="registered" selected>Зарегистрирован</option>' in page
    page = client.get(f"/folders/{fid}?type=other&state=draft").get_data(as_text=True)
    assert _titles(page) == [draft.title]
    assert "ожидается дата" in client.get(f"/folders/{fid}?from=вчера").get_data(as_text=True)


def test_zip_contains_exactly_the_permitted_selected_files(rt, world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.user("reader")
    world.folder("/Открытая")
    world.folder("/Закрытая")
    world.share("/Открытая", "reader", "Reader")
    one, two = make_pdf("один"), make_pdf("два")
    d1 = world.document("clerk", "/Открытая", one, title="Первый", filename="odin.pdf")
    d2 = world.document("clerk", "/Открытая", two, title="Второй", filename="dva.pdf")
    world.document("clerk", "/Открытая", make_pdf("не отмечен"), title="Не отмечен", filename="net.pdf")
    empty = world.document("clerk", "/Открытая", title="Без файла")
    hidden = world.document("clerk", "/Закрытая", make_pdf("секрет"), title="Секрет", filename="secret.pdf")
    world.login(client, "reader")
    fid = _fid(rt, "/Открытая")
    token = csrf_of(client, f"/folders/{fid}")
    r = client.post(f"/folders/{fid}/bulk/zip", data={"csrf_token": token,
                                                      "ids": [d1.id, d2.id, empty.id, hidden.id]})
    assert r.status_code == 200 and r.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(r.data))
    files = {n: archive.read(n) for n in archive.namelist()}
    report = files.pop("не вошли в архив.txt").decode()
    assert sorted(files.values()) == sorted([one, two])
    assert sorted(files) == sorted([f"документ-{d1.id} odin.pdf", f"документ-{d2.id} dva.pdf"])
    assert f"документ {empty.id}: версия не найдена" in report
    assert f"документ {hidden.id}: документ не найден" in report and "Секрет" not in report
    with rt.db.session() as s:
        audited = s.scalars(select(AuditEvent.object_id).where(AuditEvent.action == "version.download")
                .order_by(AuditEvent.id)).all()
    assert sorted(audited) == sorted([d1.id, d2.id])


def test_bulk_transition_reports_each_success_and_each_refusal(rt, world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.user("editor")
    world.folder("/Отдел")
    world.folder("/Чужая")
    world.share("/Отдел", "editor", "Editor")
    fresh = world.document("clerk", "/Отдел", title="Новый")
    done = world.document("clerk", "/Отдел", title="Уже зарегистрирован")
    foreign = world.document("clerk", "/Чужая", title="Чужой")
    with rt.db.session() as s:
        wf_svc.execute(s, users.get_user(s, "clerk"), s.get(Document, done.id), "register")
    world.login(client, "editor")
    fid = _fid(rt, "/Отдел")
    token = csrf_of(client, f"/folders/{fid}")
    r = client.post(f"/folders/{fid}/bulk/transition", data={
        "csrf_token": token, "transition": "register", "ids": [fresh.id, done.id, foreign.id]})
    assert r.status_code == 200
    rows = re.findall(r'<tr class="(ok|refused)">(.*?)</tr>', r.get_data(as_text=True), re.S)
    assert [k for k, _ in rows] == ["ok", "refused", "refused"]
    assert "Новый" in rows[0][1] and "присвоен номер" in rows[0][1]
    assert "невозможен из состояния «Зарегистрирован»" in rows[1][1]
    assert "документ не найден" in rows[2][1] and "Чужой" not in rows[2][1]
    with rt.db.session() as s:
        assert s.get(Document, fresh.id).state == "registered" and s.get(Document, foreign.id).state == "draft"


def test_bulk_actions_need_the_csrf_token(rt, world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Папка")
    doc = world.document("clerk", "/Папка", title="Документ")
    world.login(client, "clerk")
    fid = _fid(rt, "/Папка")
    r = client.post(f"/folders/{fid}/bulk/transition", data={"transition": "register", "ids": [doc.id]})
    assert r.status_code == 400
    with rt.db.session() as s:
        assert s.get(Document, doc.id).state == "draft"


def test_bulk_transition_answers_one_chunk_as_json_for_the_live_progress_bar(rt, world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Отдел")
    first = world.document("clerk", "/Отдел", title="Первый")
    second = world.document("clerk", "/Отдел", title="Второй")
    world.login(client, "clerk")
    fid = _fid(rt, "/Отдел")
    page = client.get(f"/folders/{fid}").get_data(as_text=True)
    assert 'id="bulk-progress"' in page and "data-live" in page
    token = csrf_of(client, f"/folders/{fid}")
    r = client.post(f"/folders/{fid}/bulk/transition", headers={"Accept": "application/json"},
                    data={"csrf_token": token, "transition": "register", "ids": [first.id, second.id]})
    assert r.status_code == 200 and r.is_json
    body = r.get_json()
    assert body["done"] == 2
    assert [(x["id"], x["ok"]) for x in body["results"]] == [(first.id, True), (second.id, True)]
    assert all(x["reg_number"] and "присвоен номер" in x["message"] for x in body["results"])
    r = client.post(f"/folders/{fid}/bulk/transition", headers={"Accept": "application/json"},
                    data={"csrf_token": token, "ids": [first.id]})
    assert r.status_code == 400 and r.get_json()["error"] == "выберите переход"


def test_bulk_move_takes_edit_here_and_add_there_and_never_moves_a_held_document(rt, world, client):  # noqa: ANN001
    from dms.records import service as records
    world.user("admin", "Administrator")
    world.user("clerk", "Clerk")
    world.user("editor")
    world.user("reader")
    for path in ("/Отдел", "/Цель", "/Чужая"):
        world.folder(path)
    world.share("/Отдел", "editor", "Editor")
    world.share("/Цель", "editor", "Contributor")
    world.share("/Отдел", "reader", "Reader")
    world.share("/Цель", "reader", "Contributor")
    free = world.document("clerk", "/Отдел", make_pdf("свободный"), title="Свободный")
    held = world.document("clerk", "/Отдел", title="Под удержанием")
    foreign = world.document("clerk", "/Чужая", title="Чужой")
    with rt.db.session() as s:
        records.place_hold(s, users.get_user(s, "admin"), "запрос прокуратуры", document=s.get(Document, held.id))
        s.commit()
    src, dst, other = _fid(rt, "/Отдел"), _fid(rt, "/Цель"), _fid(rt, "/Чужая")

    world.login(client, "reader")  # may add to the target but not change the source's contents
    page = client.get(f"/folders/{src}").get_data(as_text=True)
    assert 'name="target"' not in page
    token = csrf_of(client, f"/folders/{src}")
    r = client.post(f"/folders/{src}/bulk/move", data={"csrf_token": token, "target": dst, "ids": [free.id]})
    assert "нет права на изменение" in r.get_data(as_text=True)

    world.login(client, "editor")
    page = client.get(f"/folders/{src}").get_data(as_text=True)
    offered = re.findall(r'<option value="(\d+)">/[^<]*</option>', page.split('name="target"')[1].split("</select>")[0])
    assert offered == [str(dst)]  # only where the editor may add, never the folder itself
    token = csrf_of(client, f"/folders/{src}")
    r = client.post(f"/folders/{src}/bulk/move", data={"csrf_token": token, "target": other, "ids": [free.id]})
    assert r.status_code == 302  # a folder the editor cannot see is no target: back with a message
    assert "выберите папку" in client.get(r.headers["Location"]).get_data(as_text=True)
    r = client.post(f"/folders/{src}/bulk/move", headers={"Accept": "application/json"},
                    data={"csrf_token": token, "target": dst, "ids": [free.id, held.id, foreign.id]})
    results = r.get_json()["results"]
    assert [x["ok"] for x in results] == [True, False, False]
    assert "удержании" in results[1]["message"]
    assert results[2]["message"] == "документ не найден" and results[2]["title"] == ""
    with rt.db.session() as s:
        assert s.get(Document, free.id).folder_id == dst
        assert s.get(Document, held.id).folder_id == src and s.get(Document, foreign.id).folder_id == other
        moves = s.scalars(select(AuditEvent).where(AuditEvent.action == "document.move").order_by(AuditEvent.id)).all()
        assert [(e.object_id, e.details["source"], e.details["target"]) for e in moves] == [(free.id, src, dst)]
    assert "Свободный" in client.get(f"/folders/{dst}").get_data(as_text=True)


def test_the_folder_tree_opens_the_way_to_the_current_folder_and_shows_only_what_the_user_may_open(rt, world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.user("reader")
    for path in ("/Агентство/Приказы/2026", "/Агентство/Письма", "/ЦОК-1", "/Закрытая"):
        world.folder(path)
    world.share("/Агентство", "reader", "Reader")
    world.share("/ЦОК-1", "reader", "Reader")
    doc = world.document("clerk", "/Агентство/Приказы", title="Приказ в дереве")
    world.login(client, "reader")
    page = client.get(f"/documents/{doc.id}").get_data(as_text=True)
    tree = page.split('<aside class="foldertree">')[1].split("</aside>")[0]
    names = re.findall(r'class="folder-link"[^>]*>([^<]+)</a>', tree)
    assert names == ["Архив", "Агентство", "Письма", "Приказы", "2026", "ЦОК-1"]  # the way opened, siblings shown
    assert "Закрытая" not in page
    current = re.findall(r'href="/folders/(\d+)" class="folder-link" aria-current="page">([^<]+)<', tree)
    assert [name for _, name in current] == ["Приказы"]  # the document's folder
    world.login(client, "clerk")
    page = client.get(f"/folders/{_fid(rt, '/Закрытая')}").get_data(as_text=True)
    assert 'aria-current="page">Закрытая<' in page
