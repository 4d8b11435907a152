"""Signing documents and checking their signatures.

A PDF version is signed with PAdES (B-T by default: a time stamp from our in-process TSA, or DMS_TSA_URL) and the
signed bytes become a NEW version (the signed bytes are stored before the database commit; a signed version is
never rewritten). Any other version gets a detached CMS signature stored as its own object. Where the lifecycle
has a signing step open from the current state (order: sign; agreement: sign, countersign; certificate: issue),
the signature takes it; a refusal leaves the document exactly as it was.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, UTC
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signing import clock
from signing import errors as sig_errors
from signing.lta import add_validation_data
from signing.batch import BatchSigner
from signing.cms import P7S_MEDIA_TYPE, sign_detached
from signing.pades import FieldSlot, Level, SignRequest, sign_pdf
from signing.signer import SignerIdentity
from signing.stamp import StampPlacement
from signing.validate import ValidationReport, validate_detached, validate_pdf
from storage import ObjectInfo

from dms.errors import N_, Conflict, Invalid, TooLarge, UnsupportedMediaType, localize
from dms.models import Document, OutboxEntry, Signature, SigningCredential, User, Version
from dms.runtime import Runtime
from dms.security import Forbidden, P, has_permission
from dms.workflow.hooks import get_guard
from dms.workflow.rules import Transition, workflow_for
from dms.audit import service as audit
from dms.documents import service as documents
from dms.signatures import pki
from dms.workflow import service as wf_svc

PDF = "application/pdf"
LEVELS = {level.value: level for level in Level}
DEFAULT_LEVEL = Level.B_T
RETENTION = timedelta(days=int(os.environ.get("DMS_SIGNED_RETENTION_DAYS", "3650")))
HOLDER_FIELD = "Holder"
FIELD_PREFIX = "PechatSignature"  # our fields are named, never guessed after signing: PechatSignature<n>
MAX_VERIFY_UPLOAD = 50 * 1024 * 1024


@dataclass(frozen=True)
class SignProfile:
    """How one signing step signs: a certification signature reserving fields, or signing into a named field."""
    certify: bool = False
    field_name: str | None = None
    reserve: tuple[str, ...] = ()
    stamp_x: float = 36.0
    lock: bool = False  # a single signer's approval: nothing may change afterwards (signing.pades.SignRequest.lock)


PLAIN = SignProfile()
# (document type, transition) -> profile; anything not named signs a plain approval signature.
PROFILES: dict[tuple[str, str], SignProfile] = {
    ("agreement", "sign"): SignProfile(certify=True, reserve=(HOLDER_FIELD,)),
    ("agreement", "countersign"): SignProfile(field_name=HOLDER_FIELD, stamp_x=310.0),
    ("order", "sign"): SignProfile(lock=True),
}


def sign_transition(doc: Document) -> Transition | None:
    """The signing step (a transition needing the Sign permission) open from the document's state."""
    return next((t for t in workflow_for(doc.doc_type).transitions.values()
                 if t.permission is P.SIGN and doc.state in t.sources), None)


def _lifecycle_signs(doc: Document) -> bool:
    return any(t.permission is P.SIGN for t in workflow_for(doc.doc_type).transitions.values())


@dataclass
class Plan:
    doc: Document
    version: Version
    transition: Transition | None
    profile: SignProfile
    field_name: str

    @property
    def is_pdf(self) -> bool:
        return self.version.media_type == PDF


def plan(session: Session, actor: User, doc: Document) -> Plan:
    """What signing `doc` as `actor` would do, or the refusal (Forbidden / Conflict) — before any work is done."""
    documents.ensure_mutable(session, doc)  # a declared record or a trashed document takes no new signature
    version = session.get(Version, doc.current_version_id) if doc.current_version_id else None
    if version is None:
        raise Conflict("у документа нет версии, которую можно подписать")
    t = sign_transition(doc)
    if t is None and _lifecycle_signs(doc):
        raise Conflict("документ в состоянии «%(state)s» не подписывают",
                       state=workflow_for(doc.doc_type).states[doc.state].title)
    if not has_permission(session, actor, P.SIGN, doc):
        raise Forbidden(P.SIGN, localize("для «%(step)s»", {"step": t.title}) if t else N_("на этот документ"))
    if t is not None:
        reason = next((r for g in t.guards if (r := get_guard(g)(session, actor, doc))), None)
        if reason:
            raise Conflict("«%(step)s» невозможно: %(reason)s", step=t.title, reason=localize(reason))
    profile = PROFILES.get((doc.doc_type, t.name), PLAIN) if t else PLAIN
    done = session.scalar(select(func.count()).select_from(Signature).where(Signature.document_id == doc.id,
                                                                            Signature.kind == "pades")) or 0
    return Plan(doc, version, t, profile, profile.field_name or f"{FIELD_PREFIX}{done + 1}")


