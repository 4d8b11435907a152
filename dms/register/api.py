"""The register of organisations in the API: list, one organisation with its history, apply, take a step."""
from __future__ import annotations

from flask import current_app, g, jsonify, request

from dms.register import service as svc
from dms.api import bp
from dms.api.routes import _json_body, token_required


@bp.get("/register")
@token_required
def register_list():  # noqa: ANN201
    args = request.args
    rows = svc.listing(g.db, g.api_user, kind=args.get("kind") or None, status=args.get("status") or None,
                       sort=args.get("sort") or "name", descending=args.get("dir") == "desc")
    return jsonify({"total": len(rows), "items": [svc.organisation_json(r) for r in rows]})


@bp.get("/register/<int:org_id>")
@token_required
def register_organisation(org_id: int):  # noqa: ANN201
    return jsonify(svc.detail_json(g.db, g.api_user, svc.get(g.db, g.api_user, org_id)))


@bp.post("/register")
@token_required
def register_apply():  # noqa: ANN201
    body = _json_body()
    event = svc.apply(current_app.extensions["dms_runtime"], g.db, g.api_user, body, str(body.get("reason") or ""))
    org = svc.get(g.db, g.api_user, event.organisation_id)
    return jsonify({**svc.detail_json(g.db, g.api_user, org), "event": svc.event_json(g.db, event)}), 201


@bp.post("/register/<int:org_id>/transitions/<name>")
@token_required
def register_transition(org_id: int, name: str):  # noqa: ANN201
    org = svc.get(g.db, g.api_user, org_id)
    body = request.get_json(silent=True)
    reason = str(body.get("reason") or "") if isinstance(body, dict) else ""
    event = svc.take(current_app.extensions["dms_runtime"], g.db, g.api_user, org, name, reason)
    return jsonify({**svc.detail_json(g.db, g.api_user, org), "event": svc.event_json(g.db, event)}), 201
