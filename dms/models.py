"""Data only: the tables of the archive. Rules live in each capability's service and in dms.security."""
from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String,
                        Text, UniqueConstraint, false)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dms.orm import NEVER_REUSED, Base, utcnow  # noqa: F401  (re-exported: dms.models is where tables are read from)


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(500))
    short_name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(32))  # see dms.register.rules.KINDS
    register_status: Mapped[str] = mapped_column(String(32), default="included")
    city: Mapped[str] = mapped_column(String(200), default="")
    inn: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The register (dms.register.rules): why and when the status last changed, and the folder its documents go to
    # (no foreign key: folders already reference organisations, and a cycle would order a restore badly).
    status_reason: Mapped[str] = mapped_column(String(2000), default="", server_default="")
    status_changed_at: Mapped[datetime | None] = mapped_column()
    folder_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # Issue 15: state registration numbers checked by their rules, and a register decision waiting for its order's
    # signature (the status it will take; empty when none waits).
    ogrn: Mapped[str] = mapped_column(String(15), default="", server_default="")
    kpp: Mapped[str] = mapped_column(String(9), default="", server_default="")
    pending_status: Mapped[str] = mapped_column(String(32), default="", server_default="")


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(300), default="")
    email: Mapped[str] = mapped_column(String(300), default="")
    password_hash: Mapped[str] = mapped_column(String(300), default="")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    last_login_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Issue 15: the password is a one-time one an administrator gave out (a new user, a reset): the user must choose
    # their own before anything else (dms.people.web enforces it; migration 0011).
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    roles: Mapped[list[UserRole]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    organisation: Mapped[Organisation | None] = relationship(lazy="joined")

    @property
    def global_roles(self) -> set[str]:
        return {r.role for r in self.roles}

    # The interface Flask-Login expects of a user object.
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)


class UserRole(Base):
    """A global role (Administrator, Clerk, Signatory, Auditor) held everywhere."""
    __tablename__ = "user_roles"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class Group(Base):
    __tablename__ = "groups"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300), default="")


class GroupMember(Base):
    __tablename__ = "group_members"
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


class Folder(Base):
    """A node of the folder tree. `path` is the chain of ids, e.g. "/1/5/9/", so that a subtree is one
    prefix query and sharing changes never rewrite the documents below."""
    __tablename__ = "folders"
    __table_args__ = (UniqueConstraint("parent_id", "name", name="uq_folder_name_in_parent"), NEVER_REUSED)
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("folders.id"))
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(1000), index=True, default="")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    block_inheritance: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to this folder, inclusive."""
        return [int(p) for p in self.path.strip("/").split("/") if p]


class LocalRole(Base):
    """A local role granted on a folder to a user or a group, inherited downwards unless blocked."""
    __tablename__ = "local_roles"
    __table_args__ = (UniqueConstraint("folder_id", "principal", "role", name="uq_local_role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    folder_id: Mapped[int] = mapped_column(ForeignKey("folders.id", ondelete="CASCADE"), index=True)
    principal: Mapped[str] = mapped_column(String(80), index=True)  # "user:12" or "group:3"
    role: Mapped[str] = mapped_column(String(32))


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("organisation_id", "doc_type", "reg_number", name="uq_document_reg_number"),
        Index("ix_documents_folder_state", "folder_id", "state"),
        NEVER_REUSED,
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    doc_type: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(1000))
    folder_id: Mapped[int] = mapped_column(ForeignKey("folders.id"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    state: Mapped[str] = mapped_column(String(32), default="draft")
    reg_number: Mapped[str | None] = mapped_column(String(100))
    reg_date: Mapped[date | None] = mapped_column(Date)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("versions.id", use_alter=True, name="fk_document_current_version"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Issue 14: the public check of a signed document is /verify/d/<public_token> (its stamp's QR code); random,
    # never derived from the id. What the public page shows of the title is the owner's choice (public_title).
    public_token: Mapped[str] = mapped_column(String(64), unique=True, default=lambda: secrets.token_urlsafe(24))
    public_title: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    folder: Mapped[Folder] = relationship(lazy="joined")
    organisation: Mapped[Organisation | None] = relationship(lazy="joined")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    versions: Mapped[list[Version]] = relationship(
        back_populates="document", foreign_keys="Version.document_id", order_by="Version.number")
    current_version: Mapped[Version | None] = relationship(foreign_keys=[current_version_id], post_update=True)

    __mapper_args__ = {"version_id_col": revision}


class Version(Base):
    """Immutable: bytes in object storage under their SHA-256, never rewritten."""
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("document_id", "number", name="uq_version_number"), NEVER_REUSED)
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    object_key: Mapped[str] = mapped_column(String(64), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    comment: Mapped[str] = mapped_column(String(1000), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    document: Mapped[Document] = relationship(back_populates="versions", foreign_keys=[document_id])
    created_by: Mapped[User | None] = relationship(lazy="joined")


class AuditEvent(Base):
    """Append-only; each row carries the hash of the previous one (a chain verified by `dms audit verify`)."""
    __tablename__ = "audit_events"
    # The trail of one document (the audit page's filter, a document's history): issue 15.6, migration 0011.
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id"), NEVER_REUSED)
    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_login: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32), default="")
    object_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the end of the audit chain. Updating it serialises appends (a row lock on PostgreSQL)."""
    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    last_used_at: Mapped[datetime | None] = mapped_column()  # issue 16: shown in GET /api/v1/tokens

    user: Mapped[User] = relationship(lazy="joined")


