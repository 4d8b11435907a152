"""The API's routes: parse the request, call a service, render JSON. Every route checks permission on the
object it touches through the service (a document one may not view is a 404)."""
from __future__ import annotations

import json
from datetime import timedelta
from functools import wraps
from typing import Any
from collections.abc import Callable

from flask import Response, current_app, g, jsonify, request, url_for

from dms import ratelimit
from dms.documents import doctypes
from dms.errors import AuthError, Invalid, NotFound, PreconditionFailed, UnsupportedMediaType
from dms.http import send_version
from dms.idrange import digits, is_id, parse_id
from dms.models import Document, Folder, Version
from dms.security import P, has_permission, require
from dms.documents import service as docs
from dms.documents import folders as folders_svc
from dms.people import sessions
from dms.people import users
from dms.api import bp
from dms.api.openapi import openapi_document


def rt():  # noqa: ANN201
    return current_app.extensions["dms_runtime"]


def token_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):  # noqa: ANN202
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthError("нужен заголовок Authorization: Bearer <токен> (POST /api/v1/tokens)")
        row = sessions.token_row(g.db, token.strip())
        if row is None:
            raise AuthError("токен недействителен или истёк")
        g.api_user = row.user
        g.api_token_id = row.id
        return view(*args, **kwargs)
    return wrapper


def _json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Invalid("ожидается JSON-объект в теле запроса")
    return data


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise Invalid("параметр %(name)s должен быть целым числом", name=name) from None
    return max(lo, min(hi, value))


def _if_match() -> int | None:
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    raw = raw.strip().removeprefix("W/").strip('"')
    if not digits(raw):
        raise PreconditionFailed("If-Match: ожидается ревизия документа из ETag")
    return int(raw)


def folder_json(f: Folder) -> dict:
    return {"id": f.id, "name": f.name, "parent_id": f.parent_id, "path": folders_svc.display_path(g.db, f),
            "block_inheritance": f.block_inheritance}


def version_json(doc: Document, v: Version) -> dict:
    return {"number": v.number, "sha256": v.sha256, "size": v.size, "media_type": v.media_type,
            "filename": v.filename, "comment": v.comment, "created_at": v.created_at.isoformat(),
            "created_by": v.created_by.login if v.created_by else None,
            "content_url": url_for("api.version_content", doc_id=doc.id, number=v.number)}


def document_json(doc: Document, with_versions: bool = False) -> dict:
    data = {"id": doc.id, "type": doc.doc_type, "title": doc.title, "state": doc.state,
            "reg_number": doc.reg_number, "reg_date": doc.reg_date.isoformat() if doc.reg_date else None,
            "folder_id": doc.folder_id, "organisation": doc.organisation.code if doc.organisation else None,
            "meta": doc.meta, "revision": doc.revision,
            "current_version": doc.current_version.number if doc.current_version else None,
            "created_at": doc.created_at.isoformat(), "updated_at": doc.updated_at.isoformat()}
    if with_versions:
        data["versions"] = [version_json(doc, v) for v in docs.versions(g.db, doc)]
    return data


def _with_etag(resp: Response, doc: Document) -> Response:
    resp.headers["ETag"] = f'"{doc.revision}"'
    return resp


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


@bp.post("/tokens")
def create_token():  # noqa: ANN201
    body = _json_body()
    login, password = str(body.get("login", "")), str(body.get("password", ""))
    if not login or not password:
        raise Invalid("укажите login и password")
    user = users.authenticate(g.db, login, password, source=f"api:{request.remote_addr}",
                              limiter=ratelimit.for_app(), address=request.remote_addr or "")
    users.require_own_password(user)  # a one-time password from an administrator is changed in the web first
    token, expires, row = sessions.issue_token(g.db, user, timedelta(hours=rt().settings.token_ttl_hours))
    return jsonify({"token": token, "token_type": "Bearer", "expires_at": expires.isoformat(), "id": row.id,
                    "user": {"login": user.login, "roles": sorted(user.global_roles)}}), 201


@bp.get("/tokens")
@token_required
def list_tokens():  # noqa: ANN201
    """The caller's own tokens that still work (never the token values: only their ids and times)."""
    return jsonify({"items": [sessions.token_json(t, g.api_token_id) for t in sessions.tokens_of(g.db, g.api_user)]})


@bp.delete("/tokens/current")
@token_required
def revoke_current_token():  # noqa: ANN201
    sessions.revoke_token(g.db, g.api_user, g.api_token_id)
    return "", 204


