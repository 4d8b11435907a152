"""Certificates of qualification: batch issue after an exam, numbered blanks, lifecycle, lookups.

A batch is issued as a whole or not at all: rows are validated first (certificate_rows), numbers and blanks are
reserved in a short transaction, PDFs are rendered and signed outside any transaction (the signer's key loaded
once, both cores), the signed bytes go to the object store, and one transaction then creates every document,
version, signature, certificate and history entry. A failure after the reservation gives numbers and blanks back.
"""
from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, UTC
from collections.abc import Callable

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from signing.batch import BatchSigner
from signing.errors import SigningLibraryError
from signing.pades import Level, SignRequest
from signing.stamp import StampPlacement

from dms import pdfrender
from dms.errors import N_, Conflict, Invalid, NotFound, localize
from dms.models import (Blank, BlankRange, Certificate, Document, IssueBatch, Organisation, Signature, User, Version,
                        VersionText)
from dms.runtime import Runtime
from dms.security import P, Forbidden, has_permission, holds_globally
from dms.audit import service as audit
from dms.documents import folders
from dms.documents import service as documents
from dms.signatures import pki
from dms.workflow import service as wf_svc
from dms.certificates.rows import ExamResult, mask_name, normalise_surname
from dms.idrange import digits

VALID_YEARS = 3
ISSUING_KINDS = ("assessment_centre", "training_provider")  # the kinds of organisation that issue certificates
CERT_FOLDER = "Свидетельства"
PDF = "application/pdf"
SIGN_WORKERS = 2
PARALLEL_FROM = 40  # below this many certificates, spawning worker processes costs more than it saves
Progress = Callable[[str, int, int], None]  # (stage, done, total)


def _today() -> date:
    return date.today()


def today() -> date:
    """The day the certificate rules count from (tests move it)."""
    return _today()


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def centre_by_code(session: Session, code: str) -> Organisation:
    org = session.scalars(select(Organisation).where(Organisation.code == code)).first()
    if org is None:
        raise NotFound("нет организации с кодом «%(code)s»", code=code)
    if org.kind not in ISSUING_KINDS:
        raise Invalid("«%(code)s» не выдаёт свидетельства (это не ЦОК)", code=code)
    return org


def require_in_register(centre: Organisation, what: str) -> None:
    """Only an organisation in force in the Register (dms.register.rules.IN_FORCE) gets blanks and issues
    certificates."""
    from dms.register.rules import IN_FORCE, status_label
    if centre.register_status not in IN_FORCE:
        raise Conflict("%(code)s не действует в Регистре (%(status)s): %(what)s невозможна", code=centre.code,
                       status=localize(status_label(centre.register_status)), what=localize(what))
    if centre.pending_status and centre.pending_status not in IN_FORCE:
        raise Conflict("%(code)s: принято решение «%(status)s», приказ ждёт подписи — %(what)s невозможна",
                       code=centre.code, status=localize(status_label(centre.pending_status)), what=localize(what))


def certificate_folder(session: Session, centre: Organisation):  # noqa: ANN201
    return folders.ensure(session, f"/{centre.code}/{CERT_FOLDER}", centre)


def _probe(folder) -> Document:  # noqa: ANN001
    return Document(doc_type="certificate", state="draft", folder=folder, folder_id=folder.id)


def _require_issuer(session: Session, actor: User, folder) -> None:  # noqa: ANN001
    if not has_permission(session, actor, P.SIGN, _probe(folder)):
        raise Forbidden(P.SIGN, "на выдачу свидетельств этого центра")


def _existing_folder(session: Session, centre: Organisation):  # noqa: ANN202
    """The centre's certificate folder if it exists, else the nearest existing ancestor (no folder is made)."""
    for path in (f"/{centre.code}/{CERT_FOLDER}", f"/{centre.code}"):
        try:
            return folders.resolve(session, path)
        except NotFound:
            continue
    return folders.root(session)


def may_issue(session: Session, actor: User, centre: Organisation) -> bool:
    """May sign (issue) this centre's certificates: the batch-issue form with the PIN."""
    return has_permission(session, actor, P.SIGN, _probe(_existing_folder(session, centre)))


def may_prepare(session: Session, actor: User, centre: Organisation) -> bool:
    """May prepare a batch of this centre's certificates for a signatory (Add where they go)."""
    return has_permission(session, actor, P.ADD, _probe(_existing_folder(session, centre)))


# -- blanks -----------------------------------------------------------------------------------------------


def blank_number(series: str, n: int) -> str:
    return f"{series}{n:07d}" if series else f"{n:07d}"


def allocate_blanks(session: Session, actor: User | None, centre: Organisation, series: str, first: int,
                    last: int) -> BlankRange:
    if actor is not None and not holds_globally(actor, P.MANAGE_BLANKS):
        raise Forbidden(P.MANAGE_BLANKS, "на выдачу бланков")
    require_in_register(centre, N_("выдача бланков"))
    series = series.strip().upper()
    if not (0 < first <= last) or last - first >= 100_000 or len(series) > 10:
        raise Invalid("диапазон бланков: 1 ≤ первый ≤ последний, не больше 100 000 за раз, серия до 10 символов")
    overlap = session.scalar(select(func.count()).select_from(BlankRange).where(
        BlankRange.series == series, BlankRange.first <= last, BlankRange.last >= first))
    if overlap:
        raise Conflict("часть бланков этого диапазона уже выдана")
    numbers = [blank_number(series, n) for n in range(first, last + 1)]
    rng = BlankRange(centre_id=centre.id, series=series, first=first, last=last,
                     allocated_by_id=actor.id if actor else None)
    session.add(rng)
    session.flush()
    session.execute(insert(Blank), [
        {"range_id": rng.id, "centre_id": centre.id, "number": n, "status": "free", "spoil_reason": ""}
        for n in numbers])
    audit.record(session, actor, "blanks.allocate", "organisation", centre.id, series=series, first=first, last=last)
    return rng


def spoil_blank(session: Session, actor: User | None, number: str, reason: str) -> Blank:
    if actor is not None and not holds_globally(actor, P.MANAGE_BLANKS):
        raise Forbidden(P.MANAGE_BLANKS, "на списание бланков")
    if not reason.strip():
        raise Invalid("укажите причину списания бланка")
    blank = session.scalars(select(Blank).where(Blank.number == number).with_for_update()).first()
    if blank is None:
        raise NotFound("нет бланка %(number)s", number=number)
    if blank.status != "free":
        raise Conflict(N_("бланк %(number)s уже использован") if blank.status == "used"
                       else N_("бланк %(number)s уже списан"), number=number)
    blank.status, blank.spoil_reason, blank.changed_at = "spoiled", reason.strip()[:1000], datetime.now(UTC)
    audit.record(session, actor, "blanks.spoil", "organisation", blank.centre_id, number=number, reason=reason)
    return blank


def blanks_report(session: Session) -> list[dict]:
    """Per centre: allocated, used, spoiled, remaining."""
    rows = session.execute(select(Organisation.code, Organisation.short_name, Blank.status, func.count())
                           .join(Organisation, Organisation.id == Blank.centre_id)
                           .group_by(Organisation.code, Organisation.short_name, Blank.status)).all()
    report: dict[str, dict] = {}
    for code, name, status, n in rows:
        r = report.setdefault(code, {"centre": code, "name": name, "allocated": 0, "used": 0, "spoiled": 0,
                                     "remaining": 0})
        r["allocated"] += n
        r[{"free": "remaining", "used": "used", "spoiled": "spoiled", "reserved": "used"}[status]] += n
    return sorted(report.values(), key=lambda r: r["centre"])


