"""JSON Schemas (OpenAPI 3.1) of what /api/v1 answers: the real fields of every response body.

Objects list their fields and which are always present; extra fields are allowed (a client must ignore what it
does not know), so adding a field to a response is not a breaking change, but removing or retyping one is —
the fuzz run (tests/fuzz) validates every response against these schemas.
"""
from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
ANY_OBJ: Schema = {"type": "object"}
TS: Schema = {"type": "string", "description": "ISO 8601"}
DAY: Schema = {"type": "string", "description": "ГГГГ-ММ-ДД"}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def opt(schema: Schema) -> Schema:
    """The schema or null."""
    if set(schema) <= {"type", "description", "format"} and isinstance(schema.get("type"), str):
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def arr(item: Schema) -> Schema:
    return {"type": "array", "items": item}


def obj(required: str | tuple[str, ...] = "*", /, **props: Schema) -> Schema:
    """An object with these fields; required="*" (default): all of them are always present."""
    names = list(props) if required == "*" else list(required)
    return {"type": "object", "required": names, "properties": props}


def extend(base: str, required: str | tuple[str, ...] = "*", /, **props: Schema) -> Schema:
    """A component's fields plus these."""
    return {"allOf": [ref(base), obj(required, **props)]}


def items(item: Schema) -> Schema:
    return obj(items=arr(item))


ERROR = obj(error=obj(status=INT, message=STR, details=ANY_OBJ))

FOLDER = obj(id=INT, name=STR, parent_id=opt(INT), path=STR, block_inheritance=BOOL)
DOCUMENT = obj(id=INT, type=STR, title=STR, state=STR, reg_number=opt(STR), reg_date=opt(DAY),
               folder_id=opt(INT), organisation=opt(STR), meta=ANY_OBJ, revision=INT, current_version=opt(INT),
               created_at=TS, updated_at=TS)
VERSION = obj(number=INT, sha256=STR, size=INT, media_type=STR, filename=STR, comment=opt(STR), created_at=TS,
              created_by=opt(STR), content_url=STR)
SIGNATURE = obj(id=INT, kind={"type": "string", "enum": ["pades", "cms"]}, version=opt(INT), source_version=opt(INT),
                signer=opt(STR), fingerprint=opt(STR), signed_at=TS, level=opt(STR), field_name=opt(STR),
                transition=opt(STR), detached=BOOL, p7s_media_type=opt(STR), validation=opt(ANY_OBJ),
                validated_at=opt(TS))
VALIDATION = obj(authentic=BOOL, summary_ru=STR, reports=arr(obj(
    ("kind", "authentic", "signatures"), kind=STR, authentic=BOOL, problem=opt(STR), signatures=arr(ANY_OBJ))))
CERTIFICATE_PUBLIC = obj(("status", "status_text", "number", "holder", "qualification", "centre", "centre_code",
                          "issue_date", "valid_until"),
                         status=STR, status_text=STR, number=STR, holder=STR, qualification=STR, level=INT,
                         centre=STR, centre_code=STR, issue_date=DAY, valid_until=opt(DAY), revoked_at=DAY,
                         revoke_order=opt(STR), replaced_by=opt(STR), replaced_at=opt(DAY), replaces=opt(STR))
REGISTER_DOCUMENT = obj(id=INT, type=STR, title=STR, reg_number=opt(STR), reg_date=opt(DAY), state=STR,
                        state_label=STR, signatures=INT, folder_id=opt(INT))
REGISTER_EVENT = obj(id=INT, organisation_id=INT, transition=STR, title=STR, from_status=opt(STR), to_status=STR,
                     reason=opt(STR), actor=opt(STR), ts=TS, document=opt(ref("RegisterDocument")))
ORGANISATION = obj(id=INT, code=opt(STR), name=STR, short_name=opt(STR), kind=STR, kind_label=STR, city=opt(STR),
                   inn=opt(STR), status=opt(STR), status_label=opt(STR), status_reason=opt(STR),
                   status_changed_at=opt(TS), folder_id=opt(INT), documents=INT, certificates=INT, ogrn=opt(STR),
                   kpp=opt(STR), pending_status=opt(STR))
