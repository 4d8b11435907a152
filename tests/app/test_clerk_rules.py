"""Rules a clerk can trust (issue 15): a certificate leaves force only through its own services (revoke with an
order, replace with a duplicate, expiry by date) — never through a plain transition, a bulk action or a page button;
irreversible steps ask for confirmation; one SNILS is one person; the Register governs who gets blanks and issues.
Numbering, the register's identifiers and worklists have their own files (test_clerk_rules_numbers/_work)."""
from __future__ import annotations

import io
import re
from datetime import date, timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select

from dms.errors import Conflict, Invalid
from dms.models import Certificate, Document, Organisation, WorkflowHistory
from dms.security import Forbidden
from dms.certificates import service as certs
from dms.people import users

from .conftest import csrf_of
from .test_certificates import SNILS, centre, rows  # noqa: F401  (fixture)
from .test_signing import PIN, ca_template, pki  # noqa: F401  (fixtures)

CODE = "ЦОК-77-001"


@pytest.fixture
def issued(world, rt, centre):  # noqa: ANN001, ANN201, F811
    """One valid certificate of the centre, and the three people of the issue: the centre's own editor (a local
    Editor on its folder), the agency's clerk and the signatory."""
    world.user("editor")
    world.folder(f"/{CODE}")
    world.share(f"/{CODE}", "editor", "Editor")
    result = certs.issue(rt, "head", centre, rows(1), PIN)
    with rt.db.session() as s:
        cert = s.scalars(select(Certificate)).one()
        return {"number": cert.number, "doc_id": cert.document_id, "token": cert.token,
                "folder_id": cert.document.folder_id, "batch_id": result.batch_id}


def _public_status(rt, number: str) -> str:  # noqa: ANN001
    with rt.db.session() as s:
        cert = s.scalars(select(Certificate).where(Certificate.number == number)).one()
        return certs.public_view(s, certs.lookup_by_token(s, cert.token))["status"]


def _steps(rt, doc_id: int) -> list[str]:  # noqa: ANN001
    with rt.db.session() as s:
        return list(s.scalars(select(WorkflowHistory.transition).where(WorkflowHistory.document_id == doc_id)
                              .order_by(WorkflowHistory.id)))


def _changing_rules(app):  # noqa: ANN001, ANN202
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            yield rule, method


TEMPTING = {"reason": "утрата", "comment": "истёк", "order": "№ 1-п от 01.01.2026", "transition": "expire",
            "pin": "000000", "new_name": "Другой Человек Иванович"}


@pytest.mark.parametrize("login", ["editor", "clerk", "head"])
def test_no_route_takes_a_valid_certificate_out_of_force_without_the_revoke_rules(app, rt, world, issued,
                                                                                  login):  # noqa: ANN001
    """Every changing route of the web UI and the API, walked with the certificate's document, number and every
    lifecycle step name, by a local Editor, a Clerk and a Signatory, with tempting bodies that lack an order's
    number and date or a confirmation: the public check still says «действительно»."""
    web, api = app.test_client(), app.test_client()
    world.login(web, login)
    token = csrf_of(web, "/")
    headers = world.token(api, login)
    walked = 0
    for rule, method in _changing_rules(app):
        names = ("revoke", "expire", "replace") if "name" in rule.arguments else (None,)
        for name in names:
            values = {"doc_id": issued["doc_id"], "cert_number": issued["number"], "folder_id": issued["folder_id"],
                      "batch_id": issued["batch_id"], "name": name}
            values.update({a: 999_999 for a in rule.arguments if a not in values})
            try:
                url = rule.build(values, append_unknown=False)[1]
            except Exception:  # noqa: BLE001  a converter this walk has no value for
                continue
            if rule.endpoint.startswith("api."):
                r = api.open(url, method=method, headers=headers, json={**TEMPTING, "ids": [issued["doc_id"]]})
            elif rule.endpoint in ("web.logout", "web.login"):
                continue
            else:
                r = web.open(url, method=method, data={**TEMPTING, "csrf_token": token, "ids": str(issued["doc_id"])})
            assert r.status_code < 500, (rule.rule, method, r.status_code)
            walked += 1
    assert walked > 50
    assert _public_status(rt, issued["number"]) == "issued"
    assert _steps(rt, issued["doc_id"]) == ["issue"]


