"""Bulk actions on the folder table in a real browser: a transition over many documents and a move show live
progress (the bar and the result table fill chunk by chunk), each document decided on its own."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dms.models import Document
from dms.runtime import Runtime
from dms.documents import service as documents
from dms.documents import folders
from dms.people import users

from .conftest import LiveServer, add_user, login

pytestmark = pytest.mark.browser
COUNT = 12


@pytest.fixture
def filled(rt: Runtime) -> Runtime:
    add_user(rt, "clerk", "Clerk", full_name="Смирнова Анна Викторовна")
    with rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        inbox = folders.ensure(s, "/Входящие")
        folders.ensure(s, "/Дела 2026")
        for n in range(COUNT):
            documents.create(s, clerk, inbox, "other", f"Письмо № {n + 1:02d}", {})
    return rt


def test_bulk_transition_and_move_show_live_progress_and_every_result(filled: Runtime, server: LiveServer,
                                                                     page) -> None:  # noqa: ANN001
    login(page, server, "clerk")
    page.get_by_role("link", name="Входящие").first.click()
    page.get_by_label("Отметить все на странице").check()
    expect(page.locator("#bulk-count")).to_have_text(f"Отмечено документов: {COUNT}")
    page.locator("select[name=transition]").select_option(label="Зарегистрировать")
    page.get_by_role("button", name="Выполнить переход").click()
    progress = page.locator("#bulk-progress")
    expect(progress.locator(".status")).to_have_text(f"Готово: выполнено {COUNT} из {COUNT}, отказов: 0.")
    expect(progress.locator("tbody tr.ok")).to_have_count(COUNT)
    assert progress.locator("progress").evaluate("p => p.value") == COUNT
    expect(progress.locator("tbody tr").first).to_contain_text("присвоен номер")

    page.get_by_role("link", name="Обновить список").click()
    page.get_by_label("Отметить все на странице").check()
    page.locator("select[name=target]").select_option(label="/Дела 2026")
    page.get_by_role("button", name="Переместить").click()
    expect(progress.locator(".status")).to_have_text(f"Готово: выполнено {COUNT} из {COUNT}, отказов: 0.")
    expect(progress.locator("tbody tr.ok").first).to_contain_text("перемещён в «Дела 2026»")
    with filled.db.session() as s:
        target = folders.resolve(s, "/Дела 2026").id
        moved = s.scalars(select(Document.folder_id).where(Document.state == "registered")).all()
    assert moved == [target] * COUNT
