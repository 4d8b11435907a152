"""The register of organisations (dms.register.rules): a centre goes from application to inclusion, audit and exclusion,
each step filing its document from a template into the organisation's register folder, numbered, sent to signing
and signed with a real PAdES signature — by the web UI and by the API; refusals leave everything as it was."""
from __future__ import annotations

import io
import json
import re
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from dms.models import AuditEvent, Document, Folder, Organisation, RegisterEvent, Version
from dms.register.rules import REGISTER_ROOT
from dms.documents import folders
from signing.validate import validate_pdf

from .conftest import csrf_of
from .test_cli import dms
from .test_signing import PIN, ca_template, issue, pki, trust  # noqa: F401  (fixtures)

YEAR = date.today().year
AG = f"АГЕНТСТВО-{YEAR}"  # the agency keeps the register: its documents are numbered in its series
CENTRE = {"kind": "assessment_centre", "name": "ООО «Центр оценки квалификаций „Вектор“»",
          "short_name": "ЦОК «Вектор»", "inn": "6901234566", "ogrn": "1026900001237", "kpp": "690101001",
          "city": "Тверь", "code": "ЦОК-69-001"}


@pytest.fixture
def office(world, pki, rt):  # noqa: ANN001, ANN201, F811
    """The agency (whose orders are numbered in its own series), a clerk, a director who signs, an auditor and a
    user with no role at all."""
    with rt.db.session() as s:
        s.add(Organisation(code="АГЕНТСТВО", name="АНО «Агентство развития квалификаций»", kind="agency",
                           city="Москва", inn="0000000027"))
    world.user("clerk", "Clerk")
    world.user("director", "Signatory")
    world.user("auditor", "Auditor")
    world.user("outsider")
    issue(rt, "director")
    return world


def _pdf_text(rt, doc_id: int) -> str:  # noqa: ANN001
    with rt.db.session() as s:
        doc = s.get(Document, doc_id)
        key = s.get(Version, doc.current_version_id).object_key
    pages = PdfReader(io.BytesIO(rt.store.get_bytes(key))).pages
    return " ".join(" ".join(page.extract_text().split()) for page in pages)


def _current_bytes(rt, doc_id: int) -> bytes:  # noqa: ANN001
    with rt.db.session() as s:
        doc = s.get(Document, doc_id)
        return rt.store.get_bytes(s.get(Version, doc.current_version_id).object_key)


def _events(rt, org_id: int) -> list[tuple[str, str, str, int | None]]:  # noqa: ANN001
    with rt.db.session() as s:
        return [(e.transition, e.from_status, e.to_status, e.document_id) for e in s.scalars(
            select(RegisterEvent).where(RegisterEvent.organisation_id == org_id).order_by(RegisterEvent.id))]


def _doc(rt, doc_id: int) -> tuple[str, str | None, str, str]:  # noqa: ANN001
    """type, registration number, state, and the path of the folder it was filed in."""
    with rt.db.session() as s:
        doc = s.get(Document, doc_id)
        return doc.doc_type, doc.reg_number, doc.state, folders.display_path(s, doc.folder)


def _status(rt, org_id: int) -> tuple[str, str]:  # noqa: ANN001
    with rt.db.session() as s:
        org = s.get(Organisation, org_id)
        return org.register_status, org.pending_status


def _count(rt, model) -> int:  # noqa: ANN001
    with rt.db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def _assert_authentic(rt, doc_id: int) -> None:  # noqa: ANN001
    report = validate_pdf(_current_bytes(rt, doc_id), trust(rt))  # (an order's current version: its B-LTA one)
    assert report.authentic and [s.kind for s in report.signatures if s.kind != "document_timestamp"] == ["signature"]


def _web_post(client, url: str, **form) -> object:  # noqa: ANN001
    return client.post(url, data={"csrf_token": csrf_of(client, "/register"), **form})