def verify_url(rt: Runtime, doc: Document) -> str:
    """The public check of the document, encoded in its stamp's QR code (dms.signatures.public_check)."""
    from dms.signatures.public_check import document_url
    return document_url(rt.settings.base_url, doc)


def registration_note(doc: Document) -> str | None:
    """The document's registration number and date, printed in the signature stamp of every PDF signed here."""
    if not doc.reg_number:
        return None
    return f"Рег. № {doc.reg_number}" + (f" от {doc.reg_date:%d.%m.%Y}" if doc.reg_date else "")


def _timestamper(rt: Runtime):  # noqa: ANN202
    return os.environ.get("DMS_TSA_URL") or pki.load(rt).tsa


def _reserved(rt: Runtime, signer: SignerIdentity, level: Level) -> int | None:
    """The signature size to reserve, measured once per signer and level in this process, so that each document
    is signed once (pyHanko otherwise signs twice to size the signature). B-LT keeps pyHanko's own sizing."""
    if level is Level.B_LT:
        return None
    timestamper = _timestamper(rt)
    key = (signer.fingerprint, level.value, timestamper if isinstance(timestamper, str) else "in-process")
    cache = pki.load(rt).reservations
    if key not in cache:
        with BatchSigner(signer, SignRequest(level=level, timestamper=timestamper), workers=0) as batch:
            cache[key] = batch.request.bytes_reserved or 0
    return cache[key] or None


def _request(rt: Runtime, session: Session, p: Plan, level: Level, verify: str | None,
             reserved: int | None = None) -> SignRequest:
    return SignRequest(
        level=level, timestamper=_timestamper(rt), certify=p.profile.certify, bytes_reserved=reserved,
        lock=p.profile.lock,
        stamp=StampPlacement(x=p.profile.stamp_x, verify_url=verify, note=registration_note(p.doc)),
        field_name=p.field_name,
        reserve_fields=tuple(FieldSlot(name, StampPlacement(x=310.0)) for name in p.profile.reserve),
        reason=p.transition.title_ru if p.transition else None,
        trust=pki.trust_store(rt, session) if level is Level.B_LT else None)


def _level(level: str | Level | None) -> Level:
    if level is None:
        return DEFAULT_LEVEL
    try:
        return Level(level)
    except ValueError:
        raise Invalid("уровень подписи: один из %(known)s", known=", ".join(LEVELS)) from None


def _record(rt: Runtime, session: Session, actor: User, p: Plan, cred: SigningCredential, level: Level,
            stored: ObjectInfo, pades: bool, field_name: str, comment: str,
            expected_revision: int | None = None) -> Signature:
    """Reference what was stored — a new signed version (PAdES, through dms.documents.service.new_version) or the
    .p7s (CMS) — with the store's retention after the commit; take the signing step."""
    doc, source = p.doc, p.version
    until = datetime.now(UTC) + RETENTION
    if pades:
        version = documents.new_version(
            session, actor, doc, documents.StoredUpload(stored.key, stored.sha256, stored.size, PDF, source.filename),
            comment=f"Подписано: {actor.full_name or actor.login}", expected_revision=expected_revision,
            retain_until=until, event=None)
    else:
        documents.check_revision(doc, expected_revision)
        documents.retain(session, stored.key, until)
        version = source
    sig = Signature(document_id=doc.id, version_id=version.id, source_version_id=source.id,
                    kind="pades" if pades else "cms", signer_id=actor.id,
                    credential_fingerprint=cred.fingerprint, level=level.value, field_name=field_name,
                    transition=p.transition.name if p.transition else "", p7s_key=None if pades else stored.key)
    session.add(sig)
    if p.transition is not None:
        wf_svc.execute(session, actor, doc, p.transition.name, comment, signed=True)
    elif not pades:
        doc.updated_at = datetime.now(UTC)
        session.add(OutboxEntry(document_id=doc.id, op="upsert"))
        session.flush()
    audit.record(session, actor, "signature", "document", doc.id, kind=sig.kind, version=version.number,
                 source_version=source.number, level=level.value, serial=cred.serial,
                 fingerprint=cred.fingerprint, transition=sig.transition, field=field_name)
    return sig


