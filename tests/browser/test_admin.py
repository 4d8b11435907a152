"""Administration in the web, driven only through headless Chromium (issue 15.7): an administrator creates a user,
who logs in with the one-time password shown once and must choose their own; the administrator then disables the
user (with confirmation): the user's open session ends and the login is refused."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from dms.runtime import Runtime

from .conftest import DESKTOP, LiveServer, add_user, login, logout

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Lesnaya-14-kv-3"


@pytest.fixture
def agency(rt: Runtime) -> Runtime:
    add_user(rt, "admin", "Administrator", full_name="Орлов Павел Сергеевич")
    return rt


def test_a_user_created_and_disabled_in_the_web(agency, server: LiveServer, page, browser):  # noqa: ANN001
    login(page, server, "admin")
    page.get_by_role("navigation", name="Разделы").get_by_role("link", name="Пользователи").click()
    page.get_by_role("link", name="Новый пользователь").click()
    page.get_by_label("Логин").fill("kuznetsova")
    page.get_by_label("ФИО").fill("Кузнецова Мария Олеговна")
    page.get_by_label("Делопроизводитель").check()
    page.get_by_role("button", name="Создать пользователя").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Пользователь kuznetsova создан")
    one_time = page.locator("#one-time-password").inner_text().strip()
    assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", one_time), one_time
    logout(page)

    # The new user: the one-time password opens only the password change.
    user_context = browser.new_context(viewport=DESKTOP, locale="ru-RU")
    user_page = user_context.new_page()
    try:
        login(user_page, server, "kuznetsova", one_time)
        expect(user_page).to_have_url(re.compile(r"/account/password"))
        expect(user_page.get_by_text("Вы вошли с одноразовым паролем")).to_be_visible()
        user_page.goto(server.url + "/search")
        expect(user_page).to_have_url(re.compile(r"/account/password"))
        user_page.get_by_label("Текущий пароль").fill(one_time)
        user_page.get_by_label("Новый пароль (не короче").fill(NEW_PASSWORD)
        user_page.get_by_label("Новый пароль ещё раз").fill(NEW_PASSWORD)
        user_page.get_by_role("button", name="Сменить пароль").click()
        expect(user_page.get_by_text("Пароль изменён")).to_be_visible()
        user_page.goto(server.url + "/search")
        expect(user_page).to_have_url(re.compile(r"/search"))  # works now, in the same browser

        # The administrator disables the user; the confirmation is required first.
        login(page, server, "admin")
        page.get_by_role("navigation", name="Разделы").get_by_role("link", name="Пользователи").click()
        page.get_by_role("link", name="kuznetsova").click()
        disable = page.get_by_role("button", name="Отключить пользователя")
        disable.click()  # the unticked confirmation stops the form in the browser
        expect(page.get_by_role("button", name="Отключить пользователя")).to_be_visible()
        page.get_by_label("Пользователь не сможет войти").check()
        disable.click()
        expect(page.get_by_text("Пользователь отключён")).to_be_visible()
        expect(page.get_by_role("button", name="Включить пользователя")).to_be_visible()

        user_page.goto(server.url + "/search")  # the open session ended at once
        expect(user_page).to_have_url(re.compile(r"/login"))
        user_page.get_by_label("Логин").fill("kuznetsova")
        user_page.get_by_label("Пароль").fill(NEW_PASSWORD)
        user_page.get_by_role("button", name="Войти").click()
        expect(user_page.get_by_text("неверный логин или пароль")).to_be_visible()
        expect(user_page).to_have_url(re.compile(r"/login"))
    finally:
        user_context.close()


def test_the_sharing_picker_offers_users_and_groups_as_one_types(agency, server: LiveServer, page):  # noqa: ANN001
    from dms.documents import folders
    from dms.people import groups
    add_user(agency, "kuznetsova", "Clerk", full_name="Кузнецова Мария Олеговна")
    with agency.db.session() as s:
        folder_id = folders.ensure(s, "/Приказы").id
        groups.create(s, None, "cok-77", "ЦОК Москва")
    login(page, server, "admin")
    page.goto(f"{server.url}/folders/{folder_id}/sharing")
    field = page.get_by_label("Пользователь или группа")
    field.press_sequentially("кузн", delay=30)
    options = page.locator("#principal-choices option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_attribute("value", "kuznetsova")
    field.fill("")
    field.press_sequentially("москва", delay=30)
    expect(options.first).to_have_attribute("value", "group:cok-77")
    expect(options).to_have_count(1)
    field.fill("kuznetsova")
    page.get_by_label("Роль").select_option(label="Редактор")
    page.get_by_role("button", name="Назначить").click()
    expect(page.get_by_text("Права доступа изменены")).to_be_visible()
    expect(page.locator("table.grid")).to_contain_text("kuznetsova")