def test_a_centre_goes_from_application_to_exclusion_by_the_web_ui_with_every_document_numbered_and_signed(
        app, rt, office):  # noqa: ANN001
    clerk, director = app.test_client(), app.test_client()
    office.login(clerk, "clerk")
    office.login(director, "director")
    folder = f"{REGISTER_ROOT}/{CENTRE['code']}"

    r = _web_post(clerk, "/register/apply", **CENTRE, reason="аттестат аккредитации № 12")
    assert r.status_code == 303, r.get_data(as_text=True)
    org_id = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    [(step, _, status, application)] = _events(rt, org_id)
    assert (step, status) == ("apply", "applied")
    assert _doc(rt, application) == ("application", f"ЗВ-{AG}-0001", "registered", folder)
    assert "ИНН 6901234566" in _pdf_text(rt, application) and "аттестат аккредитации № 12" in _pdf_text(rt, application)

    r = _web_post(clerk, f"/register/{org_id}/transitions/include")
    assert r.status_code == 303
    inclusion = _events(rt, org_id)[-1][3]
    assert _doc(rt, inclusion) == ("order", f"ПР-{AG}-0001", "on_signing", folder)
    assert _doc(rt, application)[2] == "registered"  # decided; it takes effect when the order is signed
    assert _status(rt, org_id) == ("applied", "included")
    assert "решение принято, ожидает подписи" in clerk.get(f"/register/{org_id}").get_data(as_text=True)
    text = _pdf_text(rt, inclusion)
    assert f"№ ПР-{AG}-0001" in text and "ПРИКАЗ" in text and "Включить ООО «Центр оценки квалификаций" in text
    assert "О включении ЦОК «Вектор»" in director.get("/worklist").get_data(as_text=True)
    r = director.post(f"/documents/{inclusion}/sign", data={"pin": PIN, "csrf_token": csrf_of(director, "/worklist")})
    assert r.status_code == 302 and _doc(rt, inclusion)[2] == "signed"
    _assert_authentic(rt, inclusion)
    assert _status(rt, org_id) == ("included", "") and _doc(rt, application)[2] == "accepted"

    r = _web_post(clerk, f"/register/{org_id}/transitions/start_audit", reason="плановая проверка на 2026 год")
    assert r.status_code == 303
    report = _events(rt, org_id)[-1][3]
    assert _doc(rt, report) == ("report", f"ОТ-{AG}-0001", "submitted", folder)
    assert "Основание проверки: плановая проверка на 2026 год" in _pdf_text(rt, report)
    r = director.post(f"/documents/{report}/sign", data={"pin": PIN, "csrf_token": csrf_of(director, "/worklist")})
    assert r.status_code == 302
    _assert_authentic(rt, report)

    r = _web_post(clerk, f"/register/{org_id}/transitions/finish_audit")
    assert r.status_code == 400 and "укажите: результат проверки" in r.get_data(as_text=True)
    r = _web_post(clerk, f"/register/{org_id}/transitions/finish_audit", reason="нарушений не выявлено")
    assert r.status_code == 303
    assert _events(rt, org_id)[-1] == ("finish_audit", "under_audit", "included", report)

    documents_before = _count(rt, Document)
    r = _web_post(clerk, f"/register/{org_id}/transitions/exclude", reason="")
    assert r.status_code == 400 and "укажите: причина исключения" in r.get_data(as_text=True)
    assert _count(rt, Document) == documents_before and _events(rt, org_id)[-1][0] == "finish_audit"
    r = _web_post(clerk, f"/register/{org_id}/transitions/exclude", reason="заявление организации о прекращении "
                  "деятельности")
    assert r.status_code == 400 and "Подтвердите" in r.get_data(as_text=True)  # irreversible: confirmed first
    r = _web_post(clerk, f"/register/{org_id}/transitions/exclude", reason="заявление организации о прекращении "
                  "деятельности", confirm="1")
    assert r.status_code == 303
    exclusion = _events(rt, org_id)[-1][3]
    assert _doc(rt, exclusion) == ("order", f"ПР-{AG}-0002", "on_signing", folder)
    assert "В связи с: заявление организации о прекращении деятельности" in _pdf_text(rt, exclusion)
    director.post(f"/documents/{exclusion}/sign", data={"pin": PIN, "csrf_token": csrf_of(director, "/worklist")})
    assert _doc(rt, exclusion)[2] == "signed"
    _assert_authentic(rt, exclusion)

    assert [e[:3] for e in _events(rt, org_id)] == [
        ("apply", "", "applied"), ("include", "applied", "included"), ("start_audit", "included", "under_audit"),
        ("finish_audit", "under_audit", "included"), ("exclude", "included", "excluded")]
    card = clerk.get(f"/register/{org_id}").get_data(as_text=True)
    for number in (f"ЗВ-{AG}-0001", f"ПР-{AG}-0001", f"ОТ-{AG}-0001", f"ПР-{AG}-0002"):
        assert number in card
    assert "Исключена из Регистра" in card and card.count("подписан (1)") == 4  # finish_audit shows the report
    listing = clerk.get("/register?kind=assessment_centre&status=excluded").get_data(as_text=True)
    assert "ЦОК «Вектор»" in listing
    assert "ЦОК «Вектор»" not in clerk.get("/register?status=included").get_data(as_text=True)
    with rt.db.session() as s:
        actions = [a for a in s.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "organisation")
                                                .order_by(AuditEvent.id))]
    assert actions == ["register.apply", "register.include", "register.effective", "register.start_audit",
                       "register.finish_audit", "register.exclude", "register.effective"]


