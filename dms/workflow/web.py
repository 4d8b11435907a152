"""Workflow pages: transition buttons on a document, the worklist."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from dms.errors import DmsError, Invalid
from dms.documents import service as docs
from dms.workflow import service as wf_svc
from dms.workflow.rules import workflow_for
from dms.web import bp
from dms.idrange import digits


@bp.post("/documents/<int:doc_id>/transition/<name>")
@login_required
def transition(doc_id: int, name: str):  # noqa: ANN201
    doc = docs.get(g.db, current_user, doc_id)
    raw = request.form.get("revision", "")
    step = workflow_for(doc.doc_type).transitions.get(name)
    try:
        if step is not None and step.confirm and not step.service and request.form.get("confirm") != "1":
            raise Invalid("подтвердите шаг «%(step)s»: %(what)s", step=step.title, what=_(step.confirm))
        entry = wf_svc.execute(g.db, current_user, doc, name, request.form.get("comment", ""),
                               int(raw) if digits(raw) else None)
    except DmsError as exc:
        g.db.rollback()
        flash(exc.message, "error")
        return redirect(url_for("web.document", doc_id=doc_id))
    message = _("Выполнено: %(step)s.", step=workflow_for(doc.doc_type).transitions[name].title)
    if doc.reg_number and entry.from_state == "draft":
        message += " " + _("Присвоен номер %(number)s.", number=doc.reg_number)
    flash(message, "success")
    return redirect(url_for("web.document", doc_id=doc_id))


@bp.get("/worklist")
@login_required
def worklist():  # noqa: ANN201
    return render_template("worklist.html", items=wf_svc.worklist(g.db, current_user))
