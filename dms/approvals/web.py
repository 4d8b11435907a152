"""Approval routes in the web UI: the «Согласование» and «Обсуждение» tabs of a document, the bell, the tasks in
«Мои задачи», the control report (контроль исполнения) with CSV, and the personal settings (deputy, notices).
Views parse and render; the rules are in `service`, `notify` and `comments`."""
from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from dms.uow import after_commit
from dms.errors import DmsError, Invalid
from dms.models import Document
from dms.security import Forbidden, P, has_permission
from dms.people import users
from dms.web import bp
from dms.approvals import comments, notify
from dms.approvals import service as approvals
from dms.approvals.models import Comment
from dms.approvals.rules import DEFAULT_ROUTES, Channel, Kind, Rule, decision_label, kind_label
from dms.idrange import digits


def _doc(doc_id: int) -> Document:
    try:
        return approvals.get_document(g.db, current_user, doc_id)
    except DmsError:
        abort(404)


def _back(doc_id: int, tab: str) -> Any:
    return redirect(url_for("web.document", doc_id=doc_id, tab=tab) + f"#tab-{tab}")


def _after_commit() -> None:
    rt = current_app.extensions["dms_runtime"]
    after_commit(g.db, lambda: notify.send_in_background(rt))


def _refused(exc: Exception) -> None:
    g.db.rollback()
    message = exc.message if isinstance(exc, DmsError) else str(exc)
    flash(message, "error")


@bp.app_template_global()
def approval_panel(doc: Document) -> dict[str, Any]:
    """What the document page shows of the approval: the rounds, the open task of the viewer, whether they may
    start or recall a route, and the default plan to start from."""
    data = approvals.describe(g.db, doc)
    route = approvals.active_route(g.db, doc)
    my_task = None
    if route is not None:
        my_task = next((t for t in approvals.tasks_of(g.db, route)
                        if t.assignee_id == current_user.id and t.status == "open"), None)
    rule = DEFAULT_ROUTES.get(doc.doc_type)
    may_start = bool(rule and route is None and doc.state in rule.start_from
                     and has_permission(g.db, current_user, P.TRANSITION, doc))
    may_recall = bool(route is not None and (route.initiator_id == current_user.id
                                             or has_permission(g.db, current_user, P.TRANSITION, doc)))
    sheet = approvals.sheet_document(g.db, doc)
    return {"data": data, "route": route, "my_task": my_task, "may_start": may_start, "may_recall": may_recall,
            "supported": rule is not None, "plan": approvals.default_plan(doc) if rule else [],
            "decision_label": decision_label, "sheet": sheet}


@bp.app_template_global()
def discussion(doc: Document) -> dict[str, Any]:
    items = comments.thread(g.db, current_user, doc)
    authors = _authors(items)
    may_moderate = doc.folder is not None and has_permission(g.db, current_user, P.MANAGE_SHARING, doc.folder)
    return {"items": items, "authors": authors, "may_moderate": may_moderate}


def _authors(items: list[Comment]) -> dict[int, str]:
    from sqlalchemy import select

    from dms.models import User
    ids = {c.author_id for c in items}
    return {u.id: (u.full_name or u.login) for u in g.db.scalars(select(User).where(User.id.in_(ids)))} if ids else {}


@bp.app_template_global()
def unread_notifications() -> int:
    return notify.unread_count(g.db, current_user) if current_user.is_authenticated else 0


@bp.app_template_global()
def approval_tasks() -> list[Any]:
    return approvals.open_tasks(g.db, current_user) if current_user.is_authenticated else []


@bp.app_template_global()
def when(iso: str | None) -> Any:
    """An ISO time of the approval's JSON as a datetime, for the `moment` and `day` filters."""
    from datetime import datetime
    return datetime.fromisoformat(iso) if iso else None


@bp.app_template_global()
def task_overdue(task: Any) -> bool:
    return approvals.is_overdue(task)


@bp.app_template_global()
def overdue_chart() -> str:
    """The dashboard's chart: overdue approval tasks per department (what the viewer may see)."""
    from dms.reports import charts
    counts = approvals.overdue_by_department(g.db, current_user)
    if not counts:
        return ""
    return charts.bar_chart(_("Просроченные задачи согласования по подразделениям"), sorted(counts.items()))


def _plan_from_form(doc: Document) -> list[approvals.PlannedStage]:
    """The type's route with the approvers the initiator added per stage, and the stage's rule when they chose one
    (all must approve, or any one)."""
    plan = approvals.default_plan(doc)
    for i, stage in enumerate(plan, 1):
        extra = [x.strip() for x in request.form.get(f"extra_{i}", "").replace(";", ",").split(",") if x.strip()]
        stage.approvers += [x for x in extra if x not in stage.approvers]
        rule = request.form.get(f"rule_{i}", "")
        if rule in (Rule.ALL, Rule.ANY):
            stage.rule = Rule(rule)
    return plan


@bp.post("/documents/<int:doc_id>/route/start")
@login_required
def route_start(doc_id: int):  # noqa: ANN201
    doc = _doc(doc_id)
    try:
        approvals.start(g.db, current_user, doc, _plan_from_form(doc), expected_revision=_revision())
    except (DmsError, Forbidden) as exc:
        _refused(exc)
        return _back(doc_id, "approval")
    _after_commit()
    flash(_("Документ отправлен на согласование"), "success")
    return _back(doc_id, "approval")


def _revision() -> int | None:
    raw = request.form.get("revision", "")
    return int(raw) if digits(raw) and len(raw) < 12 else None


