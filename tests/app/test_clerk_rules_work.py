"""Work that never gets lost (issue 15.5): a returned document is in its author's «Мои задачи» and in those of its
folder's keeper; a submitted report has someone who can accept it by default (the agency's Clerk); the batch-issue
form is shown only to those who may issue (or prepare), and a clerk's prepared batch is issued by a signatory with
the PIN, once."""
from __future__ import annotations

import io

from sqlalchemy import func, select

from dms.models import Certificate, IssueBatch
from dms.certificates import service as certs
from dms.documents import service as documents
from dms.people import users
from dms.workflow import service as wf

from .conftest import csrf_of
from .pdfs import make_pdf
from .test_certificates import centre  # noqa: F401  (fixture)
from .test_signing import PIN, ca_template, pki  # noqa: F401  (fixtures)
from .test_workflow import _take

CSV = ("ФИО;Квалификация;Уровень;Дата экзамена;Номер протокола\n"
       "Гусев Олег Ильич;Монтажник;3;01.03.2026;П-3\nБелова Вера Ильинична;Монтажник;3;01.03.2026;П-3\n")


def _centre_pending(rt, status: str) -> None:  # noqa: ANN001
    from dms.models import Organisation
    with rt.db.session() as s:
        s.scalars(select(Organisation)).one().pending_status = status


def _tasks(rt, login: str) -> dict[int, str]:  # noqa: ANN001
    with rt.db.session() as s:
        return {d.id: t.name for d, t in wf.worklist(s, users.get_user(s, login))}


def test_a_returned_order_reaches_its_authors_tasks_and_its_folder_keepers(app, rt, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.user("director", "Signatory")
    world.user("keeper")
    world.user("stranger")
    world.folder("/ЦОК/Приказы")
    world.folder("/Другое")
    world.share("/ЦОК", "keeper", "Editor")
    world.share("/Другое", "stranger", "Editor")
    doc = world.document("clerk", "/ЦОК/Приказы", make_pdf("приказ"), doc_type="order", title="О комиссии")
    _take(rt, "clerk", doc.id, "register")
    _take(rt, "clerk", doc.id, "send_to_signing")
    assert doc.id not in _tasks(rt, "clerk") and _tasks(rt, "director")[doc.id] == "sign"
    _take(rt, "director", doc.id, "return_to_draft", comment="уточните состав комиссии")
    assert _tasks(rt, "clerk")[doc.id] == "send_to_signing"
    assert _tasks(rt, "keeper")[doc.id] == "send_to_signing"
    assert doc.id not in _tasks(rt, "stranger") and doc.id not in _tasks(rt, "director")
    web = app.test_client()
    world.login(web, "clerk")
    assert "О комиссии" in web.get("/worklist").get_data(as_text=True)
    _take(rt, "clerk", doc.id, "send_to_signing")
    assert doc.id not in _tasks(rt, "clerk")  # taken forward: no longer waiting for the author


def test_a_submitted_report_is_accepted_by_the_agencys_clerk_by_default(rt, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.user("site")
    world.folder("/Отчёты/Площадка")
    world.share("/Отчёты/Площадка", "site", "Editor")
    rep = world.document("site", "/Отчёты/Площадка", make_pdf("отчёт"), doc_type="report", title="Отчёт за квартал")
    _take(rt, "site", rep.id, "submit")
    assert _tasks(rt, "clerk")[rep.id] == "accept"
    with rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        assert {o.transition.name: o.allowed for o in wf.options(s, clerk, documents.get(s, clerk, rep.id))} == \
            {"accept": True, "return": True}
    _take(rt, "clerk", rep.id, "return", comment="нет подписи руководителя")
    assert _tasks(rt, "site")[rep.id] == "submit"  # returned: back in the author's tasks
    _take(rt, "site", rep.id, "submit")
    assert _take(rt, "clerk", rep.id, "accept").state == "accepted"


def test_the_issue_form_is_shown_only_to_those_who_may_issue_or_prepare(app, world, centre):  # noqa: ANN001, F811
    world.user("nobody")
    web = app.test_client()
    world.login(web, "nobody")
    assert web.get("/certificates/issue").status_code == 404
    assert "/certificates/issue" not in web.get("/certificates").get_data(as_text=True)
    world.login(web, "clerk")
    page = web.get("/certificates/issue").get_data(as_text=True)
    assert 'name="pin"' not in page and "подготовить к подписи" in page
    world.login(web, "head")
    page = web.get("/certificates/issue").get_data(as_text=True)
    assert 'name="pin"' in page and "Проверить и выдать" in page


def test_a_clerk_prepares_a_batch_that_a_signatory_issues_with_the_pin_once(app, rt, world, centre):  # noqa: ANN001, F811
    clerk, head = app.test_client(), app.test_client()
    world.login(clerk, "clerk")
    world.login(head, "head")
    r = clerk.post("/certificates/issue", content_type="multipart/form-data", data={
        "csrf_token": csrf_of(clerk, "/certificates/issue"), "centre": centre, "action": "prepare",
        "file": (io.BytesIO(CSV.encode()), "protokol.csv")})
    assert r.status_code == 302, r.get_data(as_text=True)
    batch_url = r.headers["Location"]
    batch_id = int(batch_url.rsplit("/", 1)[1])
    with rt.db.session() as s:
        assert s.get(IssueBatch, batch_id).stage == "prepared"
        assert s.scalar(select(func.count()).select_from(Certificate)) == 0
        assert [b.id for b in certs.prepared_batches(s, users.get_user(s, "head"))] == [batch_id]
    assert "Подписать и выдать" not in clerk.get(batch_url).get_data(as_text=True)
    assert "Подписать и выдать" in head.get(batch_url).get_data(as_text=True)
    from dms import jobs
    jobs.announce(rt)  # a job worker listens (this process: run_pending below); the signing is its job
    token = csrf_of(head, batch_url)
    _centre_pending(rt, "excluded")  # the centre's exclusion is decided meanwhile: refused, the batch still waits
    head.post(f"/certificates/batches/{batch_id}/sign", data={"csrf_token": token, "pin": PIN, "confirm": "1"})
    jobs.run_pending(rt)
    with rt.db.session() as s:
        batch = s.get(IssueBatch, batch_id)
        assert batch.stage == "prepared" and "ждёт подписи" in batch.error
    _centre_pending(rt, "")
    head.post(f"/certificates/batches/{batch_id}/sign", data={"csrf_token": token, "pin": PIN, "confirm": "1"})
    jobs.run_pending(rt)
    with rt.db.session() as s:
        batch = s.get(IssueBatch, batch_id)
        assert batch.stage == "done" and batch.signed_by_id == users.get_user(s, "head").id
        assert s.scalar(select(func.count()).select_from(Certificate).where(Certificate.batch_id == batch_id)) == 2
    r = head.post(f"/certificates/batches/{batch_id}/sign", data={"csrf_token": token, "pin": PIN, "confirm": "1"},
                  follow_redirects=True)
    assert "не ждёт подписи" in r.get_data(as_text=True)
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Certificate)) == 2


