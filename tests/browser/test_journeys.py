"""The three journeys of the web UI, driven only through headless Chromium: a clerk files, registers and sends
an order that a signatory then signs with a PIN; an auditor finds a document by a Russian query in other word
forms and reads its history; an applicant checks certificates of qualification on a phone without logging in."""
from __future__ import annotations

import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dms.models import Certificate, Organisation
from dms.runtime import Runtime
from dms.certificates import service as certs
from dms.documents import service as documents
from dms.documents import folders
from dms.fulltext import indexing
from dms.signatures import pki
from dms.people import users
from dms.workflow import service as wf
from dms.certificates.rows import ExamResult
from tests.app.pdfs import make_pdf

from .conftest import PHONE, PIN, LiveServer, Screen, add_user, login, logout

pytestmark = pytest.mark.browser

REG_NUMBER = re.compile(r"ПР-\S+-\d{4}-\d{4}")


def _issue_signing_certificate(rt: Runtime, login_name: str) -> None:
    pki.init(rt)
    with rt.db.session() as s:
        pki.issue(rt, s, None, users.get_user(s, login_name), PIN)


@pytest.fixture
def office(rt: Runtime) -> Runtime:
    add_user(rt, "clerk", "Clerk", full_name="Смирнова Анна Викторовна")
    add_user(rt, "director", "Signatory", full_name="Лебедева Ирина Павловна")
    with rt.db.session() as s:
        folders.ensure(s, "/Приказы")
    _issue_signing_certificate(rt, "director")
    return rt


def test_clerk_files_and_sends_an_order_that_the_signatory_signs_with_a_pin(office, server: LiveServer, page,
                                                                             tmp_path: Path):  # noqa: ANN001
    title = "О составе экзаменационной комиссии ЦОК"
    pdf = tmp_path / "prikaz.pdf"
    pdf.write_bytes(make_pdf("Приказ о составе комиссии"))

    login(page, server, "clerk")
    page.get_by_role("link", name="Приказы").click()
    page.get_by_role("link", name="Новый документ").click()
    page.get_by_label("Тип документа").select_option(label="Приказ")
    page.get_by_role("button", name="Выбрать").click()
    page.get_by_label("Название").fill(title)
    page.locator("input[type=file][name=file]").set_input_files(str(pdf))
    page.get_by_role("button", name="Создать", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator(".pagehead .state")).to_have_text("Проект")
    tab(page, "Версии").click()
    expect(panel(page, "Версии")).to_contain_text("prikaz.pdf")

    page.get_by_role("button", name="Зарегистрировать").click()
    expect(page.locator(".pagehead .state")).to_have_text("Зарегистрирован")
    tab(page, "Свойства").click()
    number = REG_NUMBER.search(panel(page, "Свойства").inner_text())
    assert number, panel(page, "Свойства").inner_text()
    page.get_by_role("button", name="Отправить на подпись").click()
    expect(page.locator(".pagehead .state")).to_have_text("На подписании")
    logout(page)

    login(page, server, "director")
    page.get_by_role("link", name="Мои задачи").click()
    task = page.locator("table.grid tr", has_text=number.group(0))
    expect(task).to_contain_text("Подписать")
    task.get_by_role("link", name=title).click()
    tab(page, "Подписи").click()
    signing = panel(page, "Подписи")
    signing.get_by_label("PIN-код ключа подписи").fill(PIN)
    signing.get_by_role("button", name="Подписать", exact=True).click()
    expect(page.locator(".flash.success")).to_contain_text("Документ подписан")
    expect(page.locator(".pagehead .state")).to_have_text("Подписан")
    tab(page, "Подписи").click()
    panel(page, "Подписи").get_by_role("button", name="Проверить подписи").click()
    expect(page.locator(".flash.success")).to_contain_text("Версия 3")  # the current one: B-LTA after signing
    tab(page, "Подписи").click()
    signature = panel(page, "Подписи").locator("tr", has_text="PAdES")
    expect(signature).to_contain_text("Лебедева Ирина Павловна")
    expect(signature).to_contain_text("действительна")
    expect(page.get_by_label("PIN-код ключа подписи")).to_have_count(0)  # a signed order cannot be signed again


def tab(page, name: str):  # noqa: ANN001, ANN201
    """A section of the document page («Версии (2)» answers to «Версии»)."""
    return page.get_by_role("tab", name=re.compile("^" + re.escape(name)))


def panel(page, name: str):  # noqa: ANN001, ANN201
    return page.get_by_role("tabpanel", name=re.compile("^" + re.escape(name)))


