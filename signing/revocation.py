"""Revocation judged at the moment the evidence proves (ETSI EN 319 102-1, 5.2.6 and 5.6.2.4).

A certificate's status at a proof of existence (POE) comes from CRLs signed by its issuer: the
archive's own history (our CRLs never drop an entry, and say so with ExpiredCertsOnCRL), CRLs
embedded in the document's DSS, and — only when the caller allows it — CRLs fetched from the
certificate's distribution points with a timeout. Nothing is fetched by default.

* listed, revoked before the POE                                  -> revoked before signing
* listed for key compromise with an invalidity date before the POE  -> revoked before signing
* listed, revoked after the POE (any other case)                   -> valid, revoked since (a note)
* not listed in a CRL issued at or after the POE that still covers
  the certificate (not expired at the CRL's date, or the CRL keeps
  expired entries)                                                 -> good
* otherwise                                                        -> unknown (indeterminate)
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import clock

# id-ce-expiredCertsOnCRL (RFC 5280 does not name it; X.509 2019 § 9.6.2.7): the CRL keeps entries
# of certificates that have expired since the given date.
EXPIRED_CERTS_ON_CRL = x509.ObjectIdentifier("2.5.29.60")
FETCH_TIMEOUT = 5.0
FETCH_LIMIT = 10 * 1024 * 1024

_REASONS = {
    x509.ReasonFlags.unspecified: "unspecified",
    x509.ReasonFlags.key_compromise: "key_compromise",
    x509.ReasonFlags.ca_compromise: "ca_compromise",
    x509.ReasonFlags.affiliation_changed: "affiliation_changed",
    x509.ReasonFlags.superseded: "superseded",
    x509.ReasonFlags.cessation_of_operation: "cessation_of_operation",
    x509.ReasonFlags.certificate_hold: "certificate_hold",
    x509.ReasonFlags.privilege_withdrawn: "privilege_withdrawn",
    x509.ReasonFlags.aa_compromise: "aa_compromise",
    x509.ReasonFlags.remove_from_crl: "remove_from_crl",
}
_COMPROMISE = {"key_compromise", "ca_compromise", "aa_compromise"}


@dataclass(frozen=True)
class Finding:
    """What the revocation data says about one certificate at one moment."""

    state: str  # "good" | "revoked_before" | "revoked_after" | "unknown"
    revoked_at: datetime | None = None
    reason: str | None = None
    invalidity_date: datetime | None = None
    checked_at: datetime | None = None  # thisUpdate of the newest CRL that vouches for the status
    source: str | None = None


def load_crls(ders: Iterable[bytes]) -> list[x509.CertificateRevocationList]:
    out = []
    for der in ders:
        try:
            out.append(x509.load_der_x509_crl(der))
        except ValueError:
            continue  # unreadable revocation data is simply no evidence
    return out


_SIGNATURE_OK: dict[tuple[bytes, bytes], bool] = {}
_SIGNATURE_LOCK = threading.Lock()


def _signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    key = (crl.fingerprint(crl.signature_hash_algorithm or _sha256()), issuer.fingerprint(_sha256()))
    with _SIGNATURE_LOCK:
        known = _SIGNATURE_OK.get(key)
    if known is None:
        try:
            known = bool(crl.is_signature_valid(issuer.public_key()))  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - an unusable key or CRL is no evidence
            known = False
        with _SIGNATURE_LOCK:
            if len(_SIGNATURE_OK) > 10_000:
                _SIGNATURE_OK.clear()
            _SIGNATURE_OK[key] = known
    return known


def _sha256():  # noqa: ANN202
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()


def _keeps_expired(crl: x509.CertificateRevocationList) -> bool:
    try:
        crl.extensions.get_extension_for_oid(EXPIRED_CERTS_ON_CRL)
        return True
    except x509.ExtensionNotFound:
        return False


def _entry_facts(entry: x509.RevokedCertificate) -> tuple[datetime, str, datetime | None]:
    reason = "unspecified"
    invalidity = None
    for extension in entry.extensions:
        if isinstance(extension.value, x509.CRLReason):
            reason = _REASONS.get(extension.value.reason, "unspecified")
        elif isinstance(extension.value, x509.InvalidityDate):
            invalidity = extension.value.invalidity_date_utc
    return entry.revocation_date_utc, reason, invalidity


def judge(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    crls: Sequence[tuple[x509.CertificateRevocationList, str, datetime | None]],
    poe: datetime,
) -> Finding:
    """The status of ``cert`` at ``poe`` from ``crls``: (CRL, source name, the moment its content is known to be
    complete — None: its thisUpdate; the archive's own CRLs are complete up to now, since every revocation
    publishes a new one at once)."""
    usable = [(crl, source, as_of or crl.last_update_utc) for crl, source, as_of in crls
              if crl.issuer == cert.issuer and _signed_by(crl, issuer)]
    listed = []
    for crl, source, _ in usable:
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            listed.append((*_entry_facts(entry), crl.last_update_utc, source))
    if listed:
        revoked_at, reason, invalidity, checked, source = min(listed, key=lambda item: item[0])
        if reason == "remove_from_crl":
            listed = []
        else:
            before = revoked_at <= poe or (
                reason in _COMPROMISE and invalidity is not None and invalidity <= poe
            )
            return Finding("revoked_before" if before else "revoked_after", revoked_at, reason, invalidity,
                           checked, source)
    vouching = [
        (as_of, source)
        for crl, source, as_of in usable
        if as_of >= poe.replace(microsecond=0)
        and (crl.last_update_utc <= cert.not_valid_after_utc or _keeps_expired(crl))
    ]
    if vouching:
        checked, source = max(vouching)
        return Finding("good", checked_at=checked, source=source)
    return Finding("unknown")


# --- fetching, only when the caller allows it (certificates of other CAs) ----------------------------------

_FETCHED: dict[str, tuple[datetime, bytes]] = {}
_FETCH_LOCK = threading.Lock()


def distribution_points(cert: x509.Certificate) -> list[str]:
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    urls = []
    for point in points:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.startswith(("http://", "https://")):
                urls.append(name.value)
    return urls


def fetch_crls(cert: x509.Certificate, timeout: float = FETCH_TIMEOUT) -> list[bytes]:
    """The CRLs at the certificate's distribution points (cached until their next update); failures give none."""
    out = []
    now = clock.now()
    for url in distribution_points(cert):
        with _FETCH_LOCK:
            cached = _FETCHED.get(url)
        if cached is not None and cached[0] > now:
            out.append(cached[1])
            continue
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only, above
                body = response.read(FETCH_LIMIT + 1)
            if len(body) > FETCH_LIMIT:
                continue
            if body.startswith(b"-----BEGIN"):
                body = x509.load_pem_x509_crl(body).public_bytes(serialization.Encoding.DER)
            parsed = x509.load_der_x509_crl(body)
        except Exception:  # noqa: BLE001 - unreachable or garbage: no evidence, the status stays unknown
            continue
        until = parsed.next_update_utc or now
        with _FETCH_LOCK:
            _FETCHED[url] = (until, body)
        out.append(body)
    return out


__all__ = ["EXPIRED_CERTS_ON_CRL", "Finding", "distribution_points", "fetch_crls", "judge", "load_crls"]
