"""Folders from the command line: dms folder add PATH [--parents]."""
from __future__ import annotations

import click

from dms.clibase import emit, handle_errors, main, runtime


@main.group()
def folder() -> None:
    """Folders of the archive."""


@folder.command("add")
@click.argument("path")
@click.option("--parents", "-p", is_flag=True, help="create missing folders above it too (no error if it exists)")
@click.option("--as", "login", default=None, help="acting user, who needs Add on the parent (default: the system)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def folder_add(ctx: click.Context, path: str, parents: bool, login: str | None, as_json: bool) -> None:
    """Create the folder PATH (e.g. /Агентство/Приказы/2027); its parent must exist unless --parents."""
    from dms.errors import Conflict, NotFound
    from dms.documents import folders
    from dms.people import users
    rt = runtime(ctx)
    parts = folders.split_path(path)
    if not parts:
        raise click.BadParameter("укажите путь папки, например /Агентство/Приказы", param_hint="PATH")
    created: list[dict] = []
    with rt.db.session() as s:
        actor = users.get_user(s, login) if login else None
        current = folders.root(s)
        for depth, name in enumerate(parts, 1):
            here = "/" + "/".join(parts[:depth])
            try:
                current = folders.resolve(s, here)
            except NotFound:
                if depth < len(parts) and not parents:
                    raise NotFound("нет папки «%(path)s»; создайте её или добавьте --parents", path=here) from None
                current = folders.create(s, actor, current, name)
                created.append({"id": current.id, "path": folders.display_path(s, current)})
            else:
                if depth == len(parts) and not parents:
                    raise Conflict("папка «%(path)s» уже есть", path=here)
        result = {"id": current.id, "path": folders.display_path(s, current), "created": created}
    emit(result, as_json, lambda d: (f"Создана папка {d['path']} (№ {d['id']})" if d["created"]
                                     else f"Папка {d['path']} уже есть (№ {d['id']})"))
