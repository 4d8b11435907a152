"""Validation of PDF signatures and detached CMS signatures at the time the evidence proves.

The model is ETSI EN 319 102-1's (long-term validation): for every signature the earliest proof of
existence (POE) is found — its own signature time-stamp, any later document (archive) time-stamp
that covers it, and the archive's own record of when it stored the bytes (``stored_at``, from the
caller) — each time-stamp itself checked at the POE of the time-stamps that cover it. The signer's
chain is then checked as it stood at that POE (so a certificate that expired since still counts),
and revocation is judged by its date and reason against the POE (:mod:`signing.revocation`): from
the archive's CRL history in the trust store and the CRLs in the document's DSS; nothing is fetched
unless the trust store allows it for other organisations' CAs.

Each signature gets one status (:data:`STATUS_RU`, :data:`STATUS_EN`); validation never raises on
untrusted input, and GOST R 34.10/34.11 (or anything pyHanko cannot process) is ``cannot_be_checked``.
So is a signature (or time-stamp) whose hash or signature algorithm had reached its sunset
(:mod:`signing.algorithms`, e.g. SHA-1) at its POE, and a signature in a format pyHanko does not read
(the legacy ``adbe.pkcs7.sha1``): listed, with the algorithm named, never skipped as "no signature".
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, UTC
from functools import partial
from typing import Any, BinaryIO

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.validation import (
    async_validate_detached_cms,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus, StandardCMSSignatureStatus

from . import aio, algorithms, clock, revocation
from .signer import fingerprint_sha256
from .trust import TrustStore

# pyHanko logs every untrusted path with a traceback at WARNING; our report says it in words.
for _name in ("pyhanko.sign.validation", "pyhanko_certvalidator", "pyhanko.sign.general"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

# Statuses a signature may have, the first two authentic.
OK_STATUSES = ("valid", "valid_revoked_later")

STATUS_RU: dict[str, str] = {
    "valid": "подпись действительна",
    "valid_revoked_later": "подпись действительна; сертификат подписанта отозван позже момента подписания",
    "expired_at_signing": "срок действия сертификата подписанта истёк к моменту подписания",
    "not_yet_valid_at_signing": "срок действия сертификата подписанта ещё не начался в момент подписания",
    "revoked": "сертификат подписанта отозван до момента подписания",
    "untrusted": "подпись математически верна, но сертификат не выдан доверенным удостоверяющим центром",
    "indeterminate": "статус отзыва сертификата подписанта на момент подписания неизвестен",
    "modified": "документ изменён после подписания недопустимым образом",
    "invalid": "подпись недействительна: подписанные данные изменены или подпись повреждена",
    "cannot_be_checked": "подпись не может быть проверена этой системой",
}

STATUS_EN: dict[str, str] = {
    "valid": "the signature is valid",
    "valid_revoked_later": "the signature is valid; the signer's certificate was revoked after the signing time",
    "expired_at_signing": "the signer's certificate had expired at the signing time",
    "not_yet_valid_at_signing": "the signer's certificate was not yet valid at the signing time",
    "revoked": "the signer's certificate was revoked before the signing time",
    "untrusted": "the signature is mathematically correct, but the certificate is not from a trusted authority",
    "indeterminate": "the revocation status of the signer's certificate at the signing time is unknown",
    "modified": "the document was changed after signing in a way that is not allowed",
    "invalid": "the signature is invalid: the signed data was changed or the signature is damaged",
    "cannot_be_checked": "this system cannot check the signature",
}

REASON_RU: dict[str, str] = {
    "unspecified": "причина не указана",
    "key_compromise": "компрометация ключа",
    "ca_compromise": "компрометация ключа УЦ",
    "affiliation_changed": "изменение должности или места работы",
    "superseded": "заменён новым",
    "cessation_of_operation": "прекращение деятельности",
    "certificate_hold": "приостановлен",
    "privilege_withdrawn": "полномочия отозваны",
    "aa_compromise": "компрометация",
}

POE_SOURCE_RU: dict[str, str] = {
    "signature_timestamp": "по штампу времени подписи",
    "document_timestamp": "по архивному штампу времени документа",
    "archive": "по записи архива о сохранении файла",
    "now": "на момент проверки (иных доказательств времени нет)",
}

COVERAGE_RU: dict[str, str] = {
    "entire_file": "подпись охватывает весь файл",
    "entire_revision": "после подписи в файл добавлены изменения",
    "contiguous_block_from_start": "подпись охватывает только начало файла",
    "unclear": "охват подписи неясен",
}

MODIFICATION_RU: dict[str, str] = {
    "none": "изменений нет",
    "lta_updates": "добавлены только данные для долговременной проверки",
    "form_filling": "добавлены только заполнение полей формы и новые подписи",
    "annotations": "добавлены примечания",
    "other": "содержимое документа изменено",
}

DOCMDP_RU: dict[str, str] = {
    "no_changes": "удостоверяющая подпись: изменения запрещены",
    "fill_forms": "удостоверяющая подпись: разрешены заполнение форм и подписи",
    "annotate": "удостоверяющая подпись: разрешены формы, подписи и примечания",
}

# Algorithms pyHanko cannot verify, by OID prefix, with the name a clerk may recognise.
UNCHECKABLE_ALGORITHMS: dict[str, str] = {
    "1.2.643.7.1.1.1": "ГОСТ Р 34.10-2012",
    "1.2.643.7.1.1.2": "ГОСТ Р 34.11-2012",
    "1.2.643.7.1.1.3": "ГОСТ Р 34.10-2012",
    "1.2.643.2.2": "ГОСТ Р 34.10-2001",
}


def _uncheckable_algorithm(signed_data: cms.SignedData) -> str | None:
    for signer_info in signed_data["signer_infos"]:
        for name in ("digest_algorithm", "signature_algorithm"):
            oid = signer_info[name]["algorithm"].dotted
            for prefix, label in UNCHECKABLE_ALGORITHMS.items():
                if oid.startswith(prefix):
                    return f"{label} ({oid})"
    return None


# SubFilters pyHanko validates; a signature with any other is listed as one this system cannot check.
_SUPPORTED_SUBFILTERS = frozenset(s.value for s in SigSeedSubFilter)
# The legacy SubFilters (ISO 32000-1, 12.8.3.3) whose digest is SHA-1 whatever the CMS says.
_SHA1_SUBFILTERS = frozenset({"/adbe.pkcs7.sha1"})


def _ru_day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%d.%m.%Y")


def _sunset_problem(sunset: algorithms.Sunset) -> str:
    since = f" с {_ru_day(sunset.at)}" if sunset.at is not None and sunset.at > algorithms.NEVER else ""
    return (f"алгоритм {sunset.label} признан ненадёжным{since} (ETSI TS 119 312); подпись этим алгоритмом ничего "
            "не доказывает, если нет доказательства её существования до этой даты")


def _lapsed_algorithm(signed_data: cms.SignedData, cert: asn1_x509.Certificate | None,
                      at: datetime) -> tuple[algorithms.Sunset, str] | None:
    """The first algorithm of a CMS signature (or time-stamp token) past its sunset at ``at``, with the OIDs named."""
    signer_info = signed_data["signer_infos"][0]
    digest = signer_info["digest_algorithm"]["algorithm"].native
    mechanism = signer_info["signature_algorithm"]
    sunsets = algorithms.signature_sunsets(digest, mechanism, cert.public_key if cert is not None else None)
    content = signed_data["encap_content_info"]
    if content["content_type"].native == "tst_info":
        sunsets.append(algorithms.hash_sunset(content["content"].parsed["message_imprint"]["hash_algorithm"][
            "algorithm"].native))
    lapsed = algorithms.lapsed_at(sunsets, at)
    if lapsed is None:
        return None
    return lapsed, f"{lapsed.label} ({mechanism['algorithm'].native}/{digest})"


def _judge_algorithms(report: SignatureReport, signed_data: cms.SignedData, cert: asn1_x509.Certificate | None) -> None:
    """A signature whose algorithm was no longer trustworthy at its POE cannot be checked (a broken one stays
    invalid): pyHanko only says the certificate is not trusted, which names the wrong cause."""
    if report.poe is None or report.status == "invalid":
        return
    found = _lapsed_algorithm(signed_data, cert, report.poe)
    if found is not None:
        sunset, named = found
        report.status, report.algorithm, report.problem = "cannot_be_checked", named, _sunset_problem(sunset)


def _ru_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%d.%m.%Y %H:%M:%S UTC")


@dataclass
class SignatureReport:
    """One signature, as facts and as one status."""

    status: str
    field_name: str | None = None
    kind: str = "signature"
    signer: str | None = None
    signer_serial: str | None = None
    signer_fingerprint: str | None = None
    algorithm: str | None = None
    intact: bool | None = None
    valid: bool | None = None
    trusted: bool | None = None
    revoked: bool | None = None
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    invalidity_date: datetime | None = None
    revocation_checked_at: datetime | None = None
    coverage: str | None = None
    modification_level: str | None = None
    docmdp_ok: bool | None = None
    certification: str | None = None
    signing_time: datetime | None = None
    timestamp: datetime | None = None
    timestamp_trusted: bool | None = None
    level: str | None = None
    poe: datetime | None = None
    poe_source: str | None = None
    certificate_not_before: datetime | None = None
    certificate_not_after: datetime | None = None
    trust_problem: str | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    @property
    def status_en(self) -> str:
        return STATUS_EN[self.status]

    def summary_ru(self, number: int) -> str:
        who = f" ({self.signer})" if self.signer else ""
        head = "Штамп времени документа" if self.kind == "document_timestamp" else f"Подпись {number}{who}"
        parts = [f"{head}: {STATUS_RU[self.status]}."]
        if self.problem and self.status == "cannot_be_checked":
            parts.append(f"Причина: {self.problem}.")
        if self.coverage:
            parts.append(COVERAGE_RU[self.coverage].capitalize() + ".")
        if self.modification_level and self.coverage != "entire_file":
            parts.append(MODIFICATION_RU[self.modification_level].capitalize() + ".")
        if self.certification:
            parts.append(DOCMDP_RU[self.certification].capitalize() + ".")
        if self.revoked_at:
            reason = REASON_RU.get(self.revocation_reason or "", self.revocation_reason or "")
            parts.append(f"Сертификат отозван {_ru_time(self.revoked_at)} ({reason}).")
        if self.status in ("expired_at_signing", "not_yet_valid_at_signing") and self.certificate_not_after:
            start = _ru_time(self.certificate_not_before) if self.certificate_not_before else "?"
            parts.append(f"Срок действия сертификата: {start} — {_ru_time(self.certificate_not_after)}.")
        if self.timestamp:
            trusted = "доверенный" if self.timestamp_trusted else "НЕ доверенный"
            parts.append(f"Время подписания по штампу времени ({trusted}): {_ru_time(self.timestamp)}.")
        elif self.signing_time:
            parts.append(f"Время подписания со слов подписанта (без штампа времени): {_ru_time(self.signing_time)}.")
        if self.poe and self.kind != "document_timestamp":
            parts.append(f"Проверено на {_ru_time(self.poe)} ({POE_SOURCE_RU.get(self.poe_source or '', '')}).")
        if self.signer_serial:
            parts.append(f"Серийный номер сертификата: {self.signer_serial}.")
        return " ".join(parts)

    def summary_en(self, number: int) -> str:
        head = "Document time-stamp" if self.kind == "document_timestamp" else f"Signature {number}"
        if self.signer and self.kind != "document_timestamp":
            head += f" ({self.signer})"
        parts = [f"{head}: {STATUS_EN[self.status]}."]
        if self.status == "cannot_be_checked" and self.algorithm:
            parts.append(f"Algorithm: {self.algorithm}.")
        if self.revoked_at:
            parts.append(f"Certificate revoked {_ru_time(self.revoked_at)} ({self.revocation_reason}).")
        if self.poe and self.kind != "document_timestamp":
            parts.append(f"Checked as at {_ru_time(self.poe)} ({self.poe_source}).")
        return " ".join(parts)


@dataclass
class ValidationReport:
    """All signatures of one document (or one detached signature)."""

    kind: str
    signatures: list[SignatureReport] = field(default_factory=list)
    problem: str | None = None
    # Facts about the file beside its signatures (issue 16): e.g. bytes appended after the last revision that no
    # signature covers and no PDF reader reads. (Russian, English) pairs.
    warnings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def authentic(self) -> bool:
        """True only if there is at least one signature and every one is valid (revoked later counts as valid)."""
        return bool(self.signatures) and all(s.ok for s in self.signatures)

    def to_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            return value.isoformat() if isinstance(value, datetime) else value

        return {
            "kind": self.kind,
            "authentic": self.authentic,
            "problem": self.problem,
            "warnings": [ru for ru, _en in self.warnings],
            "signatures": [
                {**{k: plain(v) for k, v in asdict(s).items()}, "status_ru": STATUS_RU[s.status],
                 "status_en": STATUS_EN[s.status]}
                for s in self.signatures
            ],
        }

    def summary_ru(self) -> str:
        if self.problem:
            return f"Проверка невозможна: {self.problem}."
        if not self.signatures:
            return "Документ не содержит электронных подписей."
        verdict = "Все подписи действительны." if self.authentic else "Внимание: не все подписи действительны."
        lines = [f"Подписей в документе: {len(self.signatures)}. {verdict}"]
        lines += [s.summary_ru(i) for i, s in enumerate(self.signatures, start=1)]
        lines += [f"Внимание: {ru}." for ru, _en in self.warnings]
        return "\n".join(lines)

    def summary_en(self) -> str:
        if self.problem:
            return f"Cannot be checked: {self.problem}."
        if not self.signatures:
            return "The document carries no electronic signatures."
        verdict = "All signatures are valid." if self.authentic else "Warning: not all signatures are valid."
        lines = [f"Signatures in the document: {len(self.signatures)}. {verdict}"]
        lines += [s.summary_en(i) for i, s in enumerate(self.signatures, start=1)]
        lines += [f"Warning: {en}." for _ru, en in self.warnings]
        return "\n".join(lines)


# --- facts ------------------------------------------------------------------------------------------------


def _enum_name(value: Any) -> str | None:
    return value.name.lower() if value is not None else None


def _cert_facts(cert: asn1_x509.Certificate) -> dict[str, Any]:
    return {
        "signer": cert.subject.native.get("common_name"),
        "signer_serial": format(cert.serial_number, "x"),
        "signer_fingerprint": fingerprint_sha256(cert.dump()),
        "certificate_not_before": cert.not_valid_before,
        "certificate_not_after": cert.not_valid_after,
    }


def _signer_cert(signed_data: cms.SignedData) -> asn1_x509.Certificate | None:
    try:
        sid = signed_data["signer_infos"][0]["sid"]
        for choice in signed_data["certificates"]:
            cert = choice.chosen
            if sid.name == "issuer_and_serial_number":
                if (cert.issuer == sid.chosen["issuer"]
                        and cert.serial_number == sid.chosen["serial_number"].native):
                    return cert
            elif cert.key_identifier == sid.chosen.native:
                return cert
    except Exception:  # noqa: BLE001 - a malformed CMS simply tells us nothing
        pass
    return None


def _embedded_cert_facts(signed_data: cms.SignedData) -> dict[str, Any]:
    """Who claims to have signed, read from the CMS without checking anything (best effort)."""
    cert = _signer_cert(signed_data)
    return _cert_facts(cert) if cert is not None else {}


def _signature_tst_time(signed_data: cms.SignedData) -> datetime | None:
    """gen_time of the signature time-stamp token, read without checking it (checked by pyHanko later)."""
    try:
        for attr in signed_data["signer_infos"][0]["unsigned_attrs"]:
            if attr["type"].native == "signature_time_stamp_token":
                token = attr["values"][0]
                return token["content"]["encap_content_info"]["content"].parsed["gen_time"].native
    except Exception:  # noqa: BLE001
        return None
    return None


def _signer_facts(status: StandardCMSSignatureStatus) -> dict[str, Any]:
    timestamp = status.timestamp_validity
    return {
        **_cert_facts(status.signing_cert),
        "algorithm": f"{status.pkcs7_signature_mechanism}/{status.md_algorithm}",
        "intact": status.intact,
        "valid": status.valid,
        "trusted": status.trusted,
        "trust_problem": _enum_name(status.trust_problem_indic),
        "signing_time": status.signer_reported_dt,
        "timestamp": timestamp.timestamp if timestamp else None,
        "timestamp_trusted": timestamp.trusted if timestamp else None,
    }


def _timestamp_ok(status: StandardCMSSignatureStatus) -> bool:
    ts = status.timestamp_validity
    return bool(ts is not None and ts.intact and ts.valid and ts.trusted)


# --- evidence: proofs of existence and revocation data ----------------------------------------------------


@dataclass
class _Evidence:
    trust: TrustStore
    now: datetime
    stored_at: datetime | None
    dss_crls: list[x509.CertificateRevocationList] = field(default_factory=list)
    dss_certs: list[asn1_x509.Certificate] = field(default_factory=list)
    # (signed revision, proven time) of every document time-stamp that checked out
    doc_timestamps: list[tuple[int, datetime]] = field(default_factory=list)

    def cover(self, revision: int | None) -> tuple[datetime, str]:
        """The earliest proven existence of a revision: later valid document time-stamps, the archive's record."""
        candidates = [(self.now, "now")]
        if self.stored_at is not None:
            candidates.append((self.stored_at, "archive"))
        if revision is not None:
            candidates += [(t, "document_timestamp") for rev, t in self.doc_timestamps if rev > revision]
        return min(candidates, key=lambda item: item[0])

    def crls_for(self, cert: x509.Certificate) -> list[tuple[x509.CertificateRevocationList, str, datetime | None]]:
        as_of = self.now if self.trust.crls_current else None
        found = [(c, "archive", as_of) for c in self.trust.parsed_crls if c.issuer == cert.issuer]
        found += [(c, "dss", None) for c in self.dss_crls if c.issuer == cert.issuer]
        if not found and self.trust.fetch_revocation:
            found = [(c, "fetched", None) for c in revocation.load_crls(
                revocation.fetch_crls(cert, self.trust.fetch_timeout))]
        return found


