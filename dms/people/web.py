"""Administration in the web (issue 15.7): users (one-time passwords, global roles, groups, disable/enable, unlock,
reset password, end sessions, PKCS#12 import), groups and their members, and the password change every user with
a one-time password must make before anything else. Every screen asks for a permission (ManageUsers; the PKCS#12
import ManagePKI), never for a role name; the rules are in dms.people.users and dms.people.groups."""
from __future__ import annotations

from flask import flash, g, jsonify, make_response, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from dms.errors import DmsError, Invalid, NotFound
from dms.i18n import same_site_path
from dms.models import Organisation, User
from dms.security import GLOBAL_ROLES, P, holds_globally, role_label
from dms.people import groups as groups_svc
from dms.people import sessions as sessions_svc
from dms.people import users as users_svc
from dms.web import bp
from dms.idrange import digits

# While a one-time password is unchanged, only these pages open (everything else redirects to the change).
OPEN_WHILE_ONE_TIME = frozenset({"web.password_change", "web.logout", "web.set_language", "web.healthz", "static"})


@bp.before_app_request
def _one_time_password_must_be_changed():  # noqa: ANN202
    if request.path.startswith("/api/") or request.endpoint in OPEN_WHILE_ONE_TIME:
        return None
    if not current_user.is_authenticated or not getattr(current_user, "must_change_password", False):
        return None
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("web.password_change", next=target))


def _start_new_session(user: User) -> None:
    """A password change ends every session of the user (dms.people.users.set_password), this one too: the person
    who just proved the new password goes on in a fresh one."""
    from dms.extensions import SESSION_KEY
    flask_session[SESSION_KEY] = sessions_svc.start(g.db, user, source=f"web:{request.remote_addr}")


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password_change():  # noqa: ANN201
    forced = bool(current_user.must_change_password)
    error = None
    if request.method == "POST":
        try:
            if request.form.get("new", "") != request.form.get("new2", ""):
                raise Invalid("новые пароли не совпадают")
            users_svc.change_own_password(g.db, current_user, request.form.get("current", ""),
                                          request.form.get("new", ""))
        except DmsError as exc:
            g.db.rollback()
            error = exc.message
        else:
            _start_new_session(current_user)
            flash(_("Пароль изменён. Другие сеансы и токены API завершены."), "success")
            return redirect(same_site_path(request.args.get("next")) or url_for("web.index"))
    return render_template("admin/password.html", forced=forced, error=error), 400 if error else 200


# --- users -------------------------------------------------------------------------------------------------------

def _require() -> None:
    users_svc.require_user_admin(current_user)


def _user(user_id: int) -> User:
    user = g.db.get(User, user_id)
    if user is None:
        raise NotFound("пользователь не найден")
    return user


def _organisations() -> list[Organisation]:
    return list(g.db.scalars(select(Organisation).order_by(Organisation.name)).all())


def _organisation(raw: str) -> Organisation | None:
    if not raw.strip():
        return None
    org = g.db.get(Organisation, int(raw)) if digits(raw.strip()) else None
    if org is None:
        raise Invalid("организация не найдена")
    return org


def _group_ids() -> list[int]:
    return [int(x) for x in request.form.getlist("groups") if digits(x)]


def _confirmed() -> None:
    if request.form.get("confirm") != "1":
        raise Invalid("подтвердите действие: отметьте, что понимаете его последствия")


def _secret_page(template: str, **context: object):  # noqa: ANN202
    """A page that shows a one-time password: never cached, never kept in history."""
    resp = make_response(render_template(template, **context))
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    return resp


@bp.get("/admin/users")
@login_required
def admin_users():  # noqa: ANN201
    _require()
    q = request.args.get("q", "")
    return render_template("admin/users.html", users=users_svc.list_users(g.db, q), q=q,
                           groups_by_user=groups_svc.names_by_user(g.db), is_locked=users_svc.is_locked,
                           role_label=role_label)


