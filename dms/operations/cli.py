"""Set-up and maintenance: init, demo, serve, user add, share, check, audit verify."""
from __future__ import annotations

import sys

import click

from dms.clibase import EXIT_PROBLEM, emit, fail, handle_errors, main, runtime
from dms.security import GLOBAL_ROLES, LOCAL_ROLES

# dms.operations.setup (with the migrations: alembic, ~0.18 s of a process's start) is imported by the commands that
# set up, not by `dms user ...` or `dms share`.


@main.command()
@click.pass_context
@handle_errors
def init(ctx: click.Context) -> None:
    """Schema (migrations), object store, index dir. Safe to run again."""
    from dms.operations import setup  # with the migrations (alembic): only the commands that set up
    rt = runtime(ctx)
    report = setup.initialise(rt)
    click.echo(f"База данных: {report['database']} (ревизия схемы {report['schema']})")
    click.echo(f"Хранилище: {report['storage']}")
    click.echo(f"Индекс: {report['index']}")


@main.command()
@click.pass_context
@handle_errors
def demo(ctx: click.Context) -> None:
    """Demo organisations, users, folders and documents (safe to run again)."""
    from dms.operations import demo as demo_svc
    from dms.operations import setup
    rt = runtime(ctx)
    setup.initialise(rt)
    report = demo_svc.load(rt, progress=True)
    if report["new_users"]:
        click.echo("Созданы пользователи (пароли показываются один раз):")
        for login, role, password in report["new_users"]:
            click.echo(f"  {login:<14} {role:<12} {password}")
    if report.get("signatory_pin"):
        click.echo(f"PIN ключа подписи пользователя director (показывается один раз): {report['signatory_pin']}")
    if report.get("holder_pin"):
        click.echo(f"PIN ключа подписи пользователя holder (показывается один раз): {report['holder_pin']}")
    click.echo(f"Документов в демо-архиве: {report['documents']} (новых: {report['new_documents']}; "
               f"выдано свидетельств: {report.get('certificates', 0)})")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=0, type=int, help="gunicorn workers (0: Flask's threaded server)")
@click.option("--threads", default=8, show_default=True, type=int,
              help="threads per gunicorn worker (gthread): a slow request holds one thread, not the worker")
@click.option("--no-indexer", is_flag=True, help="do not run the indexer in this process (run `dms indexer`)")
@click.option("--no-jobs", is_flag=True, help="do not run jobs in this process (run `dms worker`)")
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str, port: int, workers: int, threads: int, no_indexer: bool,
          no_jobs: bool) -> None:
    """Run the web application."""
    from dms.operations import setup
    rt = runtime(ctx)
    setup.initialise(rt)
    click.echo(f"Печать: http://{host}:{port}/  (данные: {rt.settings.data_dir})")
    if workers > 0:
        from dms.wsgi_server import run_gunicorn
        run_gunicorn(host, port, workers, threads=threads)
        return
    from dms import jobs
    from dms.app import create_app
    from dms.fulltext import indexing
    if not no_indexer:
        indexing.start_thread(rt)  # the embedded default: the one indexer runs in this process
    if not no_jobs:
        jobs.start_thread(rt)  # ... and so does a job worker (the queue is a SQLite file in the data dir)
    from werkzeug.serving import make_server
    # Werkzeug's threaded server: enough for the embedded default on one machine; production runs gunicorn.
    from dms.accesslog import RedactingRequestHandler
    make_server(host, port, create_app(runtime=rt), threaded=True,
                request_handler=RedactingRequestHandler).serve_forever()


@main.command()
@click.option("--threads", default=2, show_default=True, type=int, help="jobs run at once")
@click.pass_context
@handle_errors
def worker(ctx: click.Context, threads: int) -> None:
    """Run durable jobs from the queue (DMS_JOBS_URL: Redis in production) until stopped; jobs whose worker died
    are resumed."""
    from dms import jobs
    from dms.operations import setup
    rt = runtime(ctx)
    setup.initialise(rt)
    click.echo(f"исполнитель заданий запущен: {threads} потоков, очередь {rt.settings.jobs_url or 'SQLite'}", err=True)
    jobs.run_worker(rt, workers=threads)


