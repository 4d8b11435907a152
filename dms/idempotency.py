"""Idempotent writes (issue 17.5): every POST of the API accepts an `Idempotency-Key` header.

A request whose answer was lost (its worker died after the commit, the network dropped) can be sent again with the
same key: the same user on the same endpoint gets the first answer again (status, body, Location/ETag; the header
`Idempotent-Replayed: true` says so) and nothing is created twice. The same key with a different request is 422; while
the first request with a key is still running, another one with it is 409 with Retry-After.

Installed once over the API blueprint's POST routes (`install`), outside their token check. The key's row
(dms.models.IdempotencyKey) is inserted in the request's own transaction before the view runs, and the answer is
written into it in that transaction too: the creation and the remembered answer commit together or not at all. A
concurrent request with the same key waits on the row's unique constraint (PostgreSQL) or the write lock (SQLite)
and then replays. Answers of 400 and above are not remembered: nothing was created, a retry runs again.
Keys are kept for KEEP (a day)."""
from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from datetime import datetime, timedelta, UTC
from functools import wraps
from typing import Any

from flask import Flask, Response, g, make_response, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from dms.errors import N_, DmsError, Invalid
from dms.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200
KEEP = timedelta(days=1)
ABANDONED_AFTER = timedelta(minutes=5)  # a key whose first request never finished (its worker died before commit)
REPLAYED_HEADERS = ("Content-Type", "Location", "ETag")
# POSTs that are not writes to remember: a token's answer is a secret, kept nowhere.
EXCLUDED = frozenset({"api.create_token"})


class KeyReused(DmsError):
    status = 422


class KeyInProgress(DmsError):
    status = 409


def install(app: Flask) -> None:
    """Wrap every POST route of the API blueprint (registered by now)."""
    wrapped: set[str] = set()
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        if (endpoint.startswith("api.") and "POST" in (rule.methods or ()) and endpoint not in EXCLUDED
                and endpoint not in wrapped):
            app.view_functions[endpoint] = idempotent(app.view_functions[endpoint])
            wrapped.add(endpoint)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _caller_id() -> int | None:
    """The API user of the bearer token, or None (the view's own check answers 401)."""
    from dms.people import sessions
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    row = sessions.token_row(g.db, token.strip())
    return row.user_id if row is not None else None


def request_digest() -> str:
    """SHA-256 of what makes two requests the same: method, path, query and body (a multipart body by its fields
    and files' bytes, read in chunks and rewound for the view)."""
    h = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode("latin-1"), request.mimetype):
        h.update(part.encode("utf-8", "replace") + b"\0")
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        for name, value in sorted(request.form.items(multi=True)):
            h.update(f"f\0{name}\0{value}\0".encode())
        for name, upload in sorted(request.files.items(multi=True), key=lambda item: item[0]):
            h.update(f"u\0{name}\0{upload.filename}\0".encode())
            stream = upload.stream
            while chunk := stream.read(1 << 20):
                h.update(chunk)
            stream.seek(0)
    else:
        h.update(request.get_data(cache=True))
    return h.hexdigest()


def _find(user_id: int, endpoint: str, key: str) -> IdempotencyKey | None:
    return g.db.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                                    IdempotencyKey.endpoint == endpoint, IdempotencyKey.key == key))


def _replay(row: IdempotencyKey, digest: str) -> Response:
    if row.request_sha256 != digest:
        raise KeyReused(N_("Idempotency-Key уже использован с другим запросом; для нового запроса нужен новый ключ"))
    if row.status is None:
        exc = KeyInProgress(N_("запрос с этим Idempotency-Key ещё выполняется; повторите позже"))
        raise exc
    response = Response(row.body or b"", status=row.status)
    for name, value in (row.headers or {}).items():
        response.headers[name] = value
    response.headers[REPLAYED] = "true"
    return response


def idempotent(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):  # noqa: ANN202
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        key = key.strip()
        if not (0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()):
            raise Invalid(N_("Idempotency-Key: от 1 до 200 печатных символов ASCII"))
        user_id = _caller_id()
        if user_id is None:
            return view(*args, **kwargs)
        endpoint = f"{request.method} {request.path}"
        digest = request_digest()
        row = _find(user_id, endpoint, key)
        if row is not None and row.status is None and _aware(row.created_at) < _now() - ABANDONED_AFTER:
            row.request_sha256, row.created_at = digest, _now()  # its first request died uncommitted: run anew
        elif row is not None:
            return _replay(row, digest)
        else:
            row = IdempotencyKey(user_id=user_id, endpoint=endpoint, key=key, request_sha256=digest, headers={})
            try:
                with g.db.begin_nested():
                    g.db.add(row)
            except IntegrityError:  # the first request with this key committed while this one waited for it
                found = _find(user_id, endpoint, key)
                if found is None:
                    raise
                return _replay(found, digest)
            if random.random() < 0.01:
                g.db.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < _now() - KEEP))
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            _forget(row)
            raise
        if response.status_code >= 400 or response.is_streamed:
            _forget(row)  # nothing was created (or nothing to replay): a retry runs again
            return response
        row.status = response.status_code
        row.body = response.get_data()
        row.headers = {name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers}
        return response
    return wrapper


def _forget(row: IdempotencyKey) -> None:
    """Drop the key's row with the request's work (rolled back anyway unless an error answer is committed)."""
    try:
        g.db.delete(row)
        g.db.flush()
    except Exception:  # noqa: BLE001  a failed transaction is rolled back by the request's end, the row with it
        pass
