"""Records management (issue 7): a legal hold blocks every path to deletion for every role; disposition destroys
only what its rule allows and only after approval, with an audit event each; trash, restore and purge round
trip (rows, objects, search); a declared record is immutable."""
from __future__ import annotations

import contextlib
import io
import json
from datetime import date, datetime, UTC

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from dms.api.openapi import openapi_document
from dms.cli import main as dms_main
from dms.errors import Conflict
from dms.models import AuditEvent, Certificate, Document, DispositionItem, Organisation, TrashEntry, Version
from dms.records.retention import RETENTION, Disposal, due_date, rule_for
from dms.security import Forbidden
from dms.documents import service as documents
from dms.documents import folders
from dms.fulltext import indexing
from dms.records import service as records
from dms.people import users
from dms.fulltext import service as search_svc
from dms.workflow import service as wf_svc

from tests.fuzz.conformance import problems

from .conftest import csrf_of
from .pdfs import make_pdf
from .test_signing import ca_template, pki  # noqa: F401  (fixtures)

# Who could move a document to the trash without a hold (Edit on it), and who never could.
EDITING_ROLES = ("admin", "clerk", "editor")
ALL_ROLES = EDITING_ROLES + ("auditor", "signer", "reader")


@pytest.fixture
def people(world):  # noqa: ANN001, ANN201
    world.user("admin", "Administrator")
    world.user("archivist", "Administrator")
    world.user("clerk", "Clerk")
    world.user("auditor", "Auditor")
    world.user("signer", "Signatory")
    world.user("editor")
    world.user("reader")
    world.folder("/Дела/Спор")
    world.share("/Дела", "editor", "Editor")
    world.share("/Дела", "reader", "Reader")
    return world


def _doc(world, title: str, path: str = "/Дела/Спор", doc_type: str = "application", text: str | None = None):  # noqa: ANN001, ANN202
    meta = {"applicant": "Петров П. П."} if doc_type == "application" else None
    return world.document("clerk", path, make_pdf(text or title), doc_type=doc_type, title=title, meta=meta).id


def _cli(settings, *args: str):  # noqa: ANN001, ANN202
    env = {"DMS_DATA_DIR": str(settings.data_dir), "DMS_DATABASE_URL": settings.database_url,
           "DMS_STORAGE_URL": settings.storage_url, "DMS_INDEX_DIR": str(settings.index_dir),
           "DMS_SECRET_KEY": "x"}
    return CliRunner().invoke(dms_main, ["records", *args], env=env, catch_exceptions=False)


def _trash_via_web(app, world, settings, login: str, doc_id: int) -> None:  # noqa: ANN001
    client = app.test_client()
    world.login(client, login)
    r = client.post(f"/documents/{doc_id}/trash", data={"csrf_token": csrf_of(client, "/"), "reason": "лишний"})
    assert r.status_code in (302, 403, 404, 409), r.status_code


def _trash_via_api(app, world, settings, login: str, doc_id: int) -> None:  # noqa: ANN001
    client = app.test_client()
    r = client.post(f"/api/v1/documents/{doc_id}/trash", headers=world.token(client, login), json={"reason": "x"})
    assert r.status_code in (200, 403, 404, 409), r.status_code


def _trash_via_cli(app, world, settings, login: str, doc_id: int) -> None:  # noqa: ANN001
    _cli(settings, "trash", str(doc_id), "--as", login)


def _trash_via_service(app, world, settings, login: str, doc_id: int) -> None:  # noqa: ANN001
    with world.rt.db.session() as s:
        actor = users.get_user(s, login)
        with contextlib.suppress(Conflict, Forbidden):
            records.trash(s, actor, s.get(Document, doc_id), "x")


TRASH_ROUTES = {"web": _trash_via_web, "api": _trash_via_api, "cli": _trash_via_cli, "service": _trash_via_service}


def _in_trash(rt, doc_id: int) -> bool:  # noqa: ANN001
    with rt.db.session() as s:
        return s.get(TrashEntry, doc_id) is not None


def _exists(rt, doc_id: int) -> bool:  # noqa: ANN001
    with rt.db.session() as s:
        return s.get(Document, doc_id) is not None