def test_lifecycle_steps_are_refused_as_plain_transitions_with_the_proper_route(client, rt, world, issued):  # noqa: ANN001
    for login in ("editor", "clerk", "head"):
        h = world.token(client, login)
        for step, where in (("expire", "dms maintain"), ("replace", "/replace"), ("revoke", "/revoke")):
            r = client.post(f"/api/v1/documents/{issued['doc_id']}/transitions/{step}", headers=h,
                            json={"comment": "x"})
            assert r.status_code == 409 and where in r.get_json()["error"]["message"], (login, step, r.get_json())
        listed = client.get(f"/api/v1/documents/{issued['doc_id']}/transitions", headers=h).get_json()["items"]
        assert not any(i["allowed"] for i in listed), listed
    with rt.db.session() as s:
        from dms.documents import bulk
        clerk = users.get_user(s, "clerk")
        outcomes = bulk.transition_each(s, clerk, [issued["doc_id"]], "expire")
    assert [o.ok for o in outcomes] == [False] and "dms maintain" in outcomes[0].message
    assert _public_status(rt, issued["number"]) == "issued"


def test_the_document_page_offers_no_lifecycle_buttons_only_the_card(app, world, issued):  # noqa: ANN001
    web = app.test_client()
    world.login(web, "head")
    page = web.get(f"/documents/{issued['doc_id']}").get_data(as_text=True)
    for step in ("revoke", "expire", "replace"):
        assert f"/transition/{step}" not in page
    assert f"/certificates/card/{quote(issued['number'])}" in page


def test_revoke_needs_the_permission_a_reason_and_the_orders_number_and_date(client, rt, world, issued):  # noqa: ANN001
    number, today = issued["number"], date.today()
    body = {"reason": "нарушение порядка экзамена", "order_number": "12-п", "order_date": today.isoformat()}
    for login in ("editor", "clerk"):
        r = client.post(f"/api/v1/certificates/{number}/revoke", headers=world.token(client, login), json=body)
        assert r.status_code in (403, 404), (login, r.status_code)
    h = world.token(client, "head")
    for missing in ("reason", "order_number", "order_date"):
        r = client.post(f"/api/v1/certificates/{number}/revoke", headers=h, json={**body, missing: ""})
        assert r.status_code == 400 and missing in r.get_json()["error"]["details"]
    r = client.post(f"/api/v1/certificates/{number}/revoke", headers=h,
                    json={**body, "order_date": (today + timedelta(days=1)).isoformat()})
    assert r.status_code == 400 and "order_date" in r.get_json()["error"]["details"]
    assert _public_status(rt, number) == "issued"
    r = client.post(f"/api/v1/certificates/{number}/revoke", headers=h, json=body)
    assert r.status_code == 200
    view = r.get_json()
    assert view["status"] == "revoked" and view["revoke_order"] == f"№ 12-п от {today.strftime('%d.%m.%Y')}"
    with rt.db.session() as s:
        assert s.scalars(select(Certificate.revoke_order_date)).one() == today


def test_revoking_in_the_web_asks_for_confirmation_and_says_what_it_does(app, rt, world, issued):  # noqa: ANN001
    web = app.test_client()
    world.login(web, "head")
    card = web.get(f"/certificates/card/{issued['number']}").get_data(as_text=True)
    assert 'name="confirm"' in card and "аннулировано безвозвратно" in card
    form = {"reason": "ошибка", "order_number": "5-п", "order_date": date.today().isoformat(),
            "csrf_token": csrf_of(web, f"/certificates/card/{issued['number']}")}
    r = web.post(f"/certificates/card/{issued['number']}/revoke", data=form, follow_redirects=True)
    assert "подтвердите аннулирование" in r.get_data(as_text=True)
    assert _public_status(rt, issued["number"]) == "issued"
    web.post(f"/certificates/card/{issued['number']}/revoke", data={**form, "confirm": "1"})
    assert _public_status(rt, issued["number"]) == "revoked"


def test_irreversible_document_steps_ask_for_confirmation(app, rt, world):  # noqa: ANN001
    from .pdfs import make_pdf
    world.user("clerk", "Clerk")
    world.folder("/Приказы")
    doc = world.document("clerk", "/Приказы", make_pdf("приказ"), doc_type="order", title="Отменяемый приказ")
    web = app.test_client()
    world.login(web, "clerk")
    page = web.get(f"/documents/{doc.id}").get_data(as_text=True)
    assert "отменён безвозвратно" in page
    token = csrf_of(web, f"/documents/{doc.id}")
    web.post(f"/documents/{doc.id}/transition/cancel", data={"csrf_token": token})
    with rt.db.session() as s:
        assert s.get(Document, doc.id).state == "draft"
    web.post(f"/documents/{doc.id}/transition/cancel", data={"csrf_token": token, "confirm": "1"})
    with rt.db.session() as s:
        assert s.get(Document, doc.id).state == "cancelled"