def _dss_contents(reader: PdfFileReader) -> tuple[list[x509.CertificateRevocationList], list[asn1_x509.Certificate]]:
    crls: list[bytes] = []
    certs: list[asn1_x509.Certificate] = []
    try:
        if "/DSS" not in reader.root:
            return [], []
        dss = reader.root["/DSS"]
        for ref in dss.get("/CRLs", ()):
            crls.append(ref.get_object().data)
        for ref in dss.get("/Certs", ()):
            certs.append(asn1_x509.Certificate.load(ref.get_object().data))
    except Exception:  # noqa: BLE001 - a broken DSS is no evidence
        pass
    return revocation.load_crls(crls), certs


def _crypto(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())


def _judge_revocation(report: SignatureReport, status: Any, evidence: _Evidence) -> None:
    """Revocation of the signer's certificate (and the CAs above it) at the report's POE."""
    path = status.validation_path
    if path is None or report.poe is None:
        return
    certs = [c for c in path.iter_certs(include_root=True)]
    # pairs (certificate, issuer) from the leaf up, the trust anchor itself excluded
    pairs = [(certs[i], certs[i - 1]) for i in range(len(certs) - 1, 0, -1)]
    for depth, (cert, issuer) in enumerate(pairs):
        leaf = depth == 0
        c_cert, c_issuer = _crypto(cert), _crypto(issuer)
        finding = revocation.judge(c_cert, c_issuer, evidence.crls_for(c_cert), report.poe)
        if finding.state == "revoked_before":
            report.status, report.revoked = "revoked", True
        elif finding.state == "revoked_after" and report.status == "valid":
            report.status, report.revoked = "valid_revoked_later", True
        elif finding.state == "unknown" and leaf and report.status == "valid":
            report.status = "indeterminate"
        if leaf or finding.state.startswith("revoked"):
            report.revoked_at = report.revoked_at or finding.revoked_at
            report.revocation_reason = report.revocation_reason or finding.reason
            report.invalidity_date = report.invalidity_date or finding.invalidity_date
            if leaf:
                report.revocation_checked_at = finding.checked_at
        if report.status == "revoked":
            return