def _api(client, method: str, url: str, headers: dict, body: dict | None = None):  # noqa: ANN001, ANN202
    r = client.open("/api/v1" + url, method=method, headers=headers, json=body)
    return r.status_code, r.get_json()


def test_a_centre_goes_through_the_register_by_the_api_and_refusals_change_nothing(client, rt, office):  # noqa: ANN001
    clerk, director = office.token(client, "clerk"), office.token(client, "director")
    auditor, outsider = office.token(client, "auditor"), office.token(client, "outsider")

    status, body = _api(client, "POST", "/register", clerk, {**CENTRE, "code": ""})
    assert status == 201 and body["status"] == "applied" and body["code"] == "ЦОК-69-001"  # kind-region-number
    org_id = body["id"]
    assert body["history"][0]["document"]["reg_number"] == f"ЗВ-{AG}-0001"
    assert [t["name"] for t in body["transitions"]] == ["include", "reject"]

    status, body = _api(client, "POST", "/register", clerk, CENTRE)
    assert status == 409 and "ИНН 6901234566 уже есть в Регистре: ЦОК-69-001" in body["error"]["message"]
    status, body = _api(client, "POST", "/register", clerk, {**CENTRE, "inn": "12345", "kind": "bank"})
    assert status == 400 and set(body["error"]["details"]) == {"inn", "kind"}
    assert _api(client, "POST", "/register", auditor, {**CENTRE, "inn": "0000000035"})[0] == 403
    assert _api(client, "POST", f"/register/{org_id}/transitions/include", auditor)[0] == 403
    assert _api(client, "POST", f"/register/{org_id}/transitions/include", director)[0] == 403
    assert _api(client, "POST", f"/register/{org_id}/transitions/exclude", clerk, {"reason": "x"})[0] == 409
    status, body = _api(client, "POST", f"/register/{org_id}/transitions/dissolve", clerk)
    assert status == 400 and "include" in body["error"]["message"]
    assert _api(client, "GET", f"/register/{org_id}", outsider)[0] == 404
    assert _api(client, "POST", f"/register/{org_id}/transitions/include", outsider)[0] == 404
    assert _api(client, "GET", "/register", outsider)[1]["total"] == 0
    assert _events(rt, org_id)[-1][2] == "applied" and _count(rt, Document) == 1

    status, body = _api(client, "POST", f"/register/{org_id}/transitions/include", clerk,
                        {"reason": "решение комиссии"})
    assert status == 201 and (body["status"], body["pending_status"]) == ("applied", "included")
    order = body["event"]["document"]
    assert (order["reg_number"], order["state"], order["folder_id"]) == (f"ПР-{AG}-0001", "on_signing",
                                                                         body["folder_id"])
    worklist = _api(client, "GET", "/worklist", director)[1]["items"]
    assert [(i["id"], i["transition"]) for i in worklist] == [(order["id"], "sign")]
    assert _api(client, "POST", f"/documents/{order['id']}/signatures", director, {"pin": PIN})[0] == 201
    _assert_authentic(rt, order["id"])
    body = _api(client, "GET", f"/register/{org_id}", clerk)[1]
    assert (body["status"], body["pending_status"], body["status_reason"]) == ("included", None, "решение комиссии")

    status, body = _api(client, "POST", f"/register/{org_id}/transitions/start_audit", clerk, {"reason": "жалоба"})
    assert status == 201 and body["status"] == "under_audit"
    report = body["event"]["document"]
    assert (report["type"], report["reg_number"], report["state"]) == ("report", f"ОТ-{AG}-0001", "submitted")
    assert _api(client, "POST", f"/documents/{report['id']}/signatures", director, {"pin": PIN})[0] == 201
    status, body = _api(client, "POST", f"/register/{org_id}/transitions/finish_audit", clerk, {})
    assert status == 400 and "результат проверки" in body["error"]["message"]

    status, body = _api(client, "POST", f"/register/{org_id}/transitions/exclude", clerk, {"reason": "  "})
    assert status == 400 and body["error"]["details"] == {"reason": "обязательное поле"}
    status, body = _api(client, "POST", f"/register/{org_id}/transitions/exclude", clerk,
                        {"reason": "выявлены нарушения порядка проведения экзаменов"})
    assert status == 201 and (body["status"], body["pending_status"]) == ("under_audit", "excluded")
    order = body["event"]["document"]
    assert (order["reg_number"], order["state"]) == (f"ПР-{AG}-0002", "on_signing")
    assert _api(client, "POST", f"/register/{org_id}/transitions/reapply", clerk)[0] == 409  # waits for the order
    assert _api(client, "POST", f"/documents/{order['id']}/signatures", director, {"pin": PIN})[0] == 201
    _assert_authentic(rt, order["id"])
    assert _api(client, "GET", f"/register/{org_id}", clerk)[1]["status"] == "excluded"

    status, body = _api(client, "GET", f"/register/{org_id}", clerk)
    assert [(h["transition"], h["document"]["reg_number"], h["document"]["signatures"]) for h in body["history"]] == [
        ("apply", f"ЗВ-{AG}-0001", 0), ("include", f"ПР-{AG}-0001", 1), ("start_audit", f"ОТ-{AG}-0001", 1),
        ("exclude", f"ПР-{AG}-0002", 1)]
    assert body["documents"] == 4 and body["certificates"] == 0
    items = _api(client, "GET", "/register?status=excluded&kind=assessment_centre", auditor)[1]["items"]
    assert [i["code"] for i in items] == ["ЦОК-69-001"]
    assert _api(client, "GET", "/register?status=closed", auditor)[0] == 400

    # Re-application after exclusion is allowed: a new application, the history kept.
    status, body = _api(client, "POST", f"/register/{org_id}/transitions/reapply", clerk)
    assert status == 201 and body["status"] == "applied"
    assert body["event"]["document"]["reg_number"] == f"ЗВ-{AG}-0002" and len(body["history"]) == 5


