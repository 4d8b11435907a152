"""The dashboard and the document page: charts count only what the user may view, the history tab merges
versions, transitions and reads of the document."""
from __future__ import annotations

import re
import secrets
from datetime import date, datetime, timedelta, UTC

from dms.models import Certificate, Document, Organisation, WorkflowHistory
from dms.reports import stats
from dms.people import users
from dms.workflow import service as wf_svc
from dms.reports import charts

from .pdfs import make_pdf


def _certificate(rt, world, path: str, centre: Organisation, issued: date, holder: str = "Иванов И. И."):  # noqa: ANN001, ANN202
    doc = world.document("clerk", path, make_pdf(holder), doc_type="certificate", title=f"Свидетельство {holder}",
                         meta={"holder": holder, "qualification": "Сварщик"})
    with rt.db.session() as s:
        s.add(Certificate(document_id=doc.id, number=f"N-{secrets.token_hex(4)}", centre_id=centre.id,
                          holder_name=holder, holder_surname=holder.split()[0].lower(), qualification="Сварщик",
                          level=3, issue_date=issued, token=secrets.token_hex(16)))
    return doc


def _centre(rt, code: str, short: str) -> Organisation:  # noqa: ANN001
    with rt.db.session() as s:
        org = Organisation(code=code, name=f"Центр {short}", short_name=short, kind="assessment_centre")
        s.add(org)
        s.flush()
        s.expunge(org)
        return org


def _send_and_sign(rt, doc_id: int, sent: datetime, signed: datetime) -> None:  # noqa: ANN001
    """Workflow history as the pipeline writes it, at chosen moments (the turnaround is measured from it)."""
    with rt.db.session() as s:
        s.add(WorkflowHistory(document_id=doc_id, transition="send_to_signing", from_state="registered",
                              to_state="on_signing", ts=sent))
        s.add(WorkflowHistory(document_id=doc_id, transition="sign", from_state="on_signing", to_state="signed",
                              ts=signed))


def _two_folders(world) -> None:  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.user("reader")
    world.folder("/Открытая")
    world.folder("/Закрытая")
    world.share("/Открытая", "reader", "Reader")


def test_charts_count_only_documents_the_user_may_view(rt, world):  # noqa: ANN001
    _two_folders(world)
    centre = _centre(rt, "ЦОК-1", "Меридиан")
    today = date.today()
    _certificate(rt, world, "/Открытая", centre, today)
    _certificate(rt, world, "/Закрытая", centre, today, "Петров П. П.")
    _certificate(rt, world, "/Закрытая", centre, today, "Сидоров С. С.")
    now = datetime.now(UTC)
    hidden = world.document("clerk", "/Закрытая", make_pdf("скрытый"), doc_type="order", title="Скрытый приказ")
    _send_and_sign(rt, hidden.id, now - timedelta(days=9), now)
    with rt.db.session() as s:
        reader, clerk = users.get_user(s, "reader"), users.get_user(s, "clerk")
        assert stats.certificates_per_centre(s, reader).series[0].values[-1] == 1
        assert stats.certificates_per_centre(s, clerk).series[0].values[-1] == 3
        assert sum(n for _, n in stats.documents_by_state(s, reader)) == 1
        assert sum(n for _, n in stats.documents_by_state(s, clerk)) == 4
        assert stats.signing_turnaround(s, reader).empty
        assert stats.signing_turnaround(s, clerk).series[0].values[-1] == 9.0


def test_an_outsider_dashboard_shows_nothing_of_a_folder_they_cannot_see(rt, world, client):  # noqa: ANN001
    _two_folders(world)
    world.user("outsider")
    world.document("clerk", "/Закрытая", make_pdf("секрет"), title="Секретный приказ")
    world.document("clerk", "/Открытая", make_pdf("открыт"), title="Открытый приказ")
    world.login(client, "outsider")
    page = client.get("/").get_data(as_text=True)
    assert "Секретный приказ" not in page and "Открытый приказ" not in page
    assert re.search(r'tile-value">0<', page) and not re.search(r'tile-value">[1-9]', page)
    assert "<svg" not in page  # charts are for those who run the archive
    client.post("/logout", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)})
    world.login(client, "reader")
    page = client.get("/").get_data(as_text=True)
    assert "Открытый приказ" in page and "Секретный приказ" not in page
    assert re.search(r'tile-value">1<', page)


def test_a_local_editor_sees_charts_of_their_folders_only_and_a_local_reader_none(rt, world, client):  # noqa: ANN001
    _two_folders(world)
    world.user("manager")
    world.share("/Открытая", "manager", "Editor")
    centre = _centre(rt, "ЦОК-2", "Вектор")
    today = date.today()
    _certificate(rt, world, "/Открытая", centre, today)
    _certificate(rt, world, "/Закрытая", centre, today, "Петров П. П.")
    world.login(client, "manager")
    page = client.get("/").get_data(as_text=True)
    assert page.count("<svg") == 3  # certificates per centre, documents by state, signing turnaround
    with rt.db.session() as s:
        manager = users.get_user(s, "manager")
        assert stats.sees_charts(s, manager)
        assert stats.certificates_per_centre(s, manager).series[0].values[-1] == 1  # not the hidden one
        assert not stats.sees_charts(s, users.get_user(s, "reader"))
    client.post("/logout", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)})
    world.login(client, "reader")
    assert "<svg" not in client.get("/").get_data(as_text=True)


