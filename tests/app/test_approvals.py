"""Approval routes (issue 19): stages in order, parallel approvers, rejection back to the author, a new round from a
new version, the approval sheet, deadlines in working days, deputies and notifications."""
from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from dms.approvals import calendar, notify
from dms.approvals import service as approvals
from dms.approvals.models import ApprovalTask, Notification
from dms.approvals.rules import Kind
from dms.errors import Conflict, Invalid
from dms.models import Document, Group, GroupMember
from dms.security import Forbidden
from dms.documents import service as documents
from dms.people import users
from dms.workflow import service as wf_svc
from tests.app.conftest import csrf_of
from tests.app.pdfs import make_pdf


@pytest.fixture
def office(world):  # noqa: ANN001, ANN201
    world.user("clerk", "Clerk")
    world.user("director", "Signatory")
    for login in ("lawyer", "accountant", "head", "deputy"):
        world.user(login, "Clerk")
    with world.rt.db.session() as s:
        for login in ("lawyer", "accountant", "head", "deputy", "clerk"):
            users.get_user(s, login).email = f"{login}@agency.test"
    world.folder("/Агентство/Приказы")
    doc = world.document("clerk", "/Агентство/Приказы", make_pdf("Приказ о проверке"), doc_type="order",
                         title="О проверке центров оценки")
    with world.rt.db.session() as s:
        d = s.get_one(Document, doc.id)
        wf_svc.execute(s, users.get_user(s, "clerk"), d, "register")
    return doc.id


def _do(rt, login: str, fn, doc_id: int, *args, **kwargs):  # noqa: ANN001, ANN202
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        doc = s.get_one(Document, doc_id)
        return fn(s, actor, doc, *args, **kwargs)


def _decide(rt, login: str, doc_id: int, decision: str, comment: str = "") -> None:  # noqa: ANN001
    with rt.db.session() as s:
        approvals.decide(rt, s, users.get_user(s, login), s.get_one(Document, doc_id), decision, comment)


def _state(rt, doc_id: int) -> str:  # noqa: ANN001
    with rt.db.session() as s:
        return s.get_one(Document, doc_id).state


def _kinds(rt, login: str) -> list[str]:  # noqa: ANN001
    with rt.db.session() as s:
        user = users.get_user(s, login)
        return [n.kind for n in s.scalars(select(Notification).where(Notification.user_id == user.id)
                                          .order_by(Notification.id))]


PLAN = [["lawyer", "accountant"], ["head"]]


def test_a_rejection_returns_the_order_and_a_new_version_starts_the_next_round(rt, office) -> None:  # noqa: ANN001
    plan = approvals.plan_from_logins(PLAN)
    _do(rt, "clerk", approvals.start, office, plan)
    assert _state(rt, office) == "on_approval"
    assert _kinds(rt, "lawyer") == [Kind.TASK_ASSIGNED] and _kinds(rt, "head") == []  # stage 2 waits
    _decide(rt, "lawyer", office, "remarks", "Уточнить срок проверки")
    with pytest.raises(Invalid):
        _decide(rt, "accountant", office, "reject")  # a rejection needs its reason
    _decide(rt, "accountant", office, "reject", "Нет сметы")
    assert _state(rt, office) == "registered"
    assert Kind.REJECTED in _kinds(rt, "clerk")
    with rt.db.session() as s:  # it is in the author's tasks again
        assert any(d.id == office for d, _t in wf_svc.returned(s, users.get_user(s, "clerk")))
    # a new version, a new round; the first round's decisions stay
    stored = documents.store_upload(rt.store, io.BytesIO(make_pdf("Приказ, ред. 2")), "v2.pdf", 10**7)
    with rt.db.session() as s:
        documents.add_version(s, users.get_user(s, "clerk"), s.get_one(Document, office), stored)
    _do(rt, "clerk", approvals.start, office, approvals.plan_from_logins(PLAN))
    _decide(rt, "lawyer", office, "approve")
    _decide(rt, "accountant", office, "approve")
    assert _kinds(rt, "head")[-1] == Kind.TASK_ASSIGNED  # stage 2 starts when stage 1 is done
    _decide(rt, "head", office, "approve")
    assert _state(rt, office) == "on_signing"
    with rt.db.session() as s:
        doc = s.get_one(Document, office)
        data = approvals.describe(s, doc)
        assert [r["status"] for r in data["rounds"]] == ["rejected", "approved"]
        assert data["rounds"][0]["stages"][0]["tasks"][0]["comment"] == "Уточнить срок проверки"
        sheet = approvals.sheet_document(s, doc)
        assert sheet is not None and sheet.current_version_id is not None
        # the director finds it in «Мои задачи»
        assert any(d.id == office for d, _t in wf_svc.worklist(s, users.get_user(s, "director")))
    assert Kind.APPROVED in _kinds(rt, "clerk")


