"""`dms register …`: the register of organisations — list, show, apply, take a step. Acts --as LOGIN and prints
JSON; a refusal exits non-zero with one line on stderr."""
from __future__ import annotations

import click

from dms.clibase import emit, handle_errors, main, runtime
from dms.register.rules import KINDS, STATUSES, TRANSITIONS
from dms.people import users
from dms.idrange import digits


@main.group()
def register() -> None:
    """Регистр организаций: заявление, включение, проверка, исключение."""


def _org(s, actor, ref: str):  # noqa: ANN001, ANN202
    from dms.register import service as svc
    return svc.get(s, actor, int(ref)) if digits(ref) else svc.by_code(s, actor, ref)


@register.command("list")
@click.option("--kind", type=click.Choice(list(KINDS)), default=None)
@click.option("--status", type=click.Choice(list(STATUSES)), default=None)
@click.option("--as", "login", required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def list_cmd(ctx: click.Context, kind: str | None, status: str | None, login: str, as_json: bool) -> None:
    """Organisations of the register LOGIN may see: one JSON line each (a table without --json)."""
    from dms.register import service as svc
    with runtime(ctx).db.session() as s:
        rows = [svc.organisation_json(r) for r in svc.listing(s, users.get_user(s, login), kind=kind, status=status)]
    if as_json:
        emit({"total": len(rows), "items": rows}, True)
        return
    for r in rows:
        click.echo(f"{r['id']}\t{r['code']}\t{r['status_label']}\t{r['short_name']}\t"
                   f"документов: {r['documents']}\tсвидетельств: {r['certificates']}")


@register.command("show")
@click.argument("org")
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def show_cmd(ctx: click.Context, org: str, login: str) -> None:
    """One organisation (id or code) with its register history and the steps open to LOGIN."""
    from dms.register import service as svc
    with runtime(ctx).db.session() as s:
        actor = users.get_user(s, login)
        emit(svc.detail_json(s, actor, _org(s, actor, org)), True)


@register.command("apply")
@click.option("--kind", type=click.Choice(list(KINDS)), required=True)
@click.option("--name", required=True, help="full name of the organisation")
@click.option("--short-name", default="")
@click.option("--inn", required=True, help="10 digits (organisation) or 12 (entrepreneur), check digits verified")
@click.option("--ogrn", required=True, help="ОГРН (13 digits) or ОГРНИП (15), check digit verified")
@click.option("--kpp", default="", help="КПП of an organisation (9 characters)")
@click.option("--city", required=True)
@click.option("--region", default="", help="region code (2 digits) for the generated code; default: from the INN")
@click.option("--code", default="", help="register code KIND-RR-NNN, e.g. ЦОК-77-001 (generated when omitted)")
@click.option("--note", default="", help="additional information printed on the application")
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def apply_cmd(ctx: click.Context, kind: str, name: str, short_name: str, inn: str, ogrn: str, kpp: str, city: str,
              region: str, code: str, note: str, login: str) -> None:
    """A new organisation applies: it enters the register as «applied» with its application filed."""
    from dms.register import service as svc
    rt = runtime(ctx)
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        event = svc.apply(rt, s, actor, {"kind": kind, "name": name, "short_name": short_name, "inn": inn,
                                         "ogrn": ogrn, "kpp": kpp, "city": city, "region": region, "code": code},
                          note)
        emit(svc.event_json(s, event), True)


@register.command("transition")
@click.argument("org")
@click.argument("name", type=click.Choice([n for n, t in TRANSITIONS.items() if None not in t.sources]))
@click.option("--reason", default="", help="reason, audit result or additional information")
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def transition_cmd(ctx: click.Context, org: str, name: str, reason: str, login: str) -> None:
    """Take a register step on ORG (id or code): its document is filed, numbered and sent to signing."""
    from dms.register import service as svc
    rt = runtime(ctx)
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        event = svc.take(rt, s, actor, _org(s, actor, org), name, reason)
        emit(svc.event_json(s, event), True)