# -- batch issue ------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    row: ExamResult
    number: str
    blank: str
    token: str
    valid_until: date | None
    text: str = ""
    pdf: bytes | None = None  # rendered while the signer's key was opening (_render_while), till it is signed


@dataclass
class IssueResult:
    batch_id: int
    issued: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def _verify_url(rt: Runtime, token: str) -> str:
    return f"{rt.settings.base_url}/verify/t/{token}"


def _spec(rt: Runtime, centre: Organisation, signatory: User, p: Prepared) -> pdfrender.CertificateSpec:
    return pdfrender.CertificateSpec(
        number=p.number, blank_number=p.blank, holder_name=p.row.full_name, qualification=p.row.qualification,
        level=p.row.level, centre_name=centre.name, centre_code=centre.code, issue_date=_today(),
        valid_until=p.valid_until, verification_url=_verify_url(rt, p.token),
        signatory=pdfrender.Signature(position="Руководитель", name=signatory.full_name or signatory.login),
        city=centre.city or "Москва")


def _text(spec: pdfrender.CertificateSpec) -> str:
    """The words of the certificate, indexed without extracting them back from the PDF."""
    return " ".join([spec.kind_label, spec.number, spec.holder_name, spec.qualification, f"уровень {spec.level}",
                     spec.centre_name, spec.centre_code, f"бланк {spec.blank_number}"])


def _render_while(rt: Runtime, centre: Organisation, signatory: User, prepared: list[Prepared],
                  going_on: Callable[[], bool]) -> None:
    """Render certificates in order, in this thread, while `going_on()` (the signer's key opening in another
    thread): the core the key derivation leaves free renders what the workers would otherwise render after it."""
    for p in prepared:
        if not going_on():
            return
        p.pdf = pdfrender.render_certificate_pdf(_spec(rt, centre, signatory, p))


def signing_request(tsa) -> SignRequest:  # noqa: ANN001
    """How a certificate is signed: B-T with our TSA, locked, the visible stamp where the template keeps room."""
    box = pdfrender.certificate_stamp_box()  # the place the template keeps free: the stamp covers no text
    return SignRequest(level=Level.B_T, timestamper=tsa, lock=True, reason="Выдача свидетельства о квалификации",
                       stamp=StampPlacement(x=box.x, y=box.y, width=box.width, height=box.height))


def _produce(specs: list[pdfrender.CertificateSpec | bytes], signer, request: SignRequest,  # noqa: ANN001
             each: Callable[[bytes], None]) -> None:
    """Render (a spec; a PDF already rendered is taken as it is) and sign every certificate, handing each signed PDF,
    in order, to `each` as soon as it is signed (the caller stores it while the workers sign the next ones): in
    worker processes (each loads fonts and key once) for big batches, in this process for small ones."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    from signing.batch import worker_context

    from dms.certificates import worker as certificate_worker

    def check(result) -> bytes:  # noqa: ANN001
        if isinstance(result, SigningLibraryError):
            raise Conflict("подпись не выполнена: %(why)s", why=result)
        return result

    # Measure the signature size once here; the workers get the request with the size reserved.
    with BatchSigner(signer, request, workers=0) as local:
        request = local.request
        if len(specs) < PARALLEL_FROM or SIGN_WORKERS < 2:
            for spec in specs:
                each(check(local.sign_one(certificate_worker.rendered(spec))))
            return
    # Workers fork from a fork server that has the renderer, the signer and their fonts loaded (not spawned
    # interpreters that re-import the whole application each: the stall of issue 20); they die with this process.
    # One certificate per task: with 4, the last worker's last chunk kept the other idle (0.3 s of a 50-row batch).
    with ProcessPoolExecutor(max_workers=SIGN_WORKERS, mp_context=worker_context(_PRELOAD),
                             initializer=certificate_worker.init,
                             initargs=(signer.certificate_der, signer.private_key_der(), signer.chain_der,
                                       request, os.getpid())) as pool:
        for result in pool.map(certificate_worker.produce, specs, chunksize=1):
            each(check(result))


def start_workers_early(count: int) -> None:
    """Start the worker processes' fork server now, in the background, for a batch of `count` certificates that
    will use worker processes: it imports the application (1.5-4.6 s of one core, loaded), paid by the first batch
    of every process -- every `dms certificates issue`. The CLI calls this before the PIN and the checks, which then
    overlap it; the batch's pool later connects to the server, waiting only for what is left of its start."""
    if count < PARALLEL_FROM or SIGN_WORKERS < 2:
        return
    import multiprocessing.forkserver

    from signing.batch import worker_context

    if worker_context(_PRELOAD).get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()


# What the fork server imports once: the worker, and what a child's re-run of the parent's main script imports (the
# CLI's and the web app's modules), so that each forked worker finds them loaded instead of importing them again.
# This module too: the CLI imports it lazily, and its import configures the ORM mappers (its public-lookup query is
# built at import): 0.3-0.7 s in every worker of every batch whose main script imports it (bench/issue.py, a script).
_PRELOAD = ["dms.certificates.worker", "dms.cli", "dms.certificates.service"]


ACTIVE_STAGES = ("queued", "reserved", "signing", "storing")  # a process works on it (or died doing so)
STALE_AFTER = timedelta(minutes=15)  # no sign of life this long from another host: stuck
NEEDS_PIN = "needs-pin"  # owner of a batch whose job lost its PIN with a dead worker: held by nobody, stuck
QUEUED_OWNER = "queued:"  # owner prefix of a batch waiting for its job (the token the job claims it with)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _set_stage(rt: Runtime, batch_id: int, stage: str, done: int | None = None, error: str = "") -> None:
    with rt.db.session() as s:
        values: dict = {"stage": stage, "heartbeat_at": datetime.now(UTC)}
        if done is not None:
            values["done"] = done
        if error:
            values["error"] = error[:5000]
        if stage in ("done", "failed", "cancelled"):
            values["finished_at"] = datetime.now(UTC)
        s.execute(update(IssueBatch).where(IssueBatch.id == batch_id).values(**values))


def queue_batch(session: Session, actor: User, centre_code: str, rows: list[ExamResult], filename: str = "",
                prepared_id: int | None = None) -> IssueBatch:
    """A batch a signatory issues from the web, handed to a job (dms.jobs, kind "certificates.issue"): the row is
    written in the caller's transaction with the rows to issue and the token its job claims it with (owner). A new
    batch, or a prepared one (`prepared_id`, taken once: a second click finds it no longer waiting). Refusals that
    need no PIN come here, at once; the PIN, the blanks and the numbers are the job's."""
    token = QUEUED_OWNER + secrets.token_hex(8)
    now = datetime.now(UTC)
    if prepared_id is not None:
        batch = _prepared_for_signing(session, actor, prepared_id)
        taken = session.execute(update(IssueBatch).where(IssueBatch.id == prepared_id, IssueBatch.stage == "prepared",
                                                         IssueBatch.rows_json.is_not(None))
                                .values(stage="queued", signed_by_id=actor.id, error="", owner=token,
                                        heartbeat_at=now))
        if getattr(taken, "rowcount", 1) != 1:
            raise Conflict("пакет %(id)s не ждёт подписи", id=prepared_id)
        session.refresh(batch)
        return batch
    if not rows:
        raise Invalid("нет строк для выдачи")
    centre = centre_by_code(session, centre_code)
    require_in_register(centre, N_("выдача свидетельств"))
    if not may_issue(session, actor, centre):
        raise Forbidden(P.SIGN, "на выдачу свидетельств этого центра")
    check_people(session, rows)
    check_not_issued(session, rows)
    batch = IssueBatch(centre_id=centre.id, filename=filename[:255], total=len(rows), created_by_id=actor.id,
                       signed_by_id=actor.id, stage="queued", rows_json=_rows_to_json(rows), owner=token,
                       heartbeat_at=now)
    session.add(batch)
    session.flush()
    return batch


