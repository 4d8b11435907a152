"""Signatures from the command line: pki init/issue/revoke/import/list, sign, verify."""
from __future__ import annotations

import json
import sys
from datetime import datetime, UTC
from pathlib import Path

import click

from dms.clibase import EXIT_PROBLEM, emit, handle_errors, main, read_secret, runtime


@main.group()
def pki() -> None:
    """The organisation's certification authority and users' signing certificates."""


@pki.command("init")
@click.option("--rsa", "use_rsa", is_flag=True, help="RSA-3072 keys instead of ECDSA P-256")
@click.option("--organisation", default=None, help="name in the CA certificates (default: the agency)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def pki_init(ctx: click.Context, use_rsa: bool, organisation: str | None, as_json: bool) -> None:
    """Create the CA in $DMS_DATA_DIR/pki (safe to run again: an existing CA is kept)."""
    from dms.signatures import pki as pki_svc
    report = pki_svc.init(runtime(ctx), use_rsa=use_rsa, organisation=organisation)
    emit(report, as_json, _describe_ca)


def _describe_ca(r: dict) -> str:
    head = (("Создан" if r["created"] else "Уже есть")
            + f" УЦ «{r['organisation']}» ({r['algorithm']}) в {r['directory']}")
    prints = [f"  {role:<8} SHA-256 {fp}" for role, fp in r["fingerprints"].items()]
    return "\n".join([head, f"Публикация: {r['public_base_url']}", *prints])


def _pin() -> str:
    return read_secret("DMS_PIN", "PIN-код ключа подписи")


@pki.command("issue")
@click.argument("login")
@click.option("--days", default=730, show_default=True, type=click.IntRange(1, 3650))
@click.pass_context
@handle_errors
def pki_issue(ctx: click.Context, login: str, days: int) -> None:
    """A signing certificate for LOGIN; its key is encrypted under the PIN (DMS_PIN or stdin)."""
    from dms.signatures import pki as pki_svc
    from dms.people import users
    rt = runtime(ctx)
    pin = _pin()
    with rt.db.session() as s:
        cred = pki_svc.issue(rt, s, None, users.get_user(s, login), pin, valid_days=days)
        data = pki_svc.credential_json(cred)
    emit(data, True)


@pki.command("import")
@click.argument("login")
@click.argument("p12_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
@handle_errors
def pki_import(ctx: click.Context, login: str, p12_file: Path) -> None:
    """A certificate and key from a PKCS#12 file (password: DMS_P12_PASSWORD or the first stdin line; new PIN:
    DMS_PIN or the next stdin line)."""
    from dms.signatures import pki as pki_svc
    from dms.people import users
    rt = runtime(ctx)
    password = read_secret("DMS_P12_PASSWORD", "Пароль файла PKCS#12")
    pin = _pin()
    with rt.db.session() as s:
        cred = pki_svc.import_p12(rt, s, None, users.get_user(s, login), p12_file.read_bytes(), password or None, pin)
        data = pki_svc.credential_json(cred)
    emit(data, True)


@pki.command("revoke")
@click.argument("login")
@click.option("--reason", default="unspecified", show_default=True,
              type=click.Choice(["unspecified", "key_compromise", "affiliation_changed", "superseded",
                                 "cessation_of_operation", "certificate_hold"]))
@click.option("--invalid-since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]),
              default=None, help="key_compromise: since when the key was unsafe (UTC); older signatures stay valid")
@click.pass_context
@handle_errors
def pki_revoke(ctx: click.Context, login: str, reason: str, invalid_since: datetime | None) -> None:
    """Revoke LOGIN's signing certificates and publish a new revocation list."""
    from dms.signatures import pki as pki_svc
    from dms.people import users
    rt = runtime(ctx)
    since = (invalid_since.replace(tzinfo=UTC) if invalid_since and invalid_since.tzinfo is None else invalid_since)
    with rt.db.session() as s:
        revoked = pki_svc.revoke(rt, s, None, users.get_user(s, login), reason, invalid_since=since)
        data = [pki_svc.credential_json(c) for c in revoked]
    emit({"revoked": data}, True)


@pki.command("unlock")
@click.argument("login")
@click.pass_context
@handle_errors
def pki_unlock(ctx: click.Context, login: str) -> None:
    """Lift the lock wrong PINs put on LOGIN's signing key (and the count of wrong PINs)."""
    from dms.signatures import pki as pki_svc
    from dms.people import users
    rt = runtime(ctx)
    with rt.db.session() as s:
        n = pki_svc.unlock_pin(s, None, users.get_user(s, login))
    click.echo(f"Ключ подписи пользователя {login} разблокирован (сертификатов: {n})")


@pki.command("list")
@click.argument("login", required=False)
@click.pass_context
@handle_errors
def pki_list(ctx: click.Context, login: str | None) -> None:
    """Signing certificates (of LOGIN, or everyone's) as JSON lines."""
    from sqlalchemy import select

    from dms.models import SigningCredential
    from dms.signatures import pki as pki_svc
    from dms.people import users
    rt = runtime(ctx)
    with rt.db.session() as s:
        rows = (pki_svc.credentials_of(s, users.get_user(s, login)) if login
                else s.scalars(select(SigningCredential).order_by(SigningCredential.id)).all())
        for row in rows:
            click.echo(json.dumps(pki_svc.credential_json(row), ensure_ascii=False))


@main.command()
@click.argument("doc_id", type=int)
@click.option("--as", "login", required=True)
@click.option("--level", type=click.Choice(["B-B", "B-T", "B-LT"]), default=None, help="default B-T")
@click.option("--comment", default="")
@click.pass_context
@handle_errors
def sign(ctx: click.Context, doc_id: int, login: str, level: str | None, comment: str) -> None:
    """Sign the current version of a document as LOGIN (PIN from DMS_PIN or stdin); prints JSON."""
    from dms.documents import service as documents
    from dms.people import users
    from dms.signatures import service as sig_svc
    rt = runtime(ctx)
    pin = _pin()
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        doc = documents.get(s, actor, doc_id)
        sig = sig_svc.sign_document(rt, s, actor, doc, pin, level=level, comment=comment)
        data = {"id": doc.id, "state": doc.state, "reg_number": doc.reg_number,
                "signature": sig_svc.signature_json(s, sig)}
    emit(data, True)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def verify(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Check the signatures of a PDF against the organisation's CA; exit 0 only if it is authentic."""
    from dms.signatures import service as sig_svc
    rt = runtime(ctx)
    with rt.db.session() as s, open(file, "rb") as stream:
        result = sig_svc.validate_upload(rt, s, stream, "cli")
    emit(result, as_json, lambda r: r["summary_ru"])
    if not result["authentic"]:
        first = result["summary_ru"].splitlines()[0] if result["summary_ru"] else "подписи не действительны"
        click.echo(f"dms: {file.name}: не подлинный: {first}", err=True)
        sys.exit(EXIT_PROBLEM)

