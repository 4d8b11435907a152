"""Liveness, readiness and clear failures when a dependency is down (issue 17.2).

- `GET /healthz`: the process answers (no dependency is touched): `{"ok": true}`.
- `GET /readyz`: which dependency is down — database, object store, search index, job queue — each checked with a
  short bound; 200 when all are up, 503 naming the ones that are not.
- A store that cannot be reached (storage.StoreUnavailable) answers 503, a full one (storage.StoreFull) 507, with a
  clear message and `Retry-After`, in the web (the error page) and the API (the JSON error envelope). Pages that do
  not read bytes (search, the public check by number, lists) never touch the store and keep answering.
"""
from __future__ import annotations

import concurrent.futures
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, current_app, jsonify
from flask_babel import gettext as _
from sqlalchemy import text

from storage import ObjectStore, StoreFull, StoreUnavailable

log = logging.getLogger("dms.operations.health")

CHECK_TIMEOUT_S = 3.0  # a dependency that does not answer within this is reported down
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="dms-readyz")


def init_app(app: Flask) -> None:
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)
    app.register_error_handler(StoreUnavailable, store_unavailable)


def healthz() -> Response:
    return jsonify({"ok": True, "pid": os.getpid()})


def readyz() -> tuple[Response, int]:
    rt = current_app.extensions["dms_runtime"]
    checks: dict[str, Callable[[], dict | None]] = {
        "database": lambda: _database(rt), "store": lambda: _store(rt.store), "index": lambda: _index(rt),
        "jobs": lambda: _jobs(rt)}
    results = run_checks(checks)
    ok = all(r["ok"] for r in results.values())
    body = {"ok": ok, "checks": results, "down": [name for name, r in results.items() if not r["ok"]]}
    return jsonify(body), 200 if ok else 503


def run_checks(checks: dict[str, Callable[[], dict | None]], timeout: float = CHECK_TIMEOUT_S) -> dict[str, dict]:
    """Each check in its own thread, all bounded by `timeout`: a hung dependency is reported, never waited for."""
    started = time.perf_counter()
    futures = {name: _pool.submit(_timed, check) for name, check in checks.items()}
    results: dict[str, dict] = {}
    for name, future in futures.items():
        left = max(0.0, timeout - (time.perf_counter() - started))
        try:
            results[name] = future.result(timeout=left)
        except concurrent.futures.TimeoutError:
            results[name] = {"ok": False, "error": f"no answer within {timeout:g} s"}
    return results


def _timed(check: Callable[[], dict | None]) -> dict:
    started = time.perf_counter()
    try:
        extra = check() or {}
    except Exception as exc:  # noqa: BLE001  the error is the answer
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500],
                "ms": round((time.perf_counter() - started) * 1000, 1)}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **extra}


def _database(rt) -> dict:  # noqa: ANN001
    with rt.db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"dialect": rt.db.engine.dialect.name}


def _store(store: ObjectStore) -> dict:
    store.check()  # the filesystem store: its directory is writable; S3: the bucket answers (bounded by timeouts)
    root = getattr(store, "root", None)
    if isinstance(root, Path):
        stats = os.statvfs(root)
        return {"free_mb": stats.f_bavail * stats.f_frsize // (1024 * 1024)}
    return {}


def _index(rt) -> dict:  # noqa: ANN001
    from dms.fulltext.indexing import configured_index
    return {"documents": configured_index(rt, create=False).doc_count()}


def _jobs(rt) -> dict:  # noqa: ANN001
    from dms import jobs
    return jobs.ping(rt)


def store_unavailable(exc: StoreUnavailable):  # noqa: ANN201
    """503 (507 when full) with a clear message and Retry-After, as a page or as the API's error envelope."""
    from dms.http import error_response as _error, wants_json
    full = isinstance(exc, StoreFull)
    log.warning("object store %s: %s", "full" if full else "unavailable", exc)
    if full:
        status, message = 507, _("Хранилище файлов заполнено: новые файлы сейчас не принимаются. Повторите позже; "
                                 "администратор должен освободить место.")
    else:
        status, message = 503, _("Хранилище файлов временно недоступно. Поиск, списки и проверка свидетельств "
                                 "работают; файлы можно будет получить и загрузить позже.")
    body, code = _error(status, message, {"retry_after": exc.retry_after} if wants_json() else None)
    response = current_app.make_response((body, code))
    response.headers["Retry-After"] = str(max(1, int(exc.retry_after)))
    return response
