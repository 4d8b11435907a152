"""`dms records …`: legal holds, trash, records, disposition lists. Every command acts --as LOGIN and prints
JSON; a refusal exits non-zero with one line on stderr."""
from __future__ import annotations

from datetime import date

import click

from dms.clibase import emit, handle_errors, main, runtime
from dms.people import users


@main.group()
def records() -> None:
    """Архивное хранение: удержания, корзина, архивные записи, акты об уничтожении."""


def _doc(s, actor, doc_id: int):  # noqa: ANN001, ANN202
    from dms.documents import service as documents
    return documents.get(s, actor, doc_id)


@records.command("hold")
@click.option("--document", "doc_id", type=int, default=None)
@click.option("--folder", "folder_path", default=None, help="folder path, e.g. /Агентство/Приказы")
@click.option("--reason", required=True)
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def hold_cmd(ctx: click.Context, doc_id: int | None, folder_path: str | None, reason: str, login: str) -> None:
    """Place a legal hold on a document or a folder (and everything under it)."""
    from dms.documents import folders
    from dms.records import service as svc
    with runtime(ctx).db.session() as s:
        actor = users.get_user(s, login)
        svc.require_duty(actor, "manage")
        hold = svc.place_hold(s, actor, reason, document=_doc(s, actor, doc_id) if doc_id else None,
                              folder=folders.resolve(s, folder_path) if folder_path else None)
        emit(svc.hold_json(hold), True)


@records.command("release")
@click.argument("hold_id", type=int)
@click.option("--reason", required=True)
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def release_cmd(ctx: click.Context, hold_id: int, reason: str, login: str) -> None:
    """Release a legal hold."""
    from dms.records import service as svc
    with runtime(ctx).db.session() as s:
        emit(svc.hold_json(svc.release_hold(s, users.get_user(s, login), hold_id, reason)), True)


@records.command("holds")
@click.option("--all", "include_released", is_flag=True, help="released holds too")
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def holds_cmd(ctx: click.Context, include_released: bool, login: str) -> None:
    """List legal holds."""
    from dms.records import service as svc
    with runtime(ctx).db.session() as s:
        emit([svc.hold_json(h) for h in svc.holds(s, users.get_user(s, login), include_released)], True)


@records.command("trash")
@click.argument("doc_id", type=int)
@click.option("--reason", default="")
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def trash_cmd(ctx: click.Context, doc_id: int, reason: str, login: str) -> None:
    """Move a document to the trash."""
    from dms.records import service as svc
    with runtime(ctx).db.session() as s:
        actor = users.get_user(s, login)
        entry = svc.trash(s, actor, _doc(s, actor, doc_id), reason)
        emit({"id": doc_id, "trashed_at": entry.trashed_at}, True)


@records.command("restore")
@click.argument("doc_id", type=int)
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def restore_cmd(ctx: click.Context, doc_id: int, login: str) -> None:
    """Restore a document from the trash."""
    from dms.records import service as svc
    with runtime(ctx).db.session() as s:
        actor = users.get_user(s, login)
        svc.restore(s, actor, _doc(s, actor, doc_id))
        emit({"id": doc_id, "restored": True}, True)


@records.command("trash-list")
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def trash_list_cmd(ctx: click.Context, login: str) -> None:
    """What is in the trash."""
    from dms.records import service as svc
    with runtime(ctx).db.session() as s:
        emit([{"id": d.id, "title": d.title, "trashed_at": e.trashed_at, "reason": e.reason}
              for e, d in svc.trashed(s, users.get_user(s, login))], True)


@records.command("purge")
@click.option("--days", type=int, default=None, help="older than this many days in the trash (DMS_TRASH_DAYS)")
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def purge_cmd(ctx: click.Context, days: int | None, login: str) -> None:
    """Destroy what stayed in the trash longer than the period; held documents stay."""
    from dms.records import service as svc
    rt = runtime(ctx)
    with rt.db.session() as s:  # the objects leave the store after the commit (the service registered it)
        result = svc.purge(s, users.get_user(s, login), store=rt.store,
                           days=rt.settings.trash_days if days is None else days)
    emit(result.as_dict(), True)


@records.command("declare")
@click.argument("doc_id", type=int)
@click.option("--reason", default="")
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def declare_cmd(ctx: click.Context, doc_id: int, reason: str, login: str) -> None:
    """Declare a document a record: immutable from now on."""
    from dms.records import service as svc
    with runtime(ctx).db.session() as s:
        actor = users.get_user(s, login)
        decl = svc.declare_record(s, actor, _doc(s, actor, doc_id), reason)
        emit({"id": doc_id, "declared_at": decl.declared_at}, True)


@records.command("status")
@click.argument("doc_id", type=int)
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def status_cmd(ctx: click.Context, doc_id: int, login: str) -> None:
    """Retention, hold, record and trash status of a document."""
    from dms.records import service as svc
    with runtime(ctx).db.session() as s:
        actor = users.get_user(s, login)
        emit({"id": doc_id, **svc.status(s, _doc(s, actor, doc_id)).as_dict()}, True)


@records.group("disposition")
def disposition() -> None:
    """Акты о выделении к уничтожению: list, propose, show, approve, execute."""


def _today(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@disposition.command("list")
@click.option("--as-of", "as_of", default=None, help="date to compute against (default: today)")
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def disposition_list(ctx: click.Context, as_of: str | None, login: str) -> None:
    """Documents past their retention whose rule says destroy (held ones marked)."""
    from dms.records import service as svc
    with runtime(ctx).db.session() as s:
        emit([svc.due_json(d) for d in svc.due_for_disposition(s, users.get_user(s, login), _today(as_of))], True)


@disposition.command("propose")
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def disposition_propose(ctx: click.Context, login: str) -> None:
    """Make a disposition list of what is due today (to be approved before anything is destroyed)."""
    from dms.records import service as svc
    with runtime(ctx).db.session() as s:
        emit(svc.batch_json(svc.propose(s, users.get_user(s, login))), True)


@disposition.command("show")
@click.argument("batch_id", type=int)
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def disposition_show(ctx: click.Context, batch_id: int, login: str) -> None:
    from dms.records import service as svc
    with runtime(ctx).db.session() as s:
        emit(svc.batch_json(svc.get_batch(s, users.get_user(s, login), batch_id)), True)


@disposition.command("approve")
@click.argument("batch_id", type=int)
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def disposition_approve(ctx: click.Context, batch_id: int, login: str) -> None:
    from dms.records import service as svc
    with runtime(ctx).db.session() as s:
        emit(svc.batch_json(svc.approve(s, users.get_user(s, login), batch_id)), True)


@disposition.command("execute")
@click.argument("batch_id", type=int)
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def disposition_execute(ctx: click.Context, batch_id: int, login: str) -> None:
    """Destroy the items of an approved list that are still due and not held."""
    from dms.records import act
    from dms.records import service as svc
    rt = runtime(ctx)
    with rt.db.session() as s:  # the objects leave the store after the commit (the service registered it)
        batch, objects, _act = act.execute(s, rt, users.get_user(s, login), batch_id)
        data = svc.batch_json(batch)
    emit({**data, "objects": objects.as_dict()}, True)
