"""The approval sheet (лист согласования): every round of a document's approval as a PDF.

Sealed, when the archive's PKI is set up, with a document time-stamp of our TSA: the sheet then proves by itself
when it was made and that nothing in it changed since, without waiting for the signatory (whose signing step comes
after the approval and signs the order, not the sheet). Why not signed together with the order: the signatory signs
one document at a time, and the sheet must exist (and be final) before the order reaches them.
"""
from __future__ import annotations

import logging
from typing import Any


from dms import pdfrender
from dms.models import Document
from dms.approvals.rules import decision_label

log = logging.getLogger("dms.approvals")

STATUS_RU = {"active": "идёт", "approved": "согласовано", "rejected": "не согласовано", "recalled": "отозвано"}


def _when(value: str | None) -> str:
    if not value:
        return ""
    from datetime import datetime

    from dms.approvals.calendar import MOSCOW
    return datetime.fromisoformat(value).astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M")


def sheet_rows(data: dict) -> list[list[str]]:
    """The sheet's table from a route's description (dms.approvals.service.describe)."""
    rows = [["Круг", "Этап", "Согласующий", "Решение", "Замечания", "Дата и время (МСК)"]]
    for rnd in data["rounds"]:
        for stage in rnd["stages"]:
            for task in stage["tasks"]:
                if task["status"] == "cancelled" and not task["decision"]:
                    continue
                who = task["approver"] + (f" (за него — {task['assignee']})" if task["deputy"] else "")
                decision = decision_label(task["decision"]) if task["decision"] else "ожидает решения"
                rows.append([str(rnd["round"]), stage["title"], who, decision, task["comment"] or "—",
                             _when(task["decided_at"])])
    return rows


def render_sheet(doc: Document, data: dict) -> bytes:
    """The approval sheet of `doc` as a PDF, from its routes' description (dms.approvals.service.describe: the
    caller reads it, so the sheet depends on no service)."""
    rounds = data["rounds"]
    summary = "; ".join(f"круг {r['round']}: {STATUS_RU.get(r['status'], r['status'])}" for r in rounds)
    number = f"№ {doc.reg_number}" if doc.reg_number else "без номера"
    spec = pdfrender.RenderSpec(
        org_name=doc.organisation.name if doc.organisation else "Агентство",
        doc_kind="ЛИСТ СОГЛАСОВАНИЯ",
        title=f"{doc.title} ({number})",
        paragraphs=[f"Документ: {doc.title}, {number}.", f"Итог согласования: {summary}."],
        reg_number=doc.reg_number, reg_date=doc.reg_date,
        table=sheet_rows(data),
    )
    return pdfrender.render_document_pdf(spec)


def seal(rt: Any, pdf: bytes) -> bytes:
    """A document time-stamp of our TSA over the sheet; the sheet unsealed when no PKI is set up."""
    try:
        from signing import aio
        from signing.lta import async_add_document_timestamp

        from dms.signatures import pki
        tsa = pki.load(rt).tsa
        return aio.run(async_add_document_timestamp(pdf, tsa))
    except Exception as exc:  # no PKI yet, or the TSA refused: the sheet is kept unsealed
        log.info("approval sheet not sealed: %s", exc)
        return pdf