def test_dashboard_of_a_signatory_lists_the_worklist_and_draws_the_charts(rt, world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.user("head", "Signatory")
    world.folder("/Приказы")
    doc = world.document("clerk", "/Приказы", make_pdf("приказ"), doc_type="order", title="О графике экзаменов")
    with rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        d = s.get(Document, doc.id)
        wf_svc.execute(s, clerk, d, "register")
        wf_svc.execute(s, clerk, d, "send_to_signing")
    world.login(client, "head")
    page = client.get("/").get_data(as_text=True)
    work = page.split("Мои задачи</h2>", 1)[1].split("</section>", 1)[0]
    assert "О графике экзаменов" in work and "Подписать" in work
    assert page.count("<svg") == 3
    assert "На подписании" in page and "Документы по состояниям" in page


def test_certificates_are_counted_by_centre_and_month_of_issue_for_twelve_months(rt, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Свидетельства")
    north, south = _centre(rt, "ЦОК-N", "Север"), _centre(rt, "ЦОК-S", "Юг")
    today = date(2026, 11, 15)
    for issued, centre in [(date(2026, 11, 1), north), (date(2026, 11, 2), north), (date(2026, 9, 30), south),
                           (date(2025, 12, 1), south), (date(2025, 11, 30), north)]:  # the last one is too old
        _certificate(rt, world, "/Свидетельства", centre, issued)
    with rt.db.session() as s:
        chart = stats.certificates_per_centre(s, users.get_user(s, "clerk"), today)
    assert chart.months[0] == "дек 25" and chart.months[-1] == "ноя 26"
    by_name = {series.name: series.values for series in chart.series}
    assert by_name["Север"][-1] == 2 and sum(by_name["Север"]) == 2
    assert by_name["Юг"][9] == 1 and by_name["Юг"][0] == 1 and sum(by_name["Юг"]) == 2


def test_signing_turnaround_is_the_median_and_ninetieth_percentile_per_month(rt, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Приказы")
    signed = datetime(2026, 10, 20, 12, tzinfo=UTC)
    for days in (1, 2, 3, 4, 10):
        doc = world.document("clerk", "/Приказы", make_pdf(f"п{days}"), doc_type="order", title=f"Приказ {days}")
        _send_and_sign(rt, doc.id, signed - timedelta(days=days), signed)
    with rt.db.session() as s:
        chart = stats.signing_turnaround(s, users.get_user(s, "clerk"), date(2026, 11, 5))
    median, p90 = chart.series
    assert median.values[-2] == 3.0 and p90.values[-2] == 7.6
    assert median.values[-1] == 0 and p90.values[-1] == 0


def test_chart_labels_are_escaped_in_the_svg():  # noqa: ANN201
    svg = str(charts.bar_chart("Состояния", [("<script>alert(1)</script>", 3)]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_history_tab_shows_upload_transition_and_download_events(rt, world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Приказы")
    doc = world.document("clerk", "/Приказы", make_pdf("история"), doc_type="order", title="Приказ с историей",
                         filename="istoriya.pdf")
    world.login(client, "clerk")
    page = client.get(f"/documents/{doc.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(f"/documents/{doc.id}/transition/register", data={"csrf_token": token}).status_code == 302
    assert client.get(f"/documents/{doc.id}/versions/1/download").status_code == 200
    page = client.get(f"/documents/{doc.id}").get_data(as_text=True)
    history = page.split('id="tab-history"', 1)[1].split("</section>", 1)[0]
    titles = re.findall(r"<strong>([^<]+)</strong>", history)
    # Newest first; the second page view within the hour is not recorded again (issue 15.6: one view per hour).
    assert titles[:3] == ["Скачивание", "Зарегистрировать", "Просмотр"]
    assert titles.count("Просмотр") == 1
    assert "Загружена версия 1" in titles and "Документ создан" in titles
    assert "istoriya.pdf" in history and "Проект → Зарегистрирован" in history


def test_the_preview_frame_shows_the_pdf_and_refuses_other_files(rt, world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Приказы")
    pdf = make_pdf("просмотр")
    doc = world.document("clerk", "/Приказы", pdf, title="С PDF")
    text = world.document("clerk", "/Приказы", b"plain text, not a PDF\n", title="С текстом", filename="a.txt")
    world.login(client, "clerk")
    page = client.get(f"/documents/{doc.id}").get_data(as_text=True)
    src = re.search(r'<iframe[^>]+src="([^"]+)"', page).group(1)
    r = client.get(src)
    assert r.data == pdf and r.headers["Content-Disposition"].startswith("inline")
    assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
    page = client.get(f"/documents/{text.id}").get_data(as_text=True)
    assert "<iframe" not in page and "нельзя показать в браузере" in page
    assert client.get(f"/documents/{text.id}/versions/1/preview").status_code == 400