def _trust_verdict(report: SignatureReport) -> str:
    """Why a mathematically correct signature's certificate did not check out at its POE."""
    poe = report.poe
    if poe is not None and report.certificate_not_after is not None and poe > report.certificate_not_after:
        return "expired_at_signing"
    if poe is not None and report.certificate_not_before is not None and poe < report.certificate_not_before:
        return "not_yet_valid_at_signing"
    if report.trust_problem == "revoked":
        return "revoked"
    return "untrusted"


def _first_verdict(report: SignatureReport) -> str:
    if not (report.intact and report.valid):
        return "invalid"
    if report.docmdp_ok is False:
        return "modified"
    if not report.trusted:
        return _trust_verdict(report)
    return "valid"


async def _signature_at_poe(
    validate: Callable[[TrustStore, datetime, datetime], Any],
    signed_data: cms.SignedData,
    cover: tuple[datetime, str],
    evidence: _Evidence,
) -> tuple[Any, datetime, str]:
    """Validate once at the time the signature time-stamp claims; if the token does not check out (at the
    POE of the token itself: ``cover``), validate again at ``cover``."""
    tst_time = _signature_tst_time(signed_data)
    if tst_time is not None and tst_time <= cover[0]:
        status = await validate(evidence.trust, tst_time, cover[0])
        if _timestamp_ok(status):
            return status, tst_time, "signature_timestamp"
    status = await validate(evidence.trust, cover[0], cover[0])
    return status, cover[0], cover[1]