def sign_document(rt: Runtime, session: Session, actor: User, doc: Document, pin: str, *,
                  level: str | Level | None = None, comment: str = "",
                  expected_revision: int | None = None) -> Signature:
    """Sign the document's current version as `actor` (in the caller's transaction). `expected_revision`: the
    revision the signer saw (the form's, the API's If-Match); another one is refused before anything is signed."""
    lvl = _level(level)
    documents.check_revision(doc, expected_revision)
    p = plan(session, actor, doc)
    signer, cred = pki.unlock(rt, session, actor, pin)
    source = rt.store.get_bytes(p.version.object_key)
    try:
        if p.is_pdf:
            # B-LT: signed at B-T, then validation data issued after the signature is added (pyHanko would embed the
            # CRL we hold, issued before it)
            signing_level = Level.B_T if lvl is Level.B_LT else lvl
            request = _request(rt, session, p, signing_level, verify_url(rt, doc), _reserved(rt, signer, signing_level))
            output = _sign_pdf_sized(rt, source, signer, request)
            if lvl is Level.B_LT and output is not None:
                output = with_validation_data(rt, session, output)
            field_name = p.field_name
        else:
            output = sign_detached(source, signer, timestamper=None if lvl is Level.B_B else _timestamper(rt))
            field_name = ""
    except sig_errors.SigningLibraryError as exc:
        raise pki.refusal(exc) from None
    assert output is not None
    info = rt.store.put_bytes(output)
    sig = _record(rt, session, actor, p, cred, lvl, info, p.is_pdf, field_name, comment, expected_revision)
    _after_signing(rt, session, doc)
    return sig


def _after_signing(rt: Runtime, session: Session, doc: Document) -> None:
    """The final signature of a long-kept document: its B-LTA version right after the commit (issue 14)."""
    from dms.signatures import evidence
    evidence.protect_after_commit(rt, session, doc)


def with_validation_data(rt: Runtime, session: Session, signed: bytes) -> bytes:
    """The signed PDF plus a DSS with our chains and CRLs issued now, after its signatures (B-LT)."""
    from dms.signatures import evidence
    ca = pki.load(rt).ca
    crls = evidence._fresh_crls(rt, session, clock.now())
    return add_validation_data(signed, crls=crls, certs=[*ca.intermediates_der, *ca.roots_der])


def _sign_pdf_sized(rt: Runtime, source: bytes, signer: SignerIdentity, request: SignRequest) -> bytes | None:
    try:
        return sign_pdf(source, signer, request)
    except sig_errors.SignatureFailed:
        if request.bytes_reserved is None:
            raise
        pki.load(rt).reservations.clear()  # the measured size no longer fits (e.g. another TSA): measure anew
        return sign_pdf(source, signer, replace(request, bytes_reserved=None))


# --- many documents at once (certificates after an exam session) ------------------------------------------

@dataclass
class Outcome:
    document_id: int
    ok: bool
    version: int | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return {"id": self.document_id, "ok": self.ok, "version": self.version, "error": self.error}


def sign_many(rt: Runtime, actor_login: str, document_ids: Iterable[int], pin: str, *,
              level: str | Level | None = None, workers: int | None = None, chunk: int = 50,
              progress: Callable[[int, int], None] | None = None) -> list[Outcome]:
    """Sign many PDF documents as one signer: the key is opened once, the signature size reserved once
    (signing.batch.BatchSigner), `workers` processes sign. Each document is committed on its own, so one refusal
    never undoes the others. The batch stamp carries no QR code (a certificate carries its own). `workers`
    defaults to DMS_SIGN_WORKERS (0: sign in this process)."""
    from dms.people import users
    lvl = _level(level)
    ids = list(document_ids)
    with rt.db.session() as s:
        actor = users.get_user(s, actor_login)
        signer, _ = pki.unlock(rt, s, actor, pin)
    batches: dict[tuple[SignProfile, str], BatchSigner] = {}
    outcomes: list[Outcome] = []
    try:
        for start in range(0, len(ids), chunk):
            outcomes += _sign_chunk(rt, actor_login, ids[start:start + chunk], signer, lvl, batches,
                                    _workers() if workers is None else workers)
            if progress:
                progress(len(outcomes), len(ids))
    finally:
        for batch in batches.values():
            batch.close()
    signed = [o.document_id for o in outcomes if o.ok]
    if signed:  # the B-LTA versions of the batch: a job, not the signer's wait (issue 14)
        from dms.signatures import evidence
        evidence.enqueue_protection(rt, signed)
    return outcomes


