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
    """The lookup's audit event. When the request's own session holds no transaction (the lookup read lock-free,
    see lookup) the event is group-committed with this worker's other threads' lookups (dms.audit.service.LookupLog:
    committed before this returns); otherwise it joins the request's transaction (committed even on a 404)."""
    fields = {"channel": channel, "found": cert is not None, "number": cert.number if cert else None,
              "client": _client_digest(), **details}
    object_id = cert.document_id if cert else None
    if g.db.in_transaction():
        g.commit_on_error = True  # a "not found" answer is a 404, and its audit event must be kept
        audit.record_lookup(g.db, "verification", "certificate", object_id, **fields)
    else:
        current_app.extensions["dms_runtime"].lookup_log.write("verification", "certificate", object_id, **fields)


def lookup(number: str, surname: str):  # noqa: ANN201
    """The certificate (loaded for certs.public_view) is read by one statement that locks nothing (SQLite: a
    read-only session; PostgreSQL: autocommit), then its audit event is group-committed: the request never holds
    SQLite's write lock itself, and the event is durable before the answer is sent."""
    limit("verify")
    with current_app.extensions["dms_runtime"].db.statement_reader() as reader:
        cert = certs.lookup_by_number(reader, number, surname)
    record("number", cert)
    return cert


def lookup_token(token: str, channel: str):  # noqa: ANN201
    """The certificate of a QR link's token: read and audited as lookup() does."""
    limit("verify")
    with current_app.extensions["dms_runtime"].db.statement_reader() as reader:
        cert = certs.lookup_by_token(reader, token)
    record(channel, cert)
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
