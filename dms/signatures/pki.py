"""The organisation's PKI inside the archive.

The CA (root, issuing, time-stamping certificates) lives in DMS_DATA_DIR/pki with its keys encrypted under a
passphrase (DMS_PKI_PASSPHRASE, else one generated once into DMS_DATA_DIR/pki/passphrase, 0600). Users' signing
certificates with their PIN-encrypted keys and the published revocation lists live in the database. The CA is
loaded once per process (per Runtime) and kept.
"""
from __future__ import annotations

import os
import secrets
import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta, UTC
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from signing import errors as sig_errors
from signing import clock
from signing.pki import (ISSUING_CERT_PATH, ISSUING_CRL_PATH, ROOT_CERT_PATH, ROOT_CRL_PATH, CaCredential,
                         CertificateAuthority, KeyAlgorithm, RevokedEntry, UserCredential, import_pkcs12, load_signer)
from signing.signer import SignerIdentity, fingerprint_sha256
from signing.trust import TrustStore
from signing.tsa import TimeStampAuthority

from dms.config import Settings, secret_from_file
from dms.errors import DmsError, Invalid
from dms.models import Organisation, RevocationList, SigningCredential, User
from dms.runtime import Runtime
from dms.security import P, holds_globally
from dms.audit import service as audit
from dms.register.rules import AGENCY_KIND

PKI_DIR = "pki"
PASSPHRASE_FILE = "passphrase"
MIN_PIN = 8  # new PINs (issue 16); keys under older, shorter PINs still open
DEFAULT_ORGANISATION = "Архив «Печать»"
CRL_VALIDITY = {"issuing": timedelta(days=7), "root": timedelta(days=365)}
CRL_REFRESH_BEFORE = {"issuing": timedelta(days=3), "root": timedelta(days=30)}
REVOCATION_REASONS = ("unspecified", "key_compromise", "affiliation_changed", "superseded",
                      "cessation_of_operation", "certificate_hold")
ALGORITHM_FOR_CA = {False: KeyAlgorithm.ECDSA_P256, True: KeyAlgorithm.RSA_3072}

# Public files: URL name -> (CA role or CRL issuer, media type).
PUBLIC_CERTIFICATES = {ROOT_CERT_PATH: "root", ISSUING_CERT_PATH: "issuing"}
PUBLIC_CRLS = {ROOT_CRL_PATH: "root", ISSUING_CRL_PATH: "issuing"}
MEDIA_TYPES = {ROOT_CERT_PATH: "application/pkix-cert", ISSUING_CERT_PATH: "application/pkix-cert",
               ROOT_CRL_PATH: "application/pkix-crl", ISSUING_CRL_PATH: "application/pkix-crl"}


class PkiNotInitialised(DmsError):
    status = 503


class AdminOnly(DmsError):
    status = 403


class SigningRefused(DmsError):
    """A refusal of the signing library, in the user's words, with a status per kind of refusal."""

    def __init__(self, message: str, status: int, details: dict | None = None, **params: object):
        super().__init__(message, details, **params)
        self.status = status


# Library error -> HTTP status of the refusal (the first matching class in this order wins).
REFUSAL_STATUS: tuple[tuple[type[sig_errors.SigningLibraryError], int], ...] = (
    (sig_errors.WrongPin, 403),
    (sig_errors.CertificateRevoked, 403),
    (sig_errors.CertificateExpired, 403),
    (sig_errors.CertificateNotYetValid, 403),
    (sig_errors.NotAPdf, 415),
    (sig_errors.EncryptedPdf, 422),
    (sig_errors.BrokenPdf, 422),
    (sig_errors.ModificationForbidden, 409),
    (sig_errors.TimestampError, 503),
    (sig_errors.CaLoadError, 503),
    (sig_errors.SigningLibraryError, 422),
)


def refusal(exc: sig_errors.SigningLibraryError) -> SigningRefused:
    status = next(code for cls, code in REFUSAL_STATUS if isinstance(exc, cls))
    return SigningRefused(exc.message_ru, status, {"error": type(exc).__name__, "detail": exc.detail or ""})


