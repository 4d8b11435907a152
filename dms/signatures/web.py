"""Signatures in the web UI: the signing form and signatures table of a document page, checking a version, the
PKI administration page; and the public PKI files and time-stamp endpoint."""
from __future__ import annotations

from flask import Response, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from signing import clock
from signing.tsa import CONTENT_TYPE_REPLY, CONTENT_TYPE_REQUEST

from dms.extensions import csrf
from dms.i18n import current_locale
from dms.errors import DmsError, Invalid, NotFound
from dms.models import Document, Signature, User
from dms.security import Forbidden, P, holds_globally
from dms.documents import service as docs
from dms.signatures import pki as pki_svc
from dms.signatures import service as sig_svc
from dms.web import bp
from dms.public_http import limit
from dms.idrange import digits

TSA_MAX_REQUEST = 16 * 1024


def rt():  # noqa: ANN201
    return current_app.extensions["dms_runtime"]


def _panel(doc: Document) -> dict:
    """What the document page shows about signatures: the table, and whether (or why not) one may sign now."""
    reason = None
    try:
        p = sig_svc.plan(g.db, current_user, doc)
        step = p.transition.title if p.transition else _("Подписать")
        if pki_svc.active_credential(g.db, current_user) is None:
            reason = _("у вас нет действующего сертификата подписи (его выпускает администратор)")
    except (DmsError, Forbidden) as exc:
        step, reason = None, getattr(exc, "message", str(exc))
    return {"signatures": sig_svc.signatures_of(g.db, doc), "step": step, "reason": reason,
            "status_ru": sig_svc.status_ru}


@bp.app_context_processor
def _signing_helpers() -> dict:
    return {"signing_panel": _panel}


@bp.post("/documents/<int:doc_id>/sign")
@login_required
def sign_document(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, current_user, doc_id)
    raw = request.form.get("revision", "")  # the revision the signer saw: a changed document is refused
    try:
        sig = sig_svc.sign_document(rt(), g.db, current_user, doc, request.form.get("pin", ""),
                                    level=request.form.get("level") or None, comment=request.form.get("comment", ""),
                                    expected_revision=int(raw) if digits(raw) else None)
    except DmsError as exc:
        g.db.rollback()
        flash(_("Документ не подписан: %(why)s", why=exc.message), "error")
        return redirect(url_for("web.document", doc_id=doc_id))
    flash(_("Документ подписан (подпись %(level)s); создана версия %(number)s.", level=sig.level,
            number=sig.version.number) if sig.kind == "pades" else _("Создана открепленная подпись (.p7s)."), "success")
    return redirect(url_for("web.document", doc_id=doc_id))


@bp.post("/documents/<int:doc_id>/versions/<int:number>/verify")
@login_required
def verify_version(doc_id: int, number: int):  # noqa: ANN201
    doc = docs.get(g.db, current_user, doc_id)
    result = sig_svc.validate_version(rt(), g.db, current_user, doc, number)
    flash(_("Версия %(number)s: %(summary)s", number=number, summary=_summary(result)),
          "success" if result["authentic"] else "error")
    return redirect(url_for("web.document", doc_id=doc_id))


def _summary(result: dict) -> str:
    """The validation report in the page's language (Russian unless the user chose English)."""
    return (result.get("summary_en") or result["summary_ru"]) if current_locale() == "en" else result["summary_ru"]


@bp.get("/documents/<int:doc_id>/versions/<int:number>/validation.txt")
@login_required
def validation_report(doc_id: int, number: int):  # noqa: ANN201
    """The validation report of one version as a text file, checked now, in the page's language."""
    doc = docs.get(g.db, current_user, doc_id)
    result = sig_svc.validate_version(rt(), g.db, current_user, doc, number)
    version = docs.get_version(g.db, current_user, doc, number)
    lines = [_("Отчёт о проверке электронных подписей"),
             _("Документ: %(title)s", title=doc.title) + (f" ({doc.reg_number})" if doc.reg_number else ""),
             _("Версия %(number)s: %(file)s, SHA-256 %(sha256)s", number=number, file=version.filename,
               sha256=version.sha256),
             _("Проверено: %(when)s UTC", when=clock.now().strftime("%Y-%m-%d %H:%M:%S")), "", _summary(result)]
    resp = Response("\n".join(lines) + "\n", mimetype="text/plain")
    resp.headers["Content-Disposition"] = f'attachment; filename="validation-document-{doc.id}-v{number}.txt"'
    return resp