@main.group()
def user() -> None:
    """Users."""


@user.command("add")
@click.argument("login")
@click.option("--role", "roles", multiple=True, type=click.Choice(GLOBAL_ROLES), help="global role (repeatable)")
@click.option("--name", "full_name", default="")
@click.option("--email", default="")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.pass_context
@handle_errors
def user_add(ctx: click.Context, login: str, roles: tuple[str, ...], full_name: str, email: str,
             password_stdin: bool) -> None:
    """Create a user with global roles."""
    from dms.people import users
    if not password_stdin:
        fail("пароль передаётся через --password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")
    rt = runtime(ctx)
    with rt.db.session() as s:
        u = users.create_user(s, login, password, roles, full_name=full_name, email=email)
        click.echo(f"Пользователь {u.login} создан; роли: {', '.join(roles) or 'нет'}")


@user.command("passwd")
@click.argument("login")
@click.option("--password-stdin", is_flag=True, help="read the new password from standard input")
@click.pass_context
@handle_errors
def user_passwd(ctx: click.Context, login: str, password_stdin: bool) -> None:
    """Set a user's password (and lift a login lock)."""
    from dms.people import users
    if not password_stdin:
        fail("пароль передаётся через --password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")
    rt = runtime(ctx)
    with rt.db.session() as s:
        users.set_password(s, users.get_user(s, login), password)
    click.echo(f"Пароль пользователя {login} изменён")


@user.command("disable")
@click.argument("login")
@click.pass_context
@handle_errors
def user_disable(ctx: click.Context, login: str) -> None:
    """Deactivate a user: no login, and every session and API token ends."""
    from dms.people import users
    rt = runtime(ctx)
    with rt.db.session() as s:
        users.set_active(s, users.get_user(s, login), False)
    click.echo(f"Пользователь {login} отключён; его сеансы и токены завершены")


@user.command("enable")
@click.argument("login")
@click.pass_context
@handle_errors
def user_enable(ctx: click.Context, login: str) -> None:
    """Reactivate a disabled user."""
    from dms.people import users
    rt = runtime(ctx)
    with rt.db.session() as s:
        users.set_active(s, users.get_user(s, login), True)
    click.echo(f"Пользователь {login} снова может входить")


@user.group("sessions")
def user_sessions() -> None:
    """A user's web sessions and API tokens."""


@user_sessions.command("list")
@click.argument("login")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def user_sessions_list(ctx: click.Context, login: str, as_json: bool) -> None:
    """Live web sessions and API tokens of a user."""
    from datetime import timedelta

    from dms.people import sessions
    from dms.people import users
    rt = runtime(ctx)
    with rt.db.session() as s:
        u = users.get_user(s, login)
        idle = timedelta(minutes=rt.settings.session_idle_minutes)
        data = {"login": login,
                "sessions": [{"id": r.id, "source": r.source, "created_at": r.created_at.isoformat(),
                              "last_seen_at": r.last_seen_at.isoformat()} for r in sessions.live_sessions(s, u, idle)],
                "tokens": [sessions.token_json(t) for t in sessions.tokens_of(s, u)]}
    emit(data, as_json, lambda d: "\n".join(
        [f"сеанс {x['id']}: {x['source']}, с {x['created_at']}, активен {x['last_seen_at']}" for x in d["sessions"]]
        + [f"токен {x['id']}: выдан {x['created_at']}, до {x['expires_at']}" for x in d["tokens"]]
        + [f"Сеансов: {len(d['sessions'])}, токенов: {len(d['tokens'])}"]))


@user_sessions.command("end")
@click.argument("login")
@click.pass_context
@handle_errors
def user_sessions_end(ctx: click.Context, login: str) -> None:
    """End every web session and revoke every API token of a user."""
    from dms.people import sessions
    from dms.people import users
    rt = runtime(ctx)
    with rt.db.session() as s:
        r = sessions.end_all(s, users.get_user(s, login), None, reason="admin")
    click.echo(f"Пользователь {login}: завершено сеансов {r['sessions']}, отозвано токенов {r['tokens']}")


