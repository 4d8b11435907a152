"""Records management API: legal holds, trash, records, disposition lists (issue 7)."""
from __future__ import annotations

from flask import g, jsonify, request

from dms.errors import Invalid
from dms.idrange import parse_id
from dms.documents import service as docs
from dms.documents import folders as folders_svc
from dms.records import service as svc
from dms.api import bp
from dms.api.routes import token_required


def _body() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _int(value: object, name: str) -> int | None:
    if value in (None, ""):
        return None
    parsed = parse_id(value)
    if parsed is None:
        raise Invalid("%(field)s должен быть целым числом", field=name)
    return parsed


@bp.get("/records/holds")
@token_required
def records_holds():  # noqa: ANN201
    return jsonify({"items": [svc.hold_json(h) for h in
                              svc.holds(g.db, g.api_user, request.args.get("all") in ("1", "true"))]})


@bp.post("/records/holds")
@token_required
def records_place_hold():  # noqa: ANN201
    svc.require_duty(g.api_user, "manage")
    body = _body()
    doc_id, folder_id = _int(body.get("document_id"), "document_id"), _int(body.get("folder_id"), "folder_id")
    hold = svc.place_hold(g.db, g.api_user, str(body.get("reason", "")),
                          document=docs.get(g.db, g.api_user, doc_id) if doc_id else None,
                          folder=folders_svc.get(g.db, folder_id) if folder_id else None)
    return jsonify(svc.hold_json(hold)), 201


@bp.post("/records/holds/<int:hold_id>/release")
@token_required
def records_release_hold(hold_id: int):  # noqa: ANN201
    hold = svc.release_hold(g.db, g.api_user, hold_id, str(_body().get("reason", "")))
    return jsonify(svc.hold_json(hold))


@bp.get("/records/trash")
@token_required
def records_trash():  # noqa: ANN201
    return jsonify({"items": [{"id": d.id, "title": d.title, "type": d.doc_type, "reason": e.reason,
                               "trashed_at": e.trashed_at.isoformat()} for e, d in svc.trashed(g.db, g.api_user)]})


@bp.get("/documents/<int:doc_id>/records")
@token_required
def records_status(doc_id: int):  # noqa: ANN201
    return jsonify(svc.status(g.db, docs.get(g.db, g.api_user, doc_id)).as_dict())


@bp.post("/documents/<int:doc_id>/trash")
@token_required
def records_trash_document(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, g.api_user, doc_id)
    entry = svc.trash(g.db, g.api_user, doc, str(_body().get("reason", "")))
    return jsonify({"id": doc.id, "trashed_at": entry.trashed_at.isoformat()})


@bp.post("/documents/<int:doc_id>/restore")
@token_required
def records_restore_document(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, g.api_user, doc_id)
    svc.restore(g.db, g.api_user, doc)
    return jsonify({"id": doc.id, "restored": True})


@bp.post("/documents/<int:doc_id>/record")
@token_required
def records_declare(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, g.api_user, doc_id)
    decl = svc.declare_record(g.db, g.api_user, doc, str(_body().get("reason", "")))
    return jsonify({"id": doc.id, "declared_at": decl.declared_at.isoformat()}), 201


@bp.get("/records/disposition")
@token_required
def records_disposition():  # noqa: ANN201
    return jsonify({"due": [svc.due_json(d) for d in svc.due_for_disposition(g.db, g.api_user)],
                    "lists": [svc.batch_json(b) for b in svc.batches(g.db, g.api_user)]})


@bp.post("/records/disposition")
@token_required
def records_disposition_propose():  # noqa: ANN201
    return jsonify(svc.batch_json(svc.propose(g.db, g.api_user))), 201


@bp.get("/records/disposition/<int:disposition_id>")
@token_required
def records_disposition_show(disposition_id: int):  # noqa: ANN201
    return jsonify(svc.batch_json(svc.get_batch(g.db, g.api_user, disposition_id)))


@bp.post("/records/disposition/<int:disposition_id>/approve")
@token_required
def records_disposition_approve(disposition_id: int):  # noqa: ANN201
    return jsonify(svc.batch_json(svc.approve(g.db, g.api_user, disposition_id)))


@bp.post("/records/disposition/<int:disposition_id>/execute")
@token_required
def records_disposition_execute(disposition_id: int):  # noqa: ANN201
    """202 with a durable job (issue 17.3): GET /api/v1/jobs/{id} follows it; refusals (403/404/409) come at once."""
    from dms import jobs
    from dms.jobs.http import accepted
    from dms.jobs.tasks import check_disposition_executable
    check_disposition_executable(g.db, g.api_user, disposition_id)
    return accepted(jobs.enqueue(g.db, "disposition.execute", {"disposition_id": disposition_id}, g.api_user))
