"""The «RU | EN» switch: a GET that only stores the choice in a cookie and returns to a page of this site."""
from __future__ import annotations

from flask import current_app, redirect, request, url_for

from dms.errors import NotFound
from dms.i18n import COOKIE, COOKIE_MAX_AGE, LOCALES, same_site_path
from dms.security import role_label
from dms.web import bp


@bp.get("/language/<lang>")
def set_language(lang: str):  # noqa: ANN201
    if lang not in LOCALES:
        raise NotFound("Такого языка интерфейса нет")
    response = redirect(same_site_path(request.args.get("next")) or url_for("web.index"))
    response.set_cookie(COOKIE, lang, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax",
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
    return response


@bp.app_context_processor
def _labels_in_locale() -> dict:
    return {"role_label": role_label}
