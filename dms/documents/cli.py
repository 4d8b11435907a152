"""Documents from the command line: ingest, get."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tqdm import tqdm

from dms.clibase import EXIT_INVALID, handle_errors, main, runtime
from dms.documents.doctypes import DOC_TYPES


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--folder", "folder_path", required=True, help="folder path, e.g. /Агентство/Приказы")
@click.option("--type", "doc_type", required=True, type=click.Choice(list(DOC_TYPES)))
@click.option("--as", "login", required=True, help="acting user")
@click.option("--meta", "meta_json", default=None, help="metadata as a JSON object, applied to every file")
@click.pass_context
@handle_errors
def ingest(ctx: click.Context, files: tuple[Path, ...], folder_path: str, doc_type: str, login: str,
           meta_json: str | None) -> None:
    """File documents, one per file; prints one JSON line per document (id, version, sha256)."""
    from dms.errors import NotFound
    from dms.documents import folders
    from dms.documents import ingest as ingest_svc
    rt = runtime(ctx)
    with rt.db.session() as s:
        try:
            folders.resolve(s, folder_path)
        except NotFound:
            raise NotFound("нет папки «%(path)s»; создайте её: dms folder add '%(path)s' --parents",
                           path=folder_path) from None
    meta = json.loads(meta_json) if meta_json else None
    failures = 0
    with tqdm(total=len(files), unit="док", file=sys.stderr, disable=None) as bar:
        for result in ingest_svc.ingest_files(rt, login, folder_path, doc_type, files, meta):
            if result.get("error"):
                failures += 1
                tqdm.write(f"dms: {result['file']}: {result['error']}", file=sys.stderr)
            else:
                click.echo(json.dumps(result, ensure_ascii=False))
            bar.update(1)
    if failures:
        sys.exit(EXIT_INVALID)


@main.command()
@click.argument("doc_id", type=int)
@click.option("--version", "number", type=int, default=None, help="version number (default: current)")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--as", "login", required=True)
@click.pass_context
@handle_errors
def get(ctx: click.Context, doc_id: int, number: int | None, output: Path, login: str) -> None:
    """Write the bytes of a version to a file (verified against its SHA-256)."""
    from dms.documents import service as documents
    from dms.people import users
    rt = runtime(ctx)
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        doc = documents.get(s, actor, doc_id)
        version = documents.get_version(s, actor, doc, number)
        documents.record_download(s, actor, doc, version, "cli")
        key = version.object_key
    tmp = output.with_name(output.name + ".part")
    try:
        with rt.store.open(key) as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    click.echo(json.dumps({"id": doc_id, "version": version.number, "sha256": version.sha256,
                           "size": version.size, "file": str(output)}, ensure_ascii=False))


@main.command()
@click.argument("doc_id", type=int)
@click.argument("name", required=False)
@click.option("--as", "login", required=True)
@click.option("--comment", default="")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def transition(ctx: click.Context, doc_id: int, name: str | None, login: str, comment: str, as_json: bool) -> None:
    """Take a workflow transition; without NAME, list the transitions open to LOGIN."""
    from dms.documents import service as documents
    from dms.people import users
    from dms.workflow import service as wf_svc
    rt = runtime(ctx)
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        doc = documents.get(s, actor, doc_id)
        if name is None:
            opts = [{"name": o.transition.name, "title": o.transition.title_ru, "target": o.transition.target,
                     "allowed": o.allowed, "reason": o.reason} for o in wf_svc.options(s, actor, doc)]
            if as_json:
                click.echo(json.dumps({"id": doc.id, "state": doc.state, "transitions": opts}, ensure_ascii=False))
            else:
                for o in opts:
                    mark = "+" if o["allowed"] else "-"
                    click.echo(f"{mark} {o['name']:<16} {o['title']}" + (f"  ({o['reason']})" if o["reason"] else ""))
            return
        entry = wf_svc.execute(s, actor, doc, name, comment)
        click.echo(json.dumps({"id": doc.id, "state": doc.state, "reg_number": doc.reg_number,
                               "transition": entry.transition, "from": entry.from_state}, ensure_ascii=False))
