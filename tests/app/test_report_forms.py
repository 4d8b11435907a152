"""Reports from the forms of seeds 000 (pilot and expert sites) and 001 (monitoring questionnaire): each form is
filled in the web form, refused with its errors next to the fields and nothing stored, stored as a draft whose
PDF carries the answers, submitted (numbered), accepted by a reviewer and counted by the aggregate view — only
for those who may view the report."""
from __future__ import annotations

import io
import json
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from dms.models import AuditEvent, Document, Organisation, Version
from dms.reports.forms import FORMS, MATCH, PROCESS_PARAMETERS

from .conftest import csrf_of

PILOT, EXPERT = "ПП-16-001", "ЭП-77-002"


def pilot_answers() -> dict[str, str]:
    """Block 1 taken into work: process 1 runs with one parameter diverging, process 2 partly, 3–5 do not run."""
    answers = {f"b{b}.taken": "no" for b in range(2, 6)}
    answers.update({"b1.taken": "yes", "b1.recommendations": "Закрепить дистанционное консультирование учредителей",
                    "summary.recommendations": "Уточнить последовательность включения центров в Регистр"})
    for p in range(1, 6):
        answers[f"b1.p{p}.implemented"] = "yes" if p <= 2 else "no"
    for p in (1, 2):
        answers.update({f"b1.p{p}.{code}": "match" for code, _ in PROCESS_PARAMETERS})
    answers["b1.p1.legal"] = "mismatch"
    answers["b1.p1.legal.note"] = "Правовая поддержка опирается на региональное положение о консультировании"
    answers["b1.p2.documents"] = "partial"
    answers["b1.p2.documents.note"] = "Документы дополняются протоколом заседания совета"
    return answers


def expert_answers() -> dict[str, str]:
    answers = {f"b{b}.reviewed": "no" for b in (1, 2, 4, 5)}
    answers.update({"pilot.sites": PILOT, "b3.reviewed": "yes",
                    "conclusion.check": "Проверка пилотной площадкой проведена полно по блоку обслуживания центров",
                    "conclusion.model": "Элементы блока в целом адекватны практике",
                    "conclusion.recommendations": "Дополнить модель учётом бланков строгой отчётности"})
    for p in range(1, 5):
        answers.update({f"b3.p{p}.completeness": "full", f"b3.p{p}.adequacy": "adequate",
                        f"b3.p{p}.assessment": f"Процесс {p} проверен по материалам площадки"})
    answers["b3.p3.completeness"] = "partial"
    return answers


def monitoring_answers() -> dict[str, str]:
    return {"respondent.filled_on": "2015-04-20", "respondent.position": "Руководитель центра сертификации",
            "respondent.centres": "3", "respondent.experts": "7",
            "quality.quality": "yes", "quality.objectivity": "rather_yes", "quality.efficiency": "rather_no",
            "mechanisms.normative": "sufficient", "mechanisms.methodical": "partial",
            "mechanisms.informational": "insufficient",
            "mechanisms.note": "Нужен регламент информационного обмена между центрами",
            "indicators.complete": "rather_yes", "indicators.measurable": "yes", "indicators.tools": "no",
            "indicators.hours": "12", "feedback.objective": "rather_yes", "feedback.channel": "forum",
            "practices.reveals": "yes", "practices.list": "Совместные экспертные сессии центров региона",
            "proposals.text": "Сократить число показателей мониторинга до измеримых"}


# form -> (answers, a required answer to leave out, a choice to spoil, a text to overlong, a phrase of the PDF,
#          (question, option) the aggregate counts, the site)
CASES = {
    "pilot_site": (pilot_answers, "b1.p1.methods", "b1.p2.sequence", "b1.p1.legal.note",
                   "региональное положение о консультировании", ("b1.p1.legal", "mismatch"), PILOT),
    "expert_site": (expert_answers, "b3.p2.adequacy", "b3.p1.completeness", "conclusion.model",
                    "учётом бланков строгой отчётности", ("b3.p3.completeness", "partial"), EXPERT),
    "monitoring": (monitoring_answers, "indicators.hours", "feedback.channel", "practices.list",
                   "Совместные экспертные сессии центров региона", ("mechanisms.informational", "insufficient"),
                   PILOT),
}


