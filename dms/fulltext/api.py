"""GET /api/v1/search: results, totals, facets, highlights and suggestions, all behind the permission filter."""
from __future__ import annotations

from flask import current_app, g, jsonify, request

from dms.fulltext import service as search_svc
from dms.api import bp
from dms.api.routes import token_required


@bp.get("/search")
@token_required
def search():  # noqa: ANN201
    query = search_svc.parse_query(request.args)
    result = search_svc.search_documents(g.db, current_app.extensions["dms_runtime"], g.api_user, query)
    return jsonify(result.as_dict())