def _dss_extra(evidence: _Evidence) -> Sequence[asn1_x509.Certificate]:
    return evidence.dss_certs


async def _report_signature(embedded: EmbeddedPdfSignature, reader: PdfFileReader, evidence: _Evidence,
                            has_doc_timestamp: bool) -> SignatureReport:
    extra = _dss_extra(evidence)

    async def validate(trust: TrustStore, at: datetime, ts_at: datetime) -> PdfSignatureStatus:
        return await async_validate_pdf_signature(
            embedded,
            signer_validation_context=trust.path_context(at, extra),
            ts_validation_context=trust.path_context(ts_at, extra),
        )

    cover = evidence.cover(embedded.signed_revision)
    status, poe, source = await _signature_at_poe(validate, embedded.signed_data, cover, evidence)
    report = SignatureReport(
        status="valid",
        field_name=_safe_name(embedded),
        coverage=_enum_name(status.coverage),
        modification_level=_enum_name(status.modification_level),
        docmdp_ok=status.docmdp_ok,
        certification=_enum_name(embedded.docmdp_level),
        level=_pdf_level(status, embedded, reader, has_doc_timestamp),
        poe=poe,
        poe_source=source,
        **_signer_facts(status),
    )
    report.status = _first_verdict(report)
    _judge_algorithms(report, embedded.signed_data, status.signing_cert)
    if report.status == "valid":
        _judge_revocation(report, status, evidence)
    return report


