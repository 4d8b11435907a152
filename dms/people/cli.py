"""Groups and the list of users from the command line: dms group add|members|list, dms user list."""
from __future__ import annotations

import click

from dms.clibase import emit, handle_errors, main, runtime
from dms.operations.cli import user


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON array (ids as numbers)")
@click.pass_context
@handle_errors
def user_list(ctx: click.Context, as_json: bool) -> None:
    """Every user: login, name, global roles, groups, active/disabled, locked, one-time password pending."""
    from dms.people import groups
    from dms.people import users
    rt = runtime(ctx)
    with rt.db.session() as s:
        by_user = groups.names_by_user(s)
        data = [users.user_json(u, by_user.get(u.id, [])) for u in users.list_users(s)]

    def human(rows: list[dict]) -> str:
        lines = []
        for r in rows:
            state = ("отключён" if not r["active"] else "заблокирован" if r["locked"]
                     else "ждёт смены пароля" if r["must_change_password"] else "активен")
            lines.append(f"{r['id']:>5}  {r['login']:<20} {r['full_name'][:30]:<30} {','.join(r['roles']) or '—':<24} "
                         f"{','.join(r['groups']) or '—':<16} {state}")
        return "\n".join(lines) if lines else "Пользователей нет"
    emit(data, as_json, human)


@main.group()
def group() -> None:
    """Groups of users (local roles can be granted to a group: dms share /FOLDER --group NAME --role ROLE)."""


@group.command("add")
@click.argument("name")
@click.option("--title", default="", help="a readable name, e.g. «ЦОК Москва»")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def group_add(ctx: click.Context, name: str, title: str, as_json: bool) -> None:
    """Create the group NAME (letters, digits, . _ -)."""
    from dms.people import groups
    rt = runtime(ctx)
    with rt.db.session() as s:
        g = groups.create(s, None, name, title)
        data = {"id": g.id, "name": g.name, "title": g.title}
    emit(data, as_json, lambda d: f"Создана группа {d['name']} (№ {d['id']})")


@group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def group_list(ctx: click.Context, as_json: bool) -> None:
    """Every group with its number of members."""
    from dms.people import groups
    rt = runtime(ctx)
    with rt.db.session() as s:
        counts = groups.member_counts(s)
        data = [{"id": g.id, "name": g.name, "title": g.title, "members": counts.get(g.id, 0)}
                for g in groups.all_groups(s)]
    emit(data, as_json, lambda rows: "\n".join(f"{r['id']:>5}  {r['name']:<24} {r['members']:>4}  {r['title']}"
                                               for r in rows) or "Групп нет")


@group.command("members")
@click.argument("name")
@click.option("--add", "to_add", multiple=True, metavar="LOGIN", help="add a member (repeatable)")
@click.option("--remove", "to_remove", multiple=True, metavar="LOGIN", help="remove a member (repeatable)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def group_members(ctx: click.Context, name: str, to_add: tuple[str, ...], to_remove: tuple[str, ...],
                  as_json: bool) -> None:
    """List the members of NAME; --add/--remove change them first (all or nothing)."""
    from dms.people import groups
    from dms.people import users
    rt = runtime(ctx)
    with rt.db.session() as s:
        g = groups.get(s, name)
        for login in to_add:
            groups.add_member(s, None, g, users.get_user(s, login))
        for login in to_remove:
            groups.remove_member(s, None, g, users.get_user(s, login))
        data = {"id": g.id, "name": g.name,
                "members": [{"id": u.id, "login": u.login, "full_name": u.full_name} for u in groups.members(s, g)]}
    emit(data, as_json, lambda d: "\n".join(f"{m['login']:<20} {m['full_name']}" for m in d["members"])
         or f"В группе {d['name']} никого нет")