@pytest.fixture
def audited(rt: Runtime) -> dict:
    """An order registered and sent for signing by a clerk, indexed; an auditor who may read everything."""
    add_user(rt, "clerk", "Clerk", full_name="Смирнова Анна Викторовна")
    add_user(rt, "auditor", "Auditor", full_name="Орлов Дмитрий Сергеевич")
    stored = documents.store_upload(rt.store, io.BytesIO(make_pdf("Приказ об аттестации")), "attestation.pdf",
                                    rt.settings.max_upload_bytes)
    title = "Приказ об аттестации экспертов центров оценки квалификаций"
    with rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        doc = documents.create(s, clerk, folders.ensure(s, "/Приказы"), "order", title, {})
        documents.add_version(s, clerk, doc, stored)
        for step in ("register", "send_to_signing"):
            wf.execute(s, clerk, documents.get(s, clerk, doc.id), step)
        other = documents.create(s, clerk, folders.ensure(s, "/Приказы"), "order", "О графике отпусков", {})
        doc_id, reg_number, other_id = doc.id, doc.reg_number, other.id
    indexing.drain(rt)
    return {"id": doc_id, "title": title, "reg_number": reg_number, "other": other_id}


def test_auditor_finds_a_document_by_other_word_forms_and_reads_its_history(audited: dict, server: LiveServer,
                                                                             page):  # noqa: ANN001
    login(page, server, "auditor")
    page.get_by_role("navigation").get_by_role("link", name="Поиск").click()
    page.get_by_label("Запрос").fill("аттестация эксперта")
    page.get_by_role("button", name="Найти").click()
    expect(page.locator(".results")).to_contain_text("Найдено: 1")
    page.locator(".results").get_by_role("link", name=audited["title"]).click()
    page.wait_for_url(re.compile(rf"/documents/{audited['id']}$"))
    tab(page, "Свойства").click()
    expect(panel(page, "Свойства")).to_contain_text(audited["reg_number"])

    tab(page, "История").click()
    history = panel(page, "История")
    expect(history).to_contain_text("Зарегистрировать")
    expect(history).to_contain_text("Отправить на подпись")
    expect(history.locator("li", has_text="Зарегистрировать")).to_contain_text("Смирнова")
    expect(page.get_by_role("button", name="Зарегистрировать")).to_have_count(0)  # the auditor only reads

    page.get_by_role("link", name="Журнал аудита").click()
    page.locator("select[name=object_type]").select_option(label="документ")
    page.get_by_label("№ объекта").fill(str(audited["id"]))
    page.get_by_role("button", name="Показать").click()
    events = page.locator("table.grid tbody tr")
    expect(events.first).to_contain_text(f"документ {audited['id']}")
    actions = events.locator("td:nth-child(4)").all_inner_texts()
    assert {"Создан документ\ndocument.create", "Просмотр документа\ndocument.view"} <= set(actions), actions
    assert not any(f"документ {audited['other']}" in row for row in events.all_inner_texts())


@pytest.fixture
def certificates(rt: Runtime) -> dict:
    """Three certificates of qualification issued through the real batch pipeline; the second then revoked, the
    third replaced by a duplicate."""
    add_user(rt, "head", "Signatory")
    _issue_signing_certificate(rt, "head")
    with rt.db.session() as s:
        centre = Organisation(code="ЦОК-77-001", name="ООО «Центр оценки квалификаций „Меридиан“»",
                              short_name="Меридиан", kind="assessment_centre", city="Москва")
        s.add(centre)
        s.flush()
        certs.allocate_blanks(s, None, centre, "АА", 1, 10)
    rows = [ExamResult(row=i + 2, full_name=name, qualification="Сварщик ручной дуговой сварки", level=4,
                       exam_date=date.today() - timedelta(days=3), protocol="П-15", snils=snils,
                       birth_date=date(1985, 2, 1))
            for i, (name, snils) in enumerate([("Иванов Иван Иванович", "11223344595"),
                                               ("Петрова Анна Сергеевна", "11223344696"),
                                               ("Сидоров Пётр Ильич", "11223344797")])]  # one SNILS, one person
    issued = certs.issue(rt, "head", "ЦОК-77-001", rows, PIN).issued
    with rt.db.session() as s:
        head = users.get_user(s, "head")
        certs.revoke(s, head, certs.get(s, head, issued[1]["number"]), "нарушение порядка экзамена", "15-п",
                     date.today())
    duplicate = certs.replace(rt, "head", issued[2]["number"], PIN, "утрата бланка")["new"]
    with rt.db.session() as s:
        found = {c.number: c.token for c in s.scalars(select(Certificate))}
    return {"valid": (issued[0]["number"], found[issued[0]["number"]]),
            "revoked": (issued[1]["number"], found[issued[1]["number"]]),
            "replaced": (issued[2]["number"], found[issued[2]["number"]]), "duplicate": duplicate}