async def _report_doc_timestamp(embedded: EmbeddedPdfSignature, evidence: _Evidence,
                                skip_diff: bool = False) -> SignatureReport:
    poe, source = evidence.cover(embedded.signed_revision)
    ts_status = await async_validate_pdf_timestamp(
        embedded, validation_context=evidence.trust.path_context(poe, _dss_extra(evidence)), skip_diff=skip_diff)
    report = SignatureReport(
        status="valid",
        field_name=_safe_name(embedded),
        kind="document_timestamp",
        intact=ts_status.intact,
        valid=ts_status.valid,
        trusted=ts_status.trusted,
        trust_problem=_enum_name(ts_status.trust_problem_indic),
        timestamp=ts_status.timestamp,
        timestamp_trusted=ts_status.trusted,
        coverage=_enum_name(ts_status.coverage),
        modification_level=_enum_name(ts_status.modification_level),
        docmdp_ok=ts_status.docmdp_ok,
        poe=poe,
        poe_source=source,
        **{k: v for k, v in _cert_facts(ts_status.signing_cert).items() if k.startswith("certificate_")},
    )
    report.status = _first_verdict(report)
    _judge_algorithms(report, embedded.signed_data, ts_status.signing_cert)
    if report.status == "valid":
        _judge_revocation(report, ts_status, evidence)
        if report.status == "indeterminate":  # a TSA certificate without revocation data still proves its time
            report.status = "valid"
    if report.ok and report.timestamp is not None:
        evidence.doc_timestamps.append((embedded.signed_revision, report.timestamp))
    return report