def pki_dir(settings: Settings) -> Path:
    return settings.data_dir / PKI_DIR


def public_base_url(settings: Settings) -> str:
    return settings.base_url + "/pki"


def is_initialised(settings: Settings) -> bool:
    return CertificateAuthority.exists(pki_dir(settings))


def _passphrase(settings: Settings, create: bool) -> str:
    """DMS_PKI_PASSPHRASE, else the file named by DMS_PKI_PASSPHRASE_FILE (production: outside the data dir, e.g. a
    secret mounted read-only), else one generated once beside the keys (the embedded default, for trying out)."""
    env = os.environ.get("DMS_PKI_PASSPHRASE")
    if env:
        return env
    named = os.environ.get("DMS_PKI_PASSPHRASE_FILE")
    if named:
        try:
            return Path(named).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise PkiNotInitialised("файл парольной фразы УЦ (DMS_PKI_PASSPHRASE_FILE) не читается: %(error)s",
                                    error=str(exc)) from None
    path = pki_dir(settings) / PASSPHRASE_FILE
    if path.exists():
        return path.read_text().strip()
    if not create:
        raise PkiNotInitialised("нет парольной фразы УЦ: задайте DMS_PKI_PASSPHRASE или выполните dms pki init")
    return secret_from_file(path)


@dataclass
class Pki:
    """The loaded CA of one process, its time-stamp authority and the trust store of the newest CRLs."""
    ca: CertificateAuthority
    tsa: TimeStampAuthority
    user_algorithm: KeyAlgorithm
    _trust: tuple[tuple[int, ...], TrustStore] | None = field(default=None, repr=False)
    loaded_mtime: float = 0.0  # of ca.json when loaded: a rollover by another process is picked up
    # (signer fingerprint, level, time-stamper) -> signature size to reserve, measured once (see signatures.py)
    reservations: dict[tuple[str, str, str], int] = field(default_factory=dict, repr=False)


_LOADED: weakref.WeakKeyDictionary[Runtime, Pki] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _pki_of(ca: CertificateAuthority) -> Pki:
    algorithm = KeyAlgorithm.RSA_3072 if ca.algorithm is not KeyAlgorithm.ECDSA_P256 else KeyAlgorithm.ECDSA_P256
    return Pki(ca, TimeStampAuthority.from_ca(ca), algorithm)


def _stamp(settings: Settings) -> float:
    try:
        return (pki_dir(settings) / "ca.json").stat().st_mtime
    except OSError:
        return 0.0


def load(rt: Runtime) -> Pki:
    """The CA of this process, loaded from disk on first use and kept (loaded again after a rollover saved by
    another process, e.g. `dms maintain`)."""
    with _LOCK:
        pki = _LOADED.get(rt)
        if pki is not None and pki.loaded_mtime != _stamp(rt.settings):
            pki = None
        if pki is None:
            if not is_initialised(rt.settings):
                raise PkiNotInitialised("удостоверяющий центр не создан: выполните dms pki init")
            try:
                ca = CertificateAuthority.load(pki_dir(rt.settings), _passphrase(rt.settings, create=False))
            except sig_errors.CaLoadError as exc:
                raise refusal(exc) from None
            pki = _LOADED[rt] = _pki_of(ca)
            pki.loaded_mtime = _stamp(rt.settings)
        return pki


def _default_organisation(session: Session) -> str:
    org = session.scalars(select(Organisation).where(Organisation.kind == AGENCY_KIND)
                          .order_by(Organisation.id)).first()
    return (org.short_name or org.name) if org else DEFAULT_ORGANISATION