def test_only_the_route_moves_the_order_in_and_out_of_approval(rt, office) -> None:  # noqa: ANN001
    with rt.db.session() as s, pytest.raises(Conflict):
        wf_svc.execute(s, users.get_user(s, "clerk"), s.get_one(Document, office), "start_approval")
    _do(rt, "clerk", approvals.start, office, approvals.plan_from_logins(PLAN))
    with rt.db.session() as s, pytest.raises(Conflict):
        wf_svc.execute(s, users.get_user(s, "clerk"), s.get_one(Document, office), "approval_complete")
    with pytest.raises(Forbidden):  # not an approver of this round
        _decide(rt, "director", office, "approve")
    _do(rt, "clerk", approvals.recall, office, "передумали")
    assert _state(rt, office) == "registered"


def test_an_approver_who_cannot_open_the_document_is_refused_before_anything_starts(rt, world, office) -> None:  # noqa: ANN001
    world.user("outsider")
    with pytest.raises(Invalid):
        _do(rt, "clerk", approvals.start, office, approvals.plan_from_logins([["outsider"]]))
    assert _state(rt, office) == "registered"


def test_a_group_stage_of_any_member_is_decided_by_the_first_member(rt, office) -> None:  # noqa: ANN001
    with rt.db.session() as s:
        group = Group(name="Юристы", title="Юристы")
        s.add(group)
        s.flush()
        for login in ("lawyer", "accountant"):
            s.add(GroupMember(group_id=group.id, user_id=users.get_user(s, login).id))
        g2 = Group(name="Руководители", title="Руководители")
        s.add(g2)
        s.flush()
        s.add(GroupMember(group_id=g2.id, user_id=users.get_user(s, "head").id))
    _do(rt, "clerk", approvals.start, office)  # the order's default route: lawyers (any), then heads
    _decide(rt, "accountant", office, "approve")
    with rt.db.session() as s:
        lawyer = users.get_user(s, "lawyer")
        assert not approvals.open_tasks(s, lawyer)  # their task closed by the colleague's decision
    _decide(rt, "head", office, "approve")
    assert _state(rt, office) == "on_signing"


def test_deadlines_count_working_days_and_skip_public_holidays() -> None:
    assert calendar.add_working_days(date(2026, 12, 4), 1) == date(2026, 12, 7)  # Friday → Monday
    assert calendar.add_working_days(date(2026, 12, 30), 1) == date(2027, 1, 11)  # 31 Dec and 1–8 Jan off (+ 9–10)
    assert calendar.add_working_days(date(2026, 6, 11), 1) == date(2026, 6, 15)  # 12 June, then the weekend
    assert calendar.working_days_between(date(2026, 12, 4), date(2026, 12, 9)) == 3


def test_an_overdue_task_is_reminded_once_and_shows_in_the_control_report(rt, office) -> None:  # noqa: ANN001
    _do(rt, "clerk", approvals.start, office, approvals.plan_from_logins([["lawyer"]], days=1))
    later = datetime.now(UTC) + timedelta(days=6)
    with rt.db.session() as s:
        first = approvals.remind(s, later)
        again = approvals.remind(s, later)
        rows = approvals.control_report(s, users.get_user(s, "clerk"), only_overdue=True, at=later)
    assert first["overdue"] == 1 and again["overdue"] == 0
    assert [r.approver for r in rows] == ["Lawyer"] and rows[0].overdue_days >= 1
    assert _kinds(rt, "lawyer").count(Kind.TASK_OVERDUE) == 1 and Kind.TASK_OVERDUE in _kinds(rt, "clerk")


def test_a_deputy_receives_the_tasks_of_the_period_and_decides_for_the_approver(rt, office) -> None:  # noqa: ANN001
    today = datetime.now(UTC).astimezone(calendar.MOSCOW).date()
    with rt.db.session() as s:
        approvals.set_deputy(s, users.get_user(s, "lawyer"), users.get_user(s, "lawyer"),
                             users.get_user(s, "deputy"), today, today + timedelta(days=3))
    _do(rt, "clerk", approvals.start, office, approvals.plan_from_logins([["lawyer"]]))
    assert _kinds(rt, "deputy") == [Kind.TASK_ASSIGNED] and _kinds(rt, "lawyer") == []
    _decide(rt, "deputy", office, "approve")
    with rt.db.session() as s:
        task = s.scalars(select(ApprovalTask)).one()
        assert task.principal_id == users.get_user(s, "lawyer").id
        assert task.decided_by_id == users.get_user(s, "deputy").id
        assert approvals.describe(s, s.get_one(Document, office))["rounds"][0]["stages"][0]["tasks"][0]["deputy"]
    with rt.db.session() as s, pytest.raises(Forbidden):  # a clerk cannot name someone else's deputy
        approvals.set_deputy(s, users.get_user(s, "clerk"), users.get_user(s, "head"), users.get_user(s, "deputy"),
                             today, today)


def test_one_event_notifies_each_person_once(rt, office) -> None:  # noqa: ANN001
    with rt.db.session() as s:
        lawyer = users.get_user(s, "lawyer")
        doc = s.get_one(Document, office)
        assert notify.notify(s, lawyer, Kind.TEST, doc, "same-event") is not None
        assert notify.notify(s, lawyer, Kind.TEST, doc, "same-event") is None
        notify.set_preferences(s, lawyer, {"test": "off"})
        assert notify.notify(s, lawyer, Kind.TEST, doc, "other-event") is None