def _hold(rt, reason: str, *, doc_id: int | None = None, folder: str | None = None) -> int:  # noqa: ANN001
    with rt.db.session() as s:
        admin = users.get_user(s, "admin")
        return records.place_hold(s, admin, reason, document=s.get(Document, doc_id) if doc_id else None,
                                  folder=folders.resolve(s, folder) if folder else None).id


def _release(rt, hold_id: int) -> None:  # noqa: ANN001
    with rt.db.session() as s:
        records.release_hold(s, users.get_user(s, "admin"), hold_id, "спор урегулирован")


def _backdate(rt, doc_id: int, reg: date) -> None:  # noqa: ANN001
    with rt.db.session() as s:
        s.get(Document, doc_id).reg_date = reg


@pytest.mark.parametrize("hold_on", ["document", "folder above"])
def test_document_on_hold_cannot_be_trashed_by_any_role_or_route(app, people, settings, rt, hold_on):  # noqa: ANN001
    held = _doc(people, "Заявление по спору")
    control = _doc(people, "Заявление без спора", path="/Дела")
    _hold(rt, "судебный запрос № 12", **({"doc_id": held} if hold_on == "document" else {"folder": "/Дела/Спор"}))
    for route, trash in TRASH_ROUTES.items():
        for login in ALL_ROLES:
            trash(app, people, settings, login, held)
            assert not _in_trash(rt, held), (route, login)
        # The same route and an editing role do trash an unheld document: the refusal above is the hold's.
        trash(app, people, settings, "clerk", control)
        assert _in_trash(rt, control), route
        with rt.db.session() as s:
            records.restore(s, users.get_user(s, "clerk"), s.get(Document, control))


def test_roles_without_edit_cannot_trash_and_editing_roles_can(app, people, settings, rt):  # noqa: ANN001
    for login in ("auditor", "signer", "reader"):
        doc = _doc(people, f"Документ для {login}", path="/Дела")
        _trash_via_api(app, people, settings, login, doc)
        assert not _in_trash(rt, doc), login
    for login in EDITING_ROLES:
        doc = _doc(people, f"Документ для {login}", path="/Дела")
        _trash_via_api(app, people, settings, login, doc)
        assert _in_trash(rt, doc), login


def test_hold_blocks_purge_by_cli_and_service_until_released(people, settings, rt):  # noqa: ANN001
    doc = _doc(people, "Удалённое заявление")
    with rt.db.session() as s:
        key = s.get(Document, doc).current_version.object_key
        records.trash(s, users.get_user(s, "clerk"), s.get(Document, doc), "ошибка")
    hold = _hold(rt, "проверка прокуратуры", folder="/Дела")  # the hold comes after the trash and still binds
    r = _cli(settings, "purge", "--days", "0", "--as", "admin")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["skipped"][0]["document"] == doc
    with rt.db.session() as s:
        assert records.purge(s, users.get_user(s, "admin"), days=0, store=rt.store).purged == []
    assert _exists(rt, doc) and rt.store.exists(key)
    _release(rt, hold)
    r = _cli(settings, "purge", "--days", "0", "--as", "admin")
    assert [p["document"] for p in json.loads(r.output)["purged"]] == [doc]
    assert not _exists(rt, doc) and not rt.store.exists(key)


@pytest.mark.parametrize("login", ["clerk", "editor", "auditor", "signer", "reader"])
def test_only_an_administrator_purges(people, settings, rt, login):  # noqa: ANN001
    doc = _doc(people, "Заявление в корзине")
    with rt.db.session() as s:
        records.trash(s, users.get_user(s, "clerk"), s.get(Document, doc))
    r = _cli(settings, "purge", "--days", "0", "--as", login)
    assert r.exit_code != 0 and "отказано" in r.output
    assert _exists(rt, doc)


def _find(rt, q: str) -> list[int]:  # noqa: ANN001
    with rt.db.session() as s:
        actor = users.get_user(s, "admin")
        found = search_svc.search_documents(s, rt, actor, search_svc.parse_query({"q": q})).as_dict()
    return [int(i["id"]) for i in found["items"]]


def _listed(rt, path: str) -> list[int]:  # noqa: ANN001
    with rt.db.session() as s:
        return [d.id for d in folders.documents(s, users.get_user(s, "admin"), folders.resolve(s, path))[1]]


