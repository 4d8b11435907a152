"""The audit trail for auditors: filters, pages, CSV export."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Response, g, render_template, request, stream_with_context
from flask_login import current_user, login_required

from ..services import audit
from . import bp

PAGE = 100


@bp.get("/audit")
@login_required
def audit_page():  # noqa: ANN201
    q = audit.parse_query(request.args)
    page = max(1, int(request.args.get("page", "1"))) if request.args.get("page", "1").isdigit() else 1
    total, events = audit.search(g.db, current_user, q, limit=PAGE, offset=(page - 1) * PAGE)
    return render_template("audit.html", events=events, total=total, page=page,
                           pages=max(1, -(-total // PAGE)), args=request.args)


@bp.get("/audit.csv")
@login_required
def audit_csv():  # noqa: ANN201
    q = audit.parse_query(request.args)
    rows = audit.export_csv(g.db, current_user, q)
    first = next(rows)  # checks permission and records the export before streaming starts
    name = f"audit-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.csv"

    def body():  # noqa: ANN202
        yield "\ufeff" + first  # BOM: Excel opens Cyrillic UTF-8 correctly
        yield from rows
    return Response(stream_with_context(body()), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})