def init(rt: Runtime, *, use_rsa: bool = False, organisation: str | None = None) -> dict:
    """Create the CA once (idempotent: an existing CA is loaded and described) and publish its first CRLs."""
    directory = pki_dir(rt.settings)
    created = False
    with _LOCK:
        if not CertificateAuthority.exists(directory):
            with rt.db.session() as s:
                name = organisation or _default_organisation(s)
            ca = CertificateAuthority.create(name, algorithm=ALGORITHM_FOR_CA[use_rsa],
                                             public_base_url=public_base_url(rt.settings))
            ca.save(directory, _passphrase(rt.settings, create=True))
            _LOADED[rt] = _pki_of(ca)
            _LOADED[rt].loaded_mtime = _stamp(rt.settings)
            created = True
    pki = load(rt)
    with rt.db.session() as s:
        for issuer in CRL_VALIDITY:
            current_crl(rt, s, issuer)
        if created:
            audit.record(s, None, "pki.init", "pki", None, organisation=pki.ca.organisation,
                         fingerprints=pki.ca.fingerprints())
    return {"created": created, "directory": str(directory), "organisation": pki.ca.organisation,
            "algorithm": pki.user_algorithm.value, "public_base_url": pki.ca.public_base_url,
            "fingerprints": pki.ca.fingerprints()}


def certificate_der(rt: Runtime, name: str) -> bytes:
    """root.crt / issuing.crt as DER, read from the public half of the CA on disk (no passphrase needed)."""
    role = PUBLIC_CERTIFICATES[name]
    path = pki_dir(rt.settings) / f"{role}.crt.pem"
    if not path.is_file():
        raise PkiNotInitialised("удостоверяющий центр не создан")
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)


# --- revocation lists --------------------------------------------------------------------------------------

def key_id(certificate_der: bytes) -> str:
    """Which generation of a CA: the SHA-256 of its certificate."""
    return fingerprint_sha256(certificate_der)


def _generation(pki: Pki, issuer: str) -> CaCredential:
    return pki.ca.root if issuer == "root" else pki.ca.issuing


def _latest_crl(session: Session, issuer: str, issuer_key_id: str | None = None) -> RevocationList | None:
    query = select(RevocationList).where(RevocationList.issuer == issuer)
    if issuer_key_id is not None:
        query = query.where(RevocationList.issuer_key_id == issuer_key_id)
    return session.scalars(query.order_by(RevocationList.number.desc()).limit(1)).first()


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def _revoked_entries(session: Session, pki: Pki | None = None, generation: CaCredential | None = None
                     ) -> list[RevokedEntry]:
    """Every certificate of ours ever revoked (expired ones too: our CRLs keep them), or those `generation` issued."""
    rows = session.scalars(select(SigningCredential).where(SigningCredential.revoked_at.is_not(None),
                                                           SigningCredential.imported.is_(False))).all()
    if pki is not None and generation is not None and pki.ca.issuing_generations[1:]:
        rows = [r for r in rows if pki.ca.issuer_of(r.certificate_der) is generation]
    return [RevokedEntry(int(r.serial, 16), _aware(r.revoked_at), r.revoke_reason or "unspecified",
                         _aware(r.invalidity_date) if r.invalidity_date else None) for r in rows if r.revoked_at]


def publish_crl(rt: Runtime, session: Session, issuer: str = "issuing",
                generation: CaCredential | None = None) -> RevocationList:
    """A new CRL numbered one above the last of `issuer` (in the caller's transaction; a concurrent publisher of the
    same number makes one of the two commits fail on the unique number, never two different lists with one
    number). `generation`: a retired issuing CA still alive (default: the current one)."""
    pki = load(rt)
    number = (session.scalar(select(func.max(RevocationList.number)).where(RevocationList.issuer == issuer)) or 0) + 1
    now = clock.now()
    validity = CRL_VALIDITY[issuer]
    signer = generation or _generation(pki, issuer)
    if issuer == "issuing":
        end = signer.certificate.not_valid_after_utc
        der = pki.ca.build_crl(_revoked_entries(session, pki, signer), number=number, now=now,
                               valid_for=max(min(validity, end - now), timedelta(seconds=1)), issuer=signer)
    else:
        der = pki.ca.build_root_crl(number=number, now=now)
    parsed = x509.load_der_x509_crl(der)
    row = RevocationList(issuer=issuer, number=number, crl_der=der, this_update=parsed.last_update_utc,
                         next_update=parsed.next_update_utc or now + validity,
                         issuer_key_id=key_id(signer.certificate_der))
    session.add(row)
    session.flush()
    return row