def _has_validation_data(embedded: EmbeddedPdfSignature, reader: PdfFileReader) -> bool:
    """DSS entry for this very signature (VRI keyed by SHA-1 of /Contents), or a DSS without VRI."""
    if "/DSS" not in reader.root:
        return False
    dss = reader.root["/DSS"]
    if "/VRI" not in dss:
        return True
    key = hashlib.sha1(embedded.pkcs7_content).hexdigest().upper()
    return f"/{key}" in dss["/VRI"]


def _pdf_level(
    status: PdfSignatureStatus, embedded: EmbeddedPdfSignature, reader: PdfFileReader, has_doc_timestamp: bool
) -> str:
    if status.timestamp_validity is None:
        return "B-B"
    if not _has_validation_data(embedded, reader):
        return "B-T"
    return "B-LTA" if has_doc_timestamp else "B-LT"


async def _guarded(
    coroutine_factory: Callable[[], Any], field_name: str | None, signed_data: cms.SignedData | None,
    kind: str = "signature",
) -> SignatureReport:
    if signed_data is not None:
        gost = _uncheckable_algorithm(signed_data)
        if gost:
            return SignatureReport(
                status="cannot_be_checked",
                field_name=field_name,
                kind=kind,
                algorithm=gost,
                problem=f"алгоритм {gost} не поддерживается",
                **_embedded_cert_facts(signed_data),
            )
    try:
        return await coroutine_factory()
    except Exception as exc:  # noqa: BLE001 - a signature we cannot process is reported, never raised
        return SignatureReport(
            status="cannot_be_checked",
            field_name=field_name,
            kind=kind,
            problem=f"{type(exc).__name__}: {exc}"[:300],
            **(_embedded_cert_facts(signed_data) if signed_data is not None else {}),
        )