def _fits_the_phone(page) -> None:  # noqa: ANN001
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} scrolls sideways on a phone: {width}px wide"


# Only this journey runs on a phone: parametrising `screen` overrides the desktop fixture for this test alone.
@pytest.mark.parametrize("screen", [Screen(PHONE)], ids=["phone"])
def test_applicant_checks_certificates_on_a_phone_by_qr_link_and_by_number(certificates: dict, server: LiveServer,
                                                                         page):  # noqa: ANN001
    number, token = certificates["valid"]
    page.goto(f"{server.url}/verify/t/{token}")
    card = page.locator(".cert-card")
    expect(card.locator(".cert-status")).to_have_text(re.compile("^Действительно", re.IGNORECASE))
    expect(card).to_contain_text(number)
    expect(card).to_contain_text("Иванов И. И.")
    expect(page.locator("body")).not_to_contain_text("Иванович")  # the holder's name is masked
    expect(page.locator("body")).not_to_contain_text("11223344595")  # SNILS never shown
    _fits_the_phone(page)

    revoked_number, revoked_token = certificates["revoked"]
    page.goto(f"{server.url}/verify/t/{revoked_token}")
    expect(page.locator(".cert-card .cert-status")).to_contain_text(re.compile("аннулировано", re.IGNORECASE))
    expect(page.locator(".cert-card")).to_contain_text("№ 15-п")

    page.goto(f"{server.url}/verify")
    page.get_by_label("Номер свидетельства").fill(number)
    page.get_by_label("Фамилия владельца").fill("Сидоров")
    page.get_by_role("button", name="Проверить").click()
    expect(page.locator(".flash.error")).to_contain_text("не найдено")
    expect(page.locator(".cert-card")).to_have_count(0)

    page.get_by_label("Фамилия владельца").fill("иванов")
    page.get_by_role("button", name="Проверить").click()
    expect(page.locator(".cert-card .cert-status")).to_have_text(re.compile("^Действительно", re.IGNORECASE))
    expect(page.locator(".cert-card")).to_contain_text(number)
    _fits_the_phone(page)


@pytest.mark.parametrize("screen", [Screen(PHONE)], ids=["phone"])
def test_revoked_and_replaced_results_fit_a_phone_and_say_when_and_by_what(certificates: dict, server: LiveServer,
                                                                          page):  # noqa: ANN001
    """By the QR link and by number and surname: a revoked or replaced certificate says so at the top of the card,
    since when, by which order or duplicate (one tap fills in the duplicate's number), and nothing scrolls."""
    today = f"{date.today():%d.%m.%Y}"
    revoked_number, revoked_token = certificates["revoked"]
    page.goto(f"{server.url}/verify/t/{revoked_token}")
    card = page.locator(".cert-card")
    expect(card.locator(".cert-status")).to_have_text(f"Аннулировано с {today}")
    expect(card.locator(".cert-notice")).to_have_text(f"Свидетельство не действует. Аннулировано приказом № 15-п от "
                                                      f"{today}.")
    expect(page.locator("body")).not_to_contain_text("нарушение порядка экзамена")  # the reason stays in the office
    _fits_the_phone(page)

    replaced_number, replaced_token = certificates["replaced"]
    for via in ("qr", "number"):
        if via == "qr":
            page.goto(f"{server.url}/verify/t/{replaced_token}")
        else:
            page.goto(f"{server.url}/verify")
            page.get_by_label("Номер свидетельства").fill(replaced_number.lower())
            page.get_by_label("Фамилия владельца").fill("Сидоров")
            page.get_by_role("button", name="Проверить").click()
        card = page.locator(".cert-card")
        expect(card.locator(".cert-status")).to_have_text(f"Заменено дубликатом с {today}")
        expect(card.locator(".cert-notice")).to_contain_text("Свидетельство не действует: вместо него выдан дубликат.")
        expect(card).to_contain_text("Сидоров П. И.")
        expect(page.locator("body")).not_to_contain_text("Пётр Ильич")
        expect(page.locator("body")).not_to_contain_text("11223344797")
        _fits_the_phone(page)
        box = card.locator(".cert-notice a").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box  # the link is on screen

    page.get_by_role("link", name=f"Проверить дубликат № {certificates['duplicate']}").click()
    expect(page.get_by_label("Номер свидетельства")).to_have_value(certificates["duplicate"])
    expect(page.locator(".flash.error")).to_have_count(0)
    page.get_by_label("Фамилия владельца").fill("Сидоров")
    page.get_by_role("button", name="Проверить").click()
    expect(page.locator(".cert-card .cert-status")).to_have_text(re.compile("^Действительно", re.IGNORECASE))
    expect(page.locator(".cert-card")).to_contain_text(replaced_number)  # «Дубликат свидетельства» names the old one
    _fits_the_phone(page)