def test_the_web_journey_of_a_route_with_the_sheet_tasks_bell_and_control_report(rt, world, client, office) -> None:  # noqa: ANN001
    world.login(client, "clerk")
    token = csrf_of(client, f"/documents/{office}")
    page = client.get(f"/documents/{office}?tab=approval").get_data(as_text=True)
    assert "route-start" in page
    r = client.post(f"/documents/{office}/route/start", data={"csrf_token": token, "extra_1": "lawyer",
                                                                         "extra_2": "head"})
    assert r.status_code == 302 and _state(rt, office) == "on_approval"
    client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
    world.login(client, "lawyer")
    assert 'class="bell unread"' in client.get("/").get_data(as_text=True)
    tasks = client.get("/worklist").get_data(as_text=True)
    assert "О проверке центров оценки" in tasks and "approval-tasks" in tasks
    token = csrf_of(client, f"/documents/{office}")
    assert "decision-form" in client.get(f"/documents/{office}").get_data(as_text=True)
    r = client.post(f"/documents/{office}/route/decide", data={"csrf_token": token, "decision": "approve"})
    assert r.status_code == 302
    csv = client.get("/control?format=csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert client.get(f"/documents/{office}/route/sheet.pdf").data.startswith(b"%PDF")
    r = client.post(f"/documents/{office}/comments", data={"csrf_token": token, "body": "Проверьте, @head"})
    assert r.status_code == 302
    assert Kind.MENTION in _kinds(rt, "head")


def test_an_outsider_sees_no_route_task_comment_or_notification_of_another(rt, world, client, office) -> None:  # noqa: ANN001
    _do(rt, "clerk", approvals.start, office, approvals.plan_from_logins([["lawyer"]]))
    world.user("outsider")
    h = world.token(client, "outsider")
    assert client.get(f"/api/v1/documents/{office}/route", headers=h).status_code == 404
    assert client.get(f"/api/v1/documents/{office}/comments", headers=h).status_code == 404
    assert client.post(f"/api/v1/documents/{office}/route/decisions", headers=h,
                       json={"decision": "approve"}).status_code == 404
    assert client.get("/api/v1/tasks", headers=h).get_json()["total"] == 0
    assert client.get("/api/v1/notifications", headers=h).get_json()["items"] == []
    assert client.get("/api/v1/control", headers=h).get_json()["total"] == 0
    lawyer = world.token(client, "lawyer")
    assert client.get("/api/v1/tasks", headers=lawyer).get_json()["total"] == 1
    r = client.post(f"/api/v1/documents/{office}/route/decisions", headers=lawyer, json={"decision": "approve"})
    assert r.status_code == 201 and r.get_json()["state"] == "on_signing"


def test_three_working_days_on_the_overdue_task_shows_everywhere_and_a_deputy_takes_the_next(  # noqa: ANN001
        rt, world, client, office) -> None:
    import time_machine
    _do(rt, "clerk", approvals.start, office, approvals.plan_from_logins([["lawyer"], ["head"]], days=1))
    start = datetime.now(UTC)
    later = start
    while calendar.working_days_between(start.astimezone(calendar.MOSCOW).date(),
                                        later.astimezone(calendar.MOSCOW).date()) < 3:
        later += timedelta(days=1)
    with time_machine.travel(later, tick=False):
        day = later.astimezone(calendar.MOSCOW).date()
        with rt.db.session() as s:
            approvals.set_deputy(s, users.get_user(s, "head"), users.get_user(s, "head"),
                                 users.get_user(s, "deputy"), day, day + timedelta(days=5))
        world.login(client, "lawyer")
        assert "просрочено" in client.get("/worklist").get_data(as_text=True)
        client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
        world.login(client, "clerk")
        assert "overdue-approvals" in client.get("/").get_data(as_text=True)
        control = client.get("/control?overdue=1").get_data(as_text=True)
        assert "О проверке центров оценки" in control and "Lawyer" in control
        _decide(rt, "lawyer", office, "approve")
        assert _kinds(rt, "deputy") == [Kind.TASK_ASSIGNED] and _kinds(rt, "head") == []


def test_a_discussion_is_found_by_search_with_its_document_and_a_hidden_comment_is_not(rt, office) -> None:  # noqa: ANN001
    from dms.approvals import comments
    from dms.fulltext import indexing
    from dms.fulltext import service as search_svc
    with rt.db.session() as s:
        c = comments.add(s, users.get_user(s, "clerk"), s.get_one(Document, office), "Предлагаю уточнить смету выезда")
        cid = c.id
    indexing.drain(rt)

    def hits(login: str, q: str) -> int:
        with rt.db.session() as s:
            return search_svc.search_documents(s, rt, users.get_user(s, login), search_svc.parse_query({"q": q})).total
    assert hits("lawyer", "смета выезда") == 1
    with rt.db.session() as s:
        from dms.approvals.models import Comment
        comments.hide(s, users.get_user(s, "clerk"), s.get_one(Comment, cid), "не по теме")
    indexing.drain(rt)
    assert hits("lawyer", "смета выезда") == 0