def current_crl(rt: Runtime, session: Session, issuer: str, generation: CaCredential | None = None
                ) -> RevocationList:
    """The newest CRL of `issuer` (of its current generation, or `generation`), publishing a fresh one (in a
    savepoint of the caller's transaction) when none exists or the newest nears its next update; a concurrent
    publisher of the same number wins and is served."""
    pki = load(rt)
    signer = generation or _generation(pki, issuer)
    kid = key_id(signer.certificate_der)
    row = _latest_crl(session, issuer, kid)
    if row is not None and _aware(row.next_update) - clock.now() > CRL_REFRESH_BEFORE[issuer]:
        return row
    if row is not None and signer.certificate.not_valid_after_utc <= clock.now():
        return row  # an expired CA publishes no more; its last CRL stands
    try:
        with session.begin_nested():
            return publish_crl(rt, session, issuer, signer)
    except IntegrityError:
        row = _latest_crl(session, issuer, kid)
        assert row is not None
        return row


def publish_due_crls(rt: Runtime, session: Session) -> list[dict]:
    """What `dms maintain` publishes: a fresh CRL for the root and every issuing CA generation still alive whose
    newest CRL nears its next update."""
    pki = load(rt)
    out = []
    for issuer, generation in [("root", pki.ca.root), *(("issuing", g) for g in pki.ca.issuing_generations)]:
        before = _latest_crl(session, issuer, key_id(generation.certificate_der))
        row = current_crl(rt, session, issuer, generation)
        if before is None or row.id != before.id:
            out.append({"issuer": issuer, "number": row.number, "key_id": row.issuer_key_id[:16]})
    return out


def crl_der(rt: Runtime, session: Session, name: str) -> bytes:
    return current_crl(rt, session, PUBLIC_CRLS[name]).crl_der


def archive_crls(session: Session) -> list[bytes]:
    """The newest CRL of every issuer generation we ever had: the archive's revocation history."""
    newest = select(func.max(RevocationList.id)).group_by(RevocationList.issuer, RevocationList.issuer_key_id)
    return [r.crl_der for r in session.scalars(select(RevocationList).where(RevocationList.id.in_(newest))
                                               .order_by(RevocationList.id))]


def trust_store(rt: Runtime, session: Session) -> TrustStore:
    """Our roots (every generation) as trust anchors with the archive's CRL history; rebuilt only when a newer CRL
    was published or the CA rolled over."""
    pki = load(rt)
    issuing, root = current_crl(rt, session, "issuing"), current_crl(rt, session, "root")
    newest = session.scalar(select(func.max(RevocationList.id))) or 0
    key = (issuing.number, root.number, newest, len(pki.ca.history))
    if pki._trust is None or pki._trust[0] != key:
        pki._trust = (key, TrustStore.for_ca(pki.ca, crls=archive_crls(session)))
    return pki._trust[1]


def roll_over(rt: Runtime, now: datetime | None = None, roles: list[str] | None = None) -> dict:
    """Renew what is due of the TSA, issuing CA and root (new keys; old certificates kept for validation, a retired
    issuing CA keeps publishing CRLs until it expires) and publish the new generation's CRLs. Needs the CA's keys:
    run by `dms maintain` (or `dms pki issue` at an issuing CA's end of life), never by a web request."""
    if not (roles or load(rt).ca.due_renewals(now)):
        return {"renewed": [], "fingerprints": {}}  # nothing due: no key is decrypted
    directory = pki_dir(rt.settings)
    passphrase = _passphrase(rt.settings, create=False)
    with _LOCK:
        try:
            ca = CertificateAuthority.load(directory, passphrase)
        except sig_errors.CaLoadError as exc:
            raise refusal(exc) from None
        done = ca.roll_over(now, roles)
        if done:
            ca.save(directory, passphrase)
            _LOADED[rt] = _pki_of(ca)
            _LOADED[rt].loaded_mtime = _stamp(rt.settings)
    if done:
        with rt.db.session() as s:
            for issuer in ("root", "issuing"):
                current_crl(rt, s, issuer)
            audit.record(s, None, "pki.rollover", "pki", None, renewed=done, fingerprints=load(rt).ca.fingerprints())
    return {"renewed": done, "fingerprints": load(rt).ca.fingerprints() if done else {}}