class UserSession(Base):
    """A web login, checked on every request (dms.people.sessions): logout, a password change, a disable or an
    administrator's "end all sessions" end it server-side; idle ones lapse. The cookie holds the random id; only
    its SHA-256 is stored."""
    __tablename__ = "user_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()


class OutboxEntry(Base):
    """Written in the same transaction as a document change; the single indexer drains it."""
    __tablename__ = "search_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(Integer, index=True)
    op: Mapped[str] = mapped_column(String(16))  # "upsert" | "delete"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowHistory(Base):
    """Every transition of a document: who, when, from which state to which, with a comment."""
    __tablename__ = "workflow_history"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    transition: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    comment: Mapped[str] = mapped_column(String(2000), default="")
    ts: Mapped[datetime] = mapped_column(default=utcnow)

    actor: Mapped[User | None] = relationship(lazy="joined")


class NumberCounter(Base):
    """The last registration number given per (document type, organisation, year): one row locked per
    allocation, so numbers are gapless and unique under concurrent registrations."""
    __tablename__ = "number_counters"
    __table_args__ = (UniqueConstraint("doc_type", "organisation_key", "year", name="uq_number_counter"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    doc_type: Mapped[str] = mapped_column(String(32))
    organisation_key: Mapped[int] = mapped_column(Integer)  # organisation id, 0 for none
    year: Mapped[int] = mapped_column(Integer)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class VersionText(Base):
    """The text extracted from a version's bytes by the indexer (never in a web request), kept so that a
    reindex does not extract again. Versions are immutable, so this never goes stale."""
    __tablename__ = "version_texts"
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), primary_key=True)
    text: Mapped[str] = mapped_column(Text, default="")
    method: Mapped[str] = mapped_column(String(32), default="")
    ocr_status: Mapped[str] = mapped_column(String(32), default="")
    error: Mapped[str | None] = mapped_column(String(2000))
    extracted_at: Mapped[datetime] = mapped_column(default=utcnow)


class SigningCredential(Base):
    """A user's signing certificate and its key encrypted under the user's PIN (the PIN is never stored).
    A user may hold several; the newest unrevoked, unexpired one signs."""
    __tablename__ = "signing_credentials"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    serial: Mapped[str] = mapped_column(String(64))  # hex
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the certificate DER
    subject: Mapped[str] = mapped_column(String(1000))
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    encrypted_key_pem: Mapped[str] = mapped_column(Text)
    chain_pem: Mapped[str] = mapped_column(Text, default="")  # imported credentials: their own chain
    imported: Mapped[bool] = mapped_column(Boolean, default=False)
    not_before: Mapped[datetime] = mapped_column()
    not_after: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoke_reason: Mapped[str] = mapped_column(String(32), default="")
    invalidity_date: Mapped[datetime | None] = mapped_column()  # key compromise: since when the key was unsafe
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Wrong PINs in a row (issue 16): each one delays the next try; PIN_LOCK_AFTER of them lock the key until an
    # administrator unlocks it (dms.signatures.pki.unlock / unlock_pin).
    pin_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pin_retry_after: Mapped[datetime | None] = mapped_column()
    pin_locked_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship(lazy="joined")