def test_an_application_can_be_rejected_by_a_signed_order_and_the_organisation_may_apply_again(client, rt, office):  # noqa: ANN001
    clerk, director = office.token(client, "clerk"), office.token(client, "director")
    status, body = _api(client, "POST", "/register", clerk, {**CENTRE, "code": ""})
    org_id, application = body["id"], body["history"][0]["document"]
    assert [t["name"] for t in body["transitions"]] == ["include", "reject"]
    status, body = _api(client, "POST", f"/register/{org_id}/transitions/reject", clerk, {})
    assert status == 400 and body["error"]["details"] == {"reason": "обязательное поле"}
    status, body = _api(client, "POST", f"/register/{org_id}/transitions/reject", clerk,
                        {"reason": "не подтверждено наличие экзаменационной площадки"})
    assert status == 201 and (body["status"], body["pending_status"]) == ("applied", "rejected")
    order = body["event"]["document"]
    assert (order["type"], order["reg_number"], order["state"]) == ("order", f"ПР-{AG}-0001", "on_signing")
    assert "не подтверждено наличие экзаменационной площадки" in _pdf_text(rt, order["id"])
    assert _doc(rt, application["id"])[2] == "registered"  # until the order is signed
    assert _api(client, "POST", f"/documents/{order['id']}/signatures", director, {"pin": PIN})[0] == 201
    _assert_authentic(rt, order["id"])
    assert _doc(rt, application["id"])[2] == "rejected"  # the application's own workflow follows the signed order
    assert _status(rt, org_id) == ("rejected", "")
    assert _api(client, "POST", f"/register/{org_id}/transitions/include", clerk, {"reason": "x"})[0] == 409
    status, body = _api(client, "POST", f"/register/{org_id}/transitions/reapply", clerk)
    assert status == 201 and body["status"] == "applied"


