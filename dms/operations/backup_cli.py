"""`dms backup FILE` and `dms restore FILE`: the whole archive (database, objects, CA directory) in one file."""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import click
from tqdm import tqdm

from dms.clibase import emit, handle_errors, main, runtime
from dms.operations import archive
from dms.operations import backup as backup_svc
from dms.operations import restore as restore_svc

STAGE_TITLES = {"objects": "объекты", "verify": "проверка", "index": "индекс"}


class ProgressBars:
    """One tqdm bar per stage on stderr (silent when stderr is not a terminal)."""

    def __init__(self, stack: ExitStack):
        self.stack = stack

    def __call__(self, stage: str, total: int) -> archive.Progress:
        bar = self.stack.enter_context(tqdm(total=total or None, desc=STAGE_TITLES.get(stage, stage), unit="шт",
                                            disable=None, leave=False))
        return bar.update


@main.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--dir", "as_directory", is_flag=True, help="write a directory with the same members instead of a tar")
@click.option("--with-orphans", is_flag=True, help="also copy objects no version or signature references")
@click.option("--with-secrets", is_flag=True, help="also copy the CA passphrase file (keep the backup safe!)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def backup(ctx: click.Context, target: Path, as_directory: bool, with_orphans: bool, with_secrets: bool,
           as_json: bool) -> None:
    """Back up the database, the objects and the CA directory into TARGET (.tar, .tar.gz, or --dir)."""
    rt = runtime(ctx)
    with ExitStack() as stack:
        report = backup_svc.backup(rt, target, as_directory=as_directory, with_orphans=with_orphans,
                                   with_secrets=with_secrets, progress=ProgressBars(stack))
    emit(report.as_dict(), as_json, lambda r: "\n".join([
        f"Резервная копия: {r['path']} ({r['size']} Б за {r['seconds']} с)",
        f"Документов: {r['tables'].get('documents', 0)}, версий: {r['tables'].get('versions', 0)}, "
        f"объектов: {r['objects']} ({r['object_bytes']} Б)" + (f", из них бесхозных: {r['orphans']}"
                                                                if r["orphans"] else ""),
        f"SHA-256 manifest.json: {r['manifest_sha256']}",
        f"manifest.json подписан (HMAC-SHA256) ключом копий {r['key_id']} ({r['key_source']}); "
        "восстановить копию можно только с этим ключом",
        "Поисковый индекс не копируется: dms restore строит его заново.",
    ]))
    if report.pki and not report.passphrase:
        click.echo("Каталог УЦ скопирован без парольной фразы: при восстановлении задайте её в DMS_PKI_PASSPHRASE "
                   "(или сделайте копию с --with-secrets).", err=True)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="replace whatever the target database already holds")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def restore(ctx: click.Context, source: Path, force: bool, as_json: bool) -> None:
    """Restore a backup into the empty database, store and data dir of the environment; rebuild the index."""
    rt = runtime(ctx)
    with ExitStack() as stack:
        report = restore_svc.restore(rt, source, force=force, progress=ProgressBars(stack))
    emit(report.as_dict(), as_json, lambda r: "\n".join([
        f"Восстановлено из {r['source']} (копия от {r['created_at']}, база {r['source_dialect']}) за {r['seconds']} с",
        f"Документов: {r['tables'].get('documents', 0)}, версий: {r['tables'].get('versions', 0)}, "
        f"объектов: {r['objects']} ({r['object_bytes']} Б), в индексе: {r['indexed']}",
        "Каталог УЦ восстановлен" + ("" if r["passphrase"] else "; парольную фразу задайте в DMS_PKI_PASSPHRASE")
        if r["pki"] else "Каталога УЦ в копии нет",
    ]))
