"""The public check of a signed document (issue 14): anyone holding the paper or the PDF reaches
/verify/d/<token> through the stamp's QR code and sees what the document is (type, number, date; the title only
when its owner made it public), who signed it with today's verdict of each signature, and may upload a file to learn
whether those bytes are this document's.

The token is random (Document.public_token, given when the document is created), never the id. PDFs signed before the
tokens carry /verify/document/<id>; that path answers with the same page for a signed document and with one
identical not-found for anything else. Nothing here checks a login: what is shown is what the page may show to
anyone; the views add the rate limit and the audit.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, UTC

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from signing import validate as sig_validate

from dms.documents.doctypes import DOC_TYPES
from dms.i18n import current_locale
from dms.models import Document, Signature, TrashEntry, User, Version
from dms.runtime import Runtime
from dms.security import Forbidden, P, has_permission
from dms.workflow.rules import workflow_for
from dms.audit import service as audit
from dms.signatures import pki

PDF = "application/pdf"
TOKEN_MIN, TOKEN_MAX = 16, 64
PATH_PREFIX = "/verify/d/"


def document_path(doc: Document) -> str:
    return f"{PATH_PREFIX}{doc.public_token}"


def document_url(base_url: str, doc: Document) -> str:
    """What the QR code of the document's signature stamp encodes."""
    return f"{base_url.rstrip('/')}{document_path(doc)}"


def _signed(session: Session, doc_id: int) -> bool:
    return bool(session.scalar(select(exists().where(Signature.document_id == doc_id))))


def _publishable(session: Session, doc: Document | None) -> Document | None:
    """The document if the public may see its check: signed, and not in the trash."""
    if doc is None or not _signed(session, doc.id) or session.get(TrashEntry, doc.id) is not None:
        return None
    return doc


def by_token(session: Session, token: str) -> Document | None:
    token = (token or "").strip()
    if not TOKEN_MIN <= len(token) <= TOKEN_MAX:
        return None
    return _publishable(session, session.scalars(select(Document).where(Document.public_token == token)).first())


def by_legacy_id(session: Session, doc_id: int) -> Document | None:
    """/verify/document/<id> of the PDFs signed before public tokens: the same document, if signed."""
    return _publishable(session, session.get(Document, doc_id))


# --- what the page shows ----------------------------------------------------------------------------------


@dataclass
class Signer:
    name: str
    status: str
    status_text: str
    ok: bool
    signed_at: datetime | None
    kind: str


def _signer_json(signer: Signer) -> dict:
    return {"name": signer.name, "status": signer.status, "status_text": signer.status_text, "ok": signer.ok,
            "signed_at": signer.signed_at.isoformat() if signer.signed_at else None, "kind": signer.kind}


@dataclass
class PublicView:
    doc_id: int
    type_label: str
    reg_number: str | None
    reg_date: str | None
    title: str | None
    state: str
    state_label: str
    version: int | None
    sha256: str | None
    authentic: bool
    problem: str | None
    signers: list[Signer] = field(default_factory=list)

    def to_dict(self) -> dict:
        from dataclasses import asdict
        data = asdict(self)
        data.pop("doc_id")
        return data

    def json(self) -> dict:
        return {**self.to_dict(), "signers": [_signer_json(s) for s in self.signers]}


def _signed_version(session: Session, doc: Document) -> Version | None:
    """The newest version that carries the document's signatures (a later time-stamped or renewed version carries
    them too, so the current version wins when it is a PDF newer than the last signature)."""
    last = session.scalar(select(Signature.version_id).where(Signature.document_id == doc.id)
                          .order_by(Signature.version_id.desc()).limit(1))
    current = session.get(Version, doc.current_version_id) if doc.current_version_id else None
    signed = session.get(Version, last) if last else None
    if current is not None and current.media_type == PDF and signed is not None and current.number > signed.number:
        return current
    return signed


def _status_text(report: dict) -> str:
    key = "status_en" if current_locale() == "en" else "status_ru"
    return str(report.get(key) or sig_validate.STATUS_RU.get(report.get("status", ""), report.get("status", "")))


def _ok(report: dict) -> bool:
    return report.get("status") in getattr(sig_validate, "OK_STATUSES", ("valid",))


# Verdicts of stored versions, reused for VERDICT_TTL seconds while the trust store (our CRLs) is the same object:
# a page view then costs a lookup instead of a validation (tens of milliseconds per PDF).
VERDICT_TTL = 300.0
_verdicts: OrderedDict[str, tuple[object, float, sig_validate.ValidationReport]] = OrderedDict()
_verdicts_lock = threading.Lock()


def _stored_verdict(rt: Runtime, session: Session, version: Version) -> sig_validate.ValidationReport:
    trust = pki.trust_store(rt, session)
    now = time.monotonic()
    with _verdicts_lock:
        hit = _verdicts.get(version.sha256)
        if hit is not None and hit[0] is trust and hit[1] > now:
            return hit[2]
    report = _validate(rt, session, rt.store.get_bytes(version.object_key), version)
    with _verdicts_lock:
        _verdicts[version.sha256] = (trust, now + VERDICT_TTL, report)
        _verdicts.move_to_end(version.sha256)
        while len(_verdicts) > 1000:
            _verdicts.popitem(last=False)
    return report