# --- users' credentials -------------------------------------------------------------------------------------

def _require_admin(actor: User | None) -> None:
    """None is the system itself (the CLI run by the operator)."""
    if actor is not None and not holds_globally(actor, P.MANAGE_PKI):
        raise AdminOnly("сертификаты подписи выпускает и отзывает только администратор")


def _check_pin(pin: str) -> None:
    if len(pin or "") < MIN_PIN:
        raise Invalid("PIN-код должен быть не короче %(n)s символов", n=MIN_PIN)


def credentials_of(session: Session, user: User) -> list[SigningCredential]:
    return list(session.scalars(select(SigningCredential).where(SigningCredential.user_id == user.id)
                                .order_by(SigningCredential.created_at.desc(), SigningCredential.id.desc())))


def is_active(cred: SigningCredential, now: datetime | None = None) -> bool:
    now = now or datetime.now(UTC)
    return cred.revoked_at is None and _aware(cred.not_before) <= now <= _aware(cred.not_after)


def active_credential(session: Session, user: User) -> SigningCredential | None:
    """The newest unrevoked credential valid now."""
    now = datetime.now(UTC)
    return next((c for c in credentials_of(session, user) if is_active(c, now)), None)


def _store(session: Session, user: User, cred: UserCredential, chain_pem: str = "",
           imported: bool = False) -> SigningCredential:
    row = SigningCredential(user_id=user.id, serial=format(cred.serial, "x"), fingerprint=cred.fingerprint,
                            subject=cred.subject, certificate_der=cred.certificate_der,
                            encrypted_key_pem=cred.encrypted_key_pem.decode("ascii"), chain_pem=chain_pem,
                            imported=imported, not_before=cred.not_before, not_after=cred.not_after)
    session.add(row)
    session.flush()
    return row


def issue(rt: Runtime, session: Session, actor: User | None, user: User, pin: str,
          valid_days: int = 730) -> SigningCredential:
    """A new signing certificate for `user`, its key encrypted under `pin` (never stored)."""
    _require_admin(actor)
    _check_pin(pin)
    pki = load(rt)
    if "issuing" in pki.ca.due_renewals():  # never issue from a CA at its end of life: renew it first
        roll_over(rt)
        pki = load(rt)
    cred = pki.ca.issue_user_certificate(user.full_name or user.login, pin, email=user.email or None,
                                         algorithm=pki.user_algorithm, valid_days=valid_days,
                                         organisation=holder_organisation(user))
    row = _store(session, user, cred)
    audit.record(session, actor, "pki.issue", "user", user.id, holder=user.login, serial=row.serial,
                 fingerprint=row.fingerprint, not_after=row.not_after)
    return row


def holder_organisation(user: User) -> str | None:
    """The organisation named in a user's certificate: their own (a practice holder's representative carries the
    holder, not the agency); None (the CA's, i.e. the agency) for staff without one."""
    org = user.organisation
    if org is None or org.kind == AGENCY_KIND:
        return None
    return org.short_name or org.name


