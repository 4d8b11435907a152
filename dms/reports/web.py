"""Report forms on the web: the list of forms and of my reports, a form drawn from its definition (new draft or
editing one), and the aggregate view across sites. The rules are in dms.reports.service."""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from dms.errors import DmsError, NotFound
from dms.reports.forms import FORMS, ReportForm
from dms.security import P, has_permission
from dms.documents import folders as folders_svc
from dms.reports import service as svc
from dms.web import bp
from dms.reports import charts
from dms.idrange import digits

BAR_WIDTH = 240


def _rt():  # noqa: ANN202
    return current_app.extensions["dms_runtime"]


def _form_or_404(code: str) -> ReportForm:
    form = FORMS.get(code)
    if form is None:
        raise NotFound("форма отчёта не найдена")
    return form


def _posted_answers(form: ReportForm) -> dict[str, str]:
    return {q.code: request.form.get("q_" + q.code, "") for q in form.questions()}


def _posted_folder():  # noqa: ANN202
    """The folder picked in the form (one the user may see), or None for the site's own folder."""
    raw = request.form.get("folder_id", "").strip()
    if not raw:
        return None
    folder = folders_svc.get(g.db, int(raw)) if digits(raw) else None
    if folder is None or not has_permission(g.db, current_user, P.VIEW, folder):
        raise NotFound("папка не найдена")
    return folder


def _page(form: ReportForm, values: dict, answers: dict, errors: dict, *, doc=None, status: int = 200):  # noqa: ANN001, ANN202
    return render_template("report_form.html", form=form, doc=doc, values=values, answers=answers, errors=errors,
                           organisations=svc.organisations(g.db),
                           folders=svc.folder_choices(g.db, current_user) if doc is None else [],
                           open_sections=_open_sections(form, answers, errors)), status


def _open_sections(form: ReportForm, answers: dict, errors: dict) -> set[str]:
    """Sections drawn unfolded: those with an answer or an error."""
    return {s.code for s in form.sections
            if any(answers.get(q.code) not in (None, "") or q.code in errors for q in s.questions)}


def _refused(exc: DmsError) -> bool:
    """Whether a refusal is about the object (403/404: shown as such) rather than about the answers."""
    return exc.status in (403, 404)


@bp.get("/reports")
@login_required
def reports_page():  # noqa: ANN201
    return render_template("reports.html", forms=list(FORMS.values()), mine=svc.my_reports(g.db, current_user),
                           editable=svc.EDITABLE_STATES)


@bp.route("/reports/new/<form_code>", methods=["GET", "POST"])
@login_required
def report_new(form_code: str):  # noqa: ANN201
    form = _form_or_404(form_code)
    if request.method == "GET":
        org = current_user.organisation
        return _page(form, {"site": org.code if org else "", "period": "", "folder_id": ""}, {}, {})
    values = {"site": request.form.get("site", ""), "period": request.form.get("period", ""),
              "folder_id": request.form.get("folder_id", "")}
    answers = _posted_answers(form)
    try:
        folder = _posted_folder()
        filled = svc.check(g.db, form.code, values["site"], values["period"], answers)
        doc = svc.save(g.db, _rt().store, _rt().settings.max_upload_bytes, current_user, filled, folder=folder)
    except DmsError as exc:
        if _refused(exc):
            raise
        g.db.rollback()
        flash(exc.message, "error")
        return _page(form, values, answers, exc.details or {"_": exc.message}, status=exc.status)
    flash(_("Черновик отчёта сохранён, PDF сформирован. Представьте отчёт, когда он готов."), "success")
    return redirect(url_for("web.report_edit", doc_id=doc.id))


@bp.route("/reports/<int:doc_id>/edit", methods=["GET", "POST"])
@login_required
def report_edit(doc_id: int):  # noqa: ANN201
    doc, form, stored = svc.form_report(g.db, current_user, doc_id, P.EDIT)
    if doc.state not in svc.EDITABLE_STATES:
        flash(_("По форме изменяется только черновик или возвращённый отчёт."), "error")
        return redirect(url_for("web.document", doc_id=doc.id))
    if request.method == "GET":
        return _page(form, {"site": doc.meta.get("site", ""), "period": doc.meta.get("period", "")}, stored, {},
                     doc=doc)
    values = {"site": request.form.get("site", ""), "period": request.form.get("period", "")}
    answers = _posted_answers(form)
    raw_revision = request.form.get("revision", "")
    try:
        filled = svc.check(g.db, form.code, values["site"], values["period"], answers)
        svc.save(g.db, _rt().store, _rt().settings.max_upload_bytes, current_user, filled, doc=doc,
                 expected_revision=int(raw_revision) if digits(raw_revision) else None)
    except DmsError as exc:
        if _refused(exc):
            raise
        g.db.rollback()
        flash(exc.message, "error")
        doc = svc.form_report(g.db, current_user, doc_id)[0]
        return _page(form, values, answers, exc.details or {"_": exc.message}, doc=doc, status=exc.status)
    flash(_("Изменения сохранены: сформирована новая версия PDF."), "success")
    return redirect(url_for("web.report_edit", doc_id=doc_id))


def option_bar(counts: list[tuple[str, str, int]]) -> Markup:
    """One stacked bar: how many reports chose each option, in the palette's order of the options."""
    total = sum(n for _code, _label, n in counts)
    parts, x = [], 0.0
    for i, (_code, label, n) in enumerate(counts):
        if not n:
            continue
        w = BAR_WIDTH * n / total
        parts.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="14" '
                     f'fill="{charts.PALETTE[i % len(charts.PALETTE)]}"><title>{escape(_(label))}: {n}</title></rect>')
        x += w
    if not total:
        parts.append(f'<rect x="0" y="0" width="{BAR_WIDTH}" height="14" fill="#e9ecef"/>')
    title = "; ".join(f"{_(label)}: {n}" for _code, label, n in counts)
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" class="optionbar" width="{BAR_WIDTH}" height="14" '
                  f'viewBox="0 0 {BAR_WIDTH} 14" role="img" aria-label="{escape(title)}">{"".join(parts)}</svg>')


@bp.get("/reports/aggregate")
@login_required
def reports_aggregate():  # noqa: ANN201
    form = _form_or_404(request.args.get("form", "pilot_site"))
    scope = request.args.get("scope", "final")
    period, site = request.args.get("period", ""), request.args.get("site", "")
    agg = svc.aggregate(g.db, current_user, form.code, period=period, site=site,
                        scope=scope if scope in svc.SCOPES else "final")
    visuals = {
        "state": charts.bar_chart(_("Отчёты по состояниям"), [(title, n) for _, title, n in agg.by_state]),
        "site": charts.bar_chart(_("Учтённые отчёты по площадкам"), [(name, n) for _, name, n in agg.by_site]),
    }
    return render_template("reports_aggregate.html", agg=agg, forms=list(FORMS.values()), scopes=svc.SCOPES,
                           period=period, site=site, visuals=visuals, option_bar=option_bar,
                           palette=charts.PALETTE)