def run_queued_batch(rt: Runtime, batch_id: int, token: str, pin: str, progress: Progress | None = None, *,
                     prepared: bool = False) -> IssueResult:
    """The job's work: claim the queued batch (only while it still holds the job's token — a batch resumed or
    cancelled from its page meanwhile is not touched) and issue it with the PIN that came sealed with the job. A
    prepared batch refused before anything was issued waits again, with the reason, as issue_prepared does."""
    with rt.db.session() as s:
        batch = s.get(IssueBatch, batch_id)
        if batch is None:
            raise NotFound("нет пакета %(id)s", id=batch_id)
        taken = s.execute(update(IssueBatch).where(IssueBatch.id == batch_id, IssueBatch.owner == token,
                                                   IssueBatch.stage == "queued")
                          .values(owner=_owner(), heartbeat_at=datetime.now(UTC)))
        if getattr(taken, "rowcount", 1) != 1:
            raise Conflict("пакет %(id)s уже взят другим процессом", id=batch_id)
        signer = s.get(User, batch.signed_by_id) if batch.signed_by_id else None
        centre = s.get_one(Organisation, batch.centre_id)
        if signer is None:
            raise NotFound("нет пакета %(id)s", id=batch_id)
        login, code, filename = signer.login, centre.code, batch.filename
        rows = _rows_from_json(batch.rows_json or "[]")
    try:
        return issue(rt, login, code, rows, pin, filename=filename, progress=progress, batch_id=batch_id)
    except BaseException as exc:
        if prepared:
            _back_to_prepared(rt, batch_id, exc)
        raise


def batch_needs_pin(rt: Runtime, batch_id: int, token: str) -> bool:
    """A batch job retried without its PIN (the worker holding it died): the batch is held by nobody and waits for
    a signatory to resume it with the PIN (or cancel it) from its page or the CLI. True when it was so marked."""
    with rt.db.session() as s:
        batch = s.get(IssueBatch, batch_id)
        if batch is None or batch.stage not in ACTIVE_STAGES or not (batch.owner == token or is_stuck(batch)):
            return False
        marked = s.execute(update(IssueBatch).where(IssueBatch.id == batch_id, IssueBatch.owner == batch.owner,
                                                    IssueBatch.stage == batch.stage)
                           .values(owner=NEEDS_PIN, error=localize(N_("процесс выдачи прервался: продолжите "
                                                                      "выдачу с PIN-кодом или отмените пакет"))))
        return getattr(marked, "rowcount", 1) == 1


def start_batch(rt: Runtime, actor_login: str, centre_code: str, total: int, filename: str = "") -> int:
    """An IssueBatch row the web progress view can poll before the work starts."""
    with rt.db.session() as s:
        actor = s.scalars(select(User).where(User.login == actor_login)).one()
        centre = centre_by_code(s, centre_code)
        batch = IssueBatch(centre_id=centre.id, filename=filename[:255], total=total, created_by_id=actor.id,
                           owner=_owner(), heartbeat_at=datetime.now(UTC))
        s.add(batch)
        s.flush()
        return batch.id


def check_not_issued(session: Session, rows: list[ExamResult]) -> None:
    """The same exam result (person's SNILS, qualification, exam date) is issued once: a second file with it is
    refused, naming the certificates already issued (a duplicate goes through replace)."""
    keyed = [r for r in rows if r.snils]
    found: dict[tuple, str] = {}
    wanted = sorted({r.snils for r in keyed})
    for i in range(0, len(wanted), 500):
        for snils, qualification, exam_date, number in session.execute(
                select(Certificate.snils, Certificate.qualification, Certificate.exam_date, Certificate.number)
                .where(Certificate.snils.in_(wanted[i:i + 500]))):
            found[(snils, qualification, exam_date)] = number
    problems = [localize("строка %(row)s: уже выдано свидетельство %(number)s (тот же СНИЛС, квалификация и дата "
                         "экзамена)", {"row": r.row, "number": found[(r.snils, r.qualification, r.exam_date)]})
                for r in keyed if (r.snils, r.qualification, r.exam_date) in found]
    if problems:
        raise Conflict("эти результаты экзамена уже выданы: %(first)s", {"rows": problems}, first=problems[0])


def _reservation_json(first_seq: int, prepared: list[Prepared]) -> str:
    import json
    return json.dumps({"first_seq": first_seq, "year": _today().year, "items": [
        {"number": p.number, "blank": p.blank, "token": p.token,
         "valid_until": p.valid_until.isoformat() if p.valid_until else None} for p in prepared]},
        ensure_ascii=False)


def issue(rt: Runtime, actor_login: str, centre_code: str, rows: list[ExamResult], pin: str, *,
          valid_years: int | None = VALID_YEARS, filename: str = "", progress: Progress | None = None,
          batch_id: int | None = None, replaces: Certificate | None = None) -> IssueResult:
    """Issue one certificate per row, all or nothing. Refusals (PIN, permission, blanks, results already issued)
    happen before any number or blank is consumed. The reservation is written to the batch in the transaction
    that makes it: a batch whose process dies is resumed (resume) or given back (cancel), never lost."""
    started = time.perf_counter()
    if not rows:
        raise Invalid("нет строк для выдачи")
    batch_id = batch_id or start_batch(rt, actor_login, centre_code, len(rows), filename)
    try:
        with rt.db.session() as s:
            actor = s.scalars(select(User).where(User.login == actor_login)).one()
            centre = centre_by_code(s, centre_code)
            require_in_register(centre, N_("выдача свидетельств"))
            folder = certificate_folder(s, centre)
            _require_issuer(s, actor, folder)
            check_people(s, rows, replaces)
            if replaces is None:
                check_not_issued(s, rows)
            # The key opens in a thread while this one reserves and renders (issue 20: the PIN's key derivation,
            # 0.6 s of one core, was a third of a 50-row batch). Nothing is committed before the PIN is found
            # right: a wrong one rolls the reservation back, so refusals still consume no number or blank.
            unlocking = pki.begin_unlock(rt, s, actor, pin)
            try:
                tsa = pki.load(rt).tsa
                free = s.scalars(select(Blank).where(Blank.centre_id == centre.id, Blank.status == "free")
                                 .order_by(Blank.number).limit(len(rows)).with_for_update()).all()
                if len(free) < len(rows):
                    raise Conflict("не хватает бланков: нужно %(need)s, свободно %(free)s "
                                   "(выдайте центру диапазон бланков)", need=len(rows), free=len(free))
                first_seq, numbers = wf_svc.reserve_numbers(s, "certificate", centre, len(rows))
                for b in free:
                    b.status, b.changed_at = "reserved", datetime.now(UTC)
                until = _years_later(_today(), valid_years) if valid_years else None
                prepared = [Prepared(r, n, b.number, secrets.token_urlsafe(18), until)
                            for r, n, b in zip(rows, numbers, free, strict=False)]
                s.execute(update(IssueBatch).where(IssueBatch.id == batch_id).values(
                    stage="reserved", reservation=_reservation_json(first_seq, prepared),
                    rows_json=_rows_to_json(rows), owner=_owner(), heartbeat_at=datetime.now(UTC),
                    signed_by_id=actor.id))
                _render_while(rt, centre, actor, prepared, unlocking.opening)
            except BaseException:
                s.rollback()
                unlocking.result()  # a wrong PIN is the refusal; a right one is counted so
                raise
            signer, cred = unlocking.result()  # commits the reservation
            folder_id = folder.id
            s.expunge(centre)
            s.expunge(actor)
    except BaseException as exc:
        _set_stage(rt, batch_id, "failed", error=getattr(exc, "message", None) or str(exc))
        raise
    return _complete(rt, batch_id, actor, centre, folder_id, prepared, first_seq, signer, cred.fingerprint, tsa,
                     filename, replaces.id if replaces else None, progress, started)


