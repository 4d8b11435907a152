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
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from signing import errors as sig_errors
from signing.pki import (ISSUING_CERT_PATH, ISSUING_CRL_PATH, ROOT_CERT_PATH, ROOT_CRL_PATH, CertificateAuthority,
                         KeyAlgorithm, RevokedEntry, UserCredential, import_pkcs12, load_signer)
from signing.signer import SignerIdentity
from signing.trust import TrustStore
from signing.tsa import TimeStampAuthority

from ..config import Settings, secret_from_file
from ..errors import DmsError, Invalid
from ..models import Organisation, RevocationList, SigningCredential, User
from ..runtime import Runtime
from . import audit

PKI_DIR = "pki"
PASSPHRASE_FILE = "passphrase"
MIN_PIN = 6
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
    env = os.environ.get("DMS_PKI_PASSPHRASE")
    if env:
        return env
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
    _trust: tuple[tuple[int, int], TrustStore] | None = field(default=None, repr=False)
    # (signer fingerprint, level, time-stamper) -> signature size to reserve, measured once (see signatures.py)
    reservations: dict[tuple[str, str, str], int] = field(default_factory=dict, repr=False)


_LOADED: weakref.WeakKeyDictionary[Runtime, Pki] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _pki_of(ca: CertificateAuthority) -> Pki:
    algorithm = KeyAlgorithm.RSA_3072 if isinstance(ca.root.key, rsa.RSAPrivateKey) else KeyAlgorithm.ECDSA_P256
    return Pki(ca, TimeStampAuthority.from_ca(ca), algorithm)


def load(rt: Runtime) -> Pki:
    """The CA of this process, loaded from disk on first use and kept."""
    with _LOCK:
        pki = _LOADED.get(rt)
        if pki is None:
            if not is_initialised(rt.settings):
                raise PkiNotInitialised("удостоверяющий центр не создан: выполните dms pki init")
            try:
                ca = CertificateAuthority.load(pki_dir(rt.settings), _passphrase(rt.settings, create=False))
            except sig_errors.CaLoadError as exc:
                raise refusal(exc) from None
            pki = _LOADED[rt] = _pki_of(ca)
        return pki


def _default_organisation(session: Session) -> str:
    org = session.scalars(select(Organisation).where(Organisation.kind == "agency").order_by(Organisation.id)).first()
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

def _latest_crl(session: Session, issuer: str) -> RevocationList | None:
    return session.scalars(select(RevocationList).where(RevocationList.issuer == issuer)
                           .order_by(RevocationList.number.desc()).limit(1)).first()


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def _revoked_entries(session: Session) -> list[RevokedEntry]:
    rows = session.scalars(select(SigningCredential).where(SigningCredential.revoked_at.is_not(None),
                                                           SigningCredential.imported.is_(False))).all()
    return [RevokedEntry(int(r.serial, 16), _aware(r.revoked_at), r.revoke_reason or "unspecified") for r in rows]


def publish_crl(rt: Runtime, session: Session, issuer: str = "issuing") -> RevocationList:
    """A new CRL numbered one above the last (in the caller's transaction; a concurrent publisher of the same
    number makes one of the two commits fail on the unique number, never two different lists with one number)."""
    pki = load(rt)
    number = (session.scalar(select(func.max(RevocationList.number)).where(RevocationList.issuer == issuer)) or 0) + 1
    now = datetime.now(UTC)
    validity = CRL_VALIDITY[issuer]
    der = (pki.ca.build_crl(_revoked_entries(session), number=number, now=now, valid_for=validity)
           if issuer == "issuing" else pki.ca.build_root_crl(number=number, now=now))
    parsed = x509.load_der_x509_crl(der)
    row = RevocationList(issuer=issuer, number=number, crl_der=der, this_update=parsed.last_update_utc,
                         next_update=parsed.next_update_utc or now + validity)
    session.add(row)
    session.flush()
    return row


def current_crl(rt: Runtime, session: Session, issuer: str) -> RevocationList:
    """The newest CRL of `issuer`, publishing a fresh one (in a savepoint of the caller's transaction) when none
    exists or the newest nears its next update; a concurrent publisher of the same number wins and is served."""
    row = _latest_crl(session, issuer)
    if row is not None and _aware(row.next_update) - datetime.now(UTC) > CRL_REFRESH_BEFORE[issuer]:
        return row
    try:
        with session.begin_nested():
            return publish_crl(rt, session, issuer)
    except IntegrityError:
        row = _latest_crl(session, issuer)
        assert row is not None
        return row


