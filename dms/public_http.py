"""The public checks' shared rules of the web pages and the API (neither imports the other): the per-address
limits, the audit of every lookup (a keyed digest of the client, never the address), the lookup by number and
the file check."""
from __future__ import annotations

import hashlib

from flask import current_app, g, request

from dms import ratelimit
from dms.errors import Throttled
from dms.audit import service as audit
from dms.certificates import service as certs

MAX_PDF = 20 * 1024 * 1024


def client_id() -> str:
    return request.remote_addr or "unknown"


def limit(bucket: str) -> None:
    """Count the request against `bucket` of dms.ratelimit.LIMITS; 429 over the limit (the audit is kept)."""
    if not ratelimit.for_app().allow(bucket, client_id()):
        g.commit_on_error = True
        raise Throttled("слишком много запросов с вашего адреса; повторите через минуту")


def _client_digest() -> str:
    # The audit keeps a keyed digest of the client address, not the address itself.
    secret = current_app.config["SECRET_KEY"].encode()
    return hashlib.sha256(secret + client_id().encode()).hexdigest()[:16]


def record(channel: str, cert, **details) -> None:  # noqa: ANN001
    g.commit_on_error = True  # a "not found" answer is a 404, and its audit event must be kept
    audit.record_lookup(g.db, "verification", "certificate", cert.document_id if cert else None, channel=channel,
                 found=cert is not None, number=cert.number if cert else None, client=_client_digest(), **details)


def lookup(number: str, surname: str):  # noqa: ANN201
    """The certificate (loaded for certs.public_view) is read in a read-only session that takes no lock; its audit
    event is then written and committed at once, so the request holds SQLite's write lock only for that INSERT,
    not while it reads and renders (the event is durable before the answer is sent)."""
    limit("verify")
    with current_app.extensions["dms_runtime"].db.read_session() as reader:
        cert = certs.lookup_by_number(reader, number, surname)
    record("number", cert)
    g.db.commit()
    return cert


def check_file(stream) -> dict:  # noqa: ANN001
    """The public file check (web page and API): the rules are in the service; here the limit and the audit."""
    result, cert = certs.check_file(current_app.extensions["dms_runtime"], g.db, stream.read(MAX_PDF + 1), MAX_PDF)
    record("file", cert, sha256=result["sha256"], signature_ok=bool(result["signatures"].get("authentic")))
    return result


def record_document(channel: str, doc, **details) -> None:  # noqa: ANN001
    g.commit_on_error = True
    audit.record_lookup(g.db, "verification", "document", doc.id if doc else None, channel=channel,
                 found=doc is not None, client=_client_digest(), **details)
