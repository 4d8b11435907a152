"""Validation of PDF signatures and detached CMS signatures into a report a clerk can read.

Every fact pyHanko gives is kept (intact, valid, trusted, revoked, coverage, modification level,
DocMDP, signing time, time stamp) and each signature gets one status from :data:`STATUS_RU`.
A signature made with an algorithm we cannot check (GOST R 34.10-2012 and anything unknown) gets
``cannot_be_checked``; validation never raises on untrusted input.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, UTC
from typing import Any, BinaryIO

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import (
    async_validate_detached_cms,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus, StandardCMSSignatureStatus

from . import aio
from .signer import fingerprint_sha256
from .trust import TrustStore

STATUS_RU: dict[str, str] = {
    "valid": "подпись действительна",
    "untrusted": "подпись математически верна, но сертификат не выдан доверенным удостоверяющим центром",
    "revoked": "сертификат подписанта отозван",
    "modified": "документ изменён после подписания недопустимым образом",
    "invalid": "подпись недействительна: подписанные данные изменены или подпись повреждена",
    "cannot_be_checked": "подпись не может быть проверена этой системой",
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
    coverage: str | None = None
    modification_level: str | None = None
    docmdp_ok: bool | None = None
    certification: str | None = None
    signing_time: datetime | None = None
    timestamp: datetime | None = None
    timestamp_trusted: bool | None = None
    level: str | None = None
    problem: str | None = None

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
            parts.append(f"Сертификат отозван {_ru_time(self.revoked_at)}.")
        if self.timestamp:
            trusted = "доверенный" if self.timestamp_trusted else "НЕ доверенный"
            parts.append(f"Время подписания по штампу времени ({trusted}): {_ru_time(self.timestamp)}.")
        elif self.signing_time:
            parts.append(f"Время подписания со слов подписанта (без штампа времени): {_ru_time(self.signing_time)}.")
        if self.signer_serial:
            parts.append(f"Серийный номер сертификата: {self.signer_serial}.")
        return " ".join(parts)


def _ru_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%d.%m.%Y %H:%M:%S UTC")


@dataclass
class ValidationReport:
    """All signatures of one document (or one detached signature)."""

    kind: str
    signatures: list[SignatureReport] = field(default_factory=list)
    problem: str | None = None

    @property
    def authentic(self) -> bool:
        """True only if there is at least one signature and every one is valid."""
        return bool(self.signatures) and all(s.status == "valid" for s in self.signatures)

    def to_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            return value.isoformat() if isinstance(value, datetime) else value

        return {
            "kind": self.kind,
            "authentic": self.authentic,
            "problem": self.problem,
            "signatures": [{k: plain(v) for k, v in asdict(s).items()} for s in self.signatures],
        }

    def summary_ru(self) -> str:
        if self.problem:
            return f"Проверка невозможна: {self.problem}."
        if not self.signatures:
            return "Документ не содержит электронных подписей."
        verdict = (
            "Все подписи действительны."
            if self.authentic
            else "Внимание: не все подписи действительны."
        )
        lines = [f"Подписей в документе: {len(self.signatures)}. {verdict}"]
        lines += [s.summary_ru(i) for i, s in enumerate(self.signatures, start=1)]
        return "\n".join(lines)


# --- status from pyHanko facts: the first rule that matches wins ---------------------------

_STATUS_RULES: list[tuple[Callable[[SignatureReport], bool], str]] = [
    (lambda r: not (r.intact and r.valid), "invalid"),
    (lambda r: r.docmdp_ok is False, "modified"),
    (lambda r: bool(r.revoked), "revoked"),
    (lambda r: not r.trusted, "untrusted"),
    (lambda r: r.timestamp is not None and not r.timestamp_trusted, "untrusted"),
    (lambda r: True, "valid"),
]


def _decide(report: SignatureReport) -> str:
    return next(status for rule, status in _STATUS_RULES if rule(report))


def _enum_name(value: Any) -> str | None:
    return value.name.lower() if value is not None else None


def _cert_facts(cert: asn1_x509.Certificate) -> dict[str, Any]:
    return {
        "signer": cert.subject.native.get("common_name"),
        "signer_serial": format(cert.serial_number, "x"),
        "signer_fingerprint": fingerprint_sha256(cert.dump()),
    }


def _embedded_cert_facts(signed_data: cms.SignedData) -> dict[str, Any]:
    """Who claims to have signed, read from the CMS without checking anything (best effort)."""
    try:
        sid = signed_data["signer_infos"][0]["sid"]
        for choice in signed_data["certificates"]:
            cert = choice.chosen
            if sid.name == "issuer_and_serial_number" and cert.serial_number == sid.chosen["serial_number"].native:
                return _cert_facts(cert)
    except Exception:  # noqa: BLE001 - a malformed CMS simply tells us nothing
        pass
    return {}


def _signer_facts(status: StandardCMSSignatureStatus) -> dict[str, Any]:
    revocation = status.revocation_details
    timestamp = status.timestamp_validity
    return {
        **_cert_facts(status.signing_cert),
        "algorithm": f"{status.pkcs7_signature_mechanism}/{status.md_algorithm}",
        "intact": status.intact,
        "valid": status.valid,
        "trusted": status.trusted,
        "revoked": status.revoked,
        "revoked_at": revocation.revocation_date if revocation else None,
        "signing_time": status.signer_reported_dt,
        "timestamp": timestamp.timestamp if timestamp else None,
        "timestamp_trusted": timestamp.trusted if timestamp else None,
    }


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


async def _report_pdf_signature(
    embedded: EmbeddedPdfSignature, reader: PdfFileReader, trust: TrustStore, has_doc_timestamp: bool
) -> SignatureReport:
    name = embedded.field_name
    gost = _uncheckable_algorithm(embedded.signed_data)
    if gost:
        return SignatureReport(
            status="cannot_be_checked",
            field_name=name,
            algorithm=gost,
            problem=f"алгоритм {gost} не поддерживается",
            **_embedded_cert_facts(embedded.signed_data),
        )
    context = trust.validation_context()
    if embedded.sig_object_type == "/DocTimeStamp":
        ts_status = await async_validate_pdf_timestamp(embedded, validation_context=context)
        report = SignatureReport(
            status="valid",
            field_name=name,
            kind="document_timestamp",
            intact=ts_status.intact,
            valid=ts_status.valid,
            trusted=ts_status.trusted,
            timestamp=ts_status.timestamp,
            timestamp_trusted=ts_status.trusted,
            coverage=_enum_name(ts_status.coverage),
            modification_level=_enum_name(ts_status.modification_level),
            docmdp_ok=ts_status.docmdp_ok,
        )
    else:
        status = await async_validate_pdf_signature(embedded, signer_validation_context=context)
        report = SignatureReport(
            status="valid",
            field_name=name,
            coverage=_enum_name(status.coverage),
            modification_level=_enum_name(status.modification_level),
            docmdp_ok=status.docmdp_ok,
            certification=_enum_name(embedded.docmdp_level),
            level=_pdf_level(status, embedded, reader, has_doc_timestamp),
            **_signer_facts(status),
        )
    report.status = _decide(report)
    return report


async def _guarded(
    coroutine_factory: Callable[[], Any], field_name: str | None, signed_data: cms.SignedData | None
) -> SignatureReport:
    try:
        return await coroutine_factory()
    except Exception as exc:  # noqa: BLE001 - a signature we cannot process is reported, never raised
        return SignatureReport(
            status="cannot_be_checked",
            field_name=field_name,
            problem=f"{type(exc).__name__}: {exc}"[:300],
            **(_embedded_cert_facts(signed_data) if signed_data is not None else {}),
        )


async def async_validate_pdf(pdf: bytes | BinaryIO, trust: TrustStore) -> ValidationReport:
    source = io.BytesIO(pdf) if isinstance(pdf, (bytes, bytearray, memoryview)) else pdf
    try:
        reader = PdfFileReader(source, strict=False)
        if reader.encrypted:
            return ValidationReport(kind="pdf", problem="документ зашифрован")
        embedded = list(reader.embedded_signatures)
    except Exception as exc:  # noqa: BLE001 - untrusted bytes
        return ValidationReport(kind="pdf", problem=f"файл не является читаемым PDF ({type(exc).__name__})")
    has_doc_timestamp = any(e.sig_object_type == "/DocTimeStamp" for e in embedded)
    reports = [
        await _guarded(
            lambda e=e: _report_pdf_signature(e, reader, trust, has_doc_timestamp), _safe_name(e), _safe_cms(e)
        )
        for e in embedded
    ]
    return ValidationReport(kind="pdf", signatures=reports)


def _safe_cms(embedded: EmbeddedPdfSignature) -> cms.SignedData | None:
    try:
        return embedded.signed_data
    except Exception:  # noqa: BLE001
        return None


def _safe_name(embedded: EmbeddedPdfSignature) -> str | None:
    try:
        return embedded.field_name
    except Exception:  # noqa: BLE001
        return None


def validate_pdf(pdf: bytes | BinaryIO, trust: TrustStore) -> ValidationReport:
    """Validate every signature and document time stamp of a PDF against ``trust``."""
    return aio.run(async_validate_pdf(pdf, trust))


async def _report_cms(data: bytes | BinaryIO, signed_data: cms.SignedData, trust: TrustStore) -> SignatureReport:
    gost = _uncheckable_algorithm(signed_data)
    if gost:
        return SignatureReport(
            status="cannot_be_checked",
            kind="cms",
            algorithm=gost,
            problem=f"алгоритм {gost} не поддерживается",
            **_embedded_cert_facts(signed_data),
        )
    status = await async_validate_detached_cms(data, signed_data, signer_validation_context=trust.validation_context())
    report = SignatureReport(status="valid", kind="cms", coverage="entire_file", **_signer_facts(status))
    report.status = _decide(report)
    return report


def validate_detached(data: bytes | BinaryIO, p7s: bytes, trust: TrustStore) -> ValidationReport:
    """Validate a detached CMS signature (.p7s, DER or PEM) over ``data``."""
    from .cms import load_p7s

    try:
        signed_data = load_p7s(p7s)
    except Exception as exc:  # noqa: BLE001 - untrusted bytes
        return ValidationReport(kind="cms", problem=f"файл подписи не читается ({exc})")
    report = aio.run(_guarded(lambda: _report_cms(data, signed_data, trust), None, signed_data))
    report.kind = "cms"
    return ValidationReport(kind="cms", signatures=[report])