@bp.route("/admin/users/new", methods=["GET", "POST"])
@login_required
def admin_user_new():  # noqa: ANN201
    _require()
    form = request.form if request.method == "POST" else {}
    if request.method == "POST":
        try:
            user, password = users_svc.create_with_one_time_password(
                g.db, current_user, request.form.get("login", ""), request.form.getlist("roles"),
                full_name=request.form.get("full_name", ""), email=request.form.get("email", ""),
                organisation=_organisation(request.form.get("organisation_id", "")))
            groups_svc.set_groups_of(g.db, current_user, user, _group_ids())
        except DmsError as exc:
            g.db.rollback()
            flash(exc.message, "error")
        else:
            return _secret_page("admin/password_shown.html", user=user, password=password, created=True)
    return render_template("admin/user_new.html", form=form, global_roles=GLOBAL_ROLES, role_label=role_label,
                           chosen_roles=request.form.getlist("roles"), chosen_groups=request.form.getlist("groups"),
                           organisations=_organisations(), groups=groups_svc.all_groups(g.db))


@bp.get("/admin/users/<int:user_id>")
@login_required
def admin_user(user_id: int):  # noqa: ANN201
    _require()
    from datetime import timedelta

    from flask import current_app

    from dms.signatures import pki as pki_svc
    user = _user(user_id)
    idle = timedelta(minutes=current_app.extensions["dms_runtime"].settings.session_idle_minutes)
    return render_template(
        "admin/user.html", user=user, global_roles=GLOBAL_ROLES, role_label=role_label,
        organisations=_organisations(), groups=groups_svc.all_groups(g.db),
        member_of={gr.id for gr in groups_svc.groups_of(g.db, user)}, locked=users_svc.is_locked(user),
        live_sessions=sessions_svc.live_sessions(g.db, user, idle), credentials=pki_svc.credentials_of(g.db, user),
        credential_active=pki_svc.is_active, can_import=holds_globally(current_user, P.MANAGE_PKI))


def _acted(user_id: int, action, done: str):  # noqa: ANN001, ANN202
    """Run an action on a user; a refusal is flashed, success said; back to the user's page."""
    _require()
    user = _user(user_id)
    try:
        action(user)
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
    else:
        flash(done, "success")
    return redirect(url_for("web.admin_user", user_id=user_id))


@bp.post("/admin/users/<int:user_id>/details")
@login_required
def admin_user_details(user_id: int):  # noqa: ANN201
    return _acted(user_id, lambda u: users_svc.update_details(
        g.db, current_user, u, request.form.get("full_name", ""), request.form.get("email", ""),
        _organisation(request.form.get("organisation_id", ""))), _("Данные пользователя сохранены"))


@bp.post("/admin/users/<int:user_id>/roles")
@login_required
def admin_user_roles(user_id: int):  # noqa: ANN201
    return _acted(user_id, lambda u: users_svc.set_global_roles(g.db, current_user, u, request.form.getlist("roles")),
                  _("Глобальные роли сохранены"))


@bp.post("/admin/users/<int:user_id>/groups")
@login_required
def admin_user_groups(user_id: int):  # noqa: ANN201
    return _acted(user_id, lambda u: groups_svc.set_groups_of(g.db, current_user, u, _group_ids()),
                  _("Группы пользователя сохранены"))


@bp.post("/admin/users/<int:user_id>/disable")
@login_required
def admin_user_disable(user_id: int):  # noqa: ANN201
    def disable(user: User) -> None:
        _confirmed()
        users_svc.set_active_by(g.db, current_user, user, False)
    return _acted(user_id, disable, _("Пользователь отключён; его сеансы и токены API завершены"))


@bp.post("/admin/users/<int:user_id>/enable")
@login_required
def admin_user_enable(user_id: int):  # noqa: ANN201
    return _acted(user_id, lambda u: users_svc.set_active_by(g.db, current_user, u, True), _("Пользователь включён"))


@bp.post("/admin/users/<int:user_id>/unlock")
@login_required
def admin_user_unlock(user_id: int):  # noqa: ANN201
    return _acted(user_id, lambda u: users_svc.unlock_login(g.db, current_user, u), _("Вход разблокирован"))


