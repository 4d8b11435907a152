"""`dms certificates …`: batch issue from an exam results file, blanks, lifecycle."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tqdm import tqdm

from dms.clibase import emit, handle_errors, main, read_secret, runtime


@main.group()
def certificates() -> None:
    """Certificates of qualification."""


@certificates.command("issue")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--centre", required=True, help="centre code, e.g. ЦОК-77-001")
@click.option("--as", "login", required=True, help="the centre's signatory (PIN from DMS_PIN or stdin)")
@click.option("--valid-years", type=int, default=3, show_default=True, help="0: no expiry")
@click.pass_context
@handle_errors
def issue_cmd(ctx: click.Context, file: Path, centre: str, login: str, valid_years: int) -> None:
    """Issue one certificate per row of a CSV/XLSX, all or nothing; one JSON line per certificate."""
    from dms.certificates import service as certs
    from dms.certificates.rows import read_results
    with open(file, "rb") as f:
        rows = read_results(f, file.name)
    certs.start_workers_early(len(rows))  # their process server starts while the PIN is asked and checked
    pin = read_secret("DMS_PIN", "PIN")
    rt = runtime(ctx)
    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            label = {"signing": "формирование и подпись", "storing": "сохранение"}.get(stage, stage)
            bar = bars[stage] = tqdm(total=total, desc=label, unit="св", file=sys.stderr, disable=None)
        bar.update(done - bar.n)

    try:
        result = certs.issue(rt, login, centre, rows, pin, valid_years=valid_years or None, filename=file.name,
                             progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    for item in result.issued:
        click.echo(json.dumps(item, ensure_ascii=False))
    click.echo(f"Выдано свидетельств: {len(result.issued)} за {result.seconds:.1f} с (пакет {result.batch_id})",
               err=True)


@certificates.command("prepare")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--centre", required=True, help="centre code, e.g. ЦОК-77-001")
@click.option("--as", "login", required=True, help="the clerk who prepares it (no PIN)")
@click.pass_context
@handle_errors
def prepare_cmd(ctx: click.Context, file: Path, centre: str, login: str) -> None:
    """Prepare a batch for a signatory (rows validated, nothing numbered or signed yet); prints its id."""
    from dms.certificates import service as certs
    from dms.people import users
    from dms.certificates.rows import read_results
    with open(file, "rb") as f:
        rows = read_results(f, file.name)
    with runtime(ctx).db.session() as s:
        batch = certs.prepare_batch(s, users.get_user(s, login), centre, rows, file.name)
        click.echo(json.dumps({"batch": batch.id, "stage": batch.stage, "total": batch.total}))


@certificates.command("sign-batch")
@click.argument("batch_id", type=int)
@click.option("--as", "login", required=True, help="the centre's signatory (PIN from DMS_PIN or stdin)")
@click.pass_context
@handle_errors
def sign_batch_cmd(ctx: click.Context, batch_id: int, login: str) -> None:
    """Issue a prepared batch with the signatory's PIN; one JSON line per certificate."""
    from dms.certificates import service as certs
    pin = read_secret("DMS_PIN", "PIN")
    result = certs.issue_prepared(runtime(ctx), login, batch_id, pin)
    for item in result.issued:
        click.echo(json.dumps(item, ensure_ascii=False))


@certificates.command("batches")
@click.option("--stuck", is_flag=True, help="only batches whose process died (resume or cancel them)")
@click.pass_context
@handle_errors
def batches_cmd(ctx: click.Context, stuck: bool) -> None:
    """Batches at work or stuck, one JSON line each: stage, owner process, reserved numbers and blanks."""
    from sqlalchemy import select

    from dms.models import IssueBatch
    from dms.certificates import service as certs
    rt = runtime(ctx)
    with rt.db.session() as s:
        rows = (certs.stuck_batches(s) if stuck else
                s.scalars(select(IssueBatch).where(IssueBatch.stage.in_(certs.ACTIVE_STAGES)).order_by(IssueBatch.id)))
        for batch in rows:
            click.echo(json.dumps(certs.batch_summary(s, batch), ensure_ascii=False))


@certificates.command("resume")
@click.argument("batch_id", type=int)
@click.option("--as", "login", required=True, help="the centre's signatory (PIN from DMS_PIN or stdin)")
@click.pass_context
@handle_errors
def resume_cmd(ctx: click.Context, batch_id: int, login: str) -> None:
    """Finish a stuck batch with the numbers and blanks it reserved (the PIN entered again, never stored)."""
    from dms.certificates import service as certs
    pin = read_secret("DMS_PIN", "PIN")
    result = certs.resume_batch(runtime(ctx), login, batch_id, pin)
    for item in result.issued:
        click.echo(json.dumps(item, ensure_ascii=False))