def test_the_api_prepares_and_issues_in_two_steps(client, rt, world, centre):  # noqa: ANN001, F811
    clerk, head = world.token(client, "clerk"), world.token(client, "head")
    r = client.post("/api/v1/certificates/batches/prepared", headers=clerk, content_type="multipart/form-data",
                    data={"centre": centre, "file": (io.BytesIO(CSV.encode()), "p.csv")})
    assert r.status_code == 201 and r.get_json()["stage"] == "prepared"
    batch_id = r.get_json()["batch"]
    assert [b["batch"] for b in client.get("/api/v1/certificates/batches/prepared", headers=head)
            .get_json()["items"]] == [batch_id]
    assert client.post(f"/api/v1/certificates/batches/{batch_id}/issue", headers=clerk,
                       json={"pin": PIN}).status_code == 403
    from dms import jobs
    jobs.announce(rt)  # a job worker listens (this process: run_pending below); the signing is its job
    r = client.post(f"/api/v1/certificates/batches/{batch_id}/issue", headers=head, json={"pin": PIN})
    assert r.status_code == 202 and r.get_json()["batch"] == batch_id, r.get_json()
    jobs.run_pending(rt)
    assert len(client.get(r.get_json()["url"], headers=head).get_json()["issued"]) == 2
    again = client.post(f"/api/v1/certificates/batches/{batch_id}/issue", headers=head, json={"pin": PIN})
    assert again.status_code == 409  # taken once


def test_the_cli_prepares_and_a_signatory_issues(rt, settings, world, centre, tmp_path):  # noqa: ANN001, F811
    import json

    from .test_cli import dms
    path = tmp_path / "protokol.csv"
    path.write_text(CSV, encoding="utf-8")
    r = dms(settings, "certificates", "prepare", str(path), "--centre", centre, "--as", "clerk")
    assert r.returncode == 0, r.stderr
    batch_id = json.loads(r.stdout)["batch"]
    r = dms(settings, "certificates", "sign-batch", str(batch_id), "--as", "clerk", stdin=PIN + "\n")
    assert r.returncode == 3 and len(r.stderr.strip().splitlines()) == 1  # a clerk may not issue
    r = dms(settings, "certificates", "sign-batch", str(batch_id), "--as", "head", stdin=PIN + "\n")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 2