class RevocationList(Base):
    """Every CRL the CA published, numbered per issuer without gaps; the newest is served."""
    __tablename__ = "revocation_lists"
    __table_args__ = (UniqueConstraint("issuer", "number", name="uq_crl_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(16))  # "issuing" | "root"
    number: Mapped[int] = mapped_column(Integer)
    crl_der: Mapped[bytes] = mapped_column(LargeBinary)
    this_update: Mapped[datetime] = mapped_column()
    next_update: Mapped[datetime] = mapped_column()
    # which generation of the issuer signed it (SHA-256 of its certificate; "" before rollover existed)
    issuer_key_id: Mapped[str] = mapped_column(String(64), default="", server_default="")


class Signature(Base):
    """One signature of a document: a PAdES signature inside the version it produced, or a detached CMS
    (.p7s object) over an unchanged version."""
    __tablename__ = "signatures"
    __table_args__ = NEVER_REUSED
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)  # the signed version
    source_version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    kind: Mapped[str] = mapped_column(String(8))  # "pades" | "cms"
    signer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    credential_fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[str] = mapped_column(String(8))
    field_name: Mapped[str] = mapped_column(String(64), default="")
    transition: Mapped[str] = mapped_column(String(64), default="")
    p7s_key: Mapped[str | None] = mapped_column(String(64))
    validation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    validated_at: Mapped[datetime | None] = mapped_column()

    signer: Mapped[User | None] = relationship(lazy="joined")
    version: Mapped[Version] = relationship(foreign_keys=[version_id], lazy="joined")


class EvidenceRecord(Base):
    """A version that adds validation data and a document time-stamp (B-LTA) over a signed version, first
    protection or renewal (dms.signatures.evidence); renewed before `renew_by`, when the time-stamp's TSA
    certificate nears its end."""
    __tablename__ = "evidence_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))  # the version carrying the time-stamp
    source_version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    timestamp_at: Mapped[datetime] = mapped_column()
    tsa_not_after: Mapped[datetime] = mapped_column()
    renew_by: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Certificate(Base):
    """A certificate of qualification. Its status is the workflow state of its document (issued, revoked,
    expired, replaced); personal data (birth date, SNILS) is never shown publicly."""
    __tablename__ = "certificates"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), unique=True)
    number: Mapped[str] = mapped_column(String(100), unique=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    holder_name: Mapped[str] = mapped_column(String(300))
    holder_surname: Mapped[str] = mapped_column(String(100), index=True)  # lower case, ё -> е
    birth_date: Mapped[date | None] = mapped_column(Date)
    snils: Mapped[str | None] = mapped_column(String(11))
    qualification: Mapped[str] = mapped_column(String(500))
    level: Mapped[int] = mapped_column(Integer)
    exam_date: Mapped[date | None] = mapped_column(Date)
    protocol_number: Mapped[str] = mapped_column(String(100), default="")
    issue_date: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    blank_number: Mapped[str | None] = mapped_column(String(64), unique=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # random, in the QR code
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoke_reason: Mapped[str] = mapped_column(String(1000), default="")
    revoke_order: Mapped[str] = mapped_column(String(200), default="")
    revoke_order_date: Mapped[date | None] = mapped_column(Date)  # issue 15: the revoking order's date
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("issue_batches.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    document: Mapped[Document] = relationship(lazy="joined")
    centre: Mapped[Organisation] = relationship(lazy="joined")


class BlankRange(Base):
    """Numbered blank forms (бланки строгой отчётности) allocated to a centre."""
    __tablename__ = "blank_ranges"
    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    series: Mapped[str] = mapped_column(String(20), default="")
    first: Mapped[int] = mapped_column(Integer)
    last: Mapped[int] = mapped_column(Integer)
    allocated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    allocated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Blank(Base):
    __tablename__ = "blanks"
    __table_args__ = (Index("ix_blanks_centre_status", "centre_id", "status", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    range_id: Mapped[int] = mapped_column(ForeignKey("blank_ranges.id"))
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    number: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="free")  # free | used | spoiled
    certificate_id: Mapped[int | None] = mapped_column(Integer)
    spoil_reason: Mapped[str] = mapped_column(String(1000), default="")
    changed_at: Mapped[datetime | None] = mapped_column()


class IssueBatch(Base):
    """One batch issue of certificates: its progress is what the web progress view polls."""
    __tablename__ = "issue_batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    filename: Mapped[str] = mapped_column(String(255), default="")
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str] = mapped_column(String(32), default="queued")  # queued|rendering|signing|storing|done|failed
    error: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    # Issue 15: a batch a clerk prepared (stage "prepared", the validated rows as JSON) that a signatory then signs.
    rows_json: Mapped[str | None] = mapped_column(Text)
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Issue 17.3: the reservation (numbers, blanks, tokens, rows) written in the transaction that reserves them, and the
    # process working on it ("host:pid") with its last sign of life: a batch whose process died is resumed or cancelled.
    reservation: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(200), default="")
    heartbeat_at: Mapped[datetime | None] = mapped_column()


class LegalHold(Base):
    """A legal hold on one document or on a folder (and everything under it): while active (not released),
    nothing it covers may be trashed, purged or destroyed by anyone."""
    __tablename__ = "legal_holds"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no foreign key: history outlives it
    folder_id: Mapped[int | None] = mapped_column(ForeignKey("folders.id"), index=True)
    reason: Mapped[str] = mapped_column(String(2000))
    placed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column()
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    release_reason: Mapped[str] = mapped_column(String(2000), default="")


class TrashEntry(Base):
    """A document moved to the trash: out of listings and search until restored or purged."""
    __tablename__ = "trash_entries"
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(2000), default="")
    trashed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    trashed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class RecordDeclaration(Base):
    """A document declared a record: immutable from then on; it leaves the archive only by disposition."""
    __tablename__ = "record_declarations"
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(2000), default="")
    declared_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    declared_at: Mapped[datetime] = mapped_column(default=utcnow)


