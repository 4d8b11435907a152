"""Search from the command line, and the indexer's commands: indexer, reindex."""
from __future__ import annotations

import json
import signal
import sys
import threading

import click
from tqdm import tqdm

from dms.clibase import emit, handle_errors, main, runtime


@main.command("search")
@click.argument("query")
@click.option("--as", "login", required=True)
@click.option("--type", "doc_type", default=None)
@click.option("--state", default=None)
@click.option("--org", default=None)
@click.option("--year", default=None)
@click.option("--sort", type=click.Choice(["relevance", "date"]), default="relevance")
@click.option("--page", default=1, type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def search_cmd(ctx: click.Context, query: str, login: str, doc_type: str | None, state: str | None,
               org: str | None, year: str | None, sort: str, page: int, as_json: bool) -> None:
    """Full-text search as LOGIN sees the archive: {"total", "items": [{"id", "title", "reg_number", …}]}."""
    from dms.fulltext import service as search_svc
    from dms.people import users
    rt = runtime(ctx)
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        q = search_svc.parse_query({"q": query, "type": doc_type, "state": state, "org": org, "year": year,
                                    "sort": sort, "page": str(page)})
        result = search_svc.search_documents(s, rt, actor, q)
    data = result.as_dict()
    # Ids are numbers in every JSON the CLI prints (the index keeps them as text; `dms ingest` prints numbers).
    data["items"] = [{**item, "id": int(item["id"])} for item in data["items"]]
    notice = search_svc.notice_text(result)
    emit(data, as_json, lambda d: "\n".join(
        ([notice] if notice else [])
        + [f"Найдено: {d['total']}" + (f" (возможно, вы имели в виду «{d['suggestion']}»)" if d["suggestion"] else "")]
        + [f"{i['id']:>6}  {i['reg_number'] or '—':<16} {i['title']}" for i in d["items"]]))


@main.command()
@click.option("--once", is_flag=True, help="drain the outbox and exit")
@click.pass_context
@handle_errors
def indexer(ctx: click.Context, once: bool) -> None:
    """The single writer of the search index: drains the outbox in batches (runs until stopped)."""
    from search.errors import StaleIndexError

    from dms.errors import Conflict
    from dms.fulltext import indexing
    rt = runtime(ctx)
    try:
        indexing.open_index(rt)
    except StaleIndexError as exc:
        raise Conflict("поисковый индекс устарел (формат %(found)s, нужен %(expected)s): сначала выполните "
                       "dms reindex", found=exc.found, expected=exc.expected) from None
    if once:
        stats = indexing.drain(rt)
        click.echo(json.dumps({"batches": stats.batches, "upserted": stats.upserted, "deleted": stats.deleted,
                               "seconds": round(stats.seconds, 2)}))
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # One indexer per index (issue 17.4): a second one waits as a standby and takes over when the first dies.
    indexing.run_as_the_indexer(
        rt, stop,
        on_standby=lambda holder: click.echo(f"индексатор уже работает (pid, хост: {holder}); этот ждёт в резерве и "
                                             "продолжит, когда тот остановится", err=True),
        on_active=lambda: click.echo(f"индексатор запущен: {rt.settings.index_dir}", err=True))


@main.command()
@click.pass_context
@handle_errors
def reindex(ctx: click.Context) -> None:
    """Rebuild the index from the database into a side directory and swap it in atomically."""
    from sqlalchemy import func, select

    from dms.models import Document
    from dms.fulltext import indexing
    rt = runtime(ctx)
    with rt.db.session() as s:
        total = s.scalar(select(func.count()).select_from(Document)) or 0
    with tqdm(total=total, unit="док", file=sys.stderr, disable=None) as bar:
        count = indexing.reindex(rt, progress=bar.update)
    click.echo(json.dumps({"documents": count}))