def _complete(rt: Runtime, batch_id: int, actor: User, centre: Organisation, folder_id: int,  # noqa: PLR0913
              prepared: list[Prepared], first_seq: int, signer, fingerprint: str, tsa,  # noqa: ANN001
              filename: str, replaces_id: int | None, progress: Progress | None, started: float) -> IssueResult:
    """Render, sign, store and record a reserved batch (a new one, or one resumed after its process died)."""
    report = progress or (lambda *_: None)
    centre_id, actor_id = centre.id, actor.id
    try:
        _set_stage(rt, batch_id, "signing", 0)
        specs = [_spec(rt, centre, actor, p) for p in prepared]
        for p, spec in zip(prepared, specs, strict=False):
            p.text = _text(spec)
        request = signing_request(tsa)

        infos: list = []

        def store(data: bytes) -> None:  # each signed certificate stored while the workers sign the next ones
            infos.append(rt.store.put_bytes(data))
            done = len(infos)
            report("signing", done, len(prepared))
            if done % 50 == 0:
                _set_stage(rt, batch_id, "signing", done)
            if done % 50 == 0 or done == len(prepared):
                report("storing", done, len(prepared))

        _produce([p.pdf or spec for p, spec in zip(prepared, specs, strict=True)], signer, request, store)
        for p in prepared:
            p.pdf = None
        _set_stage(rt, batch_id, "storing", len(infos))
        with rt.db.session() as s:
            actor = s.get_one(User, actor_id)
            issued = _record_batch(s, actor, centre_id, folder_id, batch_id, prepared, infos, fingerprint,
                                   replaces_id)
            s.execute(update(IssueBatch).where(IssueBatch.id == batch_id).values(
                stage="done", done=len(prepared), finished_at=datetime.now(UTC), heartbeat_at=datetime.now(UTC)))
            audit.record(s, actor, "certificates.issue", "organisation", centre_id, batch=batch_id,
                         count=len(prepared), first=prepared[0].number, last=prepared[-1].number, file=filename)
    except BaseException as exc:
        _give_back(rt, centre_id, first_seq, prepared)
        _set_stage(rt, batch_id, "failed", error=getattr(exc, "message", None) or str(exc))
        raise
    from dms.signatures import evidence
    evidence.enqueue_protection(rt, [item["id"] for item in issued])  # their B-LTA versions: a job (issue 14)
    return IssueResult(batch_id=batch_id, issued=issued, seconds=time.perf_counter() - started)


# -- a batch whose process died: list, resume with the PIN, or cancel ------------------------------------------


def _pid_alive(pid: int) -> bool:
    from signing.batch import _alive
    return _alive(pid)


def is_stuck(batch: IssueBatch, now: datetime | None = None) -> bool:
    """A batch at work whose process is gone (on this host: its pid is dead) or silent for STALE_AFTER."""
    if batch.stage not in ACTIVE_STAGES:
        return False
    if batch.owner == NEEDS_PIN:
        return True
    host, _, pid = (batch.owner or "").rpartition(":")
    if host == socket.gethostname() and digits(pid) and int(pid) != os.getpid() and not _pid_alive(int(pid)):
        return True
    beat = batch.heartbeat_at or batch.created_at
    if beat is not None and beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    return beat is not None and (now or datetime.now(UTC)) - beat > STALE_AFTER


def stuck_batches(session: Session, now: datetime | None = None) -> list[IssueBatch]:
    return [b for b in session.scalars(select(IssueBatch).where(IssueBatch.stage.in_(ACTIVE_STAGES))
                                       .order_by(IssueBatch.id)) if is_stuck(b, now)]


def batch_summary(session: Session, batch: IssueBatch) -> dict:
    import json
    res = json.loads(batch.reservation) if batch.reservation else {"items": []}
    items = res.get("items", [])
    centre = session.get(Organisation, batch.centre_id)
    return {"id": batch.id, "centre": centre.code if centre else None, "stage": batch.stage, "total": batch.total,
            "done": batch.done, "owner": batch.owner, "stuck": is_stuck(batch), "filename": batch.filename,
            "heartbeat_at": batch.heartbeat_at.isoformat() if batch.heartbeat_at else None,
            "numbers": [items[0]["number"], items[-1]["number"]] if items else None,
            "blanks": [items[0]["blank"], items[-1]["blank"]] if items else None,
            "cancelled_numbers": [i["number"] for i in items] if batch.stage == "cancelled" and
            res.get("hole") else [], "error": batch.error}


def _take_stuck(s: Session, actor: User, batch_id: int, perm_check: Callable[[Organisation], bool]) -> IssueBatch:
    batch = s.get(IssueBatch, batch_id)
    if batch is None:
        raise NotFound("нет пакета %(id)s", id=batch_id)
    centre = s.get_one(Organisation, batch.centre_id)
    if not perm_check(centre):
        raise Forbidden(P.SIGN, "на выдачу свидетельств этого центра")
    if not is_stuck(batch):
        raise Conflict("пакет %(id)s не завис (этап «%(stage)s»)", id=batch_id, stage=batch.stage)
    taken = s.execute(update(IssueBatch).where(IssueBatch.id == batch_id, IssueBatch.owner == batch.owner,
                                               IssueBatch.stage == batch.stage)
                      .values(owner=_owner(), heartbeat_at=datetime.now(UTC)))
    if getattr(taken, "rowcount", 1) != 1:
        raise Conflict("пакет %(id)s уже взят другим процессом", id=batch_id)
    return batch


def resume_batch(rt: Runtime, actor_login: str, batch_id: int, pin: str,
                 progress: Progress | None = None) -> IssueResult:
    """Finish a stuck batch with the numbers, blanks and tokens it reserved, signed by `actor` with the PIN entered
    now (a PIN is never stored). A batch that never reached its reservation is issued from its rows."""
    import json
    started = time.perf_counter()
    with rt.db.session() as s:
        actor = s.scalars(select(User).where(User.login == actor_login)).one()
        batch = _take_stuck(s, actor, batch_id, lambda c: may_issue(s, actor, c))
        centre = s.get_one(Organisation, batch.centre_id)
        rows = _rows_from_json(batch.rows_json) if batch.rows_json else []
        filename, code = batch.filename, centre.code
        if not batch.reservation:  # died before reserving: nothing held, issue it anew
            s.execute(update(IssueBatch).where(IssueBatch.id == batch_id).values(stage="queued"))
            res = None
        else:
            res = json.loads(batch.reservation)
            folder = certificate_folder(s, centre)
            _require_issuer(s, actor, folder)
            signer, cred = pki.unlock(rt, s, actor, pin)
            tsa = pki.load(rt).tsa
            items = res["items"]
            held = set(s.scalars(select(Blank.number).where(Blank.number.in_([i["blank"] for i in items]),
                                                             Blank.status == "reserved")))
            if len(held) != len(items) or len(rows) != len(items):
                raise Conflict("резерв пакета %(id)s неполон: отмените его", id=batch_id)
            prepared = [Prepared(r, i["number"], i["blank"], i["token"],
                                 date.fromisoformat(i["valid_until"]) if i.get("valid_until") else None)
                        for r, i in zip(rows, items, strict=True)]
            audit.record(s, actor, "certificates.resume", "organisation", centre.id, batch=batch_id,
                         count=len(prepared))
            folder_id = folder.id
            s.expunge(centre)
            s.expunge(actor)
    if res is None:
        return issue(rt, actor_login, code, rows, pin, filename=filename, progress=progress, batch_id=batch_id)
    return _complete(rt, batch_id, actor, centre, folder_id, prepared, int(res["first_seq"]), signer,
                     cred.fingerprint, tsa, filename, None, progress, started)


