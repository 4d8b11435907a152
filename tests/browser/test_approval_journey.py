"""The approval journey in Chromium (issue 19): a clerk starts the route of an order (two approvers in parallel,
then the head of department); one approves with remarks, the other rejects; the clerk uploads a new version and
starts again; all approve; the director finds the order in «Мои задачи» and signs it; the approval sheet is on the
page."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from dms.models import Document
from dms.runtime import Runtime
from dms.documents import service as documents
from dms.documents import folders
from dms.signatures import pki
from dms.people import users
from dms.workflow import service as wf_svc
from tests.app.pdfs import make_pdf

from .conftest import PIN, LiveServer, add_user, login, logout
from .test_journeys import panel, tab

pytestmark = pytest.mark.browser
TITLE = "О проведении выездной проверки ЦОК"


@pytest.fixture
def registered_order(rt: Runtime) -> int:
    add_user(rt, "clerk", "Clerk", full_name="Смирнова Анна Викторовна")
    add_user(rt, "director", "Signatory", full_name="Лебедева Ирина Павловна")
    add_user(rt, "lawyer", "Clerk", full_name="Юрьев Олег Петрович")
    add_user(rt, "accountant", "Clerk", full_name="Счётова Мария Ивановна")
    add_user(rt, "head", "Clerk", full_name="Главный Илья Андреевич")
    pki.init(rt)
    import io
    stored = documents.store_upload(rt.store, io.BytesIO(make_pdf("Приказ о проверке")), "prikaz.pdf", 10**7)
    with rt.db.session() as s:
        pki.issue(rt, s, None, users.get_user(s, "director"), PIN)
        clerk = users.get_user(s, "clerk")
        doc = documents.create(s, clerk, folders.ensure(s, "/Приказы"), "order", TITLE)
        documents.add_version(s, clerk, doc, stored)
        wf_svc.execute(s, clerk, doc, "register")
        return doc.id


def _decide(page, decision: str, comment: str = "") -> None:  # noqa: ANN001
    tab(page, "Согласование").click()
    form = panel(page, "Согласование")
    if comment:
        form.get_by_label("Замечания или причина отказа").fill(comment)
    form.get_by_role("button", name=decision, exact=True).click()
    expect(page.locator(".flash.success")).to_contain_text("Решение записано")


def _open_task(page, server: LiveServer) -> None:  # noqa: ANN001
    page.get_by_role("link", name="Мои задачи").click()
    page.locator("#approval-tasks").get_by_role("link", name=TITLE).click()


def _start(page, first: str, second: str) -> None:  # noqa: ANN001
    tab(page, "Согласование").click()
    form = panel(page, "Согласование").locator("#route-start")
    form.locator("input[name=extra_1]").fill(first)
    form.locator("select[name=rule_1]").select_option("all")
    form.locator("input[name=extra_2]").fill(second)
    form.get_by_role("button", name="Запустить маршрут").click()
    expect(page.locator(".pagehead .state")).to_have_text("На согласовании")


def test_an_order_is_approved_in_two_rounds_then_signed_and_keeps_its_approval_sheet(
        registered_order: int, rt: Runtime, server: LiveServer, page, tmp_path: Path) -> None:  # noqa: ANN001
    doc_url = f"{server.url}/documents/{registered_order}"
    login(page, server, "clerk")
    page.goto(doc_url)
    _start(page, "lawyer, accountant", "head")
    logout(page)

    login(page, server, "lawyer")
    _open_task(page, server)
    _decide(page, "Согласовать с замечаниями", "Уточнить сроки проверки")
    logout(page)
    login(page, server, "accountant")
    _open_task(page, server)
    _decide(page, "Отказать", "Нет сметы расходов")
    expect(page.locator(".pagehead .state")).to_have_text("Зарегистрирован")
    logout(page)

    login(page, server, "clerk")
    expect(page.locator("#bell .badge")).to_be_visible()  # «не согласовано» waits in the bell
    page.goto(doc_url)
    tab(page, "Версии").click()
    v2 = tmp_path / "prikaz-v2.pdf"
    v2.write_bytes(make_pdf("Приказ о проверке, смета приложена"))
    panel(page, "Версии").locator("input[type=file][name=file]").set_input_files(str(v2))
    panel(page, "Версии").get_by_role("button", name="Загрузить").click()
    _start(page, "lawyer, accountant", "head")
    logout(page)

    for who in ("lawyer", "accountant", "head"):
        login(page, server, who)
        _open_task(page, server)
        _decide(page, "Согласовать")
        logout(page)

    login(page, server, "director")
    page.get_by_role("link", name="Мои задачи").click()
    page.locator("table.grid tr", has_text=TITLE).first.get_by_role("link", name=TITLE).click()
    expect(page.locator(".pagehead .state")).to_have_text("На подписании")
    tab(page, "Подписи").click()
    signing = panel(page, "Подписи")
    signing.get_by_label("PIN-код ключа подписи").fill(PIN)
    signing.get_by_role("button", name="Подписать", exact=True).click()
    expect(page.locator(".pagehead .state")).to_have_text("Подписан")
    tab(page, "Согласование").click()
    approval = panel(page, "Согласование")
    expect(approval).to_contain_text("Круг 2 — согласовано")
    expect(approval).to_contain_text("Нет сметы расходов")
    expect(approval).to_contain_text("Уточнить сроки проверки")
    expect(approval.get_by_role("link", name="Лист согласования (документ)")).to_be_visible()
    with rt.db.session() as s:
        assert s.get_one(Document, registered_order).state == "signed"