async def async_validate_pdf(
    pdf: bytes | BinaryIO, trust: TrustStore, *, stored_at: datetime | None = None, now: datetime | None = None
) -> ValidationReport:
    source = io.BytesIO(pdf) if isinstance(pdf, (bytes, bytearray, memoryview)) else pdf
    try:
        reader = PdfFileReader(source, strict=False)
        if reader.encrypted:
            return ValidationReport(kind="pdf", problem="документ зашифрован")
        embedded = list(reader.embedded_signatures)
    except Exception as exc:  # noqa: BLE001 - untrusted bytes
        return ValidationReport(kind="pdf", problem=f"файл не является читаемым PDF ({type(exc).__name__})")
    dss_crls, dss_certs = _dss_contents(reader)
    evidence = _Evidence(trust, now or clock.now(), stored_at, dss_crls, dss_certs)
    is_ts = [_safe_type(e) == "/DocTimeStamp" for e in embedded]
    reports: dict[int, SignatureReport] = {}
    # document time-stamps from the newest: each proves the time of everything before it
    # a signature's own diff analysis already covers every revision after it, document time-stamps' too: the
    # time-stamps after the first signature skip theirs (a renewed file would analyse the same revisions n times)
    first_signature = next((i for i, ts in enumerate(is_ts) if not ts), None)
    for index in reversed(range(len(embedded))):
        if is_ts[index]:
            e = embedded[index]
            skip = first_signature is not None and first_signature < index
            reports[index] = await _guarded(partial(_report_doc_timestamp, e, evidence, skip), _safe_name(e),
                                            _safe_cms(e), "document_timestamp")
    for index, e in enumerate(embedded):
        if not is_ts[index]:
            reports[index] = await _guarded(partial(_report_signature, e, reader, evidence, any(is_ts)),
                                            _safe_name(e), _safe_cms(e))
    listed = [(e.signed_revision, reports[i]) for i, e in enumerate(embedded)]
    listed += _unsupported_signatures(reader, len(embedded))
    listed.sort(key=lambda item: item[0])
    return ValidationReport(kind="pdf", signatures=[report for _rev, report in listed],
                            warnings=_trailing_bytes(source))


def _unsupported_signatures(reader: PdfFileReader, supported: int) -> list[tuple[int, SignatureReport]]:
    """Signed fields pyHanko skips for their SubFilter (it logs "ignoring" and lists them nowhere), each as a
    signature this system cannot check, at its signed revision (the end of the file if even that is unreadable)."""
    try:
        filled = list(enumerate_sig_fields(reader, filled_status=True))
    except Exception:  # noqa: BLE001 - the signatures pyHanko found are all we can speak of
        return []
    if len(filled) <= supported:
        return []
    found = []
    for name, sig_object, sig_field in filled:
        try:
            value = sig_object.get_object()
            subfilter, kind = str(value.get("/SubFilter", "")), str(value.get("/Type", "/Sig"))
        except Exception:  # noqa: BLE001
            subfilter, kind = "", "/Sig"
        if subfilter in _SUPPORTED_SUBFILTERS:
            continue
        found.append(_unsupported_report(reader, str(name), subfilter, sig_field,
                                         "document_timestamp" if kind == "/DocTimeStamp" else "signature"))
    return found


