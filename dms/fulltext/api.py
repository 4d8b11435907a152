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
    result = search_svc.search_apart(g.db, current_app.extensions["dms_runtime"], g.api_user, query)
    data = result.as_dict()
    # Ids are integers here as everywhere in the API (the index keeps them as text); strings until 2026-12.
    data["items"] = [{**item, "id": int(item["id"])} for item in data["items"]]
    return jsonify(data)