@pytest.fixture
def sites(world, rt):  # noqa: ANN001, ANN201
    """Two site organisations with their folders; a clerk of the sites, a reviewer of them, a reader of another
    folder only."""
    from dms.documents import folders
    world.folder("/Площадки")
    with rt.db.session() as s:
        for code, kind, name in ((PILOT, "pilot_site", "ГАПОУ «Казанский колледж строительства»"),
                                 (EXPERT, "expert_methodical_centre", "АНО «Экспертно-методический центр»")):
            org = Organisation(code=code, name=name, short_name=name, kind=kind, city="Казань")
            s.add(org)
            s.flush()
            folders.ensure(s, f"/Площадки/{code}", org)
    world.folder("/Прочее")
    world.user("author", "Clerk")
    world.user("reviewer")
    world.user("stranger")
    world.share("/Площадки", "reviewer", "Reviewer")
    world.share("/Прочее", "stranger", "Reader")
    return world


def _post_form(client, url: str, site: str, answers: dict, **extra):  # noqa: ANN001, ANN202
    data = {"csrf_token": csrf_of(client, url), "site": site, "period": "октябрь 2025", **extra}
    data.update({"q_" + code: value for code, value in answers.items()})
    return client.post(url, data=data, content_type="multipart/form-data")  # as the page posts it


def _counts(rt) -> tuple[int, int]:  # noqa: ANN001
    with rt.db.session() as s:
        return (s.scalar(select(func.count()).select_from(Document)),
                s.scalar(select(func.count()).select_from(Version)))


def _pdf_text(client, doc_id: int, number: int) -> str:  # noqa: ANN001
    r = client.get(f"/documents/{doc_id}/versions/{number}/download")
    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    return " ".join("".join(page.extract_text() for page in PdfReader(io.BytesIO(r.data)).pages).split())


def _field_error(html: str, code: str) -> str:
    """The error drawn right after the field of a question (before the next field)."""
    start = html.index(f'name="q_{code}"')
    end = html.find('name="q_', start + 1)
    m = re.search(r'<span class="field-error">([^<]*)</span>', html[start:end if end > 0 else None])
    return m.group(1) if m else ""


def _aggregate(client, token: dict, form: str) -> dict:  # noqa: ANN001
    r = client.get(f"/api/v1/reports/aggregate?form={form}", headers=token)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _option_count(agg: dict, code: str, option: str) -> int:
    return next(q["counts"][option] for q in agg["questions"] if q["code"] == code)