@bp.post("/documents/<int:doc_id>/route/decide")
@login_required
def route_decide(doc_id: int):  # noqa: ANN201
    doc = _doc(doc_id)
    try:
        approvals.decide(current_app.extensions["dms_runtime"], g.db, current_user, doc,
                         request.form.get("decision", ""), request.form.get("comment", ""))
    except (DmsError, Forbidden) as exc:
        _refused(exc)
        return _back(doc_id, "approval")
    _after_commit()
    flash(_("Решение записано"), "success")
    return _back(doc_id, "approval")


@bp.post("/documents/<int:doc_id>/route/recall")
@login_required
def route_recall(doc_id: int):  # noqa: ANN201
    doc = _doc(doc_id)
    if request.form.get("confirm") != "1":
        flash(_("Подтвердите отзыв с согласования"), "error")
        return _back(doc_id, "approval")
    try:
        approvals.recall(g.db, current_user, doc, request.form.get("comment", ""))
    except (DmsError, Forbidden) as exc:
        _refused(exc)
        return _back(doc_id, "approval")
    flash(_("Документ отозван с согласования"), "success")
    return _back(doc_id, "approval")


@bp.get("/documents/<int:doc_id>/route/sheet.pdf")
@login_required
def route_sheet(doc_id: int):  # noqa: ANN201
    """The approval sheet as it stands (the filed, sealed copy is the linked document once approved)."""
    from dms.approvals.sheet import render_sheet
    doc = _doc(doc_id)
    if not approvals.routes_of(g.db, doc):
        abort(404)
    return Response(render_sheet(doc, approvals.describe(g.db, doc)), mimetype="application/pdf",
                    headers={"Content-Disposition": f"inline; filename=approval-sheet-{doc.id}.pdf",
                             "Cache-Control": "private, no-store"})


@bp.post("/documents/<int:doc_id>/comments")
@login_required
def comment_add(doc_id: int):  # noqa: ANN201
    doc = _doc(doc_id)
    parent = request.form.get("parent_id", "")
    try:
        comments.add(g.db, current_user, doc, request.form.get("body", ""),
                     int(parent) if digits(parent) and len(parent) < 12 else None)
    except (DmsError, Forbidden) as exc:
        _refused(exc)
        return _back(doc_id, "discussion")
    _after_commit()
    return _back(doc_id, "discussion")


def _comment(comment_id: int) -> tuple[Comment, Document]:
    c = g.db.get(Comment, comment_id)  # the <int:> converter already bounds the id
    if c is None:
        abort(404)
    return c, _doc(c.document_id)


@bp.post("/comments/<int:comment_id>/edit")
@login_required
def comment_edit(comment_id: int):  # noqa: ANN201
    c, doc = _comment(comment_id)
    try:
        comments.edit(g.db, current_user, c, request.form.get("body", ""))
    except (DmsError, Forbidden) as exc:
        _refused(exc)
    return _back(doc.id, "discussion")


@bp.post("/comments/<int:comment_id>/hide")
@login_required
def comment_hide(comment_id: int):  # noqa: ANN201
    c, doc = _comment(comment_id)
    try:
        comments.hide(g.db, current_user, c, request.form.get("reason", ""))
    except (DmsError, Forbidden) as exc:
        _refused(exc)
    return _back(doc.id, "discussion")


@bp.get("/notifications")
@login_required
def notifications_page():  # noqa: ANN201
    notes = notify.list_for(g.db, current_user, limit=100)
    docs = {d.id: d for d in g.db.query(Document).filter(Document.id.in_({n.document_id for n in notes
                                                                            if n.document_id}))} if notes else {}
    visible = {i: d for i, d in docs.items() if has_permission(g.db, current_user, P.VIEW, d)}
    return render_template("approvals/notifications.html", notes=notes, docs=visible, kind_label=kind_label)


@bp.post("/notifications/read")
@login_required
def notifications_read():  # noqa: ANN201
    notify.mark_read(g.db, current_user)
    return redirect(url_for("web.notifications_page"))


@bp.get("/control")
@login_required
def control_page():  # noqa: ANN201
    only_overdue = request.args.get("overdue") == "1"
    rows = approvals.control_report(g.db, current_user, only_overdue=only_overdue)
    if request.args.get("format") == "csv":
        return Response(approvals.control_csv(rows), mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=control.csv"})
    return render_template("approvals/control.html", rows=rows, only_overdue=only_overdue)


@bp.route("/settings/notifications", methods=["GET", "POST"])
@login_required
def notification_settings():  # noqa: ANN201
    if request.method == "POST":
        choices = {k.value: request.form.get(f"kind_{k.value}", "") for k in Kind if k is not Kind.TEST}
        try:
            notify.set_preferences(g.db, current_user, {k: v for k, v in choices.items() if v in set(Channel)},
                                   request.form.get("language") or None)
        except ValueError:
            flash(_("Неизвестный вариант"), "error")
            g.db.rollback()
        else:
            flash(_("Настройки сохранены"), "success")
        return redirect(url_for("web.notification_settings"))
    prefs = notify.settings_of(g.db, current_user)
    return render_template("approvals/settings.html", prefs=prefs, kinds=[k for k in Kind if k is not Kind.TEST],
                           kind_label=kind_label, channels=list(Channel),
                           deputies=approvals.deputies_of(g.db, current_user))


@bp.post("/settings/deputy")
@login_required
def deputy_set():  # noqa: ANN201
    try:
        start = date.fromisoformat(request.form.get("date_from", ""))
        end = date.fromisoformat(request.form.get("date_to", ""))
        approvals.set_deputy(g.db, current_user, current_user,
                             users.get_user(g.db, request.form.get("deputy", "").strip()), start, end)
    except ValueError:
        flash(_("Укажите даты периода"), "error")
    except (DmsError, Forbidden, Invalid) as exc:
        _refused(exc)
    else:
        flash(_("Заместитель назначен"), "success")
    return redirect(url_for("web.notification_settings"))
