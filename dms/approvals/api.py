"""Approval routes, tasks, deputies, notifications and discussions in the JSON API (/api/v1)."""
from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, current_app, g, jsonify, request

from dms.api import bp
from dms.api.routes import _json_body, token_required
from dms.uow import after_commit
from dms.errors import Invalid
from dms.idrange import is_id
from dms.people import users
from dms.approvals import comments, notify
from dms.approvals import service as approvals
from dms.approvals.rules import Rule


def _plan(body: dict[str, Any]) -> list[approvals.PlannedStage] | None:
    stages = body.get("stages")
    if stages is None:
        return None
    if not isinstance(stages, list) or not stages:
        raise Invalid("stages: список этапов", {"stages": "list"})
    plan = []
    for i, st in enumerate(stages, 1):
        if not isinstance(st, dict) or not isinstance(st.get("approvers"), list):
            raise Invalid("этап %(n)s: {\"approvers\": [логины или group:ИМЯ], \"rule\", \"days\"}", n=i)
        rule = str(st.get("rule") or "all")
        if rule not in set(Rule):
            raise Invalid("этап %(n)s: rule — all, any или share", n=i)
        days, share = st.get("days", 2), st.get("share", 1.0)
        if not isinstance(days, int) or not 1 <= days <= 60 or not isinstance(share, (int, float)) \
                or not 0 < float(share) <= 1:
            raise Invalid("этап %(n)s: days от 1 до 60, share от 0 до 1", n=i)
        plan.append(approvals.PlannedStage(str(st.get("title") or f"Этап {i}")[:300], Rule(rule), float(share), days,
                                           "each" if st.get("group_mode") == "each" else "any",
                                           [str(a) for a in st["approvers"]]))
    return plan


def _after_commit() -> None:
    """E-mails caused by this request go out once its transaction has committed (never for a refused request)."""
    rt = current_app.extensions["dms_runtime"]
    after_commit(g.db, lambda: notify.send_in_background(rt))


@bp.get("/documents/<int:doc_id>/route")
@token_required
def route_show(doc_id: int):  # noqa: ANN201
    doc = approvals.get_document(g.db, g.api_user, doc_id)
    return jsonify(approvals.describe(g.db, doc))


@bp.post("/documents/<int:doc_id>/route")
@token_required
def route_start(doc_id: int):  # noqa: ANN201
    doc = approvals.get_document(g.db, g.api_user, doc_id)  # a document one may not see: 404 before the body
    body = _json_body()
    approvals.start(g.db, g.api_user, doc, _plan(body))
    _after_commit()
    return jsonify(approvals.describe(g.db, doc)), 201


@bp.post("/documents/<int:doc_id>/route/decisions")
@token_required
def route_decide(doc_id: int):  # noqa: ANN201
    doc = approvals.get_document(g.db, g.api_user, doc_id)
    body = _json_body()
    approvals.decide(current_app.extensions["dms_runtime"], g.db, g.api_user, doc, str(body.get("decision") or ""),
                     str(body.get("comment") or ""))
    _after_commit()
    return jsonify(approvals.describe(g.db, doc)), 201


@bp.post("/documents/<int:doc_id>/route/recall")
@token_required
def route_recall(doc_id: int):  # noqa: ANN201
    body = request.get_json(silent=True)
    comment = str(body.get("comment") or "") if isinstance(body, dict) else ""
    doc = approvals.get_document(g.db, g.api_user, doc_id)
    approvals.recall(g.db, g.api_user, doc, comment)
    return jsonify(approvals.describe(g.db, doc))


@bp.get("/tasks")
@token_required
def tasks_list():  # noqa: ANN201
    items = [{"id": t.id, "document_id": d.id, "title": d.title, "reg_number": d.reg_number,
              "due_at": approvals.aware(t.due_at).isoformat(), "overdue": approvals.is_overdue(t),
              "on_behalf": t.principal_id != t.assignee_id}
             for t, d in approvals.open_tasks(g.db, g.api_user)]
    return jsonify({"total": len(items), "items": items})


@bp.get("/control")
@token_required
def control_report():  # noqa: ANN201
    rows = approvals.control_report(g.db, g.api_user, only_overdue=request.args.get("overdue") == "1")
    if request.args.get("format") == "csv":
        return Response(approvals.control_csv(rows), mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=control.csv"})
    return jsonify({"total": len(rows), "items": [control_json(r) for r in rows]})


def control_json(r: approvals.ControlRow) -> dict[str, Any]:
    return {"document_id": r.document_id, "reg_number": r.reg_number, "title": r.title, "stage": r.stage,
            "approver": r.approver, "assignee": r.assignee, "due_at": r.due_at.isoformat(), "status": r.status,
            "overdue_days": r.overdue_days, "department": r.department}


@bp.post("/deputies")
@token_required
def deputy_set():  # noqa: ANN201
    body = _json_body()
    try:
        start, end = date.fromisoformat(str(body.get("from"))), date.fromisoformat(str(body.get("to")))
    except ValueError:
        raise Invalid("from и to — даты ГГГГ-ММ-ДД") from None
    user = users.get_user(g.db, str(body.get("user") or g.api_user.login))
    row = approvals.set_deputy(g.db, g.api_user, user, users.get_user(g.db, str(body.get("deputy") or "")),
                               start, end)
    return jsonify({"id": row.id, "user": user.login, "deputy": str(body.get("deputy")), "from": start.isoformat(),
                    "to": end.isoformat()}), 201


@bp.get("/notifications")
@token_required
def notifications_list():  # noqa: ANN201
    notes = notify.list_for(g.db, g.api_user, unread_only=request.args.get("unread") == "1")
    return jsonify({"unread": notify.unread_count(g.db, g.api_user),
                    "items": [notification_json(n) for n in notes]})


def notification_json(n: Any) -> dict[str, Any]:
    from dms.approvals.rules import kind_label
    return {"id": n.id, "kind": n.kind, "title": kind_label(n.kind), "document_id": n.document_id,
            "created_at": approvals.aware(n.created_at).isoformat(), "read": n.read_at is not None}


@bp.post("/notifications/read")
@token_required
def notifications_read():  # noqa: ANN201
    body = request.get_json(silent=True)
    ids = body.get("ids") if isinstance(body, dict) else None
    if ids is not None and (not isinstance(ids, list) or not all(is_id(i) for i in ids)):  # not bools, not 2^40
        raise Invalid("ids: список номеров уведомлений")
    return jsonify({"read": notify.mark_read(g.db, g.api_user, ids)})


@bp.get("/documents/<int:doc_id>/comments")
@token_required
def comments_list(doc_id: int):  # noqa: ANN201
    doc = approvals.get_document(g.db, g.api_user, doc_id)
    return jsonify({"items": [comments.as_json(c, g.api_user) for c in comments.thread(g.db, g.api_user, doc)]})


@bp.post("/documents/<int:doc_id>/comments")
@token_required
def comments_add(doc_id: int):  # noqa: ANN201
    doc = approvals.get_document(g.db, g.api_user, doc_id)
    body = _json_body()
    parent = body.get("parent_id")
    if parent is not None and not is_id(parent):
        raise Invalid("parent_id: номер сообщения")
    c = comments.add(g.db, g.api_user, doc, str(body.get("body") or ""), parent)
    _after_commit()
    return jsonify(comments.as_json(c, g.api_user)), 201