def test_trash_restore_purge_round_trip_with_search_and_objects(app, people, settings, rt):  # noqa: ANN001
    doc = _doc(people, "Заявление сварщика", text="заявление сварщика Петрова")
    twin = _doc(people, "Копия заявления сварщика", text="заявление сварщика Петрова")  # the same bytes: one object
    indexing.drain(rt)
    assert set(_find(rt, "сварщика")) == {doc, twin}
    with rt.db.session() as s:
        key = s.get(Document, doc).current_version.object_key
        assert s.get(Document, twin).current_version.object_key == key
    client = app.test_client()
    h = people.token(client, "clerk")
    assert client.post(f"/api/v1/documents/{doc}/trash", headers=h, json={"reason": "дубль"}).status_code == 200
    indexing.drain(rt)
    assert _find(rt, "сварщика") == [twin] and doc not in _listed(rt, "/Дела/Спор")
    assert client.patch(f"/api/v1/documents/{doc}", headers=h, json={"title": "правка"}).status_code == 409
    assert client.post(f"/api/v1/documents/{doc}/restore", headers=h).status_code == 200
    indexing.drain(rt)
    assert set(_find(rt, "сварщика")) == {doc, twin} and doc in _listed(rt, "/Дела/Спор")

    for victim in (doc, twin):
        r = _cli(settings, "trash", str(victim), "--as", "clerk")
        assert r.exit_code == 0, r.output
    r = _cli(settings, "purge", "--as", "admin")  # DMS_TRASH_DAYS (30) have not passed
    assert json.loads(r.output)["purged"] == [] and _exists(rt, doc)
    with rt.db.session() as s:  # the twin stays in the trash longer: its object must survive the first purge
        s.get(TrashEntry, twin).trashed_at = datetime(2000, 1, 1, tzinfo=UTC)
        s.get(TrashEntry, doc).trashed_at = datetime(2001, 1, 1, tzinfo=UTC)
    with rt.db.session() as s:
        result = records.purge(s, users.get_user(s, "admin"), days=30, store=rt.store,
                               now=datetime(2000, 12, 1, tzinfo=UTC))
    assert [p["document"] for p in result.purged] == [twin] and result.objects.kept_referenced == [key]
    assert rt.store.exists(key)
    r = _cli(settings, "purge", "--as", "admin")
    assert json.loads(r.output)["objects"]["deleted"] == [key] and not rt.store.exists(key)
    indexing.drain(rt)
    assert _find(rt, "сварщика") == []
    with rt.db.session() as s:
        events = s.scalars(select(AuditEvent.action).where(AuditEvent.object_id == doc,
                                                           AuditEvent.action.startswith("records."))
                           .order_by(AuditEvent.id)).all()
        assert events == ["records.trash", "records.restore", "records.trash", "records.purge"]


def test_a_refused_document_in_the_trash_does_not_stop_the_purge_of_the_others(people, rt):  # noqa: ANN001
    """A certificate of the register never leaves with its trashed document (it can only reach the trash by a
    path other than the trash service, e.g. an older archive): the purge skips it with the reason and goes on."""
    cert_doc, plain = _doc(people, "Свидетельство из старого архива"), _doc(people, "Черновик")
    with rt.db.session() as s:
        centre = Organisation(code="ЦОК-СТАР", name="Старый центр", kind="assessment_centre")
        s.add(centre)
        s.flush()
        s.add(Certificate(document_id=cert_doc, number="OLD-1", centre_id=centre.id, holder_name="Иванов И. И.",
                          holder_surname="иванов", qualification="Сварщик", level=3,
                          issue_date=date(2001, 1, 1), token="old-token-1"))
        for doc_id in (cert_doc, plain):
            s.add(TrashEntry(document_id=doc_id, trashed_at=datetime(2000, 1, 1, tzinfo=UTC)))
    with rt.db.session() as s:
        result = records.purge(s, users.get_user(s, "admin"), days=30, store=rt.store)
    assert [p["document"] for p in result.purged] == [plain] and not _exists(rt, plain)
    assert result.skipped == [{"document": cert_doc,
                               "reason": "свидетельство из реестра не уничтожается вместе с записью реестра"}]
    assert _exists(rt, cert_doc)