def cancel_batch(rt: Runtime, actor_login: str, batch_id: int) -> dict:
    """Give a stuck batch's reservation back: its blanks become free, its numbers return to the series when they are
    its tail; otherwise they stay a recorded hole (the batch, cancelled, names them; `dms check` reports them)."""
    import json
    with rt.db.session() as s:
        actor = s.scalars(select(User).where(User.login == actor_login)).one()
        batch = _take_stuck(s, actor, batch_id, lambda c: may_issue(s, actor, c))
        res = json.loads(batch.reservation) if batch.reservation else {"items": []}
        items = res["items"]
        released, hole = True, False
        if items:
            centre = s.get_one(Organisation, batch.centre_id)
            released = wf_svc.release_numbers(s, "certificate", centre, int(res["first_seq"]), len(items),
                                              date(int(res.get("year") or _today().year), 12, 31)
                                              if res.get("year") else None)
            hole = not released
            s.execute(update(Blank).where(Blank.number.in_([i["blank"] for i in items]), Blank.status == "reserved")
                      .values(status="free", changed_at=datetime.now(UTC)))
            res["hole"] = hole
        batch.stage, batch.finished_at = "cancelled", datetime.now(UTC)
        batch.reservation = json.dumps(res, ensure_ascii=False) if items else batch.reservation
        batch.error = (localize(N_("отменён: номера %(numbers)s не вернулись в серию (за ними уже выданы другие)"),
                                {"numbers": f"{items[0]['number']}…{items[-1]['number']}"})
                       if hole else localize(N_("отменён, резерв возвращён")))
        audit.record(s, actor, "certificates.cancel", "organisation", batch.centre_id, batch=batch_id,
                     count=len(items), numbers_released=released, hole=[i["number"] for i in items] if hole else [])
        return batch_summary(s, batch)


def cancelled_holes(session: Session, acknowledged: bool = False) -> list[dict]:
    """Numbers of cancelled batches that could not go back to their series: holes the check reports until a
    signatory of the centre acknowledges them (acknowledge_hole); with `acknowledged`, those too."""
    import json
    out = []
    for batch in session.scalars(select(IssueBatch).where(IssueBatch.stage == "cancelled",
                                                          IssueBatch.reservation.is_not(None))):
        res = json.loads(batch.reservation or "{}")
        if res.get("hole") and (acknowledged or not res.get("acknowledged")):
            out.append({"batch": batch.id, "numbers": [i["number"] for i in res.get("items", [])],
                        "acknowledged": res.get("acknowledged")})
    return out


def hole_of(batch: IssueBatch) -> dict | None:
    """The hole a cancelled batch left in its series: {"numbers", "acknowledged": {"by", "at"} | None}, or None."""
    import json
    res = json.loads(batch.reservation or "{}") if batch.stage == "cancelled" else {}
    if not res.get("hole"):
        return None
    return {"numbers": [i["number"] for i in res.get("items", [])], "acknowledged": res.get("acknowledged")}