@pytest.mark.parametrize("form_code", list(CASES))
def test_report_form_round_trip_filled_refused_rendered_submitted_accepted_counted(form_code, sites, app, rt):  # noqa: ANN001
    build, required, choice, text, phrase, (counted_q, counted_option), site = CASES[form_code]
    author, reviewer, stranger = app.test_client(), app.test_client(), app.test_client()
    sites.login(author, "author")
    url = f"/reports/new/{form_code}"
    assert FORMS[form_code].title in author.get(url).get_data(as_text=True)

    # Bad input: a required answer missing, an option the form does not have, a text over its limit.
    refusals = {required: (dict(build(), **{required: ""}), "обязательный ответ"),
                choice: (dict(build(), **{choice: "возможно"}), "недопустимый вариант"),
                text: (dict(build(), **{text: "ж" * 5000}), "текст длиннее допустимого")}
    for code, (answers, message) in refusals.items():
        r = _post_form(author, url, site, answers)
        html = r.get_data(as_text=True)
        assert r.status_code == 400, code
        assert message in _field_error(html, code), code
        kept = next(v for k, v in answers.items() if k != code and len(v) > 30)
        assert kept in html  # what was typed is kept
        assert _counts(rt) == (0, 0)

    # Valid: a draft filed in the site's folder, its PDF carrying the answers.
    answers = build()
    r = _post_form(author, url, site, answers)
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    doc_id = int(r.headers["Location"].rstrip("/").split("/")[-2])
    with rt.db.session() as s:
        doc = s.get(Document, doc_id)
        assert (doc.doc_type, doc.state, doc.meta["site"], doc.meta["kind"]) == ("report", "draft", site,
                                                                                  FORMS[form_code].kind)
        assert doc.folder.name == site
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "report.form_saved", AuditEvent.object_id == doc_id)) == 1
    text_v1 = _pdf_text(author, doc_id, 1)
    assert phrase in text_v1 and "октябрь 2025" in text_v1
    question = FORMS[form_code].question(counted_q)
    assert question.option_label(counted_option) in text_v1

    # Editing the draft keeps the answers in the page and makes a new PDF version.
    page = author.get(f"/reports/{doc_id}/edit").get_data(as_text=True)
    assert phrase in page
    answers[text] = "Исправленный ответ после обсуждения на площадке"
    r = _post_form(author, f"/reports/{doc_id}/edit", site, answers)
    assert r.status_code == 302
    assert "Исправленный ответ после обсуждения на площадке" in _pdf_text(author, doc_id, 2)

    # Submit (a number is assigned); the author may not accept; the reviewer does.
    token = csrf_of(author, f"/documents/{doc_id}")
    assert author.post(f"/documents/{doc_id}/transition/submit", data={"csrf_token": token}).status_code == 302
    author.post(f"/documents/{doc_id}/transition/accept", data={"csrf_token": token})
    with rt.db.session() as s:
        doc = s.get(Document, doc_id)
        assert doc.state == "submitted" and doc.reg_number
    sites.login(reviewer, "reviewer")
    token = csrf_of(reviewer, f"/documents/{doc_id}")
    assert reviewer.post(f"/documents/{doc_id}/transition/accept", data={"csrf_token": token}).status_code == 302
    with rt.db.session() as s:
        assert s.get(Document, doc_id).state == "accepted"
    assert author.get(f"/reports/{doc_id}/edit").status_code in (302, 403)  # accepted: no longer edited

    # The aggregate counts it for those who may view it, and not for a user without View on its folder.
    agg = _aggregate(author, sites.token(author, "reviewer"), form_code)
    assert agg["reports"] == 1 and agg["by_state"] == {"accepted": 1}
    assert agg["by_site"][0]["site"] == site
    assert _option_count(agg, counted_q, counted_option) == 1
    assert any(r["document_id"] == doc_id for r in agg["recommendations"])
    page = reviewer.get(f"/reports/aggregate?form={form_code}").get_data(as_text=True)
    assert re.search(r'id="reports-counted">1<', page)
    hidden = _aggregate(author, sites.token(author, "stranger"), form_code)
    assert hidden["reports"] == 0 and hidden["by_state"] == {} and hidden["recommendations"] == []
    assert _option_count(hidden, counted_q, counted_option) == 0
    sites.login(stranger, "stranger")
    assert re.search(r'id="reports-counted">0<', stranger.get(f"/reports/aggregate?form={form_code}").get_data(
        as_text=True))


def test_pilot_form_drops_answers_of_blocks_not_taken_and_requires_one_block(sites, client, rt):  # noqa: ANN001
    sites.login(client, "author")
    answers = pilot_answers()
    answers.update({"b2.p1.implemented": "yes", "b2.p1.participants": "mismatch"})  # block 2 is not taken
    assert _post_form(client, "/reports/new/pilot_site", PILOT, answers).status_code == 302
    with rt.db.session() as s:
        doc = s.scalars(select(Document)).one()
        assert "b2.p1.implemented" not in doc.meta["form_answers"] and doc.meta["block"] == "1"
    none_taken = dict(pilot_answers(), **{"b1.taken": "no"})
    r = _post_form(client, "/reports/new/pilot_site", PILOT, none_taken)
    assert r.status_code == 400 and "хотя бы один блок" in r.get_data(as_text=True)
    assert _counts(rt) == (1, 1)


def test_report_form_refuses_site_period_and_folder_the_user_may_not_use(sites, client, rt):  # noqa: ANN001
    from dms.documents import folders
    with rt.db.session() as s:
        secret_id = folders.ensure(s, "/Секрет").id
        other_id = folders.resolve(s, "/Прочее").id
    sites.login(client, "stranger")  # a Reader of /Прочее only: no Add anywhere, no View on /Секрет
    r = _post_form(client, "/reports/new/monitoring", "НЕТ-ТАКОЙ", monitoring_answers(), period="")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "выберите площадку" in html and "укажите отчётный период" in html
    assert _post_form(client, "/reports/new/monitoring", PILOT, monitoring_answers(),
                      folder_id=str(secret_id)).status_code == 404
    assert _post_form(client, "/reports/new/monitoring", PILOT, monitoring_answers(),
                      folder_id=str(other_id)).status_code == 403
    r = _post_form(client, "/reports/new/monitoring", PILOT, monitoring_answers())  # the site's folder: no Add
    assert r.status_code == 400 and "выберите папку" in r.get_data(as_text=True)
    assert _counts(rt) == (0, 0)