@certificates.command("cancel")
@click.argument("batch_id", type=int)
@click.option("--as", "login", required=True, help="a signatory of the batch's centre")
@click.pass_context
@handle_errors
def cancel_cmd(ctx: click.Context, batch_id: int, login: str) -> None:
    """Give a stuck batch's numbers and blanks back (numbers that cannot go back stay a hole dms check reports)."""
    from dms.certificates import service as certs
    click.echo(json.dumps(certs.cancel_batch(runtime(ctx), login, batch_id), ensure_ascii=False))


@certificates.command("show")
@click.argument("number")
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def show_cmd(ctx: click.Context, number: str, login: str) -> None:
    from dms.certificates import service as certs
    from dms.people import users
    rt = runtime(ctx)
    with rt.db.session() as s:
        click.echo(json.dumps(certs.staff_view(s, certs.get(s, users.get_user(s, login), number)),
                              ensure_ascii=False))


@certificates.command("revoke")
@click.argument("number")
@click.option("--reason", required=True)
@click.option("--order", "order", required=True, help="the revoking order's number, e.g. 12-п")
@click.option("--order-date", "order_date", required=True, help="the order's date: YYYY-MM-DD or DD.MM.YYYY")
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def revoke_cmd(ctx: click.Context, number: str, reason: str, order: str, order_date: str, login: str) -> None:
    """Take a certificate out of force: the Revoke permission, a reason and the order (number and date)."""
    from dms.certificates import service as certs
    from dms.people import users
    rt = runtime(ctx)
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        cert = certs.revoke(s, actor, certs.get(s, actor, number), reason, order, order_date)
        click.echo(json.dumps(certs.public_view(s, cert), ensure_ascii=False))


@certificates.command("replace")
@click.argument("number")
@click.option("--reason", required=True)
@click.option("--new-name", "new_name", default="", help="the holder's new full name (a documented change of name)")
@click.option("--as", "login", required=True, help="PIN from DMS_PIN or stdin")
@click.pass_context
@handle_errors
def replace_cmd(ctx: click.Context, number: str, reason: str, new_name: str, login: str) -> None:
    """Issue a duplicate; the old certificate becomes "replaced" (linked both ways)."""
    from dms.certificates import service as certs
    pin = read_secret("DMS_PIN", "PIN")
    click.echo(json.dumps(certs.replace(runtime(ctx), login, number, pin, reason, new_name), ensure_ascii=False))


@certificates.command("expire")
@click.pass_context
@handle_errors
def expire_cmd(ctx: click.Context) -> None:
    """Mark every issued certificate past its «valid until» as expired (run daily)."""
    from dms.certificates import service as certs
    rt = runtime(ctx)
    with rt.db.session() as s:
        numbers = certs.expire_due(s)
    click.echo(json.dumps({"expired": numbers}, ensure_ascii=False))


@certificates.group("blanks")
def blanks() -> None:
    """Numbered blank forms (бланки строгой отчётности)."""


@blanks.command("allocate")
@click.option("--centre", required=True)
@click.option("--series", default="")
@click.option("--first", type=int, required=True)
@click.option("--last", type=int, required=True)
@click.pass_context
@handle_errors
def blanks_allocate(ctx: click.Context, centre: str, series: str, first: int, last: int) -> None:
    from dms.certificates import service as certs
    rt = runtime(ctx)
    with rt.db.session() as s:
        certs.allocate_blanks(s, None, certs.centre_by_code(s, centre), series, first, last)
    click.echo(f"Центру {centre} выданы бланки {series}{first}…{series}{last}")


@blanks.command("spoil")
@click.argument("number")
@click.option("--reason", required=True)
@click.pass_context
@handle_errors
def blanks_spoil(ctx: click.Context, number: str, reason: str) -> None:
    from dms.certificates import service as certs
    rt = runtime(ctx)
    with rt.db.session() as s:
        certs.spoil_blank(s, None, number, reason)
    click.echo(f"Бланк {number} списан")


@blanks.command("report")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def blanks_report(ctx: click.Context, as_json: bool) -> None:
    from dms.certificates import service as certs
    rt = runtime(ctx)
    with rt.db.session() as s:
        report = certs.blanks_report(s)
    emit(report, as_json, lambda rows: "\n".join(
        ["центр            выдано  использовано  испорчено  остаток"]
        + [f"{r['centre']:<16} {r['allocated']:>6} {r['used']:>13} {r['spoiled']:>10} {r['remaining']:>8}"
           for r in rows]))