HOLD = obj(id=INT, document_id=opt(INT), folder_id=opt(INT), reason=STR, placed_at=TS, released_at=opt(TS),
           release_reason=opt(STR))
DISPOSITION_BATCH = obj(id=INT, status=STR, as_of=DAY, proposed_at=TS, approved_at=opt(TS), executed_at=opt(TS),
                        act_document_id=opt(INT),  # the act filed at execution (dms.records.act)
                        items=arr(obj(document_id=opt(INT), type=STR, title=STR, reg_number=opt(STR), due=DAY,
                                      rule=STR, status=STR, outcome=opt(ANY_OBJ))))
AGREEMENT = obj(id=INT, title=STR, reg_number=opt(STR), state=STR, status=STR, status_ru=STR, reason_ru=STR,
                counterparty={}, term_from={}, term_to={}, revision=INT)
AUDIT_EVENT = obj(id=INT, ts=TS, actor=opt(STR), action=STR, object_type=opt(STR), object_id=opt(INT),
                  details=opt(ANY_OBJ), hash=STR)
CREDENTIAL = obj(id=INT, login=opt(STR), serial=STR, fingerprint=STR, subject=STR, not_before=TS, not_after=TS,
                 imported=BOOL, revoked_at=opt(TS), revoke_reason=opt(STR), active=BOOL)
QUESTION = obj(("code", "label", "kind", "required"), code=STR, label=STR, kind=STR, required=BOOL,
               options=arr(obj(code=STR, label=STR)), max_length=opt(INT), minimum=opt(NUM), maximum=opt(NUM),
               applies_when=obj(question=STR, answers=arr(STR)))
REPORT_FORM = obj(code=STR, title=STR, kind=STR, basis=STR, intro=STR, sections=arr(obj(
    code=STR, title=STR, level=INT, questions=arr(ref("Question")))))
AGGREGATE = obj(form=STR, title=STR, scope=STR, reports=INT, by_state={"type": "object",
                                                                        "additionalProperties": INT},
                by_site=arr(obj(site=STR, name=opt(STR), reports=INT)),
                questions=arr(obj(section=STR, code=STR, question=STR,
                                  counts={"type": "object", "additionalProperties": INT}, answered=INT)),
                numbers=arr(obj(code=STR, question=STR, reports=INT, sum=opt(NUM), min=opt(NUM), max=opt(NUM),
                                mean=opt(NUM))),
                recommendations=arr(obj(document_id=INT, reg_number=opt(STR), site=STR, question=STR, text=STR)))
SEARCH_HIT = obj(id=INT, title=STR, reg_number=STR, cert_number=STR, blank_number=STR, doc_type=STR, state=STR,
                 org=STR, date=opt(STR), score=NUM, highlight=STR)