def import_p12(rt: Runtime, session: Session, actor: User | None, user: User, p12: bytes, password: str | None,
               pin: str) -> SigningCredential:
    """A credential from a PKCS#12 file issued elsewhere; its key is re-encrypted under `pin`."""
    _require_admin(actor)
    _check_pin(pin)
    try:
        cred, chain = import_pkcs12(p12, password, pin)
    except sig_errors.SigningLibraryError as exc:
        raise refusal(exc) from None
    chain_pem = "".join(x509.load_der_x509_certificate(c).public_bytes(serialization.Encoding.PEM).decode()
                        for c in chain)
    if session.scalar(select(SigningCredential.id).where(SigningCredential.fingerprint == cred.fingerprint)):
        raise Invalid("этот сертификат уже загружен")
    row = _store(session, user, cred, chain_pem, imported=True)
    audit.record(session, actor, "pki.import", "user", user.id, holder=user.login, serial=row.serial,
                 fingerprint=row.fingerprint, subject=row.subject)
    return row


def revoke(rt: Runtime, session: Session, actor: User | None, user: User, reason: str = "unspecified",
           credential_id: int | None = None, invalid_since: datetime | None = None) -> list[SigningCredential]:
    """Revoke the user's unrevoked credentials (or one of them) and publish a new CRL in the same transaction.
    `invalid_since` (key compromise only): since when the key is known to be unsafe — signatures proven older stay
    valid, later ones do not."""
    _require_admin(actor)
    if reason not in REVOCATION_REASONS:
        raise Invalid("причина отзыва: одна из %(known)s", known=", ".join(REVOCATION_REASONS))
    now = clock.now()
    if invalid_since is not None and (reason != "key_compromise" or _aware(invalid_since) > now):
        raise Invalid("дата компрометации указывается только при отзыве по компрометации ключа и не позже текущего "
                      "момента")
    targets = [c for c in credentials_of(session, user) if c.revoked_at is None
               and (credential_id is None or c.id == credential_id)]
    if not targets:
        raise Invalid("у пользователя «%(login)s» нет неотозванных сертификатов подписи", login=user.login)
    for cred in targets:
        cred.revoked_at = now
        cred.revoke_reason = reason
        cred.invalidity_date = _aware(invalid_since) if invalid_since else None
    session.flush()
    pki = load(rt)
    crl = publish_crl(rt, session, "issuing")
    for generation in pki.ca.retired_issuing:  # a certificate of a retired issuing CA is listed by that CA
        if any(pki.ca.issuer_of(c.certificate_der) is generation for c in targets):
            publish_crl(rt, session, "issuing", generation)
    audit.record(session, actor, "pki.revoke", "user", user.id, holder=user.login, reason=reason,
                 serials=[c.serial for c in targets], crl_number=crl.number)
    return targets


def _chain_der(pki: Pki, cred: SigningCredential) -> list[bytes]:
    if not cred.chain_pem:
        return pki.ca.chain_for(cred.certificate_der)  # the generation of the issuing CA that issued it
    return [c.public_bytes(serialization.Encoding.DER)
            for c in x509.load_pem_x509_certificates(cred.chain_pem.encode())]


def unlock(rt: Runtime, session: Session, user: User, pin: str) -> tuple[SignerIdentity, SigningCredential]:
    """The user's signer, its key opened with `pin`; refusals say what is wrong with the credential."""
    return begin_unlock(rt, session, user, pin).result()


class PendingUnlock:
    """A signing key being opened with a PIN in a thread of its own (begin_unlock). Its key derivation, 0.6 s of one
    core, lets other threads run: the caller prepares meanwhile what needs no key (a batch renders its certificates,
    issue 20). The caller's session must not be committed before result(): a wrong PIN rolls back what it did."""

    def __init__(self, session: Session, cred: SigningCredential, opening: threading.Thread,
                 outcome: list[SignerIdentity | BaseException]) -> None:
        self._session, self._cred, self._opening, self._outcome = session, cred, opening, outcome
        self._settled: tuple[SignerIdentity, SigningCredential] | None = None

    def opening(self) -> bool:
        """The key is still being opened."""
        return self._opening.is_alive()

    def result(self) -> tuple[SignerIdentity, SigningCredential]:
        """The signer, the attempt counted as right; or the refusal (a wrong PIN counted, after rolling back the
        caller's uncommitted work)."""
        if self._settled is not None:
            return self._settled
        self._opening.join()
        session, cred_id = self._session, self._cred.id
        [outcome] = self._outcome
        if isinstance(outcome, sig_errors.WrongPin):
            session.rollback()
            raise _wrong_pin(session, cred_id) from None
        if isinstance(outcome, sig_errors.SigningLibraryError):
            session.rollback()
            _pin_settled(session, cred_id, right=False)
            raise refusal(outcome) from None
        if isinstance(outcome, BaseException):
            raise outcome
        _pin_settled(session, cred_id, right=True)
        self._settled = outcome, self._cred
        return self._settled