def test_register_steps_need_the_permissions_of_the_table_on_the_register_folder(app, client, rt, office):  # noqa: ANN001
    """Who may take a step comes from dms.register.rules's permissions held on the register's root folder: a global Clerk,
    or a user granted a local role there — and not a centre's own editor, whose folder is elsewhere."""
    clerk = office.token(client, "clerk")
    org_id = _api(client, "POST", "/register", clerk, CENTRE)[1]["id"]
    office.user("registrar")
    office.share(REGISTER_ROOT, "registrar", "Editor")
    office.user("reader")
    office.share(REGISTER_ROOT, "reader", "Reader")
    registrar, reader = office.token(client, "registrar"), office.token(client, "reader")
    assert _api(client, "GET", f"/register/{org_id}", reader)[0] == 200
    assert _api(client, "POST", f"/register/{org_id}/transitions/include", reader)[0] == 403
    status, body = _api(client, "POST", f"/register/{org_id}/transitions/include", registrar)
    assert status == 201 and body["pending_status"] == "included"

    web = app.test_client()
    office.login(web, "reader")
    page = web.get(f"/register/{org_id}").get_data(as_text=True)
    assert "ЦОК «Вектор»" in page and "/transitions/start_audit" not in page and "/register/apply" not in page
    r = web.post(f"/register/{org_id}/transitions/reject",
                 data={"reason": "проверка", "confirm": "1", "csrf_token": csrf_of(web, "/register")})
    assert r.status_code == 403
    office.login(web, "outsider")
    assert web.get(f"/register/{org_id}").status_code == 404
    assert "ЦОК «Вектор»" not in web.get("/register").get_data(as_text=True)
    r = web.post("/register/apply", data={**CENTRE, "inn": "0000000035", "csrf_token": csrf_of(web, "/register")})
    assert r.status_code == 403
    assert _count(rt, Organisation) == 2


def test_web_apply_with_bad_fields_answers_400_with_the_message_and_keeps_what_was_typed(app, rt, office):  # noqa: ANN001
    web = app.test_client()
    office.login(web, "clerk")
    r = _web_post(web, "/register/apply", **{**CENTRE, "inn": "12ab"})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "ИНН: 10 цифр" in page and CENTRE["city"] in page
    assert _count(rt, Organisation) == 1 and _count(rt, Document) == 0
    r = web.get("/register?status=nonsense")
    assert r.status_code == 400 and "состояние: одно из" in r.get_data(as_text=True)