@bp.get("/documents/<int:doc_id>/signatures/<int:number>.p7s")
@login_required
def download_p7s(doc_id: int, number: int):  # noqa: ANN201
    doc = docs.get(g.db, current_user, doc_id)
    sig = g.db.get(Signature, number)
    if sig is None or sig.document_id != doc.id or not sig.p7s_key:
        raise NotFound("подпись не найдена")
    docs.get_version(g.db, current_user, doc, sig.version.number)  # Download permission
    resp = Response(rt().store.get_bytes(sig.p7s_key), mimetype="application/pkcs7-signature")
    resp.headers["Content-Disposition"] = f'attachment; filename="document-{doc.id}-signature-{sig.id}.p7s"'
    return resp


# --- the PKI: public files, time stamps, administration ------------------------------------------------------

@bp.get("/pki/<any('root.crt', 'issuing.crt', 'root.crl', 'issuing.crl'):name>")
def pki_file(name: str):  # noqa: ANN201
    data = (pki_svc.certificate_der(rt(), name) if name in pki_svc.PUBLIC_CERTIFICATES
            else pki_svc.crl_der(rt(), g.db, name))
    resp = Response(data, mimetype=pki_svc.MEDIA_TYPES[name])
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp


@bp.post("/tsa")
def tsa():  # noqa: ANN201
    """RFC 3161 over HTTP: application/timestamp-query in, application/timestamp-reply out."""
    limit("tsa")
    if request.mimetype != CONTENT_TYPE_REQUEST:
        return Response("expected " + CONTENT_TYPE_REQUEST, status=415, mimetype="text/plain")
    if (request.content_length or 0) > TSA_MAX_REQUEST:
        return Response("request too large", status=413, mimetype="text/plain")
    body = request.stream.read(TSA_MAX_REQUEST + 1)
    if len(body) > TSA_MAX_REQUEST:
        return Response("request too large", status=413, mimetype="text/plain")
    return Response(pki_svc.load(rt()).tsa.respond(body), mimetype=CONTENT_TYPE_REPLY)


csrf.exempt(tsa)


def _admin() -> None:
    if not holds_globally(current_user, P.MANAGE_PKI):
        raise pki_svc.AdminOnly("страница доступна только администратору")


@bp.get("/pki/admin")
@login_required
def pki_admin():  # noqa: ANN201
    _admin()
    from dms.models import SigningCredential
    creds = g.db.scalars(select(SigningCredential).order_by(SigningCredential.created_at.desc())).all()
    users = g.db.scalars(select(User).where(User.is_active.is_(True)).order_by(User.login)).all()
    return render_template("signing_admin.html", credentials=creds, users=users,
                           initialised=pki_svc.is_initialised(rt().settings), is_active=pki_svc.is_active,
                           reasons=pki_svc.REVOCATION_REASONS)


def _user(login: str) -> User:
    user = g.db.scalars(select(User).where(User.login == login)).first()
    if user is None:
        raise Invalid("нет пользователя «%(login)s»", login=login)
    return user


@bp.post("/pki/admin/issue")
@login_required
def pki_admin_issue():  # noqa: ANN201
    _admin()
    pin = request.form.get("pin", "")
    try:
        if pin != request.form.get("pin2", ""):
            raise Invalid("PIN-коды не совпадают")
        cred = pki_svc.issue(rt(), g.db, current_user, _user(request.form.get("login", "")), pin)
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
        return redirect(url_for("web.pki_admin"))
    flash(_("Выпущен сертификат %(serial)s для %(login)s", serial=cred.serial, login=cred.user.login), "success")
    return redirect(url_for("web.pki_admin"))


@bp.post("/pki/admin/revoke")
@login_required
def pki_admin_revoke():  # noqa: ANN201
    _admin()
    raw = request.form.get("credential_id", "")
    try:
        revoked = pki_svc.revoke(rt(), g.db, current_user, _user(request.form.get("login", "")),
                                 request.form.get("reason", "unspecified"), int(raw) if digits(raw) else None)
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
        return redirect(url_for("web.pki_admin"))
    flash(_("Отозвано сертификатов: %(n)s", n=len(revoked)), "success")
    return redirect(url_for("web.pki_admin"))