def begin_unlock(rt: Runtime, session: Session, user: User, pin: str) -> PendingUnlock:
    """Start opening the user's key with `pin` (see PendingUnlock); refusals about the credential come at once."""
    creds = credentials_of(session, user)
    active = next((c for c in creds if is_active(c)), None)
    if active is None:
        if not creds:
            raise SigningRefused("у пользователя «%(login)s» нет сертификата подписи; его выпускает администратор "
                                 "(dms pki issue)", 403, login=user.login)
        if creds[0].revoked_at is not None:
            raise SigningRefused("сертификат подписи отозван; обратитесь к администратору за новым", 403)
        raise SigningRefused("у сертификата подписи истёк или ещё не начался срок действия", 403)
    _claim_pin_attempt(session, active.id)
    credential = (active.certificate_der, active.encrypted_key_pem.encode("ascii"))
    chain = _chain_der(load(rt), active)
    outcome: list[SignerIdentity | BaseException] = []

    def open_key() -> None:
        try:
            outcome.append(load_signer(credential, pin or "", chain))
        except BaseException as exc:  # noqa: BLE001 - handed to result() in the caller's thread
            outcome.append(exc)

    opening = threading.Thread(target=open_key, name="pin-kdf", daemon=True)
    opening.start()
    return PendingUnlock(session, active, opening, outcome)


# --- PIN guessing (issue 16): every attempt counted before the key is tried; each wrong PIN delays the next try
# (PIN_DELAY, doubling) and PIN_LOCK_AFTER in a row lock the key until an administrator unlocks it (unlock_pin).
# The counter is committed at once in the caller's session (a separate session would wait for the caller's write
# lock on SQLite): a refusal rolls nothing of it back. unlock comes before any work of its callers' units of work.
PIN_LOCK_AFTER = 5
PIN_DELAY = timedelta(seconds=1)
PIN_DELAY_MAX = timedelta(minutes=1)


def _pin_delay(failures: int) -> timedelta:
    """No wait after one wrong PIN (a typo), then 1 s, 2 s, 4 s, … before the next try."""
    return timedelta(0) if failures <= 1 else min(PIN_DELAY * (2 ** (failures - 2)), PIN_DELAY_MAX)


def _locked_row(session: Session, cred_id: int) -> SigningCredential:
    # FOR UPDATE OF the credential only: PostgreSQL refuses to lock the outer-joined user (loaded with it)
    return session.scalars(select(SigningCredential).where(SigningCredential.id == cred_id)
                           .with_for_update(of=SigningCredential)
                           .execution_options(populate_existing=True)).one()


def _claim_pin_attempt(session: Session, cred_id: int) -> None:
    """Count this attempt before the PIN is tried (concurrent guesses cannot all pass a stale count), or refuse a
    locked key or one whose delay has not passed."""
    now = clock.now()
    cred = _locked_row(session, cred_id)
    if cred.pin_locked_at is not None:
        audit.record(session, cred.user, "pki.pin_refused", "user", cred.user_id, serial=cred.serial,
                     reason="locked")
        session.commit()
        raise SigningRefused("ключ подписи заблокирован после %(n)s неверных PIN-кодов подряд; его разблокирует "
                             "администратор (dms pki unlock %(login)s)", 423, n=PIN_LOCK_AFTER,
                             login=cred.user.login)
    retry = _aware(cred.pin_retry_after) if cred.pin_retry_after else None
    if retry is not None and retry > now:
        session.commit()
        raise SigningRefused("после неверного PIN-кода следующая попытка возможна через %(s)s с", 429,
                             s=max(1, int((retry - now).total_seconds() + 0.999)))
    cred.pin_failures += 1  # taken back by _pin_settled when the PIN was right
    cred.pin_retry_after = now + _pin_delay(cred.pin_failures)
    session.commit()


