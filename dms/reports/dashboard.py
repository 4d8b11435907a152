"""The dashboard ("/"): what waits for me, what changed lately, and for those who run the archive, charts."""
from __future__ import annotations

from flask import g, render_template
from flask_babel import gettext as _
from flask_login import current_user

from dms.documents import folders as folders_svc
from dms.reports import stats
from dms.workflow import service as wf_svc
from dms.web import bp
from dms.reports import charts

WORKLIST_ON_DASHBOARD = 10


@bp.app_context_processor
def _archive_root() -> dict:
    """The navigation's «Архив» link (the root folder's id) and the folder tree beside folder and document pages;
    both computed only when a page draws them."""
    return {"archive_root_id": lambda: folders_svc.root(g.db).id,
            "folder_tree": lambda folder: folders_svc.tree(g.db, current_user, folder)}


def page():  # noqa: ANN201
    """The dashboard of the logged-in user (views.index renders it)."""
    user = current_user._get_current_object()
    root = folders_svc.root(g.db)
    navigable = folders_svc.navigable_ids(g.db, user)
    top_folders = [f for f in folders_svc.children(g.db, root) if navigable is None or f.id in navigable]
    work = wf_svc.worklist(g.db, user)
    context = {
        "root": root, "top_folders": top_folders,
        "work": work[:WORKLIST_ON_DASHBOARD], "more_work": len(work) > WORKLIST_ON_DASHBOARD,
        "recent": stats.recent_documents(g.db, user),
        "tiles": [(_("Доступно документов"), stats.count_visible(g.db, user)),
                  (_("На подписании"), stats.count_visible(g.db, user, "on_signing")),
                  (_("Ждут моего решения"), len(work))],
        "charts": None,
    }
    if stats.sees_charts(g.db, user):
        context["charts"] = [
            (_("Свидетельства по центрам, по месяцам"),
             charts.monthly_chart(_("Выдано свидетельств по центрам за 12 месяцев"),
                                  stats.certificates_per_centre(g.db, user), stacked=True, unit=_(" шт."))),
            (_("Документы по состояниям"),
             charts.bar_chart(_("Документы по состояниям"), stats.documents_by_state(g.db, user))),
            (_("Срок подписания, дней (от отправки до подписи)"),
             charts.monthly_chart(_("Срок подписания: медиана и 90-й перцентиль, дней"),
                                  stats.signing_turnaround(g.db, user), stacked=False, unit=_(" дн."))),
        ]
    return render_template("dashboard.html", **context)
