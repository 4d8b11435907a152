"""Assessment reports (seed 004, 4.5): the person assessed gets their report only after the feedback session.
The rule is data (the local role Assessed holds View/Download only in the state after feedback), so the document
check, listings, search, downloads and the API all follow it; staff see the report throughout."""
from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from dms.models import AuditEvent, Document
from dms.pdfrender import render_text_pdf
from dms.assessments import service as assessments
from dms.documents import service as documents
from dms.fulltext import indexing
from dms.people import users
from dms.workflow import service as wf

from .conftest import csrf_of

REPORT = render_text_pdf("Индивидуальный отчёт", "Сильные стороны и точки роста: стрессоустойчивость, "
                                                 "планирование. Персональные рекомендации по развитию.")


@pytest.fixture
def people(world):  # noqa: ANN001, ANN201
    world.user("clerk", "Clerk")
    world.user("auditor", "Auditor")
    world.user("ivanova")   # limited accounts of the people assessed
    world.user("petrov")
    return world


def file_report(client, world, assessed: str = "ivanova") -> int:  # noqa: ANN001
    world.login(client, "clerk")
    r = client.post("/assessments", data={
        "csrf_token": csrf_of(client, "/assessments"), "assessed": assessed, "title": "Индивидуальный отчёт",
        "assessment_date": (date.today() - timedelta(days=7)).isoformat(),
        "file": (io.BytesIO(REPORT), "otchet.pdf")}, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)
    return int(r.headers["Location"].rsplit("/", 1)[1])


def complete(rt, doc_id: int) -> None:  # noqa: ANN001
    with rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        wf.execute(s, clerk, documents.get(s, clerk, doc_id), "complete")


def sees(client, world, login: str, doc_id: int) -> dict[str, bool]:  # noqa: ANN001
    """Everything through which `login` could reach the report."""
    h = world.token(client, login)
    found = client.get("/api/v1/search", headers=h, query_string={"q": "точки роста"}).get_json()["items"]
    listed = client.get("/api/v1/assessment-reports", headers=h).get_json()["items"]
    world.login(client, login)
    return {
        "api_document": client.get(f"/api/v1/documents/{doc_id}", headers=h).status_code == 200,
        "api_content": client.get(f"/api/v1/documents/{doc_id}/versions/1/content", headers=h).status_code == 200,
        "search": doc_id in [int(i["id"]) for i in found],
        "listing": doc_id in [d["id"] for d in listed],
        "web_page": client.get(f"/documents/{doc_id}").status_code == 200,
        "web_download": client.get(f"/documents/{doc_id}/versions/1/download").status_code == 200,
        "web_list": f"/documents/{doc_id}" in client.get("/assessments").get_data(as_text=True),
    }


ALL = dict.fromkeys(("api_document", "api_content", "search", "listing", "web_page", "web_download", "web_list"),
                    True)
NONE = dict.fromkeys(ALL, False)


def test_the_person_assessed_gets_the_report_only_after_feedback_staff_throughout(rt, people, client):  # noqa: ANN001
    doc_id = file_report(client, people)
    with rt.db.session() as s:
        doc = s.get(Document, doc_id)
        assert doc.folder.name == "ivanova" and doc.meta["assessed"] == "ivanova" and doc.state == "draft"
    complete(rt, doc_id)
    indexing.drain(rt)
    assert sees(client, people, "ivanova", doc_id) == NONE
    for staff in ("clerk", "auditor"):
        assert sees(client, people, staff, doc_id) == ALL

    h = people.token(client, "ivanova")
    r = client.post(f"/api/v1/assessment-reports/{doc_id}/feedback", headers=h,
                    json={"date": date.today().isoformat(), "note": "сама себе"})
    assert r.status_code == 404  # the person may not even see the report, let alone release it
    r = client.post(f"/api/v1/assessment-reports/{doc_id}/feedback", headers=people.token(client, "clerk"),
                    json={"date": date.today().isoformat(), "note": "Проведена по видеосвязи, 40 минут"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["state"] == "released" and r.get_json()["meta"]["feedback_date"] == date.today().isoformat()
    indexing.drain(rt)

    assert sees(client, people, "ivanova", doc_id) == ALL
    assert client.get("/").status_code == 200 and client.get("/worklist").status_code == 200
    assert "Подшить отчёт" not in client.get("/assessments").get_data(as_text=True)  # no filing form for them
    assert sees(client, people, "petrov", doc_id) == NONE
    assert sees(client, people, "auditor", doc_id) == ALL
    with rt.db.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.object_id == doc_id,
                                                   AuditEvent.action == "workflow.transition")
                          .order_by(AuditEvent.id.desc())).first()
        assert event.details["transition"] == "record_feedback" and "40 минут" in event.details["comment"]
    h = people.token(client, "ivanova")
    refused = [client.patch(f"/api/v1/documents/{doc_id}", headers=h, json={"title": "Мой отчёт"}),
               client.post(f"/api/v1/documents/{doc_id}/versions", headers=h, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(REPORT), "moj.pdf")})]
    assert [r.status_code for r in refused] == [403, 403]


