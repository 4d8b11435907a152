"""The register of organisations: the list (filter by kind and status, sort by any column), an organisation's
card with its register history, and the forms of the steps the user may take."""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from dms.errors import DmsError
from dms.register.rules import KINDS, STATUSES, TRANSITIONS
from dms.register import service as svc
from dms.web import bp

COLUMNS = ("code", "name", "kind", "city", "status", "changed", "documents", "certificates")


@bp.get("/register")
@login_required
def register_page():  # noqa: ANN201
    args = request.args
    kind, status = args.get("kind", ""), args.get("status", "")
    sort = args.get("sort", "name") if args.get("sort", "name") in svc.SORTS else "name"
    descending = args.get("dir") == "desc"
    error = None
    try:
        rows = svc.listing(g.db, current_user, kind=kind or None, status=status or None, sort=sort,
                           descending=descending)
    except DmsError as exc:
        error, kind, status = exc.message, "", ""
        rows = svc.listing(g.db, current_user, sort=sort, descending=descending)
    return render_template("register.html", **_listing_context(rows=rows, kind=kind, status=status, sort=sort,
                                                               descending=descending, filter_error=error),
                           form={}), 400 if error else 200


@bp.post("/register/apply")
@login_required
def register_apply():  # noqa: ANN201
    fields = {k: request.form.get(k, "") for k in ("kind", "name", "short_name", "inn", "ogrn", "kpp", "city",
                                                     "region", "code")}
    try:
        event = svc.apply(current_app.extensions["dms_runtime"], g.db, current_user, fields,
                          request.form.get("reason", ""))
    except DmsError as exc:
        if exc.status in (403, 404):
            raise
        g.db.rollback()
        return render_template("register.html", **_listing_context(), form=request.form,
                               apply_error=exc.message, apply_errors=exc.details), exc.status
    flash(_("Заявление зарегистрировано; организация внесена в Регистр со статусом «Подано заявление»."), "success")
    return redirect(url_for("web.register_organisation", org_id=event.organisation_id), code=303)


def _listing_context(**given) -> dict:  # noqa: ANN003
    context = {"kind": "", "status": "", "sort": "name", "descending": False, "filter_error": None, **given}
    if "rows" not in context:
        context["rows"] = svc.listing(g.db, current_user)
    return {**context, "kinds": KINDS, "statuses": STATUSES, "columns": COLUMNS, "apply": TRANSITIONS["apply"],
            "may_apply": svc.may_apply(g.db, current_user)}


@bp.get("/register/<int:org_id>")
@login_required
def register_organisation(org_id: int):  # noqa: ANN201
    org = svc.get(g.db, current_user, org_id)
    return _card(org)


def _card(org, status: int = 200, step_error: str | None = None, step_name: str | None = None):  # noqa: ANN001, ANN202
    return render_template("register_organisation.html", org=org, row=svc.row(g.db, org),
                           waiting=svc.waiting_document(g.db, org),
                           steps=svc.history(g.db, org), options=svc.options(g.db, current_user, org),
                           kinds=KINDS, statuses=STATUSES, transitions=TRANSITIONS,
                           step_error=step_error, step_name=step_name,
                           reason=request.form.get("reason", "") if step_error else ""), status


@bp.post("/register/<int:org_id>/transitions/<name>")
@login_required
def register_transition(org_id: int, name: str):  # noqa: ANN201
    org = svc.get(g.db, current_user, org_id)
    step = TRANSITIONS.get(name)
    missing_reason = step is not None and step.reason_required and not request.form.get("reason", "").strip()
    if step is not None and step.confirm and request.form.get("confirm") != "1" and not missing_reason:
        return _card(org, 400, _("Подтвердите: %(what)s", what=_(step.confirm)), name)
    try:
        event = svc.take(current_app.extensions["dms_runtime"], g.db, current_user, org, name,
                         request.form.get("reason", ""))
    except DmsError as exc:
        if exc.status in (403, 404):
            raise
        g.db.rollback()
        return _card(svc.get(g.db, current_user, org_id), exc.status, exc.message, name)
    flash(_("Выполнено: %(step)s.", step=TRANSITIONS[event.transition].title), "success")
    return redirect(url_for("web.register_organisation", org_id=org_id), code=303)
