"""The sharing page of a folder (Plone's Sharing tab)."""
from __future__ import annotations

from flask import flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from dms.errors import DmsError, NotFound
from dms.security import LOCAL_ROLES, P, has_permission, require
from dms.documents import folders as folders_svc
from dms.documents import sharing
from dms.web import bp
from dms.idrange import digits


def _folder(folder_id: int):  # noqa: ANN202
    folder = folders_svc.get(g.db, folder_id)
    if not has_permission(g.db, current_user, P.VIEW, folder):
        raise NotFound("папка не найдена")
    require(g.db, current_user, P.MANAGE_SHARING, folder)
    return folder


@bp.get("/folders/<int:folder_id>/sharing")
@login_required
def sharing_page(folder_id: int):  # noqa: ANN201
    folder = _folder(folder_id)
    return render_template("sharing.html", folder=folder, crumbs=folders_svc.breadcrumbs(g.db, folder),
                           rows=sharing.describe(g.db, folder), local_roles=LOCAL_ROLES)


@bp.get("/folders/<int:folder_id>/sharing/principals")
@login_required
def sharing_principals(folder_id: int):  # noqa: ANN201
    """Users and groups matching ?q= (login, name, group title), as JSON for the sharing page's picker; only for
    those who may change sharing on this folder (others learn nothing about who exists)."""
    from dms.people import groups
    _folder(folder_id)
    return jsonify(items=groups.find_principals(g.db, request.args.get("q", "")))


@bp.post("/folders/<int:folder_id>/sharing")
@login_required
def sharing_change(folder_id: int):  # noqa: ANN201
    folder = _folder(folder_id)
    action = request.form.get("action", "")
    try:
        if action == "block":
            sharing.set_block_inheritance(g.db, current_user, folder, request.form.get("blocked") == "1")
        elif action in ("grant", "revoke"):
            who = request.form.get("principal", "").strip()
            principal = (sharing.principal_for(g.db, group=who[len("group:"):]) if who.startswith("group:")
                         else who if who.startswith("user:") and digits(who[5:])
                         else sharing.principal_for(g.db, login=who))
            (sharing.grant if action == "grant" else sharing.revoke)(
                g.db, current_user, folder, principal, request.form.get("role", ""))
        else:
            raise DmsError("неизвестное действие")
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
        return redirect(url_for("web.sharing_page", folder_id=folder_id))
    flash(_("Права доступа изменены"), "success")
    return redirect(url_for("web.sharing_page", folder_id=folder_id))
