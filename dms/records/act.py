"""The disposition act (акт о выделении к уничтожению документов, не подлежащих хранению) as a document of the archive.

Executing an approved list (`execute` here: the disposition job behind the web and the API, and `dms records
disposition execute`) destroys its documents through `dms.records.service.execute` and, in the same transaction,
files the act: a PDF rendered like every generated document (dms.pdfrender), listing what was destroyed — type,
registration number and date, title, nothing more — sealed with a document time-stamp of the archive's TSA (as the
approval sheet is: the system's own seal, no person's key), registered, and declared a record (immutable). Its
retention is permanent (retention.ACT_KIND), so no later list ever proposes it.

It lives beside the service, not in it: it creates a document (dms.documents), and documents already ask the
records service about holds and the trash — one direction only.
"""
from __future__ import annotations

import io
import logging
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from dms.documents import folders
from dms.documents import service as documents
from dms.documents.doctypes import DOC_TYPES
from dms.errors import Conflict
from dms.models import DispositionBatch, Document, Organisation, User
from dms.pdfrender import RenderSpec, Signature as SignatureLine, format_date_short, render_document_pdf
from dms.records import retention
from dms.records import service as records
from dms.runtime import Runtime
from dms.audit import service as audit
from dms.signatures import pki
from dms.workflow import service as wf_svc
from dms.register.rules import AGENCY_KIND

log = logging.getLogger("dms.records")

ACT_FOLDER = "/Архив/Акты об уничтожении"
ACT_TYPE = "other"
ACT_HEADER = ["№", "Вид документа", "Рег. номер", "Дата", "Заголовок"]


def execute(session: Session, rt: Runtime, actor: User, batch_id: int,
            today: date | None = None) -> tuple[DispositionBatch, records.ObjectsReport, Document | None]:
    """Execute an approved list and file its act (None when nothing was destroyed); one transaction, the caller's.
    The objects of the destroyed documents leave the store after the commit (records.execute registered that)."""
    batch, objects = records.execute(session, actor, batch_id, store=rt.store, today=today)
    destroyed = [i for i in batch.items if i.status == "destroyed"]
    if not destroyed:
        return batch, objects, None
    act = file_act(session, rt, actor, batch)
    for item in destroyed:
        item.outcome = {**item.outcome, "act_document": act.id}
    return batch, objects, act


def act_rows(batch: DispositionBatch) -> list[list[str]]:
    """The act's table: what each destroyed document was (the item keeps it, the document is gone)."""
    rows = [ACT_HEADER]
    for n, item in enumerate((i for i in batch.items if i.status == "destroyed"), start=1):
        kind = DOC_TYPES[item.doc_type].label_ru if item.doc_type in DOC_TYPES else item.doc_type
        day = item.outcome.get("reg_date")
        rows.append([str(n), kind, item.reg_number or "б/н", format_date_short(date.fromisoformat(day)) if day else "—",
                     item.title])
    return rows


def render_act(batch: DispositionBatch, actor: User, organisation: str, reg_number: str | None,
               reg_date: date | None) -> bytes:
    rows = act_rows(batch)
    skipped = sum(i.status == "skipped" for i in batch.items)
    paragraphs = [
        f"На основании утверждённого списка № {batch.id} от {format_date_short(batch.as_of)} выделены к уничтожению "
        f"и уничтожены как не подлежащие хранению документы с истёкшими сроками хранения: {len(rows) - 1}.",
        "Документы уничтожены вместе со всеми версиями и подписями; сведения о каждом сохранены в архиве.",
    ]
    if skipped:
        paragraphs.append(f"Не уничтожено документов списка: {skipped} (удержание, срок не истёк или иное "
                          "основание — указано в списке).")
    return render_document_pdf(RenderSpec(
        org_name=organisation, doc_kind="АКТ О ВЫДЕЛЕНИИ К УНИЧТОЖЕНИЮ ДОКУМЕНТОВ, НЕ ПОДЛЕЖАЩИХ ХРАНЕНИЮ",
        title=f"Акт об уничтожении документов по списку № {batch.id}", paragraphs=paragraphs,
        reg_number=reg_number, reg_date=reg_date, table=rows,
        signature=SignatureLine("Исполнил", actor.full_name or actor.login),
        footer=f"Список выделения к уничтожению № {batch.id}", author=actor.full_name or actor.login))


def seal(rt: Runtime, pdf: bytes) -> bytes:
    """A document time-stamp of the archive's TSA over the act. Without a PKI set up the act stays unsealed (logged;
    `dms init` sets it up); a TSA that refuses stops the execution (nothing is destroyed unsealed then)."""
    if not pki.is_initialised(rt.settings):
        log.warning("disposition act not sealed: the archive's PKI is not set up")
        return pdf
    from signing import aio
    from signing.lta import async_add_document_timestamp
    try:
        return aio.run(async_add_document_timestamp(pdf, pki.load(rt).tsa))
    except Exception as exc:  # noqa: BLE001 - any refusal of the TSA: the whole execution rolls back
        raise Conflict("акт не заверен штампом времени (%(why)s): документы не уничтожены", why=str(exc)) from None


def _organisation(session: Session) -> str:
    """The archive's keeper as the act's letterhead: the agency, else the name the PKI issues under."""
    org = session.scalars(select(Organisation).where(Organisation.kind == AGENCY_KIND)
                          .order_by(Organisation.id)).first()
    return org.name if org else pki.DEFAULT_ORGANISATION


def file_act(session: Session, rt: Runtime, actor: User, batch: DispositionBatch) -> Document:
    folder = folders.ensure(session, ACT_FOLDER)
    doc = documents.create(session, actor, folder, ACT_TYPE, f"Акт о выделении к уничтожению документов № {batch.id}",
                           {"kind": retention.ACT_KIND, "note": f"список выделения к уничтожению № {batch.id}"})
    wf_svc.execute(session, actor, doc, "register", f"акт исполненного списка № {batch.id}")
    pdf = seal(rt, render_act(batch, actor, _organisation(session), doc.reg_number, doc.reg_date))
    stored = documents.store_upload(rt.store, io.BytesIO(pdf), f"akt-unichtozheniya-{batch.id}.pdf",
                                    max(rt.settings.max_upload_bytes, len(pdf) + 1))
    documents.add_version(session, actor, doc, stored, comment=f"акт исполненного списка № {batch.id}")
    records.declare_record(session, actor, doc, f"акт об уничтожении документов по списку № {batch.id}")
    audit.record(session, actor, "records.disposition.act", "disposition", batch.id, document=doc.id,
                 reg_number=doc.reg_number, sha256=stored.sha256)
    return doc