def _unsupported_report(reader: PdfFileReader, name: str, subfilter: str, sig_field: Any,
                        kind: str) -> tuple[int, SignatureReport]:
    shown = subfilter.lstrip("/") or "без SubFilter"
    report = SignatureReport(status="cannot_be_checked", field_name=name, kind=kind, algorithm=shown,
                             problem=f"формат подписи {shown} не поддерживается")
    revision = 1 << 30
    try:
        embedded = EmbeddedPdfSignature(reader, sig_field, name)
        revision = embedded.signed_revision
        for key, value in _embedded_cert_facts(embedded.signed_data).items():
            setattr(report, key, value)
    except Exception:  # noqa: BLE001 - untrusted bytes: the field is listed with what could be read
        pass
    if subfilter in _SHA1_SUBFILTERS:
        sha1 = algorithms.hash_sunset("sha1")
        report.algorithm = f"{sha1.label} ({shown})"
        report.problem = f"устаревший формат подписи {shown}: {_sunset_problem(sha1)}"
    return revision, report


def _trailing_bytes(source: BinaryIO) -> list[tuple[str, str]]:
    """Bytes after the last %%EOF that are not whitespace: no signature covers them and no reader parses them."""
    try:
        source.seek(0, io.SEEK_END)
        size = source.tell()
        source.seek(max(0, size - (1 << 20)))
        tail = source.read()
    except (OSError, ValueError):
        return []
    end = tail.rfind(b"%%EOF")
    extra = len(tail[end + 5:].strip(b" \t\r\n\x00\x0c")) if end >= 0 else 0
    if not extra:
        return []
    return [(f"после конца PDF (последнего %%EOF) дописано {extra} байт, которые не читаются как PDF и не "
             "охвачены ни одной подписью", f"{extra} bytes were appended after the end of the PDF (its last %%EOF); "
             "they are not PDF and no signature covers them")]


def _safe_type(embedded: EmbeddedPdfSignature) -> str | None:
    try:
        return embedded.sig_object_type
    except Exception:  # noqa: BLE001
        return None


def _safe_cms(embedded: EmbeddedPdfSignature) -> cms.SignedData | None:
    try:
        return embedded.signed_data
    except Exception:  # noqa: BLE001
        return None


def _safe_name(embedded: EmbeddedPdfSignature) -> str | None:
    """The field name as a plain str (pyHanko's string object holds the whole reader: copying it cost a second)."""
    try:
        name = embedded.field_name
        return None if name is None else str(name)
    except Exception:  # noqa: BLE001
        return None


def validate_pdf(
    pdf: bytes | BinaryIO, trust: TrustStore, *, stored_at: datetime | None = None, now: datetime | None = None
) -> ValidationReport:
    """Validate every signature and document time-stamp of a PDF against ``trust``, each at the time its
    evidence proves. ``stored_at``: when the archive stored these very bytes (its own proof of existence)."""
    return aio.run(async_validate_pdf(pdf, trust, stored_at=stored_at, now=now))


async def _report_cms(data: bytes | BinaryIO, signed_data: cms.SignedData, evidence: _Evidence) -> SignatureReport:
    async def validate(trust: TrustStore, at: datetime, ts_at: datetime) -> StandardCMSSignatureStatus:
        if hasattr(data, "seek"):
            data.seek(0)
        return await async_validate_detached_cms(
            data, signed_data, signer_validation_context=trust.path_context(at),
            ts_validation_context=trust.path_context(ts_at))

    status, poe, source = await _signature_at_poe(validate, signed_data, evidence.cover(None), evidence)
    report = SignatureReport(status="valid", kind="cms", coverage="entire_file", poe=poe, poe_source=source,
                             **_signer_facts(status))
    report.status = _first_verdict(report)
    _judge_algorithms(report, signed_data, status.signing_cert)
    if report.status == "valid":
        _judge_revocation(report, status, evidence)
    return report


def validate_detached(
    data: bytes | BinaryIO, p7s: bytes, trust: TrustStore, *, stored_at: datetime | None = None,
    now: datetime | None = None,
) -> ValidationReport:
    """Validate a detached CMS signature (.p7s, DER or PEM) over ``data``."""
    from .cms import load_p7s

    try:
        signed_data = load_p7s(p7s)
    except Exception as exc:  # noqa: BLE001 - untrusted bytes
        return ValidationReport(kind="cms", problem=f"файл подписи не читается ({exc})")
    evidence = _Evidence(trust, now or clock.now(), stored_at)
    report = aio.run(_guarded(lambda: _report_cms(data, signed_data, evidence), None, signed_data, "cms"))
    report.kind = "cms"
    return ValidationReport(kind="cms", signatures=[report])