def test_declared_record_is_immutable_and_leaves_only_by_disposition(app, people, settings, rt):  # noqa: ANN001
    doc = _doc(people, "Заявление — архивная запись", doc_type="other")
    with rt.db.session() as s, pytest.raises(Forbidden):
        records.declare_record(s, users.get_user(s, "clerk"), s.get(Document, doc))
    r = _cli(settings, "declare", str(doc), "--reason", "дело закрыто", "--as", "admin")
    assert r.exit_code == 0, r.output
    stored = documents.store_upload(rt.store, io.BytesIO(make_pdf("новая")), "n.pdf", 10**6)
    for change in (lambda s, a, d: documents.add_version(s, a, d, stored),
                   lambda s, a, d: documents.update_metadata(s, a, d, title="Новое название"),
                   lambda s, a, d: wf_svc.execute(s, a, d, "register"),
                   lambda s, a, d: records.trash(s, a, d)):
        with rt.db.session() as s, pytest.raises(Conflict):
            change(s, users.get_user(s, "admin"), s.get(Document, doc))
    with rt.db.session() as s:
        d = s.get(Document, doc)
        assert (d.title, d.state, s.scalar(select(func.count()).where(Version.document_id == doc))) == \
            ("Заявление — архивная запись", "draft", 1)
    _backdate(rt, doc, date(2010, 5, 1))
    with rt.db.session() as s:
        admin = users.get_user(s, "admin")
        batch = records.propose(s, admin)
        records.approve(s, users.get_user(s, "archivist"), batch.id)
        records.execute(s, admin, batch.id, store=rt.store)
    assert not _exists(rt, doc)


def test_retention_table_covers_every_type_and_counts_from_the_next_january():
    from dms.documents.doctypes import DOC_TYPES
    assert set(RETENTION) == set(DOC_TYPES)
    assert rule_for("order").disposal is Disposal.KEEP and due_date(rule_for("order"), date(2000, 1, 1)) is None
    assert due_date(rule_for("application"), date(2019, 12, 31)) == date(2025, 1, 1)
    assert due_date(rule_for("certificate"), date(2020, 6, 1)) == date(2096, 1, 1)