@pytest.mark.parametrize("body, reason", [
    ({"date": date.today().isoformat(), "note": "  "}, "опишите"),
    ({"date": (date.today() + timedelta(days=3)).isoformat(), "note": "будет"}, "ещё не наступила"),
    ({"date": "вчера", "note": "была"}, "ГГГГ-ММ-ДД"),
])
def test_feedback_needs_a_past_date_and_a_note_else_nothing_changes(rt, people, client, body, reason):  # noqa: ANN001
    doc_id = file_report(client, people)
    complete(rt, doc_id)
    r = client.post(f"/api/v1/assessment-reports/{doc_id}/feedback", headers=people.token(client, "clerk"), json=body)
    assert r.status_code == 400 and reason in r.get_json()["error"]["message"]
    with rt.db.session() as s:
        doc = s.get(Document, doc_id)
        assert doc.state == "ready" and "feedback_date" not in doc.meta


def test_a_report_naming_someone_else_than_its_folders_person_is_not_released(rt, people, client):  # noqa: ANN001
    doc_id = file_report(client, people)
    with rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        doc = documents.get(s, clerk, doc_id)
        documents.update_metadata(s, clerk, doc, meta={**doc.meta, "assessed": "petrov"})
    complete(rt, doc_id)
    r = client.post(f"/api/v1/assessment-reports/{doc_id}/feedback", headers=people.token(client, "clerk"),
                    json={"date": date.today().isoformat(), "note": "проведена"})
    assert r.status_code == 409 and "не в личной папке" in r.get_json()["error"]["message"]
    with rt.db.session() as s:
        assert s.get(Document, doc_id).state == "ready"


def test_only_a_limited_account_may_be_named_as_the_person_assessed(rt, people, client):  # noqa: ANN001
    before = sorted(o.key for o in rt.store.list())
    people.login(client, "clerk")
    for login, reason in (("auditor", "глобальная роль"), ("nobody", "нет пользователя")):
        r = client.post("/assessments", data={
            "csrf_token": csrf_of(client, "/assessments"), "assessed": login, "title": "Отчёт",
            "file": (io.BytesIO(REPORT), "otchet.pdf")}, content_type="multipart/form-data")
        assert r.status_code == 400 and reason in r.get_data(as_text=True)
    assert sorted(o.key for o in rt.store.list()) == before
    with rt.db.session() as s:
        assert s.scalars(select(Document)).first() is None


def test_assessment_reports_over_the_api_are_filed_in_the_persons_folder(rt, people, client):  # noqa: ANN001
    h = people.token(client, "clerk")
    r = client.post("/api/v1/assessment-reports", headers=h, content_type="multipart/form-data", data={
        "assessed": "petrov", "title": "Отчёт по кандидату", "meta": '{"person_name": "Петров Пётр Петрович"}',
        "file": (io.BytesIO(REPORT), "otchet.pdf")})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["type"] == "assessment_report" and body["meta"]["person_name"] == "Петров Пётр Петрович"
    with rt.db.session() as s:
        doc = s.get(Document, body["id"])
        assert doc.folder.name == "petrov"
        assert assessments.release_problem(s, doc) is None
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/assessment-reports", "/assessment-reports/{doc_id}/feedback"} <= set(paths)