def test_report_pages_need_a_login(client, sites):  # noqa: ANN001
    for url in ("/reports", "/reports/new/pilot_site", "/reports/aggregate"):
        r = client.get(url)
        assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.get("/api/v1/reports/aggregate?form=monitoring").status_code == 401
    assert client.post("/api/v1/reports", json={"form": "monitoring"}).status_code == 401


def test_api_report_round_trip(sites, client, rt):  # noqa: ANN001
    h = sites.token(client, "author")
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/report-forms", "/reports", "/reports/{doc_id}", "/reports/aggregate"} <= set(paths)
    forms = client.get("/api/v1/report-forms", headers=h).get_json()["items"]
    pilot = next(f for f in forms if f["code"] == "pilot_site")
    assert [o["label"] for o in pilot["sections"][1]["questions"][1]["options"]] == [label for _, label in MATCH]

    body = {"form": "monitoring", "site": PILOT, "period": "апрель 2015", "answers": monitoring_answers()}
    bad = dict(body, answers=dict(monitoring_answers(), **{"indicators.hours": "много", "nonsense": "1"}))
    r = client.post("/api/v1/reports", headers=h, json=bad)
    assert r.status_code == 400
    assert set(r.get_json()["error"]["details"]) == {"indicators.hours", "nonsense"}
    assert _counts(rt) == (0, 0)

    r = client.post("/api/v1/reports", headers=h, json=body)
    assert r.status_code == 201, r.get_json()
    report = r.get_json()
    assert report["state"] == "draft" and report["current_version"] == 1
    assert report["answers"]["indicators.hours"] == 12 and report["answers"]["respondent.filled_on"] == "2015-04-20"
    doc_id = report["id"]
    assert client.get(f"/api/v1/reports/{doc_id}", headers=h).get_json()["answers"] == report["answers"]
    content = client.get(f"/api/v1/documents/{doc_id}/versions/1/content", headers=h).data
    text = " ".join("".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages).split())
    assert "Сократить число показателей мониторинга до измеримых" in text and "12" in text

    r = client.put(f"/api/v1/reports/{doc_id}", headers=h,
                   json=dict(body, answers=dict(monitoring_answers(), **{"indicators.hours": "8"})))
    assert r.status_code == 200 and r.get_json()["current_version"] == 2
    assert client.post(f"/api/v1/documents/{doc_id}/transitions/submit", headers=h).status_code == 200
    assert client.put(f"/api/v1/reports/{doc_id}", headers=h, json=body).status_code in (403, 409)
    rh = sites.token(client, "reviewer")
    r = client.post(f"/api/v1/documents/{doc_id}/transitions/accept", headers=rh)
    assert r.status_code == 200 and r.get_json()["state"] == "accepted"

    agg = _aggregate(client, rh, "monitoring")
    assert agg["reports"] == 1
    assert next(n for n in agg["numbers"] if n["code"] == "indicators.hours")["sum"] == 8
    assert _option_count(agg, "feedback.channel", "forum") == 1
    assert _aggregate(client, sites.token(client, "stranger"), "monitoring")["reports"] == 0
    assert client.get("/api/v1/reports/aggregate?form=nope", headers=rh).status_code == 400


def test_generic_metadata_edit_keeps_the_form_answers(sites, client, rt):  # noqa: ANN001
    """The document page's properties form carries the answers back unchanged; altered answers are checked."""
    h = sites.token(client, "author")
    body = {"form": "monitoring", "site": PILOT, "period": "апрель 2015", "answers": monitoring_answers()}
    report = client.post("/api/v1/reports", headers=h, json=body).get_json()
    meta = dict(report["meta"])
    r = client.patch(f"/api/v1/documents/{report['id']}", headers=h, json={"title": "Анкета площадки", "meta": meta})
    assert r.status_code == 200, r.get_json()
    assert client.get(f"/api/v1/reports/{report['id']}", headers=h).get_json()["answers"] == report["answers"]
    sites.login(client, "author")  # the web page shows a link to the form, not the stored JSON, and carries it back
    page = client.get(f"/documents/{report['id']}").get_data(as_text=True)
    props = page.split('id="tab-props"')[1].split("</dl>")[0]
    assert f'href="/reports/{report["id"]}/edit"' in props and '"forum"' not in props
    assert 'type="hidden" name="meta_form_answers"' in page
    meta["form_answers"] = meta["form_answers"].replace('"forum"', '"pigeon"')
    r = client.patch(f"/api/v1/documents/{report['id']}", headers=h, json={"meta": meta})
    assert r.status_code == 400 and "form_answers" in r.get_json()["error"]["details"]