def _pin_settled(session: Session, cred_id: int, right: bool) -> None:
    """The PIN was right (or the refusal was not about the PIN): the attempt is not a failure."""
    cred = _locked_row(session, cred_id)
    cred.pin_failures = 0 if right else max(cred.pin_failures - 1, 0)
    cred.pin_retry_after = None
    session.commit()


def _wrong_pin(session: Session, cred_id: int) -> SigningRefused:
    """A wrong PIN: audited; the key locks after PIN_LOCK_AFTER in a row. The holder is told how many tries are
    left, and when the key is locked, who unlocks it."""
    cred = _locked_row(session, cred_id)
    failures, login = cred.pin_failures, cred.user.login
    audit.record(session, cred.user, "pki.pin_failed", "user", cred.user_id, serial=cred.serial, failures=failures)
    if failures >= PIN_LOCK_AFTER:
        cred.pin_locked_at = clock.now()
        audit.record(session, cred.user, "pki.pin_locked", "user", cred.user_id, serial=cred.serial,
                     failures=failures)
    session.commit()
    if failures >= PIN_LOCK_AFTER:
        return SigningRefused("Неверный PIN-код; ключ подписи заблокирован после %(n)s неверных PIN-кодов подряд; "
                              "его разблокирует администратор (dms pki unlock %(login)s)", 423, n=PIN_LOCK_AFTER,
                              login=login)
    return SigningRefused("Неверный PIN-код ключа подписи; осталось попыток до блокировки: %(left)s", 403,
                          {"error": "WrongPin"}, left=PIN_LOCK_AFTER - failures)


def unlock_pin(session: Session, actor: User | None, user: User) -> int:
    """An administrator lifts the PIN lock (and the count) of the user's credentials; returns how many were locked
    or counting."""
    _require_admin(actor)
    changed = 0
    for cred in credentials_of(session, user):
        if cred.pin_locked_at is not None or cred.pin_failures:
            cred.pin_locked_at, cred.pin_failures, cred.pin_retry_after = None, 0, None
            changed += 1
    audit.record(session, actor, "pki.pin_unlock", "user", user.id, holder=user.login, credentials=changed)
    return changed


def credential_json(cred: SigningCredential) -> dict:
    return {"id": cred.id, "login": cred.user.login if cred.user else None, "serial": cred.serial,
            "fingerprint": cred.fingerprint, "subject": cred.subject, "not_before": _aware(cred.not_before).isoformat(),
            "not_after": _aware(cred.not_after).isoformat(), "imported": cred.imported,
            "revoked_at": _aware(cred.revoked_at).isoformat() if cred.revoked_at else None,
            "revoke_reason": cred.revoke_reason or None, "active": is_active(cred),
            "invalid_since": _aware(cred.invalidity_date).isoformat() if cred.invalidity_date else None}


def ensure_demo_signatory(rt: Runtime, login: str = "director") -> str | None:
    """For `dms demo`: the CA (created if missing) and a credential for the demo signatory. Returns the new PIN
    (to print once), or None when the user already holds an active credential or does not exist."""
    init(rt)
    with rt.db.session() as s:
        user = s.scalars(select(User).where(User.login == login)).first()
        if user is None or active_credential(s, user) is not None:
            return None
        pin = f"{secrets.randbelow(10 ** 8):08d}"
        issue(rt, s, None, user, pin)
        return pin