def _sign_chunk(rt: Runtime, actor_login: str, ids: list[int], signer: SignerIdentity, lvl: Level,
                batches: dict[tuple[SignProfile, str], BatchSigner], workers: int) -> list[Outcome]:
    from dms.people import users
    ready: list[tuple[int, int, tuple[SignProfile, str], bytes]] = []  # id, revision, (profile, field), bytes
    results: dict[int, Outcome] = {}
    with rt.db.session() as s:
        actor = users.get_user(s, actor_login)
        for doc_id in ids:
            try:
                doc = documents.get(s, actor, doc_id)
                p = plan(s, actor, doc)
                if not p.is_pdf:
                    raise Invalid("пакетно подписываются только PDF")
                data = rt.store.get_bytes(p.version.object_key)
                ready.append((doc_id, doc.revision, (p.profile, p.field_name), data))
            except Exception as exc:  # noqa: BLE001 - every refusal is reported per document
                results[doc_id] = Outcome(doc_id, False, error=_message(exc))
    groups: dict[tuple[SignProfile, str], list[tuple[int, int, bytes]]] = {}
    for doc_id, revision, group, data in ready:
        groups.setdefault(group, []).append((doc_id, revision, data))
    for group, items in groups.items():
        profile, field_name = group
        if group not in batches:
            request = SignRequest(level=lvl, timestamper=_timestamper(rt), certify=profile.certify, lock=profile.lock,
                                  stamp=StampPlacement(x=profile.stamp_x), field_name=field_name,
                                  reserve_fields=tuple(FieldSlot(n, StampPlacement(x=310.0)) for n in profile.reserve),
                                  trust=_batch_trust(rt) if lvl is Level.B_LT else None)
            batches[group] = BatchSigner(signer, request, workers=workers)
        signed = batches[group].sign_many([data for _, _, data in items])
        for (doc_id, revision, _), output in zip(items, signed, strict=False):
            results[doc_id] = _store_batch_result(rt, actor_login, doc_id, revision, lvl, output, field_name)
    return [results[i] for i in ids]


def _batch_trust(rt: Runtime):  # noqa: ANN202
    with rt.db.session() as s:
        return pki.trust_store(rt, s)


def _workers() -> int:
    return int(os.environ.get("DMS_SIGN_WORKERS", "0"))


def _store_batch_result(rt: Runtime, actor_login: str, doc_id: int, revision: int, lvl: Level,
                        output: bytes | sig_errors.SigningLibraryError, field_name: str) -> Outcome:
    from dms.people import users
    if isinstance(output, sig_errors.SigningLibraryError):
        return Outcome(doc_id, False, error=pki.refusal(output).message)
    try:
        if lvl is Level.B_LT:  # validation data issued after the signature, not the CRL pyHanko embedded
            with rt.db.session() as s:
                output = with_validation_data(rt, s, output)
        info = rt.store.put_bytes(output)
        with rt.db.session() as s:
            actor = users.get_user(s, actor_login)
            doc = documents.get(s, actor, doc_id)
            if doc.revision != revision:
                raise Conflict("документ изменён во время подписания")
            p = plan(s, actor, doc)
            cred = pki.active_credential(s, actor)
            if cred is None:
                raise Conflict("сертификат подписи отозван во время подписания")
            sig = _record(rt, s, actor, p, cred, lvl, info, True, field_name, "")
            return Outcome(doc_id, True, version=sig.version.number if sig.version else None)
    except Exception as exc:  # noqa: BLE001 - reported per document
        return Outcome(doc_id, False, error=_message(exc))


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc)


# --- validation -----------------------------------------------------------------------------------------

def signatures_of(session: Session, doc: Document) -> list[Signature]:
    return list(session.scalars(select(Signature).where(Signature.document_id == doc.id).order_by(Signature.id)))


def _report_json(reports: list[ValidationReport]) -> dict:
    authentic = bool(reports) and all(r.authentic for r in reports)
    return {"authentic": authentic, "summary_ru": "\n".join(r.summary_ru() for r in reports)
            if reports else "Документ не содержит электронных подписей.",
            "summary_en": "\n".join(r.summary_en() for r in reports)
            if reports else "The document carries no electronic signatures.",
            "reports": [r.to_dict() for r in reports]}


def _stored_at(session: Session, sha256: str) -> datetime | None:
    """The archive's own proof of existence of some bytes: when it first stored a version with them."""
    first = session.scalar(select(func.min(Version.created_at)).where(Version.sha256 == sha256))
    return first.replace(tzinfo=UTC) if first is not None and first.tzinfo is None else first


def _matching(row: Signature, signatures: list[dict]) -> dict | None:
    """The report of a signature row: by its field, else (batch-issued rows name no field) by its certificate."""
    if row.kind == "cms":
        return signatures[0] if signatures else None
    return (next((s for s in signatures if row.field_name and s.get("field_name") == row.field_name), None)
            or next((s for s in signatures if not row.field_name and s.get("kind") == "signature"
                     and s.get("signer_fingerprint") == row.credential_fingerprint), None))