def test_demo_form_reports_are_submitted_and_counted_once(rt):  # noqa: ANN001
    from dms.operations import demo
    from dms.reports import demo as demo_reports
    from dms.people import users
    from dms.reports import service as svc
    demo.load(rt)
    with rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        counted = {code: svc.aggregate(s, clerk, code) for code in FORMS}
        one_site = svc.aggregate(s, clerk, "pilot_site", period="октябрь 2025", site="ПП-16-001")
        assert one_site.reports == 1 and [code for code, _, _ in one_site.by_site] == ["ПП-16-001"]
        assert one_site.sites == counted["pilot_site"].sites and len(one_site.sites) == 2  # the filter's choices
        assert svc.aggregate(s, clerk, "pilot_site", scope="accepted").reports == 0
        outsider = users.get_user(s, "holder")  # a Reader of the practice holders' agreements only
        assert all(svc.aggregate(s, outsider, code).reports == 0 for code in FORMS)
    assert {code: a.reports for code, a in counted.items()} == {"pilot_site": 2, "expert_site": 1, "monitoring": 3}
    assert counted["pilot_site"].by_state == [("submitted", "Представлен", 2)]
    assert {site for site, _, _ in counted["monitoring"].by_site} == {"ЦОК-77-001", "ЦОК-50-002", "ЦОК-40-003"}
    assert demo_reports.load(rt) == 0


def test_the_author_of_a_report_may_not_accept_it_even_as_its_reviewer(sites, client, rt):  # noqa: ANN001
    sites.share("/Площадки", "author", "Reviewer")
    h = sites.token(client, "author")
    body = {"form": "monitoring", "site": PILOT, "period": "апрель 2015", "answers": monitoring_answers()}
    doc_id = client.post("/api/v1/reports", headers=h, json=body).get_json()["id"]
    assert client.post(f"/api/v1/documents/{doc_id}/transitions/submit", headers=h).status_code == 200
    r = client.post(f"/api/v1/documents/{doc_id}/transitions/accept", headers=h)
    assert r.status_code == 409 and "автор" in r.get_json()["error"]["message"]
    assert _aggregate(client, h, "monitoring")["by_state"] == {"submitted": 1}


def test_a_report_is_found_by_the_words_of_its_answers_by_those_who_may_view_it(sites, client, rt):  # noqa: ANN001
    from dms.fulltext import indexing
    from dms.people import users
    from dms.fulltext import service as search_svc
    h = sites.token(client, "author")
    body = {"form": "monitoring", "site": PILOT, "period": "апрель 2015", "answers": monitoring_answers()}
    doc_id = client.post("/api/v1/reports", headers=h, json=body).get_json()["id"]
    indexing.drain(rt)
    with rt.db.session() as s:
        def found(login: str) -> list[int]:
            query = search_svc.parse_query({"q": "экспертные сессии центров региона"})
            result = search_svc.search_documents(s, rt, users.get_user(s, login), query).as_dict()
            return [int(item["id"]) for item in result["items"]]
        assert found("reviewer") == [doc_id]
        assert found("stranger") == []


def test_a_fully_filled_pilot_form_with_long_answers_is_accepted_whole(sites, client, rt):  # noqa: ANN001
    """Every block taken, every parameter diverging with a long description: over 400 fields and ~0.7 MB of
    text go through in one post, and every answer is kept."""
    form = FORMS["pilot_site"]
    answers = {}
    for q in form.questions():
        if q.kind == "choice":
            answers[q.code] = "yes" if q.options[0][0] == "yes" else "partial"
        else:
            answers[q.code] = ("Описание практики площадки. " * 100)[:q.max_length]
    sites.login(client, "author")
    r = _post_form(client, "/reports/new/pilot_site", PILOT, answers)
    assert r.status_code == 302, r.status_code
    with rt.db.session() as s:
        doc = s.scalars(select(Document)).one()
        assert len(FORMS["pilot_site"].questions()) == len(json.loads(doc.meta["form_answers"])["answers"])