@bp.post("/admin/users/<int:user_id>/sessions/end")
@login_required
def admin_user_end_sessions(user_id: int):  # noqa: ANN201
    def end(user: User) -> None:
        _confirmed()
        users_svc.end_sessions_by(g.db, current_user, user)
    return _acted(user_id, end, _("Все сеансы и токены API пользователя завершены"))


@bp.post("/admin/users/<int:user_id>/password")
@login_required
def admin_user_reset_password(user_id: int):  # noqa: ANN201
    _require()
    user = _user(user_id)
    try:
        _confirmed()
        password = users_svc.reset_password(g.db, current_user, user)
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
        return redirect(url_for("web.admin_user", user_id=user_id))
    return _secret_page("admin/password_shown.html", user=user, password=password, created=False)


@bp.post("/admin/users/<int:user_id>/pkcs12")
@login_required
def admin_user_pkcs12(user_id: int):  # noqa: ANN201
    """A signing certificate issued elsewhere, for this user (the service of `dms pki import`)."""
    from flask import current_app

    from dms.security import Forbidden
    from dms.signatures import pki as pki_svc
    if not holds_globally(current_user, P.MANAGE_PKI):
        raise Forbidden(P.MANAGE_PKI, "на импорт сертификатов подписи")

    def do_import(user: User) -> None:
        upload = request.files.get("file")
        data = upload.read(1024 * 1024 + 1) if upload is not None else b""
        if not data:
            raise Invalid("выберите файл PKCS#12 (.p12 или .pfx)")
        if len(data) > 1024 * 1024:
            raise Invalid("файл PKCS#12 больше 1 МБ")
        pin = request.form.get("pin", "")
        if pin != request.form.get("pin2", ""):
            raise Invalid("PIN-коды не совпадают")
        rt = current_app.extensions["dms_runtime"]
        pki_svc.import_p12(rt, g.db, current_user, user, data, request.form.get("password") or None, pin)
    return _acted(user_id, do_import, _("Сертификат подписи загружен"))


# --- groups ------------------------------------------------------------------------------------------------------

@bp.get("/admin/groups")
@login_required
def admin_groups():  # noqa: ANN201
    _require()
    return render_template("admin/groups.html", groups=groups_svc.all_groups(g.db),
                           counts=groups_svc.member_counts(g.db))


@bp.post("/admin/groups")
@login_required
def admin_group_create():  # noqa: ANN201
    _require()
    try:
        group = groups_svc.create(g.db, current_user, request.form.get("name", ""), request.form.get("title", ""))
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
        return redirect(url_for("web.admin_groups"))
    flash(_("Группа «%(name)s» создана", name=group.name), "success")
    return redirect(url_for("web.admin_group", group_id=group.id))


@bp.get("/admin/groups/<int:group_id>")
@login_required
def admin_group(group_id: int):  # noqa: ANN201
    _require()
    group = groups_svc.get_by_id(g.db, group_id)
    return render_template("admin/group.html", group=group, members=groups_svc.members(g.db, group))


@bp.post("/admin/groups/<int:group_id>/members")
@login_required
def admin_group_members(group_id: int):  # noqa: ANN201
    _require()
    group = groups_svc.get_by_id(g.db, group_id)
    try:
        user = users_svc.get_user(g.db, request.form.get("login", "").strip())
        if request.form.get("action") == "remove":
            groups_svc.remove_member(g.db, current_user, group, user)
            flash(_("%(login)s исключён из группы", login=user.login), "success")
        else:
            groups_svc.add_member(g.db, current_user, group, user)
            flash(_("%(login)s добавлен в группу", login=user.login), "success")
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
    return redirect(url_for("web.admin_group", group_id=group_id))


@bp.get("/admin/principals")
@login_required
def admin_principals():  # noqa: ANN201
    """Users (and groups, unless kind=user) matching ?q=, as JSON for the group members' picker."""
    _require()
    items = groups_svc.find_principals(g.db, request.args.get("q", ""))
    if request.args.get("kind") == "user":
        items = [i for i in items if i["kind"] == "user"]
    return jsonify(items=items)