COMPONENTS: dict[str, Schema] = {
    "Error": ERROR,
    "Token": obj(("token", "token_type", "expires_at", "user"), token=STR,
                 token_type={"type": "string", "enum": ["Bearer"]}, expires_at=TS, id=INT,
                 user=obj(login=STR, roles=arr(STR))),
    "ApiToken": obj(id=INT, created_at=opt(TS), expires_at=opt(TS), last_used_at=opt(TS), current=BOOL),
    "Folder": FOLDER,
    "FolderListing": extend("Folder", folders=arr(ref("Folder")), documents=obj(
        total=INT, limit=INT, offset=INT, items=arr(ref("Document")))),
    "DocumentTypes": {"type": "object", "additionalProperties": obj(label=STR, fields=arr(obj(
        name=STR, label=STR, kind=STR, required=BOOL, choices=arr(STR))))},
    "Document": DOCUMENT,
    "DocumentWithVersions": extend("Document", versions=arr(ref("Version"))),
    "Version": VERSION,
    "Transitions": obj(state=STR, items=arr(obj(name=STR, title=STR, target=STR, allowed=BOOL, reason=opt(STR)))),
    "TransitionTaken": extend("Document", transition=STR, **{"from": STR}),
    "HistoryEntry": obj(transition=STR, to=STR, actor=opt(STR), comment=opt(STR), ts=TS, **{"from": opt(STR)}),
    "WorkItem": extend("Document", transition=STR, transition_title=STR),
    "AuditEvent": AUDIT_EVENT,
    "AuditPage": obj(total=INT, limit=INT, offset=INT, items=arr(ref("AuditEvent"))),
    "SearchHit": SEARCH_HIT,
    "SearchResult": obj(total=INT, page=INT, page_size=INT, items=arr(ref("SearchHit")),
                        facets={"type": "object", "additionalProperties": {"type": "object",
                                                                           "additionalProperties": INT}},
                        suggestion=opt(STR), notice=opt(STR)),
    "Signature": SIGNATURE,
    "SignatureCreated": extend("Signature", document=ref("Document")),
    "Validation": VALIDATION,
    "VersionValidation": extend("Validation", document=INT, version=INT),
    "Credential": CREDENTIAL,
    "Agreement": AGREEMENT,
    "AgreementDraft": extend("Document", agreement=ref("Agreement")),
    "AgreementCountersigned": extend("Agreement", version=INT),
    "Question": QUESTION,
    "ReportForm": REPORT_FORM,
    "Report": extend("Document", form=STR, answers=ANY_OBJ),
    "Aggregate": AGGREGATE,
    "RegisterDocument": REGISTER_DOCUMENT,
    "RegisterEvent": REGISTER_EVENT,
    "Organisation": ORGANISATION,
    "OrganisationDetail": extend("Organisation", history=arr(ref("RegisterEvent")), transitions=arr(obj(
        name=STR, title=STR, allowed=BOOL, reason_required=BOOL, why_not=opt(STR)))),
    "OrganisationEvent": extend("OrganisationDetail", event=ref("RegisterEvent")),
    "Hold": HOLD,
    "RecordsStatus": obj(retention=obj(rule=STR, disposal=STR, basis=STR, due=opt(DAY)), record=BOOL, trashed=BOOL,
                         holds=arr(ref("Hold")), trash_blocker=opt(STR)),
    "DispositionBatch": DISPOSITION_BATCH,
    "CertificatePublic": CERTIFICATE_PUBLIC,
    "CertificateStaff": extend("CertificatePublic", ("holder", "document_id"), holder=STR, birth_date=opt(DAY),
                               snils=opt(STR), blank_number=opt(STR), exam_date=opt(DAY),
                               protocol_number=opt(STR), revoke_reason=opt(STR), verification_path=STR,
                               document_id=INT),
    # A batch of certificates issued by a durable job (POST /certificates/batches…: 202; GET …/batches/{batch_id}).
    "IssueBatch": obj(batch=INT, stage=STR, total=INT, done=INT, error=opt(STR), url=STR),
    "CertificateFound": obj(found={"const": True}, certificate=ref("CertificatePublic")),
    "CertificateNotFound": obj(found={"const": False}, message=STR),
    "FileCheck": obj(authentic=BOOL, sha256=STR, reasons=arr(STR), certificate=opt(ref("CertificatePublic")),
                     signatures=ANY_OBJ),
    "DocumentSigner": obj(name=STR, status=STR, status_text=STR, ok=BOOL, signed_at=opt(STR), kind=STR),
    "DocumentCheck": obj(found={"const": True}, document=obj(
        type_label=STR, reg_number=opt(STR), reg_date=opt(DAY), title=opt(STR), state=STR, state_label=STR,
        version=opt(INT), sha256=opt(STR), authentic=BOOL, problem=opt(STR), signers=arr(ref("DocumentSigner")))),
    "DocumentNotFound": obj(found={"const": False}, message=STR),
    "DocumentFileCheck": obj(sha256=STR, size=INT, matches_version=opt(INT), signed_version=BOOL, current=BOOL,
                             authentic=BOOL, signatures_valid=BOOL, problem=opt(STR),
                             signers=arr(ref("DocumentSigner"))),
}
