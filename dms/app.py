"""The Flask application factory."""
from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

from flask import Flask, g, make_response, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.middleware.proxy_fix import ProxyFix

from dms import i18n
from dms.config import Settings
from dms.errors import N_, DmsError
from dms.idrange import BoundedIntConverter, CertificateNumberConverter
from dms.models import User
from dms.runtime import Runtime
from dms.extensions import SESSION_KEY, csrf, login_manager
from dms.http import error_response as _error
from dms.security import Forbidden
from dms.idrange import digits

log = logging.getLogger("dms")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; frame-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    settings = settings or (runtime.settings if runtime else Settings.from_env())
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder=str(STATIC))
    app.url_map.converters["int"] = BoundedIntConverter  # an id past dms.idrange.MAX_ID in a path is a 404
    app.url_map.converters["certno"] = CertificateNumberConverter
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        WTF_CSRF_TIME_LIMIT=None,
        JSON_AS_ASCII=False,
    )
    os.umask(0o077)  # every file the app creates in the data dir (database, WAL, index, limiter) is 0600
    if settings.trusted_proxies > 0:
        # X-Forwarded-For/-Proto/-Host are believed only from that many proxies in front (DMS_TRUSTED_PROXIES);
        # without it the remote address of the connection is the client, as a forged header cannot change it.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=settings.session_max_hours)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # DefaultJSONProvider has it
    rt = runtime or Runtime(settings)
    app.extensions["dms_runtime"] = rt

    @app.before_request
    def _open_session() -> None:
        g.db = rt.db.sessionmaker()

    # After _open_session: a CSRF refusal renders a page that needs the session.
    csrf.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)

    from dms.api import bp as api_bp
    from dms.web import bp as web_bp
    _import_adapters()

    app.register_blueprint(web_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    csrf.exempt(api_bp)

    @app.after_request
    def _finish(response):  # noqa: ANN001, ANN202
        session = g.pop("db", None)
        if session is not None:
            try:
                if response.status_code < 400 or getattr(g, "commit_on_error", False):
                    session.commit()  # runs the follow-ups registered with dms.uow.after_commit
                else:
                    session.rollback()
            finally:
                session.close()
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.teardown_request
    def _close_session(_exc) -> None:  # noqa: ANN001
        session = g.pop("db", None)
        if session is not None:
            session.rollback()
            session.close()

    _register_error_handlers(app)
    from dms.operations import health
    health.init_app(app)  # /healthz, /readyz; a store that is down answers 503/507 (issue 17.2)
    from dms import idempotency
    idempotency.install(app)  # every API POST accepts an Idempotency-Key (issue 17.5)
    return app


def _import_adapters() -> None:
    """Every capability's pages and API routes register on the two blueprints (dms.web.bp, dms.api.bp) when their
    module is imported; this is the one list of them. The blueprints' modules import none of them (no cycle)."""
    from dms.agreements import api as _agreements_api, web as _agreements_web  # noqa: F401
    from dms.api import routes as _api_base  # noqa: F401  (tokens, folders, documents, versions, transitions)
    from dms.approvals import api as _approvals_api, web as _approvals_web  # noqa: F401
    from dms.assessments import api as _assessments_api, web as _assessments_web  # noqa: F401
    from dms.audit import web as _audit_web  # noqa: F401
    from dms.certificates import api as _certificates_api, web as _certificates_web  # noqa: F401
    from dms.documents import sharing_web as _sharing_web  # noqa: F401
    from dms.fulltext import api as _search_api, web as _search_web  # noqa: F401
    from dms.jobs import routes as _job_routes  # noqa: F401
    from dms.people import web as _people_web  # noqa: F401
    from dms.records import api as _records_api, web as _records_web  # noqa: F401
    from dms.register import api as _register_api, web as _register_web  # noqa: F401
    from dms.reports import api as _reports_api, dashboard as _dashboard, web as _reports_web  # noqa: F401
    from dms.signatures import api as _signatures_api, public_api as _public_api  # noqa: F401
    from dms.signatures import verify_web as _verify_web, web as _signatures_web  # noqa: F401
    from dms.web import language as _language, views as _views  # noqa: F401
    from dms.workflow import web as _workflow_web  # noqa: F401


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    """The user of a live server-side session (dms.people.sessions): a logged-out, idle, ended or foreign
    session id loads nobody, whatever the signed cookie says."""
    from flask import current_app, session

    from dms.people import sessions
    if not digits(user_id):
        return None
    settings = current_app.extensions["dms_runtime"].settings
    return sessions.resume(g.db, int(user_id), session.get(SESSION_KEY),
                           idle=timedelta(minutes=settings.session_idle_minutes),
                           max_age=timedelta(hours=settings.session_max_hours))


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DmsError)
    def _dms_error(exc: DmsError):  # noqa: ANN202
        if exc.status in (401, 429):
            g.commit_on_error = True  # keep the audit events of failed and throttled logins
        return _error(exc.status, exc.message, exc.details)

    @app.errorhandler(Forbidden)
    def _forbidden(exc: Forbidden):  # noqa: ANN202
        return _error(403, _("Недостаточно прав: %(why)s", why=exc.message))

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):  # noqa: ANN202
        return _error(400, _("Форма устарела или отправлена не с этого сайта (CSRF). Обновите страницу и повторите."))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # noqa: ANN202
        messages = {404: N_("Страница не найдена"), 405: N_("Метод не поддерживается"),
                    413: N_("Файл слишком большой"), 400: N_("Некорректный запрос")}
        body, status = _error(exc.code or 500, _(messages[exc.code]) if exc.code in messages else exc.name)
        response = make_response(body, status)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:  # RFC 9110: a 405 names the allowed methods
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(OverflowError)
    @app.errorhandler(DataError)
    def _out_of_range(exc: Exception):  # noqa: ANN202
        # A value from the request the database cannot hold (SQLite binds integers up to 2^63-1, PostgreSQL's integer
        # columns hold up to 2^31-1): the request is wrong, not the server. Routes check their ids (dms.idrange);
        # this is the net under the ones that do not.
        log.warning("value out of range on %s %s: %s", request.method, request.path, str(exc).splitlines()[0])
        return _error(400, _("Число вне допустимого диапазона"))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # noqa: ANN202
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, _("Внутренняя ошибка. Она записана в журнал; повторите позже."))