def validate_version(rt: Runtime, session: Session, actor: User, doc: Document, number: int | None = None) -> dict:
    """Check every signature of one version (PAdES inside a PDF, detached CMS beside any version), each at the time
    its evidence proves (its time-stamps, and when the archive stored these bytes); the result is kept on the
    signatures it concerns (PAdES signatures of earlier versions too: a later version of a PDF carries them) and
    the check is an audit event."""
    version = documents.get_version(session, actor, doc, number)
    data = rt.store.get_bytes(version.object_key)
    trust = pki.trust_store(rt, session)
    stored_at = _stored_at(session, version.sha256)
    numbers = {v.id: v.number for v in session.scalars(select(Version).where(Version.document_id == doc.id))}
    rows = [s for s in signatures_of(session, doc) if s.version_id == version.id
            or (s.kind == "pades" and version.media_type == PDF and numbers.get(s.version_id, 0) < version.number)]
    reports: list[ValidationReport] = []
    if version.media_type == PDF:
        reports.append(validate_pdf(data, trust, stored_at=stored_at))
    for row in rows:
        if row.kind == "cms" and row.p7s_key:
            reports.append(validate_detached(data, rt.store.get_bytes(row.p7s_key), trust, stored_at=stored_at))
    result = _report_json(reports)
    now = clock.now()
    cms_reports = iter(reports[1:] if version.media_type == PDF else reports)
    for row in rows:
        report = reports[0] if row.kind == "pades" else next(cms_reports, None)
        found = _matching(row, report.to_dict()["signatures"]) if report is not None else None
        row.validation = {"status": found["status"] if found else "missing", "authentic": result["authentic"],
                          "signature": found}
        row.validated_at = now
    audit.record(session, actor, "verification", "document", doc.id, version=version.number,
                 authentic=result["authentic"], signatures=sum(len(r.signatures) for r in reports))
    return {"document": doc.id, "version": version.number, **result}


def _read_bounded(stream: BinaryIO, limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge("файл больше %(mb)s МБ", mb=limit // (1024 * 1024))
    return data


def validate_upload(rt: Runtime, session: Session, stream: BinaryIO, channel: str,
                    limit: int = MAX_VERIFY_UPLOAD) -> dict:
    """Check a PDF signed anywhere (uploaded by anyone, or given to `dms verify`) against our trust store."""
    import hashlib
    data = _read_bounded(stream, limit)
    if b"%PDF-" not in data[:1024]:
        raise UnsupportedMediaType("ожидается PDF-файл")
    sha256 = hashlib.sha256(data).hexdigest()
    result = _report_json([validate_pdf(data, pki.trust_store(rt, session), stored_at=_stored_at(session, sha256))])
    audit.record(session, None, "verification", "upload", None, channel=channel,
                 sha256=sha256, size=len(data), authentic=result["authentic"])
    return result


def status_ru(sig: Signature) -> str:
    """The last validation of a signature in words, for the document page."""
    if not sig.validation:
        return localize("не проверялась")
    status = sig.validation.get("status", "")
    return localize(STATUS_RU[status]) if status in STATUS_RU else status


STATUS_RU = {"valid": N_("действительна"), "invalid": N_("недействительна"),
             "valid_revoked_later": N_("действительна; сертификат отозван позже подписания"),
             "expired_at_signing": N_("сертификат истёк к моменту подписания"),
             "not_yet_valid_at_signing": N_("сертификат ещё не действовал в момент подписания"),
             "indeterminate": N_("статус отзыва сертификата неизвестен"),
             "modified": N_("документ изменён после подписи"), "revoked": N_("сертификат отозван до подписания"),
             "untrusted": N_("сертификат не доверенный"), "cannot_be_checked": N_("проверить невозможно"),
             "missing": N_("подпись не найдена в версии")}


def signature_json(session: Session, sig: Signature) -> dict:
    source = session.get(Version, sig.source_version_id)
    return {"id": sig.id, "kind": sig.kind, "version": sig.version.number if sig.version else None,
            "source_version": source.number if source else None,
            "signer": sig.signer.login if sig.signer else None, "fingerprint": sig.credential_fingerprint,
            "signed_at": sig.signed_at.isoformat(), "level": sig.level, "field_name": sig.field_name or None,
            "transition": sig.transition or None, "detached": sig.kind == "cms", "p7s_media_type":
            P7S_MEDIA_TYPE if sig.kind == "cms" else None, "validation": sig.validation,
            "validated_at": sig.validated_at.isoformat() if sig.validated_at else None}
