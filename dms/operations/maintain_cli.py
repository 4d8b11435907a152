"""`dms maintain`: the one command a daily cron runs (issue 14)."""
from __future__ import annotations

import sys

import click

from dms.clibase import EXIT_PROBLEM, emit, handle_errors, main, runtime


def _describe(r: dict) -> str:
    lines = [f"Обслуживание архива на {r['at']}: " + ("выполнено" if r["ok"] else "есть ошибки")]
    if r.get("rollover"):
        lines.append("  обновлены ключи: " + ", ".join(r["rollover"]))
    if r.get("crls"):
        lines.append(f"  опубликовано списков отзыва: {len(r['crls'])}")
    if r.get("certificates_expired"):
        lines.append(f"  свидетельств истёк срок: {len(r['certificates_expired'])}")
    evidence = r.get("evidence") or {}
    if evidence.get("protected") or evidence.get("renewed"):
        lines.append(f"  защищено документов: {len(evidence.get('protected', []))}, "
                     f"продлено: {len(evidence.get('renewed', []))}")
    report = r.get("report") or {}
    if report.get("renewals"):
        lines.append(f"  продление в ближайший год: {len(report['renewals'])} документ(ов)")
    lines += [f"  ошибка ({e['step']}): {e.get('error')}" for e in r["errors"]]
    return "\n".join(lines)


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def maintain(ctx: click.Context, as_json: bool) -> None:
    """Do what is due: roll the TSA and CAs over, publish CRLs, expire certificates of qualification, protect signed
    documents (B-LTA) and renew their time-stamps. Idempotent; exits 0 when everything went well."""
    from dms.operations import maintain
    result = maintain.maintain(runtime(ctx))
    emit(result, as_json, _describe)
    if not result["ok"]:
        sys.exit(EXIT_PROBLEM)