def crl_der(rt: Runtime, session: Session, name: str) -> bytes:
    return current_crl(rt, session, PUBLIC_CRLS[name]).crl_der


def trust_store(rt: Runtime, session: Session) -> TrustStore:
    """Our root as the trust anchor with the newest CRLs; rebuilt only when a newer CRL was published."""
    pki = load(rt)
    issuing, root = current_crl(rt, session, "issuing"), current_crl(rt, session, "root")
    key = (issuing.number, root.number)
    if pki._trust is None or pki._trust[0] != key:
        pki._trust = (key, TrustStore.for_ca(pki.ca, crls=[issuing.crl_der, root.crl_der]))
    return pki._trust[1]


# --- users' credentials -------------------------------------------------------------------------------------

def _require_admin(actor: User | None) -> None:
    """None is the system itself (the CLI run by the operator)."""
    if actor is not None and "Administrator" not in actor.global_roles:
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
    cred = pki.ca.issue_user_certificate(user.full_name or user.login, pin, email=user.email or None,
                                         algorithm=pki.user_algorithm, valid_days=valid_days)
    row = _store(session, user, cred)
    audit.record(session, actor, "pki.issue", "user", user.id, holder=user.login, serial=row.serial,
                 fingerprint=row.fingerprint, not_after=row.not_after)
    return row


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
           credential_id: int | None = None) -> list[SigningCredential]:
    """Revoke the user's unrevoked credentials (or one of them) and publish a new CRL in the same transaction."""
    _require_admin(actor)
    if reason not in REVOCATION_REASONS:
        raise Invalid("причина отзыва: одна из %(known)s", known=", ".join(REVOCATION_REASONS))
    now = datetime.now(UTC)
    targets = [c for c in credentials_of(session, user) if c.revoked_at is None
               and (credential_id is None or c.id == credential_id)]
    if not targets:
        raise Invalid("у пользователя «%(login)s» нет неотозванных сертификатов подписи", login=user.login)
    for cred in targets:
        cred.revoked_at = now
        cred.revoke_reason = reason
    session.flush()
    crl = publish_crl(rt, session, "issuing")
    audit.record(session, actor, "pki.revoke", "user", user.id, holder=user.login, reason=reason,
                 serials=[c.serial for c in targets], crl_number=crl.number)
    return targets


def _chain_der(pki: Pki, cred: SigningCredential) -> list[bytes]:
    if not cred.chain_pem:
        return pki.ca.chain_der
    return [c.public_bytes(serialization.Encoding.DER)
            for c in x509.load_pem_x509_certificates(cred.chain_pem.encode())]


def unlock(rt: Runtime, session: Session, user: User, pin: str) -> tuple[SignerIdentity, SigningCredential]:
    """The user's signer, its key opened with `pin`; refusals say what is wrong with the credential."""
    creds = credentials_of(session, user)
    active = next((c for c in creds if is_active(c)), None)
    if active is None:
        if not creds:
            raise SigningRefused("у пользователя «%(login)s» нет сертификата подписи; его выпускает администратор "
                                 "(dms pki issue)", 403, login=user.login)
        if creds[0].revoked_at is not None:
            raise SigningRefused("сертификат подписи отозван; обратитесь к администратору за новым", 403)
        raise SigningRefused("у сертификата подписи истёк или ещё не начался срок действия", 403)
    try:
        signer = load_signer((active.certificate_der, active.encrypted_key_pem.encode("ascii")), pin or "",
                             _chain_der(load(rt), active))
    except sig_errors.SigningLibraryError as exc:
        raise refusal(exc) from None
    return signer, active


def credential_json(cred: SigningCredential) -> dict:
    return {"id": cred.id, "login": cred.user.login if cred.user else None, "serial": cred.serial,
            "fingerprint": cred.fingerprint, "subject": cred.subject, "not_before": _aware(cred.not_before).isoformat(),
            "not_after": _aware(cred.not_after).isoformat(), "imported": cred.imported,
            "revoked_at": _aware(cred.revoked_at).isoformat() if cred.revoked_at else None,
            "revoke_reason": cred.revoke_reason or None, "active": is_active(cred)}


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