def test_cli_applies_includes_and_lists(settings, rt, office):  # noqa: ANN001
    r = dms(settings, "register", "apply", "--kind", "expert_methodical_centre", "--name", "ООО «ЭМЦ „Норма“»",
            "--inn", "7101234569", "--ogrn", "1027100001235", "--kpp", "710101001", "--city", "Тула", "--as", "clerk")
    assert r.returncode == 0, r.stderr
    event = json.loads(r.stdout)
    assert event["to_status"] == "applied" and event["document"]["reg_number"] == f"ЗВ-{AG}-0001"
    r = dms(settings, "register", "transition", "ЭМЦ-71-001", "exclude", "--reason", "x", "--as", "clerk")
    assert r.returncode == 2 and "невозможен из состояния «Подано заявление»" in r.stderr
    r = dms(settings, "register", "transition", "ЭМЦ-71-001", "include", "--as", "auditor")
    assert r.returncode == 3
    r = dms(settings, "register", "transition", "ЭМЦ-71-001", "include", "--as", "clerk")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["document"]["state"] == "on_signing"
    r = dms(settings, "register", "list", "--status", "applied", "--json", "--as", "auditor")
    assert [(i["code"], i["pending_status"]) for i in json.loads(r.stdout)["items"]] == [("ЭМЦ-71-001", "included")]
    r = dms(settings, "register", "transition", "ЭМЦ-71-001", "reject", "--reason", "x", "--as", "clerk")
    assert r.returncode == 2 and "ждёт подписи" in r.stderr
    with rt.db.session() as s:
        folder = s.get(Folder, s.scalars(select(Organisation.folder_id).where(Organisation.code == "ЭМЦ-71-001")).one())
        assert folders.display_path(s, folder) == f"{REGISTER_ROOT}/ЭМЦ-71-001"
        assert re.fullmatch(r"ПР-АГЕНТСТВО-\d{4}-0001", s.scalars(select(Document.reg_number).where(
            Document.doc_type == "order")).one())


def test_demo_organisations_carry_a_register_history_that_follows_the_table(rt):  # noqa: ANN001
    from dms.register.rules import TRANSITIONS
    from dms.operations import demo
    from dms.people import users
    from dms.workflow import service as wf
    demo.load(rt)
    with rt.db.session() as s:
        for org in s.scalars(select(Organisation).where(Organisation.kind != "agency")):
            events = list(s.scalars(select(RegisterEvent).where(RegisterEvent.organisation_id == org.id)
                                    .order_by(RegisterEvent.id)))
            assert [e.transition for e in events][:1] == ["apply"], org.code
            previous = None
            for e in events:
                assert (previous in TRANSITIONS[e.transition].sources if previous else e.from_status == "")
                assert e.from_status == (previous or "") and e.to_status == TRANSITIONS[e.transition].target
                previous = e.to_status
            assert (org.pending_status or org.register_status) == previous, org.code
            assert len(events) == 1 + len(demo.DEMO_REGISTER[org.code])
        statuses = dict(s.execute(select(Organisation.code, Organisation.register_status)).all())
        waiting = [d.title for d, _ in wf.worklist(s, users.get_user(s, "director"))]
    # the exclusion of ПП-16-001 is decided and its order waits for the director's signature: not yet in effect
    assert (statuses["ЦОК-40-003"], statuses["ПП-16-001"], statuses["ДП-54-002"]) == ("under_audit", "included",
                                                                                     "applied")
    assert any(t.startswith("Об исключении информации о Приволжский") for t in waiting)
    assert not any(t.startswith("О включении") for t in waiting)  # inclusions were signed


def test_two_clerks_including_the_same_centre_at_once_file_one_order(rt, office):  # noqa: ANN001
    """The organisation's row is locked for the step: the second clerk waits, then finds it included (409)."""
    import threading

    from dms.errors import Conflict
    from dms.register import service as register
    from dms.people import users
    office.user("clerk2", "Clerk")
    with rt.db.session() as s:
        org_id = register.apply(rt, s, users.get_user(s, "clerk"), CENTRE).organisation_id
    barrier, outcomes = threading.Barrier(2), []

    def include(login: str) -> None:
        barrier.wait(timeout=10)
        try:
            with rt.db.session() as s:  # SQLite: the second waits here (BEGIN IMMEDIATE); PostgreSQL: at the row lock
                actor = users.get_user(s, login)
                register.take(rt, s, actor, register.get(s, actor, org_id), "include")
            outcomes.append("included")
        except Conflict as exc:
            outcomes.append(exc.message)

    threads = [threading.Thread(target=include, args=(login,)) for login in ("clerk", "clerk2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcomes.count("included") == 1 and len(outcomes) == 2
    assert any(o.startswith("по ЦОК-69-001 принято решение «Включена в Регистр», приказ") for o in outcomes)
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Document).where(Document.doc_type == "order")) == 1
    assert [e[0] for e in _events(rt, org_id)] == ["apply", "include"]