@main.command()
@click.argument("folder_path")
@click.option("--user", "login", help="user to grant a role to")
@click.option("--group", "group", help="group to grant a role to")
@click.option("--role", type=click.Choice(LOCAL_ROLES))
@click.option("--remove", is_flag=True, help="take the role away instead")
@click.option("--block-inheritance/--inherit", default=None)
@click.option("--as", "actor_login", default=None, help="acting user (default: the system)")
@click.pass_context
@handle_errors
def share(ctx: click.Context, folder_path: str, login: str | None, group: str | None, role: str | None,
          remove: bool, block_inheritance: bool | None, actor_login: str | None) -> None:
    """Grant or remove a local role on a folder; block or restore inheritance."""
    from dms.documents import folders
    from dms.documents import sharing
    from dms.people import users
    rt = runtime(ctx)
    with rt.db.session() as s:
        actor = users.get_user(s, actor_login) if actor_login else None
        folder = folders.resolve(s, folder_path)
        if role:
            if not (login or group):
                fail("укажите --user или --group")
            principal = sharing.principal_for(s, login=login, group=group)
            (sharing.revoke if remove else sharing.grant)(s, actor, folder, principal, role)
        if block_inheritance is not None:
            sharing.set_block_inheritance(s, actor, folder, block_inheritance)
        for row in sharing.describe(s, folder):
            click.echo(f"{row['principal']:<24} {row['role']:<12} {'унаследовано' if row['inherited'] else 'локально'}")


@main.command()
@click.option("--delete-orphans", is_flag=True, help="delete unreferenced objects older than a day")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def check(ctx: click.Context, delete_orphans: bool, as_json: bool) -> None:
    """Database, object store and index agree; exits 1 on a problem."""
    from dms.operations.check import check_objects, stuck_jobs
    from dms.fulltext.indexing import drift
    rt = runtime(ctx)
    with rt.db.session() as s:
        report = check_objects(s, rt.store, delete_orphans=delete_orphans)
        report.jobs = stuck_jobs(s)
    report.index = drift(rt)
    from dms.operations import filemodes
    report.modes = filemodes.wrong_modes(rt.settings.data_dir, [rt.settings.index_dir])
    data = report.as_dict()
    emit(data, as_json, lambda d: "\n".join(
        [f"Проверено объектов: {d['objects_checked']}"]
        + [f"НЕТ ОБЪЕКТА {m['key']} (версии {m['versions']})" for m in d["missing"]]
        + [f"ПОВРЕЖДЁН {c['key']}: {c['error']}" for c in d["corrupted"]]
        + [f"бесхозный объект {o['key']} ({o['size']} Б, {o['age_hours']} ч)" for o in d["orphans"]]
        + [f"удалён бесхозный объект {k}" for k in d["orphans_deleted"]]
        + [f"Индекс: документов {d['index'].get('documents')}, в индексе {d['index'].get('indexed')}, "
           f"в очереди {d['index'].get('pending')}"]
        + ([f"РАСХОЖДЕНИЕ индекса: нет в индексе {d['index'].get('missing')}, лишние {d['index'].get('extra')}, "
            f"устарели {d['index'].get('stale')} {d['index'].get('error', '')}"] if d["index"].get("drift") else [])
        + [f"ДОСТУП {m['path']}: {m['mode']}, нужно {m['expected']} (исправляет dms init)" for m in d["modes"]]
        + [j["line"] for j in d["jobs"]]  # each worded for what it is (dms.operations.check.stuck_jobs)
        + ["Всё в порядке" if d["ok"] else "Найдены проблемы"]))
    if not report.ok:
        sys.exit(EXIT_PROBLEM)


@main.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
@click.pass_context
@handle_errors
def audit_verify(ctx: click.Context) -> None:
    """Fold the public lookups recorded since the last fold into the chain, then walk the hash chain; exits 1
    naming the first broken event."""
    from dms.audit.service import fold_lookups, verify_chain
    rt = runtime(ctx)
    with rt.db.session() as s:
        fold_lookups(s)
    with rt.db.session() as s:
        problems = list(verify_chain(s))
    if problems:
        p = problems[0]
        click.echo(f"dms: цепочка журнала нарушена на событии {p.event_id}: {p.reason}", err=True)
        sys.exit(EXIT_PROBLEM)
    click.echo("Журнал аудита цел")