def test_expiry_happens_only_by_date_through_the_workflow_step(rt, issued):  # noqa: ANN001
    with rt.db.session() as s:
        assert certs.expire_due(s) == []
        cert = s.scalars(select(Certificate)).one()
        until = cert.valid_until
        assert certs.expire_due(s, today=until) == []  # valid through its last day
        assert certs.expire_due(s, today=until + timedelta(days=1)) == [issued["number"]]
    assert _steps(rt, issued["doc_id"]) == ["issue", "expire"]
    assert _public_status(rt, issued["number"]) == "expired"


def test_replace_for_a_change_of_name_gives_the_duplicate_the_new_name_linked_both_ways(rt, issued):  # noqa: ANN001
    old_name = rows(1)[0].full_name
    with pytest.raises(Invalid):
        certs.replace(rt, "head", issued["number"], PIN, "смена фамилии", "ivanova")
    with pytest.raises(Forbidden):
        certs.replace(rt, "clerk", issued["number"], PIN, "утрата")
    result = certs.replace(rt, "head", issued["number"], PIN, "смена фамилии (свидетельство о браке I-АБ 123456)",
                           "Петрова Ивана Ивановна")
    assert result["holder"] == "Петрова Ивана Ивановна"
    with rt.db.session() as s:
        old = s.scalars(select(Certificate).where(Certificate.number == issued["number"])).one()
        new = s.scalars(select(Certificate).where(Certificate.number == result["new"])).one()
        assert (old.replaced_by_id, new.replaces_id) == (new.id, old.id)
        assert (old.holder_name, new.holder_name, new.snils) == (old_name, "Петрова Ивана Ивановна", old.snils)
        assert new.blank_number != old.blank_number and old.document.state == "replaced"
    # the person's SNILS now goes with the new name: the old one is refused
    renamed = rows(1, start=1)[0].__class__(**{**rows(1, start=1)[0].__dict__, "full_name": "Петрова Ивана Ивановна"})
    latest = certs.issue(rt, "head", CODE, [renamed], PIN).issued[0]["number"]
    with pytest.raises(Invalid, match=latest):
        certs.issue(rt, "head", CODE, rows(1), PIN)


def test_one_snils_is_one_person_across_the_archive(rt, world, issued):  # noqa: ANN001
    other = rows(2)[1].__class__(**{**rows(2)[1].__dict__, "snils": SNILS[0]})  # another name, the same SNILS
    with pytest.raises(Invalid) as info:
        certs.issue(rt, "head", CODE, [other], PIN)
    assert issued["number"] in info.value.message and "смена фамилии" in info.value.message
    same_file = [rows(2)[1], rows(2)[1].__class__(**{**rows(2)[0].__dict__, "snils": SNILS[1], "row": 3})]
    with pytest.raises(Invalid, match="строка 3"):
        certs.issue(rt, "head", CODE, same_file, PIN)
    certs.issue(rt, "head", CODE, rows(1, start=1), PIN)  # the same person again (another qualification) is fine
    with rt.db.session() as s:
        assert len(s.scalars(select(Certificate)).all()) == 2


def test_certificate_numbers_are_found_in_any_letter_case(rt, issued):  # noqa: ANN001
    surname = rows(1)[0].surname
    with rt.db.session() as s:
        assert certs.lookup_by_number(s, issued["number"].lower(), surname.upper()).number == issued["number"]
        head = users.get_user(s, "head")
        assert certs.get(s, head, issued["number"].lower()).number == issued["number"]


# --- the Register governs ----------------------------------------------------------------------------------------

def _set_status(rt, status: str, pending: str = "") -> None:  # noqa: ANN001
    with rt.db.session() as s:
        org = s.scalars(select(Organisation).where(Organisation.code == CODE)).one()
        org.register_status, org.pending_status = status, pending


