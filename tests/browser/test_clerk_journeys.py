"""Journeys of issue 15 in Chromium: a certificate revoked from its card only after the confirmation is ticked (with
the order's number and date), a returned order reaching its author's «Мои задачи», a report accepted by the agency's
Clerk (the default reviewer)."""
from __future__ import annotations

import io
import re
from datetime import date

import pytest
from playwright.sync_api import expect

from dms.runtime import Runtime
from dms.models import Document
from dms.documents import service as documents
from dms.documents import folders
from dms.people import users
from dms.workflow import service as wf
from tests.app.pdfs import make_pdf

from .conftest import PIN, LiveServer, add_user, login, logout  # noqa: F401
from .test_journeys import _issue_signing_certificate, certificates  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser


def test_signatory_revokes_a_certificate_only_after_confirming_and_the_public_page_follows(
        certificates: dict, server: LiveServer, page):  # noqa: ANN001, F811
    number, token = certificates["valid"]
    login(page, server, "head")
    page.goto(f"{server.url}/certificates/card/{number}")
    page.get_by_label("Причина", exact=True).fill("нарушение порядка проведения экзамена")
    page.get_by_label("Номер приказа").fill("21-п")
    page.get_by_label("Дата приказа").fill(date.today().isoformat())
    page.get_by_role("button", name="Аннулировать").click()
    # the unticked confirmation stops the form: nothing was sent, the certificate is still valid
    expect(page.locator(".flash")).to_have_count(0)
    page.goto(f"{server.url}/verify/t/{token}")
    expect(page.locator(".cert-card .cert-status")).to_have_text(re.compile("^Действительно", re.IGNORECASE))

    page.goto(f"{server.url}/certificates/card/{number}")
    page.get_by_label("Причина", exact=True).fill("нарушение порядка проведения экзамена")
    page.get_by_label("Номер приказа").fill("21-п")
    page.get_by_label("Дата приказа").fill(date.today().isoformat())
    confirm = page.get_by_label(re.compile("будет аннулировано безвозвратно"))
    confirm.check()
    page.get_by_role("button", name="Аннулировать").click()
    expect(page.locator(".flash.success")).to_contain_text("аннулировано")
    page.goto(f"{server.url}/verify/t/{token}")
    expect(page.locator(".cert-card .cert-status")).to_contain_text(re.compile("аннулировано", re.IGNORECASE))
    expect(page.locator(".cert-card")).to_contain_text("№ 21-п")


@pytest.fixture
def returned(rt: Runtime) -> dict:
    """An order the clerk sent to signing and the director returned for rework; a report a site submitted."""
    add_user(rt, "clerk", "Clerk", full_name="Смирнова Анна Викторовна")
    add_user(rt, "director", "Signatory", full_name="Лебедева Ирина Павловна")
    add_user(rt, "site", full_name="Площадка")
    with rt.db.session() as s:
        folders.ensure(s, "/Приказы")
        folders.ensure(s, "/Отчёты/Площадка")
    from dms.documents import sharing
    with rt.db.session() as s:
        sharing.grant(s, None, folders.resolve(s, "/Отчёты/Площадка"), sharing.principal_for(s, login="site"),
                      "Editor")
    ids = {}
    for login_name, path, doc_type, title, steps in (
            ("clerk", "/Приказы", "order", "О графике экзаменов", ("register", "send_to_signing")),
            ("site", "/Отчёты/Площадка", "report", "Отчёт площадки за квартал", ("submit",))):
        stored = documents.store_upload(rt.store, io.BytesIO(make_pdf(title)), "doc.pdf", rt.settings.max_upload_bytes)
        with rt.db.session() as s:
            actor = users.get_user(s, login_name)
            doc = documents.create(s, actor, folders.resolve(s, path), doc_type, title, {})
            documents.add_version(s, actor, doc, stored)
            for step in steps:
                wf.execute(s, actor, doc, step)
            ids[doc_type] = doc.id
    with rt.db.session() as s:
        director = users.get_user(s, "director")
        wf.execute(s, director, s.get(Document, ids["order"]), "return_to_draft",
                   "уточните даты экзаменов")
    return ids


def test_a_returned_order_is_in_its_authors_tasks_and_the_clerk_accepts_a_report(returned: dict,
                                                                                 server: LiveServer, page):  # noqa: ANN001
    login(page, server, "clerk")
    page.get_by_role("link", name="Мои задачи").click()
    order = page.locator("table.grid tr", has_text="О графике экзаменов")
    expect(order).to_contain_text("Отправить на подпись")
    report = page.locator("table.grid tr", has_text="Отчёт площадки за квартал")
    expect(report).to_contain_text("Принять")
    report.get_by_role("link", name="Отчёт площадки за квартал").click()
    page.get_by_role("button", name="Принять").click()
    expect(page.locator(".pagehead .state")).to_have_text("Принят")
    page.get_by_role("link", name="Мои задачи").click()
    expect(page.locator("table.grid tr", has_text="Отчёт площадки за квартал")).to_have_count(0)
    order = page.locator("table.grid tr", has_text="О графике экзаменов")
    order.get_by_role("link", name="О графике экзаменов").click()
    page.get_by_role("button", name="Отправить на подпись").click()
    expect(page.locator(".pagehead .state")).to_have_text("На подписании")
    logout(page)