class DispositionBatch(Base):
    """A disposition list (акт о выделении к уничтожению): proposed, approved by an administrator, executed."""
    __tablename__ = "disposition_batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="proposed")  # proposed | approved | executed
    as_of: Mapped[date] = mapped_column(Date)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column()
    executed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    executed_at: Mapped[datetime | None] = mapped_column()

    items: Mapped[list[DispositionItem]] = relationship(order_by="DispositionItem.id", lazy="selectin")


class DispositionItem(Base):
    """One document of a disposition list; after execution it is the certificate of destruction of that
    document (what it was, which bytes it had), since the document itself is gone."""
    __tablename__ = "disposition_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("disposition_batches.id"), index=True)
    document_id: Mapped[int] = mapped_column(Integer, index=True)  # no foreign key: the document is destroyed
    doc_type: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(1000))
    reg_number: Mapped[str | None] = mapped_column(String(100))
    due_date: Mapped[date] = mapped_column(Date)
    rule: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="proposed")  # proposed | destroyed | skipped
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RegisterEvent(Base):
    """One step of an organisation's register lifecycle (dms.register.rules): from which status to which, why, by whom,
    and the document it filed (no foreign key to it: the register's history outlives a destroyed document)."""
    __tablename__ = "register_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    transition: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str] = mapped_column(String(32), default="")
    to_status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(2000), default="")
    document_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ts: Mapped[datetime] = mapped_column(default=utcnow)
    # Issue 15: when the status changed; None while the deciding order waits for its signature.
    effective_at: Mapped[datetime | None] = mapped_column()

    actor: Mapped[User | None] = relationship(lazy="joined")


class Job(Base):
    """A durable job (dms.jobs, issue 17.3): its kind and parameters, who asked, where it stands. The queue (Huey on
    SQLite or Redis) carries only the id; this row is the truth a worker claims, beats its heart into, and a later
    worker resumes from when the heart stopped."""
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random hex: the id in URLs is unguessable
    kind: Mapped[str] = mapped_column(String(64), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # queued, running, done, failed or cancelled
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    created_by_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no foreign key, as for audit actors
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    worker: Mapped[str] = mapped_column(String(200), default="", server_default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    total: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(String(2000), default="", server_default="")
    checkpoint: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what a resumed attempt starts from
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str] = mapped_column(Text, default="", server_default="")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class IdempotencyKey(Base):
    """The first answer to a POST sent with an `Idempotency-Key` (dms.idempotency, issue 17.5): a retry with
    the same key by the same user on the same endpoint gets it again, and nothing is created twice."""
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "endpoint", "key", name="uq_idempotency_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    endpoint: Mapped[str] = mapped_column(String(300))
    key: Mapped[str] = mapped_column(String(200))
    request_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# Tables of capability packages join the one schema here, so that every user of Base.metadata (migrations, backup
# and restore, the tests' truncation) sees them whatever was imported first.
from dms.approvals import models as _approvals_models  # noqa: E402,F401
