"""The search page."""
from __future__ import annotations

from flask import current_app, g, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup

from dms.errors import DmsError, localize
from dms.fulltext import service as search_svc
from dms.web import bp

FACET_TITLES = {"doc_type": _l("Тип"), "state": _l("Состояние"), "org": _l("Организация"), "year": _l("Год")}


@bp.get("/search")
@login_required
def search_page():  # noqa: ANN201
    result, error = None, None
    query = None
    if request.args.get("q") is not None or any(request.args.get(k) for k in ("type", "state", "org", "year")):
        try:
            query = search_svc.parse_query(request.args)
            result = search_svc.search_apart(g.db, current_app.extensions["dms_runtime"], current_user, query)
            notice = search_svc.notice_text(result)
            error = localize(notice) if notice else None
        except DmsError as exc:
            error = exc.message
    return render_template("search.html", result=result, error=error, query=query, args=request.args,
                           facet_titles=FACET_TITLES, markup=Markup)
