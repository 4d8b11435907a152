"""Time-stamps on the audit chain's head (issue 16; DESIGN.md §4a): `dms maintain` calls stamp_audit_head() daily.

Each stamp is an RFC 3161 token of our TSA over SHA-256("<event id>:<event hash>") of the chain's newest event,
kept as an `audit.stamp` event in the chain itself. Someone who holds the database and rewrites the history
(recomputing every hash) cannot make the old tokens cover the new hashes, nor get a token dated in the past:
verify_stamps() names the first stamp the chain no longer matches.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

from asn1crypto import tsp
from sqlalchemy import select
from sqlalchemy.orm import Session

from dms.models import AuditEvent, AuditHead
from dms.runtime import Runtime
from dms.audit import service as audit

ACTION = "audit.stamp"


def _imprint(event_id: int, event_hash: str) -> bytes:
    return hashlib.sha256(f"{event_id}:{event_hash}".encode("ascii")).digest()


def _token(rt: Runtime, digest: bytes) -> bytes:
    """A granted TimeStampResp (DER) of our TSA over `digest`."""
    from signing.tsa import token_time

    from dms.signatures import pki
    request = tsp.TimeStampReq({
        "version": "v1", "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest},
        "nonce": secrets.randbits(63), "cert_req": True})
    response = pki.load(rt).tsa.respond(request.dump())
    token_time(response)  # raises unless granted
    return response


def stamp_audit_head(rt: Runtime) -> dict | None:
    """Time-stamp the newest event of the audit chain; None when nothing happened since the last stamp (the
    newest event is that stamp) or the chain is empty. Idempotent; safe to run as often as wanted."""
    from signing.tsa import token_time
    with rt.db.session() as s:
        head = s.scalars(select(AuditHead).where(AuditHead.id == 1).with_for_update()).first()
        if head is None or head.last_event_id == 0:
            return None
        newest = s.get(AuditEvent, head.last_event_id)
        if newest is not None and newest.action == ACTION:
            return None
        event_id, event_hash = head.last_event_id, head.last_hash
        response = _token(rt, _imprint(event_id, event_hash))
        stamp_id = audit.record(s, None, ACTION, "audit", event_id, login="system", head_id=event_id,
                                head_hash=event_hash, time=token_time(response).isoformat(),
                                token=base64.b64encode(response).decode("ascii"))
        return {"stamp_event": stamp_id, "head_id": event_id, "head_hash": event_hash,
                "time": token_time(response).isoformat()}


@dataclass
class StampProblem:
    stamp_event: int
    reason: str


def verify_stamps(session: Session) -> list[StampProblem]:
    """Every stamp against the chain as it is now: the stamped event still has the stamped hash, and the token's
    message imprint is that event's. (The token's signature and TSA certificate are the validation module's.)"""
    problems: list[StampProblem] = []
    for stamp in session.scalars(select(AuditEvent).where(AuditEvent.action == ACTION).order_by(AuditEvent.id)):
        d = stamp.details or {}
        target = session.get(AuditEvent, d.get("head_id") or 0)
        if target is None or target.hash != d.get("head_hash"):
            problems.append(StampProblem(stamp.id, f"событие {d.get('head_id')} изменено после отметки времени"))
            continue
        try:
            response = tsp.TimeStampResp.load(base64.b64decode(d.get("token", "")))
            info = response["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
            imprint = info["message_imprint"]["hashed_message"].native
        except Exception:  # noqa: BLE001 - any unreadable token is a problem to report, not a crash
            problems.append(StampProblem(stamp.id, "метка времени не читается"))
            continue
        if imprint != _imprint(target.id, target.hash):
            problems.append(StampProblem(stamp.id, "метка времени не относится к этому событию"))
    return problems