def _events(rt, action: str) -> list[int]:  # noqa: ANN001
    with rt.db.session() as s:
        return list(s.scalars(select(AuditEvent.object_id).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_disposition_destroys_only_what_the_rule_allows_and_only_after_approval(app, people, settings, rt):  # noqa: ANN001
    old = _doc(people, "Старое заявление", path="/Дела")
    fresh = _doc(people, "Новое заявление", path="/Дела")
    order = _doc(people, "Старый приказ", path="/Дела", doc_type="order")
    held = _doc(people, "Старое заявление по спору")
    for doc_id in (old, order, held):
        _backdate(rt, doc_id, date(2015, 3, 1))
    _hold(rt, "иск", folder="/Дела/Спор")
    with rt.db.session() as s:
        old_key = s.get(Document, old).current_version.object_key

    r = _cli(settings, "disposition", "list", "--as", "auditor")
    due = {d["document_id"]: d for d in json.loads(r.output)}
    assert set(due) == {old, held} and due[held]["blocked"] and not due[old]["blocked"]

    client = app.test_client()
    h_admin, h_clerk = people.token(client, "admin"), people.token(client, "clerk")
    assert client.post("/api/v1/records/disposition", headers=h_clerk).status_code == 403
    r = client.post("/api/v1/records/disposition", headers=h_admin)
    assert r.status_code == 201
    batch = r.get_json()
    assert [i["document_id"] for i in batch["items"]] == [old]
    bid = batch["id"]
    assert client.post(f"/api/v1/records/disposition/{bid}/execute", headers=h_admin).status_code == 409
    assert _exists(rt, old) and _events(rt, "records.destroy") == []
    for login in ("clerk", "auditor", "signer"):
        h = people.token(client, login)
        assert client.post(f"/api/v1/records/disposition/{bid}/approve", headers=h).status_code == 403
        assert client.post(f"/api/v1/records/disposition/{bid}/execute", headers=h).status_code == 403
    r = _cli(settings, "disposition", "approve", str(bid), "--as", "admin")
    assert r.exit_code != 0 and "утвердить его должен другой администратор" in r.output  # four eyes
    r = _cli(settings, "disposition", "approve", str(bid), "--as", "archivist")
    assert r.exit_code == 0, r.output
    web = app.test_client()
    people.login(web, "admin")
    r = web.post(f"/records/disposition/{bid}/execute", data={"csrf_token": csrf_of(web, "/records/disposition")})
    assert r.status_code == 302 and "/jobs/" in r.headers["Location"]  # a durable job (issue 17.3)
    from dms import jobs
    assert jobs.run_pending(rt) == 1
    assert "выполнено" in web.get(r.headers["Location"]).get_data(as_text=True)
    assert [_exists(rt, d) for d in (old, fresh, order, held)] == [False, True, True, True]
    assert not rt.store.exists(old_key)
    assert _events(rt, "records.destroy") == [old]
    with rt.db.session() as s:
        item = s.scalars(select(DispositionItem).where(DispositionItem.document_id == old)).one()
        assert item.status == "destroyed" and item.outcome["versions"][0]["sha256"] == old_key
    page = web.get(f"/records/disposition/{bid}").get_data(as_text=True)
    assert "уничтожен" in page and "Старое заявление" in page
    executed = client.get(f"/api/v1/records/disposition/{bid}", headers=h_admin)
    assert not problems(openapi_document(), "GET", "/records/disposition/{disposition_id}", 200, executed.get_json())
    act_id = executed.get_json()["act_document_id"]
    assert act_id and f'href="/documents/{act_id}">Акт об уничтожении в архиве' in page  # filed by the job too


def test_hold_placed_after_approval_still_blocks_disposition(people, settings, rt):  # noqa: ANN001
    doc = _doc(people, "Заявление под будущим иском")
    _backdate(rt, doc, date(2012, 1, 10))
    r = _cli(settings, "disposition", "propose", "--as", "admin")
    bid = json.loads(r.output)["id"]
    assert _cli(settings, "disposition", "approve", str(bid), "--as", "archivist").exit_code == 0
    _hold(rt, "иск поступил после утверждения акта", doc_id=doc)
    r = _cli(settings, "disposition", "execute", str(bid), "--as", "admin")
    item = json.loads(r.output)["items"][0]
    assert item["status"] == "skipped" and "удержанием" in item["outcome"]["reason"]
    assert _exists(rt, doc) and _events(rt, "records.destroy") == []
    assert _events(rt, "records.disposition.skip") == [doc]


def test_hold_and_release_are_audited_with_a_reason_and_need_an_administrator(app, people, rt):  # noqa: ANN001
    doc = _doc(people, "Заявление")
    client = app.test_client()
    for login in ("clerk", "auditor", "editor"):
        r = client.post("/api/v1/records/holds", headers=people.token(client, login),
                        json={"document_id": doc, "reason": "x"})
        assert r.status_code in (403, 404), login
    h = people.token(client, "admin")
    assert client.post("/api/v1/records/holds", headers=h, json={"document_id": doc}).status_code == 400
    hold = client.post("/api/v1/records/holds", headers=h,
                       json={"document_id": doc, "reason": "запрос суда"}).get_json()
    assert client.post(f"/api/v1/records/holds/{hold['id']}/release", headers=h,
                       json={"reason": "отозван"}).status_code == 200
    with rt.db.session() as s:
        rows = s.execute(select(AuditEvent.action, AuditEvent.details).where(
            AuditEvent.action.in_(("records.hold", "records.release"))).order_by(AuditEvent.id)).all()
    assert [(a, d["reason"]) for a, d in rows] == [("records.hold", "запрос суда"), ("records.release", "отозван")]
    status = client.get(f"/api/v1/documents/{doc}/records", headers=h).get_json()
    assert status["holds"] == [] and status["retention"]["disposal"] == "destroy"


def test_records_pages_are_for_administrators_and_auditors_and_a_hold_is_placed_from_the_web(app, people, rt):  # noqa: ANN001
    doc = _doc(people, "Заявление для удержания")
    pages = ("/records", "/records/trash", "/records/disposition")
    for login, expected in (("auditor", 200), ("clerk", 403), ("editor", 403)):
        client = app.test_client()
        people.login(client, login)
        assert [client.get(p).status_code for p in pages] == [expected] * 3, login
    client = app.test_client()
    people.login(client, "auditor")
    r = client.post("/records/holds", data={"csrf_token": csrf_of(client, "/records"), "document_id": str(doc),
                                            "reason": "x"})
    assert r.status_code == 403
    client = app.test_client()
    people.login(client, "admin")
    token = csrf_of(client, "/records")
    client.post("/records/holds", data={"csrf_token": token, "folder": "/Дела", "reason": "ревизия"})
    assert "ревизия" in client.get("/records").get_data(as_text=True)
    with rt.db.session() as s:
        assert [h.reason for h in records.active_holds(s, s.get(Document, doc))] == ["ревизия"]
    r = client.post(f"/documents/{doc}/trash", data={"csrf_token": token}, follow_redirects=True)
    assert "юридическим удержанием" in r.get_data(as_text=True) and not _in_trash(rt, doc)


def test_trashed_document_leaves_the_worklist(people, rt):  # noqa: ANN001
    doc = _doc(people, "Отчёт на рассмотрении", path="/Дела", doc_type="report")
    people.share("/Дела", "reader", "Reviewer")
    with rt.db.session() as s:
        wf_svc.execute(s, users.get_user(s, "clerk"), s.get(Document, doc), "submit")
    with rt.db.session() as s:
        assert [d.id for d, _ in wf_svc.worklist(s, users.get_user(s, "reader"))] == [doc]
        records.trash(s, users.get_user(s, "reader"), s.get(Document, doc))  # the reviewer holds Edit there
    with rt.db.session() as s:
        assert wf_svc.worklist(s, users.get_user(s, "reader")) == []


def test_purge_keeps_objects_under_store_retention_and_reports_them(people, settings, rt):  # noqa: ANN001
    from datetime import timedelta
    doc = _doc(people, "Заявление с защищённым файлом")
    with rt.db.session() as s:
        key = s.get(Document, doc).current_version.object_key
        records.trash(s, users.get_user(s, "clerk"), s.get(Document, doc))
    if not rt.store.protect(key, datetime.now(UTC) + timedelta(days=1)):
        pytest.skip("this store cannot protect objects")
    r = _cli(settings, "purge", "--days", "0", "--as", "admin")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert [p["document"] for p in out["purged"]] == [doc]
    assert out["objects"] == {"deleted": [], "kept_referenced": [], "kept_protected": [key]}
    assert not _exists(rt, doc) and rt.store.exists(key)


def _approved_list(rt, doc_id: int) -> int:  # noqa: ANN001
    _backdate(rt, doc_id, date(2012, 1, 10))
    with rt.db.session() as s:
        batch = records.propose(s, users.get_user(s, "admin"))
        records.approve(s, users.get_user(s, "archivist"), batch.id)
        return batch.id


def test_a_rolled_back_disposition_deletes_nothing_from_the_store_and_a_committed_one_deletes_its_objects(
        people, rt):  # noqa: ANN001
    """The service removes the objects after the commit (dms.uow.after_commit), not its callers: a transaction that
    rolls back after `execute` leaves rows and bytes; the same list committed removes the bytes."""
    doc = _doc(people, "Заявление к уничтожению", text="заявление к уничтожению")
    with rt.db.session() as s:
        key = s.get(Document, doc).current_version.object_key
    bid = _approved_list(rt, doc)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), rt.db.session() as s:
        batch, objects = records.execute(s, users.get_user(s, "admin"), bid, store=rt.store)
        assert [i.status for i in batch.items] == ["destroyed"]
        assert rt.store.exists(key)  # nothing leaves the store before the commit
        raise Abort
    assert objects.deleted == [] and _exists(rt, doc) and rt.store.exists(key)
    with rt.db.session() as s:
        assert s.scalars(select(DispositionItem.status).where(DispositionItem.document_id == doc)).all() == ["proposed"]

    with rt.db.session() as s:
        batch, objects = records.execute(s, users.get_user(s, "admin"), bid, store=rt.store)
        assert rt.store.exists(key) and objects.deleted == []  # still inside the transaction
    assert objects.deleted == [key] and not rt.store.exists(key) and not _exists(rt, doc)


def test_a_rolled_back_purge_deletes_nothing_from_the_store(people, rt):  # noqa: ANN001
    doc = _doc(people, "Черновик в корзине", text="черновик в корзине")
    with rt.db.session() as s:
        key = s.get(Document, doc).current_version.object_key
        records.trash(s, users.get_user(s, "clerk"), s.get(Document, doc))

    class Abort(Exception):
        pass

    with pytest.raises(Abort), rt.db.session() as s:
        result = records.purge(s, users.get_user(s, "admin"), days=0, store=rt.store)
        assert [p["document"] for p in result.purged] == [doc]
        raise Abort
    assert result.objects.deleted == [] and _exists(rt, doc) and rt.store.exists(key)
    with rt.db.session() as s:
        result = records.purge(s, users.get_user(s, "admin"), days=0, store=rt.store)
    assert result.objects.deleted == [key] and not rt.store.exists(key) and not _exists(rt, doc)


def test_an_executed_disposition_files_its_act_as_a_sealed_record_that_validates(people, settings, rt, pki):  # noqa: ANN001, F811
    """The act (акт о выделении к уничтожению) after execution: a registered PDF in the archive's act folder, a
    declared record kept permanently, sealed with the archive TSA's document time-stamp that validates; it lists each
    destroyed document by type, number, date and title — no other personal data, nothing of what was not destroyed."""
    from pypdf import PdfReader

    from dms.records import retention
    from dms.signatures import service as sig_svc
    gone = _doc(people, "Заявление о допуске к экзамену", path="/Дела")
    held = _doc(people, "Заявление по спору")
    with rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        wf_svc.execute(s, clerk, s.get(Document, gone), "register")
        number = s.get(Document, gone).reg_number
    for doc_id in (gone, held):
        _backdate(rt, doc_id, date(2015, 3, 1))
    with rt.db.session() as s:
        batch = records.propose(s, users.get_user(s, "admin"))
        records.approve(s, users.get_user(s, "archivist"), batch.id)
        bid = batch.id
    _hold(rt, "иск", doc_id=held)
    r = _cli(settings, "disposition", "execute", str(bid), "--as", "admin")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    act_id = out["act_document_id"]
    assert act_id and {i["document_id"]: i["status"] for i in out["items"]} == {gone: "destroyed", held: "skipped"}
    assert not _exists(rt, gone) and _exists(rt, held)

    with rt.db.session() as s:
        admin = users.get_user(s, "admin")
        act = s.get(Document, act_id)
        assert folders.display_path(s, act.folder) == "/Архив/Акты об уничтожении"
        assert (act.doc_type, act.meta["kind"], act.state) == ("other", retention.ACT_KIND, "registered")
        assert act.reg_number and act.current_version.media_type == "application/pdf"
        status = records.status(s, act)
        assert status.record is not None and status.due is None and status.rule.years is None  # kept permanently
        report = sig_svc.validate_version(rt, s, admin, act, 1)
        pdf = rt.store.get_bytes(act.current_version.object_key)
        events = s.scalars(select(AuditEvent.action).where(AuditEvent.object_id == bid,
                                                           AuditEvent.object_type == "disposition")
                                                                   .order_by(AuditEvent.id)).all()
    assert report["authentic"], report["summary_ru"]
    assert [sig["kind"] for r in report["reports"] for sig in r["signatures"]] == ["document_timestamp"]
    assert "records.disposition.act" in events
    text = " ".join(" ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages).split())
    assert "АКТ О ВЫДЕЛЕНИИ К УНИЧТОЖЕНИЮ" in text and f"№ {bid}" in text
    assert "Заявление о допуске к экзамену" in text and number in text and "01.03.2015" in text
    assert "Заявление по спору" not in text  # held: not destroyed, not listed
    assert "Петров" not in text  # the applicant (metadata) is not in the act
    with rt.db.session() as s:  # no later list proposes the act
        assert act_id not in [d.doc.id for d in records.due_for_disposition(s, users.get_user(s, "admin"),
                                                                             date(2200, 1, 1))]
