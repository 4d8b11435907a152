"""Signed documents stay provable: B-LTA protection and its renewal, as new immutable versions.

A document whose retention outlives its signers' certificates (dms.records.retention: orders permanently, certificates
of qualification 75 years, agreements 5 years after their term) gets, once its last signature is made, a new version
that adds the validation data (certificates and CRLs issued after the signatures) and a document time-stamp
(signing.lta.protect). Before the newest time-stamp stops being trustworthy — its TSA certificate ends, or one of
its algorithms reaches its sunset (signing.algorithms: RSA-2048 on 2031-01-01) — a renewal adds new validation data
and a new time-stamp, again as a new version: signed bytes are never rewritten, each version's bytes are a prefix of
the next. The first protection follows the final signature at once (after the signing commits; a batch's as a job,
dms.jobs); `dms maintain` renews and catches up what was missed (after missed runs too); the report says what is due,
when and why.
A renewal that would itself be due at once (our TSA signs with an algorithm past its renewal date) is refused and
reported, never repeated as a new version every day.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, UTC

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signing import clock, lta
from signing import errors as sig_errors

from dms import uow
from dms.records import retention
from dms.models import Document, EvidenceRecord, RevocationList, Signature, Version
from dms.runtime import Runtime
from dms.audit import service as audit
from dms.documents import service as documents
from dms.signatures import pki

PDF = "application/pdf"
# Renew this long before the newest time-stamp's TSA certificate ends (a yearly run is enough: twice the interval).
RENEW_BEFORE = timedelta(days=365 * 2)
# A document kept longer than this past today outlives its signers' certificates (two years): protect it.
LONG_RETENTION = timedelta(days=365 * 2)
PROTECTED_RETENTION = timedelta(days=365 * 100)


class RenewalWouldNotHelp(Exception):
    """Our TSA's new time-stamp would itself be due for renewal at once (its algorithm, e.g. RSA-2048, is near its
    sunset): nothing is stored; the operator must give the TSA a stronger key. Reported by `dms maintain` (the
    operator's output, in Russian like the rest of it)."""

    def __init__(self, newest: lta.ArchiveTimestamp) -> None:
        self.message = (f"продление защиты ничего не даёт: новый штамп времени нашей службы "
                        f"({newest.algorithm or 'сертификат службы'}) надёжен только до "
                        f"{newest.trustworthy_until:%Y-%m-%d}; выпустите службе штампов времени ключ более "
                        f"стойкого алгоритма")
        super().__init__(self.message)


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def long_retention(doc: Document, today: date | None = None) -> bool:
    """Whether the document must stay provable beyond its signers' certificates (read from dms.records.retention)."""
    rule = retention.rule_for(doc.doc_type)
    if rule.years is None or rule.disposal is retention.Disposal.KEEP:
        return True
    start = retention.start_date(rule, doc.meta or {}, doc.reg_date, _aware(doc.created_at))
    due = retention.due_date(rule, start)
    return due is None or due > (today or clock.now().date()) + LONG_RETENTION


# Steps that put a signature on the document itself ("replace" needs the Sign permission but signs a duplicate).
SIGNING_STEPS = frozenset({"sign", "countersign", "issue"})


def _final(doc: Document) -> bool:
    """No signing step is open any more (an agreement waiting for the holder's signature is not protected yet)."""
    from dms.workflow.rules import workflow_for
    return not any(t.name in SIGNING_STEPS and doc.state in t.sources
                   for t in workflow_for(doc.doc_type).transitions.values())


def _fresh_crls(rt: Runtime, session: Session, after: datetime) -> list[bytes]:
    """The newest CRL of every issuer generation, those of live CAs issued at or after `after` (published now if
    the newest is older): revocation data that speaks for the moment of the signatures."""
    ca = pki.load(rt).ca
    for issuer, generation in [("root", ca.root), *(("issuing", g) for g in ca.issuing_generations)]:
        row = pki.current_crl(rt, session, issuer, generation)
        if _aware(row.this_update) < after.replace(microsecond=0) and generation.certificate.not_valid_after_utc > \
                clock.now():
            pki.publish_crl(rt, session, issuer, generation)
    return pki.archive_crls(session)


def _newest_signature_time(session: Session, doc: Document) -> datetime:
    newest = session.scalar(select(func.max(Signature.signed_at)).where(Signature.document_id == doc.id))
    return _aware(newest) if newest else clock.now()


def protect(rt: Runtime, session: Session, doc: Document, *, renewal: bool = False) -> Version | None:
    """Add validation data and a document time-stamp to the current version as a new version (in the caller's
    transaction; the bytes are stored first). None when the current version is not a signed PDF."""
    current = session.get(Version, doc.current_version_id) if doc.current_version_id else None
    if current is None or current.media_type != PDF:
        return None
    p = pki.load(rt)
    data = rt.store.get_bytes(current.object_key)
    crls = _fresh_crls(rt, session, _newest_signature_time(session, doc))
    try:
        protected = lta.protect(data, p.tsa, crls=crls, certs=[*p.ca.intermediates_der, *p.ca.roots_der])
    except sig_errors.SigningLibraryError as exc:
        raise pki.refusal(exc) from None
    newest = lta.newest_timestamp(protected)
    assert newest is not None
    renew_by = newest.renew_by(RENEW_BEFORE)
    if renewal and renew_by <= clock.now():
        raise RenewalWouldNotHelp(newest)
    info = rt.store.put_bytes(protected)
    comment = ("Продление долговременной защиты подписей (новый штамп времени)" if renewal
               else "Долговременная защита подписей (данные проверки и штамп времени, PAdES B-LTA)")
    version = documents.new_version(
        session, None, doc, documents.StoredUpload(info.key, info.sha256, info.size, PDF, current.filename),
        comment=comment, retain_until=clock.now() + PROTECTED_RETENTION, event=None, touch=False)
    number = version.number
    session.add(EvidenceRecord(document_id=doc.id, version_id=version.id, source_version_id=current.id,
                               timestamp_at=newest.at, tsa_not_after=newest.tsa_not_after,
                               renew_by=renew_by))
    session.flush()
    audit.record(session, None, "evidence.renew" if renewal else "evidence.protect", "document", doc.id,
                 version=number, source_version=current.number, timestamp=newest.at.isoformat(),
                 tsa_serial=newest.tsa_serial, renew_by=renew_by.isoformat(), **_why(newest))
    return version


def _why(newest: lta.ArchiveTimestamp) -> dict:
    """Why the protection is due when it is: the TSA certificate's end or an algorithm's sunset (named)."""
    if newest.algorithm_sunset is not None and newest.algorithm_sunset < newest.tsa_not_after:
        return {"reason": "algorithm_sunset", "algorithm": newest.algorithm,
                "trustworthy_until": newest.algorithm_sunset.isoformat()}
    return {"reason": "tsa_certificate_end", "trustworthy_until": newest.tsa_not_after.isoformat()}


def due_at_signing(doc: Document) -> bool:
    """Whether the signature just made calls for protection: the document is kept long and signed for the last
    time."""
    return long_retention(doc) and _final(doc)


def _protected(session: Session, doc: Document) -> bool:
    return session.scalar(select(EvidenceRecord.id).where(EvidenceRecord.version_id == doc.current_version_id)
                          .limit(1)) is not None


def protect_signed(rt: Runtime, doc_id: int) -> int | None:
    """Protect one document signed for the last time, in its own transaction, unless it is protected already (by
    `dms maintain` or an earlier run): the number of the version made, or None."""
    with rt.db.session() as s:
        doc = s.get(Document, doc_id)
        if doc is None or not due_at_signing(doc) or _protected(s, doc):
            return None
        version = protect(rt, s, doc)
        return version.number if version is not None else None


def protect_after_commit(rt: Runtime, session: Session, doc: Document) -> bool:
    """After the final signature of one document (a web or API request, `dms sign`): its B-LTA version is made
    right after the signature commits (dms.uow.after_commit; ~35 ms per one-page PDF, bench/sign.py). A failure is
    logged and `dms maintain` catches up; a rollback protects nothing."""
    if not due_at_signing(doc):
        return False
    doc_id = doc.id
    uow.after_commit(session, lambda: protect_signed(rt, doc_id))
    return True


PROTECT_JOB = "evidence.protect"


def enqueue_protection(rt: Runtime, doc_ids: list[int]) -> str | None:
    """After a batch (a thousand certificates would keep their signer waiting half a minute per core): one job
    (dms.jobs) protects those of `doc_ids` that are due; `dms maintain` remains the catch-up if it never runs."""
    from dms.jobs.core import enqueue
    with rt.db.session() as s:
        due: list[int] = []
        for start in range(0, len(doc_ids), 500):  # one query per 500 documents, not one each
            chunk = doc_ids[start:start + 500]
            found = {d.id: d for d in s.scalars(select(Document).where(Document.id.in_(chunk)))}
            due += [i for i in chunk if i in found and due_at_signing(found[i])]
        return enqueue(s, PROTECT_JOB, {"ids": due}) if due else None


def protect_many(rt: Runtime, doc_ids: list[int], progress: Callable[[int, int], None] | None = None) -> Run:
    """The job's work: each document in its own transaction, refusals reported per document."""
    out = Run([], [], [])
    for n, doc_id in enumerate(doc_ids, 1):
        try:
            if protect_signed(rt, doc_id) is not None:
                out.protected.append(doc_id)
        except Exception as exc:  # noqa: BLE001 - reported per document, the others go on
            out.failed.append({"id": doc_id, "error": getattr(exc, "message", None) or str(exc)})
        if progress is not None:
            progress(n, len(doc_ids))
    return out


def _unprotected(session: Session) -> list[int]:
    """Documents whose current version is a signed version (a signature produced it or covers it) with no
    protection yet."""
    signed_current = select(Document.id).join(Signature, Signature.version_id == Document.current_version_id)
    protected = select(EvidenceRecord.version_id)
    return list(session.scalars(signed_current.where(Document.current_version_id.not_in(protected)).distinct()
                                .order_by(Document.id)))


def _due_renewals(session: Session, now: datetime) -> list[EvidenceRecord]:
    return list(session.scalars(select(EvidenceRecord).join(Document, Document.id == EvidenceRecord.document_id)
                                .where(EvidenceRecord.version_id == Document.current_version_id,
                                       EvidenceRecord.renew_by <= now).order_by(EvidenceRecord.id)))


@dataclass
class Run:
    protected: list[int]
    renewed: list[int]
    failed: list[dict]

    def to_dict(self) -> dict:
        return {"protected": self.protected, "renewed": self.renewed, "failed": self.failed}


def run(rt: Runtime, now: datetime | None = None) -> Run:
    """Protect what is signed and unprotected; renew what is due. Each document in its own transaction."""
    now = now or clock.now()
    out = Run([], [], [])
    with rt.db.session() as s:
        fresh = _unprotected(s)
        due = [(r.document_id, r.id) for r in _due_renewals(s, now)]
    for doc_id in fresh:
        _one(rt, doc_id, False, out)
    for doc_id, _ in due:
        _one(rt, doc_id, True, out)
    return out


def _one(rt: Runtime, doc_id: int, renewal: bool, out: Run) -> None:
    try:
        with rt.db.session() as s:
            doc = s.get(Document, doc_id)
            if doc is None:
                return
            if not renewal and (not long_retention(doc) or not _final(doc)):
                return
            if protect(rt, s, doc, renewal=renewal) is not None:
                (out.renewed if renewal else out.protected).append(doc_id)
    except Exception as exc:  # noqa: BLE001 - reported per document, the others go on
        out.failed.append({"id": doc_id, "error": getattr(exc, "message", None) or str(exc)})


def report(session: Session, now: datetime | None = None, horizon: timedelta = timedelta(days=365)) -> dict:
    """What needs protection or renewal now, and what falls due within `horizon`."""
    now = now or clock.now()
    rows = session.scalars(select(EvidenceRecord).join(Document, Document.id == EvidenceRecord.document_id)
                           .where(EvidenceRecord.version_id == Document.current_version_id,
                                  EvidenceRecord.renew_by <= now + horizon).order_by(EvidenceRecord.renew_by)).all()
    unprotected = [d for d in _unprotected(session)
                   if (doc := session.get(Document, d)) is not None and long_retention(doc) and _final(doc)]
    crls = session.scalar(select(func.count()).select_from(RevocationList)) or 0
    return {"unprotected": unprotected, "renewals": [_renewal(r, now) for r in rows], "crls_published": crls}


def _renewal(record: EvidenceRecord, now: datetime) -> dict:
    """One line of the report: when, and why — the time-stamp is trustworthy until the TSA certificate's end or an
    earlier algorithm sunset (the record keeps renew_by = that moment - RENEW_BEFORE; the algorithm's name is in the
    protection's audit event)."""
    renew_by, tsa_not_after = _aware(record.renew_by), _aware(record.tsa_not_after)
    until = renew_by + RENEW_BEFORE
    # a sunset is a date at midnight, a certificate's end a second: a day apart or more is a sunset
    reason = "algorithm_sunset" if until < tsa_not_after - timedelta(days=1) else "tsa_certificate_end"
    return {"id": record.document_id, "renew_by": renew_by.isoformat(), "tsa_not_after": tsa_not_after.isoformat(),
            "trustworthy_until": until.isoformat(), "reason": reason, "overdue": renew_by <= now}
