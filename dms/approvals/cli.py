"""`dms route …`, `dms deputy set`, `dms notify …`: approval routes from the command line. Acting commands take
--as LOGIN and print JSON; a refusal exits non-zero with one line on stderr."""
from __future__ import annotations

from datetime import date

import click

from dms.clibase import emit, fail, handle_errors, main, runtime
from dms.models import Document
from dms.people import users
from dms.approvals import notify
from dms.approvals import service as approvals
from dms.approvals.rules import Kind


def _document(s, actor, doc_id: int) -> Document:  # noqa: ANN001
    return approvals.get_document(s, actor, doc_id)


def _send(ctx: click.Context) -> dict[str, int]:
    """After the commit: the e-mails this command caused go out now (the rest wait for the next run)."""
    rt = runtime(ctx)
    return notify.send_pending(rt.db, notify.config_from_env(), rt.settings.base_url)


@main.group()
def route() -> None:
    """Согласование: маршрут, решения, отзыв."""


@route.command("start")
@click.argument("doc_id", type=int)
@click.option("--stage", "stages", multiple=True,
              help="one stage: approvers' logins, comma-separated, in parallel, all must approve; repeat per stage")
@click.option("--days", type=click.IntRange(1, 60), default=2, help="working days per stage given with --stage")
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def start_cmd(ctx: click.Context, doc_id: int, stages: tuple[str, ...], days: int, login: str) -> None:
    """Start the route of document DOC_ID: the stages given, or the type's default route."""
    with runtime(ctx).db.session() as s:
        actor = users.get_user(s, login)
        doc = _document(s, actor, doc_id)
        plan = approvals.plan_from_logins([x.split(",") for x in stages], days) if stages else None
        r = approvals.start(s, actor, doc, plan)
        result = {"document": doc.id, "route": r.id, "round": r.round, "state": doc.state}
    _send(ctx)
    emit(result, True)


@route.command("decide")
@click.argument("doc_id", type=int)
@click.argument("decision", type=click.Choice(["approve", "remarks", "reject"]))
@click.option("--comment", default="")
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def decide_cmd(ctx: click.Context, doc_id: int, decision: str, comment: str, login: str) -> None:
    """LOGIN's decision on their task for DOC_ID (remarks and reject need --comment)."""
    rt = runtime(ctx)
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        doc = _document(s, actor, doc_id)
        task = approvals.decide(rt, s, actor, doc, decision, comment)
        result = {"document": doc.id, "task": task.id, "decision": task.decision, "state": doc.state}
    _send(ctx)
    emit(result, True)


@route.command("recall")
@click.argument("doc_id", type=int)
@click.option("--comment", default="")
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def recall_cmd(ctx: click.Context, doc_id: int, comment: str, login: str) -> None:
    """Call the route of DOC_ID back (its initiator, or who may take steps on it)."""
    with runtime(ctx).db.session() as s:
        actor = users.get_user(s, login)
        doc = _document(s, actor, doc_id)
        r = approvals.recall(s, actor, doc, comment)
        result = {"document": doc.id, "route": r.id, "state": doc.state}
    emit(result, True)


@route.command("show")
@click.argument("doc_id", type=int)
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def show_cmd(ctx: click.Context, doc_id: int, login: str) -> None:
    """Every round of DOC_ID's approval with its stages, tasks and decisions."""
    with runtime(ctx).db.session() as s:
        actor = users.get_user(s, login)
        emit(approvals.describe(s, _document(s, actor, doc_id)), True)


@route.command("remind")
@click.pass_context
@handle_errors
def remind_cmd(ctx: click.Context) -> None:
    """Daily: «срок завтра» and «просрочено» notices (each once), then the pending e-mails."""
    with runtime(ctx).db.session() as s:
        counts = approvals.remind(s)
    emit({**counts, "email": _send(ctx)}, True)


@main.group()
def deputy() -> None:
    """Заместители на период."""


@deputy.command("set")
@click.argument("login")
@click.argument("deputy_login")
@click.option("--from", "date_from", required=True, help="YYYY-MM-DD")
@click.option("--to", "date_to", required=True, help="YYYY-MM-DD")
@click.option("--as", "actor_login", default=None, help="who names the deputy (default: LOGIN themselves)")
@click.pass_context
@handle_errors
def deputy_set(ctx: click.Context, login: str, deputy_login: str, date_from: str, date_to: str,
               actor_login: str | None) -> None:
    """DEPUTY_LOGIN takes LOGIN's approval tasks that arrive from --from to --to."""
    try:
        start, end = date.fromisoformat(date_from), date.fromisoformat(date_to)
    except ValueError:
        fail("даты в виде ГГГГ-ММ-ДД")
        return
    with runtime(ctx).db.session() as s:
        actor = users.get_user(s, actor_login or login)
        row = approvals.set_deputy(s, actor, users.get_user(s, login), users.get_user(s, deputy_login), start, end)
        emit({"id": row.id, "user": login, "deputy": deputy_login, "from": start.isoformat(),
              "to": end.isoformat()}, True)


@main.group("notify")
def notify_group() -> None:
    """Уведомления: проверка и отправка писем."""


@notify_group.command("test")
@click.argument("login")
@click.pass_context
@handle_errors
def notify_test(ctx: click.Context, login: str) -> None:
    """A test notice to LOGIN (in-app, and e-mail if they have an address and DMS_SMTP_URL is set)."""
    import secrets
    with runtime(ctx).db.session() as s:
        user = users.get_user(s, login)
        note = notify.notify(s, user, Kind.TEST, None, secrets.token_hex(8),
                             text="Проверка доставки уведомлений «Печати».")
        result = {"user": login, "notification": note.id if note else None, "email": user.email or None}
    emit({**result, "sent": _send(ctx)}, True)


@notify_group.command("send")
@click.option("--digest", is_flag=True, help="also the daily digests (run once a day)")
@click.pass_context
@handle_errors
def notify_send(ctx: click.Context, digest: bool) -> None:
    """Send the pending e-mails (retried until the mail server accepts them); with --digest, the daily digests."""
    result: dict[str, object] = {"email": _send(ctx)}
    if digest:
        rt = runtime(ctx)
        result["digest"] = notify.send_digests(rt.db, notify.config_from_env(), rt.settings.base_url)
    emit(result, True)