def test_an_excluded_centre_gets_no_blanks_and_issues_nothing_in_service_api_web_and_cli(
        app, client, rt, world, settings, centre):  # noqa: ANN001, F811
    _set_status(rt, "excluded")
    with rt.db.session() as s:
        org = s.scalars(select(Organisation).where(Organisation.code == CODE)).one()
        with pytest.raises(Conflict, match="не действует в Регистре"):
            certs.allocate_blanks(s, None, org, "ББ", 1, 10)
    with pytest.raises(Conflict, match="не действует в Регистре"):
        certs.issue(rt, "head", CODE, rows(1), PIN)
    r = client.post("/api/v1/certificates/blanks", headers=world.token(client, "clerk"),
                    json={"centre": CODE, "series": "ББ", "first": 1, "last": 10})
    assert r.status_code == 409 and "Исключена из Регистра" in r.get_json()["error"]["message"]
    data = "ФИО;Квалификация;Уровень;Дата экзамена;Номер протокола\nГусев Олег Ильич;Монтажник;3;01.03.2026;П-3\n"
    r = client.post("/api/v1/certificates/batches", headers=world.token(client, "head"),
                    content_type="multipart/form-data",
                    data={"centre": CODE, "pin": PIN, "file": (io.BytesIO(data.encode()), "p.csv")})
    assert r.status_code == 409 and "не действует в Регистре" in r.get_json()["error"]["message"]
    web = app.test_client()
    world.login(web, "clerk")
    r = web.post("/certificates/blanks", data={"centre": CODE, "series": "ББ", "first": "1", "last": "10",
                                               "csrf_token": csrf_of(web, "/certificates/blanks")},
                 follow_redirects=True)
    assert "не действует в Регистре" in r.get_data(as_text=True)
    from .test_cli import dms
    r = dms(settings, "certificates", "blanks", "allocate", "--centre", CODE, "--first", "1", "--last", "10",
            "--series", "ББ")
    assert r.returncode != 0 and "не действует в Регистре" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    with rt.db.session() as s:
        assert s.scalars(select(Certificate)).all() == []


def test_a_centre_under_audit_still_issues_but_one_whose_exclusion_is_decided_does_not(rt, centre):  # noqa: ANN001, F811
    _set_status(rt, "under_audit")
    assert len(certs.issue(rt, "head", CODE, rows(1), PIN).issued) == 1
    _set_status(rt, "included", pending="excluded")
    with pytest.raises(Conflict, match="ждёт подписи"):
        certs.issue(rt, "head", CODE, rows(1), PIN)


def test_identifiers_are_checked_by_their_rules():  # noqa: ANN201
    from dms.operations.demo_content import demo_organisations
    from dms.register.rules import code_problem, inn_valid, kpp_valid, ogrn_valid
    assert inn_valid("7707083893") and inn_valid("500100732259") and not inn_valid("7707083894")
    assert not inn_valid("0000000000") and not inn_valid("12345")
    assert ogrn_valid("1027700132195") and not ogrn_valid("1027700132196") and not ogrn_valid("3027700132195")
    assert ogrn_valid("304500116000157") and not ogrn_valid("304500116000158")
    assert kpp_valid("773601001") and kpp_valid("7736AB001") and not kpp_valid("77360100")
    assert code_problem("ЦОК-77-001", "assessment_centre") is None
    assert code_problem("ЦОК-005", "assessment_centre") and code_problem("ЭМЦ-77-001", "assessment_centre")
    for org in demo_organisations():
        assert inn_valid(org["inn"]) and ogrn_valid(org["ogrn"]), org["code"]
        assert org["kind"] == "agency" or code_problem(org["code"], org["kind"]) is None, org["code"]
    assert all(re.fullmatch(r"\d{10}", o["inn"]) for o in demo_organisations())


def test_a_declared_record_shows_no_edit_or_upload_forms(app, rt, world):  # noqa: ANN001
    from dms.records import service as records

    from .pdfs import make_pdf
    world.user("admin", "Administrator")
    world.folder("/Архив")
    doc = world.document("admin", "/Архив", make_pdf("протокол"), title="Протокол заседания")
    web = app.test_client()
    world.login(web, "admin")
    page = web.get(f"/documents/{doc.id}").get_data(as_text=True)
    assert f"/documents/{doc.id}/versions" in page and f"/documents/{doc.id}/edit" in page
    with rt.db.session() as s:
        admin = users.get_user(s, "admin")
        records.declare_record(s, admin, s.get(Document, doc.id), "приказ о передаче в архив")
    page = web.get(f"/documents/{doc.id}").get_data(as_text=True)
    assert f'action="/documents/{doc.id}/versions"' not in page and f'action="/documents/{doc.id}/edit"' not in page
    assert "Архивная запись: документ не изменяется" in page