@bp.delete("/tokens/<int:token_id>")
@token_required
def revoke_token(token_id: int):  # noqa: ANN201
    sessions.revoke_token(g.db, g.api_user, token_id)
    return "", 204


@bp.get("/folders")
@token_required
def list_root_folder():  # noqa: ANN201
    return get_folder(folders_svc.root(g.db).id)


@bp.get("/folders/<int:folder_id>")
@token_required
def get_folder(folder_id: int):  # noqa: ANN201
    folder = folders_svc.get(g.db, folder_id)
    navigable = folders_svc.navigable_ids(g.db, g.api_user)
    if navigable is not None and folder.id not in navigable:
        raise NotFound("папка не найдена")
    limit = _int_arg("limit", 50, 1, 500)
    offset = _int_arg("offset", 0, 0, 10**9)
    total, items = folders_svc.documents(g.db, g.api_user, folder, limit=limit, offset=offset,
                                         doc_type=request.args.get("type"), state=request.args.get("state"))
    children = [folder_json(c) for c in folders_svc.children(g.db, folder)
                if navigable is None or c.id in navigable]
    return jsonify({**folder_json(folder), "folders": children, "documents": {
        "total": total, "limit": limit, "offset": offset, "items": [document_json(d) for d in items]}})


@bp.post("/folders")
@token_required
def create_folder():  # noqa: ANN201
    body = _json_body()
    parent_id = parse_id(body["parent_id"]) if body.get("parent_id") else folders_svc.root(g.db).id
    if parent_id is None:
        raise Invalid("parent_id должен быть целым числом")
    parent = folders_svc.get(g.db, parent_id)
    if not has_permission(g.db, g.api_user, P.VIEW, parent):
        raise NotFound("папка не найдена")
    folder = folders_svc.create(g.db, g.api_user, parent, str(body.get("name", "")))
    return jsonify(folder_json(folder)), 201


@bp.get("/document-types")
@token_required
def document_types():  # noqa: ANN201
    return jsonify({code: {"label": t.label_ru, "fields": [
        {"name": f.name, "label": f.label_ru, "kind": f.kind, "required": f.required, "choices": list(f.choices)}
        for f in t.fields]} for code, t in doctypes.DOC_TYPES.items()})


def _parse_meta(raw: Any) -> dict:
    if raw in (None, ""):
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise Invalid("meta: ожидается JSON-объект") from None
    if not isinstance(value, dict):
        raise Invalid("meta: ожидается JSON-объект")
    return value


@bp.post("/documents")
@token_required
def create_document():  # noqa: ANN201
    """multipart/form-data (fields + optional `file`) or JSON (metadata only)."""
    if request.mimetype == "multipart/form-data":
        form, upload_file = request.form, request.files.get("file")
    elif request.is_json:
        form, upload_file = _json_body(), None
    else:
        raise UnsupportedMediaType("ожидается multipart/form-data или application/json")
    folder_id = parse_id(form.get("folder_id", ""))
    if folder_id is None:
        raise Invalid("folder_id обязателен и должен быть целым числом")
    folder = folders_svc.get(g.db, folder_id)
    if not has_permission(g.db, g.api_user, P.VIEW, folder):
        raise NotFound("папка не найдена")
    require(g.db, g.api_user, P.ADD, folder)
    doc_type = str(form.get("type", ""))
    if doc_type not in doctypes.DOC_TYPES:  # before any byte is stored
        raise Invalid("неизвестный тип документа; допустимые: %(known)s", {"type": doc_type},
                      known=", ".join(doctypes.DOC_TYPES))
    stored = None
    if upload_file is not None:
        stored = docs.store_upload(rt().store, upload_file.stream, upload_file.filename,
                                   rt().settings.max_upload_bytes)
    doc = docs.create(g.db, g.api_user, folder, doc_type, str(form.get("title", "")), _parse_meta(form.get("meta")))
    if stored is not None:
        docs.add_version(g.db, g.api_user, doc, stored, str(form.get("comment", "")))
    resp = jsonify(document_json(doc, with_versions=True))
    resp.status_code = 201
    resp.headers["Location"] = url_for("api.get_document", doc_id=doc.id)
    return _with_etag(resp, doc)


@bp.get("/documents/<int:doc_id>")
@token_required
def get_document(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, g.api_user, doc_id)
    docs.record_view(g.db, g.api_user, doc, "api")
    return _with_etag(jsonify(document_json(doc, with_versions=True)), doc)