def _validate(rt: Runtime, session: Session, data: bytes, version: Version | None) -> sig_validate.ValidationReport:
    """Every signature of `data`: PAdES inside a PDF, or the detached .p7s kept beside this very version."""
    trust = pki.trust_store(rt, session)
    stored_at = version.created_at if version is not None else None
    if stored_at is not None and stored_at.tzinfo is None:  # SQLite gives back naive UTC
        stored_at = stored_at.replace(tzinfo=UTC)
    if data[:1024].find(b"%PDF-") >= 0:
        return sig_validate.validate_pdf(data, trust, stored_at=stored_at)
    p7s_key = session.scalar(select(Signature.p7s_key).where(Signature.version_id == version.id,
                                                             Signature.kind == "cms")) if version else None
    if not p7s_key:
        return sig_validate.ValidationReport(kind="cms", problem="подпись к этому файлу не найдена")
    return sig_validate.validate_detached(data, rt.store.get_bytes(p7s_key), trust, stored_at=stored_at)


def _signers(report: sig_validate.ValidationReport) -> list[Signer]:
    out = []
    for sig in report.to_dict()["signatures"]:
        moment = sig.get("timestamp") or sig.get("signing_time")
        moment = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
        out.append(Signer(name=sig.get("signer") or "—", status=sig.get("status", ""), status_text=_status_text(sig),
                          ok=_ok(sig), signed_at=moment, kind=sig.get("kind") or "signature"))
    return out


def _day(value) -> str | None:  # noqa: ANN001
    return value.isoformat() if value else None


def public_view(rt: Runtime, session: Session, doc: Document) -> PublicView:
    """What anyone may see of a signed document, with each signature judged now by the validation service."""
    doctype = DOC_TYPES.get(doc.doc_type)
    wf = workflow_for(doc.doc_type)
    state = wf.states.get(doc.state)
    version = _signed_version(session, doc)
    report = _stored_verdict(rt, session, version) if version else None
    return PublicView(
        doc_id=doc.id, type_label=doctype.label if doctype else doc.doc_type, reg_number=doc.reg_number,
        reg_date=_day(doc.reg_date), title=doc.title if _title_shown(doc) else None, state=doc.state,
        state_label=(state.title if state else doc.state), version=version.number if version else None,
        sha256=version.sha256 if version else None, authentic=bool(report and report.authentic),
        problem=report.problem if report else None, signers=_signers(report) if report else [])


# --- "are these bytes this document's?" --------------------------------------------------------------------


@dataclass
class UploadCheck:
    sha256: str
    size: int
    matches_version: int | None  # the number of this document's version with exactly these bytes
    signed_version: bool          # that version carries signatures
    current: bool                 # ... and is the document's current version
    authentic: bool               # the bytes are this document's AND their signatures are valid
    signatures_valid: bool
    problem: str | None = None
    signers: list[Signer] = field(default_factory=list)

    def to_dict(self) -> dict:
        from dataclasses import asdict
        return asdict(self)

    def json(self) -> dict:
        return {**self.to_dict(), "signers": [_signer_json(s) for s in self.signers]}


def check_upload(rt: Runtime, session: Session, doc: Document, data: bytes) -> UploadCheck:
    """Compare the bytes with every version of `doc` (SHA-256) and validate their signatures."""
    sha = hashlib.sha256(data).hexdigest()
    version = session.scalars(select(Version).where(Version.document_id == doc.id, Version.sha256 == sha)
                              .order_by(Version.number.desc())).first()
    signed = bool(version and session.scalar(select(exists().where(
        (Signature.version_id == version.id) | (Signature.source_version_id == version.id) & (Signature.kind == "cms")
    ))))
    report = _validate(rt, session, data, version)
    if version is not None and not signed and version.media_type == PDF and report.signatures:
        # a version made after signing (validation data, a document time-stamp, a renewal) carries the signatures
        first = session.scalar(select(func.min(Version.number)).join(Signature, Signature.version_id == Version.id)
                               .where(Signature.document_id == doc.id))
        signed = first is not None and version.number > first
    return UploadCheck(sha256=sha, size=len(data), matches_version=version.number if version else None,
                       signed_version=signed, current=bool(version and version.id == doc.current_version_id),
                       authentic=version is not None and signed and report.authentic,
                       signatures_valid=report.authentic, problem=report.problem, signers=_signers(report))


# --- the owner's choice: the title on the public page --------------------------------------------------------


# Types whose titles name a person (a certificate's title is its holder's full name): never shown publicly.
PRIVATE_TITLES = frozenset({"certificate"})


def _title_shown(doc: Document) -> bool:
    return doc.public_title and doc.doc_type not in PRIVATE_TITLES


def may_publish_title(session: Session, actor: User | None, doc: Document) -> bool:
    """The document's owner decides: whoever manages its sharing, or its author while they may see it."""
    if actor is None or doc.doc_type in PRIVATE_TITLES:
        return False
    if has_permission(session, actor, P.MANAGE_SHARING, doc):
        return True
    return doc.created_by_id == actor.id and has_permission(session, actor, P.VIEW, doc)


def set_public_title(session: Session, actor: User, doc: Document, public: bool) -> Document:
    if not may_publish_title(session, actor, doc):
        raise Forbidden(P.MANAGE_SHARING, "на публикацию названия документа на странице проверки")
    if doc.public_title != public:
        doc.public_title = public
        doc.updated_at = datetime.now(UTC)
        session.flush()
        audit.record(session, actor, "document.public_title", "document", doc.id, public=public)
    return doc