def acknowledge_hole(session: Session, actor: User, batch_id: int) -> dict:
    """A signatory of the centre acknowledges the numbers a cancelled batch could not give back (they stay unused
    for ever: the gapless series has a known, explained hole). Recorded on the batch (who, when) and in the audit;
    `dms check` stops reporting it. Once only."""
    import json
    batch = session.get(IssueBatch, batch_id, with_for_update=True)
    if batch is None:
        raise NotFound("нет пакета %(id)s", id=batch_id)
    if not may_issue(session, actor, session.get_one(Organisation, batch.centre_id)):
        raise Forbidden(P.SIGN, "на выдачу свидетельств этого центра")
    hole = hole_of(batch)
    if hole is None:
        raise Conflict("пакет %(id)s не оставил пропуска номеров", id=batch_id)
    if hole["acknowledged"]:
        raise Conflict("пропуск номеров пакета %(id)s уже подтверждён", id=batch_id)
    res = json.loads(batch.reservation or "{}")
    res["acknowledged"] = {"by": actor.login, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    batch.reservation = json.dumps(res, ensure_ascii=False)
    audit.record(session, actor, "certificates.hole_acknowledged", "organisation", batch.centre_id, batch=batch_id,
                 numbers=hole["numbers"])
    return {"batch": batch_id, **(hole_of(batch) or {})}


# -- a batch in two steps: the clerk prepares, a signatory signs with the PIN -------------------------------------


def _rows_to_json(rows: list[ExamResult]) -> str:
    import json
    return json.dumps([{**asdict(r), "exam_date": r.exam_date.isoformat(),
                        "birth_date": r.birth_date.isoformat() if r.birth_date else None} for r in rows],
                      ensure_ascii=False)


def _rows_from_json(raw: str) -> list[ExamResult]:
    import json
    return [ExamResult(**{**r, "exam_date": date.fromisoformat(r["exam_date"]),
                          "birth_date": date.fromisoformat(r["birth_date"]) if r.get("birth_date") else None})
            for r in json.loads(raw)]


def prepare_batch(session: Session, actor: User, centre_code: str, rows: list[ExamResult],
                  filename: str = "") -> IssueBatch:
    """A clerk prepares a batch (validated rows, checked against the Register and the SNILS rule) that waits in the
    list of batches for a signatory of the centre to issue it with their PIN. Nothing is numbered or signed yet."""
    if not rows:
        raise Invalid("нет строк для выдачи")
    centre = centre_by_code(session, centre_code)
    require_in_register(centre, N_("выдача свидетельств"))
    if not may_prepare(session, actor, centre):
        raise Forbidden(P.ADD, "на подготовку выдачи свидетельств этого центра")
    check_people(session, rows)
    batch = IssueBatch(centre_id=centre.id, filename=filename[:255], total=len(rows), created_by_id=actor.id,
                       stage="prepared", rows_json=_rows_to_json(rows))
    session.add(batch)
    session.flush()
    audit.record(session, actor, "certificates.prepare", "organisation", centre.id, batch=batch.id, count=len(rows),
                 file=filename)
    return batch


def prepared_batches(session: Session, actor: User) -> list[IssueBatch]:
    """Batches prepared and waiting for a signature that `actor` may issue (or that they prepared)."""
    waiting = session.scalars(select(IssueBatch).where(IssueBatch.stage == "prepared").order_by(IssueBatch.id))
    result = []
    for batch in waiting:
        centre = session.get_one(Organisation, batch.centre_id)
        if batch.created_by_id == actor.id or may_issue(session, actor, centre):
            result.append(batch)
    return result


def issue_prepared(rt: Runtime, actor_login: str, batch_id: int, pin: str,
                   progress: Progress | None = None) -> IssueResult:
    """The signatory's step: issue a prepared batch with their PIN. Taken once: a second signatory (or a second
    click) finds it no longer waiting; a refusal (PIN, blanks, Register) leaves it waiting with the reason."""
    with rt.db.session() as s:
        actor = s.scalars(select(User).where(User.login == actor_login)).one()
        batch = _prepared_for_signing(s, actor, batch_id)
        centre = s.get_one(Organisation, batch.centre_id)
        if batch.stage != "prepared" or not batch.rows_json:
            raise Conflict("пакет %(id)s не ждёт подписи", id=batch_id)
        taken = s.execute(update(IssueBatch).where(IssueBatch.id == batch_id, IssueBatch.stage == "prepared")
                          .values(stage="queued", signed_by_id=actor.id, error=""))
        if getattr(taken, "rowcount", 1) != 1:
            raise Conflict("пакет %(id)s не ждёт подписи", id=batch_id)
        rows, code, filename = _rows_from_json(batch.rows_json), centre.code, batch.filename
    try:
        return issue(rt, actor_login, code, rows, pin, filename=filename, progress=progress, batch_id=batch_id)
    except BaseException as exc:
        _back_to_prepared(rt, batch_id, exc)
        raise


def _prepared_for_signing(session: Session, actor: User, batch_id: int) -> IssueBatch:
    batch = session.get(IssueBatch, batch_id)
    centre = session.get(Organisation, batch.centre_id) if batch is not None else None
    if batch is None or centre is None or not (may_issue(session, actor, centre)
                                               or may_prepare(session, actor, centre)):
        raise NotFound("пакет %(id)s не найден", id=batch_id)  # one answer: missing, or not one's centre
    if not may_issue(session, actor, centre):  # the clerk who prepared it sees it, the signatory issues it
        raise Forbidden(P.SIGN, "на выдачу свидетельств этого центра")
    return batch


def _back_to_prepared(rt: Runtime, batch_id: int, exc: BaseException) -> None:
    """A prepared batch refused before anything was issued (all or nothing) waits again, with the reason."""
    with rt.db.session() as s:
        done = s.scalar(select(func.count()).select_from(Certificate).where(Certificate.batch_id == batch_id))
        if not done:
            s.execute(update(IssueBatch).where(IssueBatch.id == batch_id).values(
                stage="prepared", signed_by_id=None, finished_at=None,
                error=(getattr(exc, "message", None) or str(exc))[:5000]))


def _give_back(rt: Runtime, centre_id: int, first_seq: int, prepared: list[Prepared]) -> None:
    with rt.db.session() as s:
        centre = s.get(Organisation, centre_id)
        wf_svc.release_numbers(s, "certificate", centre, first_seq, len(prepared))
        s.execute(update(Blank).where(Blank.number.in_([p.blank for p in prepared]), Blank.status == "reserved")
                  .values(status="free", changed_at=datetime.now(UTC)))


def _record_batch(s: Session, actor: User, centre_id: int, folder_id: int, batch_id: int, prepared: list[Prepared],
                  infos: list, fingerprint: str, replaces_id: int | None) -> list[dict]:  # noqa: ANN001
    """The batch's documents, versions (documents.new_versions: the one way a version is made, with the retention
    every signed object gets, after the commit), texts, signatures, certificates and blanks in a few statements
    for the whole batch; then their workflow step (the engine's rules checked for each, written together)."""
    from dms.signatures.service import RETENTION
    today, until = _today(), datetime.now(UTC) + RETENTION
    docs = list(s.scalars(_INSERT_CERTIFICATE_DOCUMENTS, [_document_row(actor, centre_id, folder_id, today, p)
                                                          for p in prepared]))
    versions = documents.new_versions(s, actor, [
        (doc, documents.StoredUpload(info.key, info.sha256, info.size, PDF, f"svidetelstvo-{doc.id}.pdf"))
        for doc, info in zip(docs, infos, strict=True)], comment="Выдано и подписано", retain_until=until, event=None)
    s.execute(insert(VersionText), [{"version_id": v.id, "text": p.text, "method": "generated",
                                     "ocr_status": "not_needed"} for v, p in zip(versions, prepared, strict=True)])
    s.execute(insert(Signature), [{"document_id": v.document_id, "version_id": v.id, "source_version_id": v.id,
                                   "kind": "pades", "signer_id": actor.id, "credential_fingerprint": fingerprint,
                                   "level": Level.B_T.value, "transition": "issue"} for v in versions])
    cert_ids = list(s.scalars(_INSERT_CERTIFICATES, [_certificate_row(doc.id, centre_id, today, batch_id,
                                                                      replaces_id, p)
                                                     for doc, p in zip(docs, prepared, strict=True)]))
    now, cert_of_blank = datetime.now(UTC), {p.blank: cert_id for p, cert_id in zip(prepared, cert_ids, strict=True)}
    blanks = s.scalars(select(Blank).where(Blank.number.in_(list(cert_of_blank)))).all()
    if len(blanks) != len(cert_of_blank):
        raise LookupError(sorted(set(cert_of_blank) - {b.number for b in blanks}))
    for blank in blanks:
        blank.status, blank.certificate_id, blank.changed_at = "used", cert_of_blank[blank.number], now
    wf_svc.execute_many(s, actor, docs, "issue", f"пакет {batch_id}", signed=True)
    return [{"id": doc.id, "number": p.number, "blank": p.blank, "holder": p.row.full_name, "sha256": info.sha256,
             "row": p.row.row} for doc, p, info in zip(docs, prepared, infos, strict=True)]


_INSERT_CERTIFICATE_DOCUMENTS = insert(Document).returning(Document, sort_by_parameter_order=True)
_INSERT_CERTIFICATES = insert(Certificate).returning(Certificate.id, sort_by_parameter_order=True)


def _document_row(actor: User, centre_id: int, folder_id: int, today: date, p: Prepared) -> dict:
    r = p.row
    meta = {"holder": r.full_name, "qualification": r.qualification, "level": r.level, "issue_date":
            today.isoformat(), "blank_number": p.blank}
    if p.valid_until:
        meta["valid_until"] = p.valid_until.isoformat()
    return {"doc_type": "certificate", "title": f"Свидетельство о квалификации {p.number} — {r.full_name}",
            "folder_id": folder_id, "organisation_id": centre_id, "state": "draft", "reg_number": p.number,
            "reg_date": today, "meta": meta, "created_by_id": actor.id, "revision": 1}


def _certificate_row(doc_id: int, centre_id: int, today: date, batch_id: int, replaces_id: int | None,
                     p: Prepared) -> dict:
    r = p.row
    return {"document_id": doc_id, "number": p.number, "centre_id": centre_id, "holder_name": r.full_name,
            "holder_surname": normalise_surname(r.surname), "birth_date": r.birth_date, "snils": r.snils or None,
            "qualification": r.qualification, "level": r.level, "exam_date": r.exam_date,
            "protocol_number": r.protocol, "issue_date": today, "valid_until": p.valid_until,
            "blank_number": p.blank, "token": p.token, "batch_id": batch_id, "replaces_id": replaces_id}


# -- lifecycle --------------------------------------------------------------------------------------------


def _by_number(session: Session, number: str) -> Certificate | None:
    """Exactly as written, else in capitals (numbers are printed in capitals; a typed «цок-77-001-…» finds it)."""
    number = number.strip()[:100]
    for candidate in dict.fromkeys((number, number.upper())):
        cert = session.scalars(select(Certificate).where(Certificate.number == candidate)).first()
        if cert is not None:
            return cert
    return None


def get(session: Session, actor: User, number: str) -> Certificate:
    cert = _by_number(session, number)
    if cert is None or not has_permission(session, actor, P.VIEW, cert.document):
        raise NotFound("свидетельство %(number)s не найдено", number=number)
    return cert


def _same_person(a: str, b: str) -> bool:
    return " ".join(a.lower().replace("ё", "е").split()) == " ".join(b.lower().replace("ё", "е").split())


def check_people(session: Session, rows: list[ExamResult], replaces: Certificate | None = None) -> None:
    """One SNILS is one person across the archive: a row whose SNILS already belongs to someone of another name (on
    the latest certificate with it, or on an earlier row of the file) is refused with that certificate's number.
    A change of name is documented by a duplicate (replace with the new name): then the name may differ."""
    problems: list[str] = []
    seen: dict[str, ExamResult] = {}
    wanted = sorted({r.snils for r in rows if r.snils})
    latest_of: dict[str, tuple[str, str]] = {}  # SNILS -> (holder, number) of its latest certificate
    for i in range(0, len(wanted), 500):  # one query per 500 (SQLite's bound parameters), not one per row
        for snils, holder, number in session.execute(
                select(Certificate.snils, Certificate.holder_name, Certificate.number)
                .where(Certificate.snils.in_(wanted[i:i + 500])).order_by(Certificate.id)):
            latest_of[snils or ""] = (holder, number)
    for r in rows:
        if not r.snils:
            continue
        earlier = seen.setdefault(r.snils, r)
        if earlier is not r and not _same_person(earlier.full_name, r.full_name):
            problems.append(localize("строка %(row)s: СНИЛС %(snils)s уже указан в строке %(other)s для другого "
                                     "человека (%(name)s)", {"row": r.row, "snils": r.snils, "other": earlier.row,
                                                            "name": earlier.full_name}))
            continue
        latest = latest_of.get(r.snils)
        if latest is None or _same_person(latest[0], r.full_name):
            continue
        if replaces is not None and replaces.snils == r.snils:
            continue  # the duplicate for a documented change of name
        problems.append(localize("строка %(row)s: СНИЛС %(snils)s принадлежит владельцу свидетельства %(number)s "
                                 "(другое ФИО); смена ФИО оформляется дубликатом с причиной «смена фамилии»",
                                 {"row": r.row, "snils": r.snils, "number": latest[1]}))
    if problems:
        raise Invalid("СНИЛС указан для разных людей: %(first)s", {"rows": problems}, first=problems[0])


def _order_date(value: date | str) -> date | None:
    if isinstance(value, date):
        return value
    raw = str(value or "").strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    return None


def revoke(session: Session, actor: User, cert: Certificate, reason: str, order_number: str,
           order_date: date | str) -> Certificate:
    """Take a certificate out of force: the Revoke permission, a reason and the order (its number and date)."""
    day = _order_date(order_date)
    errors = {}
    if not reason.strip():
        errors["reason"] = N_("обязательное поле")
    if not order_number.strip():
        errors["order_number"] = N_("обязательное поле")
    if day is None:
        errors["order_date"] = N_("дата приказа: ГГГГ-ММ-ДД или ДД.ММ.ГГГГ")
    elif day > _today() or day < cert.issue_date:
        errors["order_date"] = N_("дата приказа не может быть позже сегодняшней или раньше выдачи свидетельства")
    if errors:
        raise Invalid("для аннулирования нужны причина и приказ (номер и дата)", errors)
    if not has_permission(session, actor, P.REVOKE, cert.document):
        raise Forbidden(P.REVOKE, "на аннулирование свидетельства")
    assert day is not None
    order = f"№ {order_number.strip()[:150]} от {day.strftime('%d.%m.%Y')}"
    wf_svc.execute(session, actor, cert.document, "revoke", f"{reason.strip()} (приказ {order})", service=True)
    cert.revoked_at = datetime.now(UTC)
    cert.revoke_reason, cert.revoke_order, cert.revoke_order_date = reason.strip()[:1000], order, day
    audit.record(session, actor, "certificate.revoke", "document", cert.document_id, number=cert.number,
                 reason=cert.revoke_reason, order=cert.revoke_order)
    return cert


def expire_due(session: Session, actor: User | None = None, today: date | None = None) -> list[str]:
    """Move every issued certificate past its "valid until" to expired, through the workflow's own step (the daily
    maintenance run: `dms maintain`, `dms certificates expire`). The only way a certificate expires."""
    today = today or _today()
    due = session.scalars(select(Certificate).join(Document, Document.id == Certificate.document_id).where(
        Document.state == "issued", Certificate.valid_until.is_not(None), Certificate.valid_until < today)).all()
    for cert in due:
        wf_svc.execute(session, actor, cert.document, "expire", f"срок действия истёк {cert.valid_until}",
                       service=True)
        audit.record(session, actor, "certificate.expire", "document", cert.document_id, number=cert.number)
    return [c.number for c in due]


def replace(rt: Runtime, actor_login: str, number: str, pin: str, reason: str, new_name: str = "") -> dict:
    """Issue a duplicate (new number, new blank, same holder and qualification — or the holder's new name when the
    reason is a documented change of name), linked both ways; the old certificate becomes "replaced"."""
    from dms.certificates.rows import NAME_RE
    if not reason.strip():
        raise Invalid("укажите причину выдачи дубликата", {"reason": N_("обязательное поле")})
    new_name = " ".join(new_name.split())
    if new_name and (len(new_name.split()) < 2 or not all(NAME_RE.match(p) for p in new_name.split())):
        raise Invalid("новое ФИО: фамилия, имя и (если есть) отчество с заглавной буквы",
                      {"new_name": N_("проверьте ФИО")})
    with rt.db.session() as s:
        actor = s.scalars(select(User).where(User.login == actor_login)).one()
        old = get(s, actor, number)
        number = old.number
        if old.document.state != "issued":
            raise Conflict("заменить можно только действующее свидетельство")
        if not has_permission(s, actor, P.SIGN, old.document):
            raise Forbidden(P.SIGN, "на выдачу дубликата")
        name = new_name or old.holder_name
        row = ExamResult(row=1, full_name=name, qualification=old.qualification, level=old.level,
                         exam_date=old.exam_date or old.issue_date, protocol=old.protocol_number,
                         centre=old.centre.code, birth_date=old.birth_date, snils=old.snils or "")
        valid_years = (old.valid_until.year - old.issue_date.year) if old.valid_until else None
        centre_code = old.centre.code
        s.expunge(old)
    result = issue(rt, actor_login, centre_code, [row], pin, valid_years=valid_years, replaces=old,
                   filename=f"дубликат {number}")
    new_number = result.issued[0]["number"]
    changed = f"; новое ФИО: {name} (было: {old.holder_name})" if name != old.holder_name else ""
    with rt.db.session() as s:
        actor = s.scalars(select(User).where(User.login == actor_login)).one()
        old = s.scalars(select(Certificate).where(Certificate.number == number)).one()
        new = s.scalars(select(Certificate).where(Certificate.number == new_number)).one()
        old.replaced_by_id = new.id
        wf_svc.execute(s, actor, old.document, "replace", f"выдан дубликат {new_number}: {reason.strip()}{changed}",
                       signed=True, service=True)
    return {"old": number, "new": new_number, "document": result.issued[0]["id"], "holder": name}


# -- public lookups ---------------------------------------------------------------------------------------


# Status -> its words (msgids: read in the request's language where shown).
STATUS_RU = {"issued": N_("действительно"), "revoked": N_("аннулировано"),
             "expired": N_("срок действия истёк"), "replaced": N_("заменено дубликатом"), "draft": N_("не выдано")}


def effective_status(cert: Certificate, today: date | None = None) -> str:
    return _status(cert.document.state, cert.valid_until, today)


def _status(state: str, valid_until: date | None, today: date | None = None) -> str:
    if state == "issued" and valid_until and valid_until < (today or _today()):
        return "expired"
    return state


@dataclass(frozen=True, slots=True)
class PublicCertificate:
    """What a public lookup reads of a certificate (what public_view shows, and the audit's document and number):
    one Core statement's row, no ORM entity loading (that was a third of a lookup's CPU)."""

    id: int
    document_id: int
    number: str
    holder_name: str
    holder_surname: str
    qualification: str
    level: int
    issue_date: date
    valid_until: date | None
    revoked_at: datetime | None
    revoke_order: str
    replaced_by_id: int | None
    replaces_id: int | None
    state: str
    centre_name: str
    centre_code: str

    @classmethod
    def of(cls, cert: Certificate) -> PublicCertificate:
        return cls(cert.id, cert.document_id, cert.number, cert.holder_name, cert.holder_surname, cert.qualification,
                   cert.level, cert.issue_date, cert.valid_until, cert.revoked_at, cert.revoke_order,
                   cert.replaced_by_id, cert.replaces_id, cert.document.state, cert.centre.name, cert.centre.code)


def public_view(session: Session, cert: Certificate | PublicCertificate) -> dict:
    """What anyone may see: never the birth date, SNILS, token or full name."""
    if isinstance(cert, Certificate):
        cert = PublicCertificate.of(cert)
    status = _status(cert.state, cert.valid_until)
    status_text = localize(STATUS_RU[status]) if status in STATUS_RU else status
    data = {"status": status, "status_text": status_text, "number": cert.number,
            "holder": mask_name(cert.holder_name), "qualification": cert.qualification, "level": cert.level,
            "centre": cert.centre_name, "centre_code": cert.centre_code, "issue_date": cert.issue_date.isoformat(),
            "valid_until": cert.valid_until.isoformat() if cert.valid_until else None}
    if status == "revoked" and cert.revoked_at:
        data["revoked_at"] = cert.revoked_at.date().isoformat()
        data["revoke_order"] = cert.revoke_order
    if cert.replaced_by_id:  # the duplicate's number and since when (its issue date); nothing of its holder
        duplicate = session.execute(select(Certificate.number, Certificate.issue_date)
                                    .where(Certificate.id == cert.replaced_by_id)).first()
        if duplicate is not None:
            data["replaced_by"], data["replaced_at"] = duplicate.number, duplicate.issue_date.isoformat()
    if cert.replaces_id:
        data["replaces"] = session.scalar(select(Certificate.number).where(Certificate.id == cert.replaces_id))
    return data


def staff_view(session: Session, cert: Certificate) -> dict:
    """For those who may view the certificate's document: the full record, personal data included."""
    return {**public_view(session, cert), "holder": cert.holder_name, "birth_date":
            cert.birth_date.isoformat() if cert.birth_date else None, "snils": cert.snils, "blank_number":
            cert.blank_number, "exam_date": cert.exam_date.isoformat() if cert.exam_date else None,
            "protocol_number": cert.protocol_number, "revoke_reason": cert.revoke_reason,
            "verification_path": f"/verify/t/{cert.token}"}


# A public lookup: PublicCertificate's columns of the certificate, its document's state and its centre, one Core
# statement built once (its compiled form is cached, not rebuilt per lookup).
_C, _D, _O = Certificate.__table__.c, Document.__table__.c, Organisation.__table__.c
_PUBLIC_ROW = (select(_C.id, _C.document_id, _C.number, _C.holder_name, _C.holder_surname, _C.qualification, _C.level,
                      _C.issue_date, _C.valid_until, _C.revoked_at, _C.revoke_order, _C.replaced_by_id,
                      _C.replaces_id, _D.state, _O.name.label("centre_name"), _O.code.label("centre_code"))
               .select_from(Certificate.__table__.join(Document.__table__, _D.id == _C.document_id)
                            .join(Organisation.__table__, _O.id == _C.centre_id)))
_PUBLIC_BY_NUMBER = _PUBLIC_ROW.where(_C.number.in_(bindparam("numbers", expanding=True)))
_PUBLIC_BY_TOKEN = _PUBLIC_ROW.where(_C.token == bindparam("token"))


def lookup_by_number(session: Session, number: str, surname: str) -> PublicCertificate | None:
    """None both for an unknown number and for a wrong surname: the two cannot be told apart. One query for the
    number as written and in capitals (a typed «цок-77-001-…» finds it); as written wins."""
    number, surname = number.strip()[:100], normalise_surname(surname)[:100]
    if not number or not surname:
        return None
    rows = session.connection().execute(_PUBLIC_BY_NUMBER, {"numbers": [number, number.upper()]}).all()
    found = {row.number: row for row in rows}
    row = found.get(number) or found.get(number.upper())
    if row is None or not secrets.compare_digest(row.holder_surname.encode(), surname.encode()):
        return None
    return PublicCertificate(**row._asdict()) if row.state != "draft" else None


def lookup_by_token(session: Session, token: str) -> PublicCertificate | None:
    token = token.strip()[:64]
    if len(token) < 16:
        return None
    row = session.connection().execute(_PUBLIC_BY_TOKEN, {"token": token}).first()
    return PublicCertificate(**row._asdict()) if row is not None and row.state != "draft" else None


def lookup_by_sha256(session: Session, sha256: str) -> Certificate | None:
    """The certificate whose issued version has exactly these bytes."""
    return session.scalars(select(Certificate).join(Version, Version.document_id == Certificate.document_id)
                           .where(Version.sha256 == sha256)).first()


def check_file(rt: Runtime, session: Session, data: bytes, limit: int) -> tuple[dict, Certificate | None]:
    """Are these exact bytes a certificate we issued, and does its signature validate? (result, certificate)"""
    import hashlib
    import io

    from dms.errors import UnsupportedMediaType
    from dms.signatures import service as signatures
    sha = hashlib.sha256(data[:limit]).hexdigest()
    if len(data) > limit:
        return {"authentic": False, "sha256": sha, "certificate": None, "signatures": {},
                "reasons": [f"файл больше {limit // (1024 * 1024)} МБ — это не наш документ"]}, None
    cert = lookup_by_sha256(session, sha)
    try:
        report = signatures.validate_upload(rt, session, io.BytesIO(data), "public-file")
    except UnsupportedMediaType:
        report = {"authentic": False, "summary_ru": "это не PDF-файл", "reports": []}
    reasons = []
    if cert is None:
        reasons.append("эти байты не совпадают ни с одним выданным нами документом (файл изменён или выдан не нами)")
    if not report.get("authentic"):
        reasons.append("электронная подпись не прошла проверку: "
                       + (report.get("summary_ru") or "нет действительной подписи"))
    return {"authentic": cert is not None and bool(report.get("authentic")), "sha256": sha, "reasons": reasons,
            "certificate": public_view(session, cert) if cert else None, "signatures": report}, cert