@bp.patch("/documents/<int:doc_id>")
@token_required
def update_document(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, g.api_user, doc_id)
    body = _json_body()
    docs.check_revision(doc, _if_match())
    if "title" in body or "meta" in body:
        docs.update_metadata(g.db, g.api_user, doc, title=body.get("title"),
                             meta=_parse_meta(body["meta"]) if "meta" in body else None)
    if "folder_id" in body:  # a move: Edit on the folder left, Add on the target (dms.documents.service.move)
        target = g.db.get(Folder, body["folder_id"]) if is_id(body["folder_id"]) else None
        if target is None or not folders_svc.can_navigate(g.db, g.api_user, target):
            raise NotFound("папка не найдена")
        docs.move(g.db, g.api_user, doc, target)
    return _with_etag(jsonify(document_json(doc)), doc)


@bp.get("/documents/<int:doc_id>/versions")
@token_required
def list_versions(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, g.api_user, doc_id)
    return jsonify({"items": [version_json(doc, v) for v in docs.versions(g.db, doc)]})


@bp.post("/documents/<int:doc_id>/versions")
@token_required
def upload_version(doc_id: int):  # noqa: ANN201
    doc = docs.get(g.db, g.api_user, doc_id, P.EDIT)
    upload_file = request.files.get("file")
    if upload_file is None:
        raise Invalid("нужен файл в поле file (multipart/form-data)")
    expected = _if_match()
    stored = docs.store_upload(rt().store, upload_file.stream, upload_file.filename, rt().settings.max_upload_bytes)
    version = docs.add_version(g.db, g.api_user, doc, stored, request.form.get("comment", ""), expected)
    resp = jsonify(version_json(doc, version))
    resp.status_code = 201
    return _with_etag(resp, doc)


@bp.get("/documents/<int:doc_id>/versions/<int:number>")
@token_required
def get_version(doc_id: int, number: int):  # noqa: ANN201
    doc = docs.get(g.db, g.api_user, doc_id)
    return jsonify(version_json(doc, docs.get_version(g.db, g.api_user, doc, number)))


@bp.get("/documents/<int:doc_id>/versions/<int:number>/content")
@token_required
def version_content(doc_id: int, number: int):  # noqa: ANN201
    doc = docs.get(g.db, g.api_user, doc_id)
    version = docs.get_version(g.db, g.api_user, doc, number)
    docs.record_download(g.db, g.api_user, doc, version, "api")
    return send_version(version)


@bp.get("/documents/<int:doc_id>/transitions")
@token_required
def list_transitions(doc_id: int):  # noqa: ANN201
    from dms.workflow import service as wf_svc
    doc = docs.get(g.db, g.api_user, doc_id)
    return _with_etag(jsonify({"state": doc.state, "items": [
        {"name": o.transition.name, "title": o.transition.title_ru, "target": o.transition.target,
         "allowed": o.allowed, "reason": o.reason} for o in wf_svc.options(g.db, g.api_user, doc)]}), doc)


@bp.post("/documents/<int:doc_id>/transitions/<name>")
@token_required
def take_transition(doc_id: int, name: str):  # noqa: ANN201
    from dms.workflow import service as wf_svc
    doc = docs.get(g.db, g.api_user, doc_id)
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}  # a JSON array or string carries no comment (was a 500)
    entry = wf_svc.execute(g.db, g.api_user, doc, name, str(body.get("comment", "")), _if_match())
    return _with_etag(jsonify({**document_json(doc), "transition": entry.transition, "from": entry.from_state}), doc)


@bp.get("/documents/<int:doc_id>/history")
@token_required
def document_history(doc_id: int):  # noqa: ANN201
    from dms.workflow import service as wf_svc
    doc = docs.get(g.db, g.api_user, doc_id)
    return jsonify({"items": [{"transition": h.transition, "from": h.from_state, "to": h.to_state,
                               "actor": h.actor.login if h.actor else None, "comment": h.comment,
                               "ts": h.ts.isoformat()} for h in wf_svc.history(g.db, doc)]})


@bp.get("/worklist")
@token_required
def worklist():  # noqa: ANN201
    from dms.workflow import service as wf_svc
    return jsonify({"items": [{**document_json(d), "transition": t.name, "transition_title": t.title_ru}
                              for d, t in wf_svc.worklist(g.db, g.api_user)]})


@bp.get("/audit")
@token_required
def audit_events():  # noqa: ANN201
    from dms.audit import service as audit
    limit = _int_arg("limit", 100, 1, 1000)
    offset = _int_arg("offset", 0, 0, 10**9)
    total, events = audit.search(g.db, g.api_user, audit.parse_query(request.args), limit=limit, offset=offset)
    return jsonify({"total": total, "limit": limit, "offset": offset, "items": [audit.event_json(e) for e in events]})
