"""E-mail notifications against a real SMTP server on loopback (aiosmtpd): each expected e-mail arrives exactly
once, in the recipient's language, with no one's personal data — also when the server is down for a while in the
middle of the journey."""
from __future__ import annotations

import socket
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller

from dms.approvals import notify
from dms.approvals import service as approvals
from dms.models import Document
from dms.people import users
from dms.workflow import service as wf_svc
from tests.app.pdfs import make_pdf


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802 (aiosmtpd's hook name)
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def subjects(self, to: str) -> list[str]:
        return [str(make_header(decode_header(m["Subject"]))) for rcpts, m in self.messages if to in rcpts]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():  # noqa: ANN201
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, controller, notify.SmtpConfig("127.0.0.1", port, sender="pechat@agency.test", timeout=5)
    try:
        controller.stop()
    except (AssertionError, RuntimeError):
        pass  # already stopped by the test


@pytest.fixture
def order(world):  # noqa: ANN001, ANN201
    world.user("clerk", "Clerk")
    for login in ("lawyer", "accountant", "head"):
        world.user(login, "Clerk")
    with world.rt.db.session() as s:
        for login in ("clerk", "lawyer", "accountant", "head"):
            users.get_user(s, login).email = f"{login}@agency.test"
        notify.set_preferences(s, users.get_user(s, "accountant"), language="en")
    world.folder("/Агентство/Приказы")
    doc = world.document("clerk", "/Агентство/Приказы", make_pdf("Приказ"), doc_type="order", title="О проверке")
    with world.rt.db.session() as s:
        wf_svc.execute(s, users.get_user(s, "clerk"), s.get_one(Document, doc.id), "register")
    return doc.id


def _as(rt, login: str, fn, doc_id: int, *args):  # noqa: ANN001, ANN202
    with rt.db.session() as s:
        return fn(s, users.get_user(s, login), s.get_one(Document, doc_id), *args)


def _decide(rt, login: str, doc_id: int, decision: str, comment: str = "") -> None:  # noqa: ANN001
    with rt.db.session() as s:
        approvals.decide(rt, s, users.get_user(s, login), s.get_one(Document, doc_id), decision, comment)


def test_each_expected_email_arrives_once_even_when_the_server_was_down_in_the_middle(rt, order, smtp) -> None:  # noqa: ANN001
    inbox, controller, cfg = smtp
    plan = approvals.plan_from_logins([["lawyer", "accountant"], ["head"]])
    _as(rt, "clerk", approvals.start, order, plan)
    assert notify.send_pending(rt.db, cfg)["sent"] == 2
    [ru] = inbox.subjects("lawyer@agency.test")
    [en] = inbox.subjects("accountant@agency.test")  # the accountant reads English
    assert ru.startswith("[Печать] Новая задача согласования: приказ №") and ru.endswith("«О проверке»")
    assert en.startswith("[Pechat] New approval task: order №") and en.endswith("«О проверке»")

    controller.stop()  # the mail server goes down
    _decide(rt, "lawyer", order, "approve")
    _decide(rt, "accountant", order, "reject", "Нет сметы")
    down = notify.send_pending(rt.db, cfg)
    assert down["sent"] == 0 and down["pending"] >= 1  # nothing lost: still pending
    controller = Controller(inbox, hostname="127.0.0.1", port=cfg.port)  # and comes back, on the same port
    controller.start()
    up = notify.send_pending(rt.db, cfg)
    again = notify.send_pending(rt.db, cfg)
    assert up["sent"] == 1 and again["sent"] == 0  # the rejection, to the clerk, once
    [rejected] = inbox.subjects("clerk@agency.test")
    assert rejected.startswith("[Печать] Документ не согласован: приказ")
    assert len(inbox.messages) == 3
    controller.stop()
    for _rcpts, message in inbox.messages:  # no personal data of others in any e-mail
        body = message.get_payload(decode=True).decode()
        assert "СНИЛС" not in body and "SNILS" not in body


def test_no_email_without_an_address_or_when_the_kind_is_in_app_only(rt, order, smtp) -> None:  # noqa: ANN001
    inbox, _controller, cfg = smtp
    with rt.db.session() as s:
        users.get_user(s, "lawyer").email = ""
        notify.set_preferences(s, users.get_user(s, "accountant"), {"task_assigned": "inapp"})
    _as(rt, "clerk", approvals.start, order, approvals.plan_from_logins([["lawyer", "accountant"]]))
    assert notify.send_pending(rt.db, cfg)["sent"] == 0 and inbox.messages == []
    with rt.db.session() as s:
        assert notify.unread_count(s, users.get_user(s, "lawyer")) == 1  # still in the bell


def test_the_smtp_url_is_parsed_and_refused_when_not_smtp() -> None:
    cfg = notify.SmtpConfig.from_url("smtp://mailer:s%40cret@mail.agency.test:587?starttls=1", "dms@agency.test")
    assert cfg is not None and (cfg.host, cfg.port, cfg.user, cfg.password, cfg.tls) == \
        ("mail.agency.test", 587, "mailer", "s@cret", "starttls")
    assert notify.SmtpConfig.from_url("") is None
    with pytest.raises(ValueError):
        notify.SmtpConfig.from_url("http://example.org")


def test_a_digest_reader_gets_one_email_a_day_with_all_their_notices(rt, order, smtp) -> None:  # noqa: ANN001
    inbox, _controller, cfg = smtp
    with rt.db.session() as s:
        notify.set_preferences(s, users.get_user(s, "lawyer"), {"task_assigned": "digest", "rejected": "digest"})
    _as(rt, "clerk", approvals.start, order, approvals.plan_from_logins([["lawyer"]]))
    assert notify.send_pending(rt.db, cfg)["sent"] == 0
    assert notify.send_digests(rt.db, cfg) == {"users": 1, "notices": 1}
    assert notify.send_digests(rt.db, cfg) == {"users": 0, "notices": 0}
    [subject] = inbox.subjects("lawyer@agency.test")
    assert subject == "[Печать] Сводка за день: 1"
