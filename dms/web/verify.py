"""The public verification pages: no login, Russian, usable on a phone. By number and surname, by the QR
token, or by uploading the PDF. Unknown number and wrong surname get the same answer."""
from __future__ import annotations

import hashlib

from flask import abort, current_app, g, render_template, request

from ..errors import Throttled
from .. import ratelimit
from ..services import audit
from ..services import certificates as certs
from . import bp

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
    audit.record(g.db, None, "verification", "certificate", cert.document_id if cert else None, channel=channel,
                 found=cert is not None, number=cert.number if cert else None, client=_client_digest(), **details)


def lookup(number: str, surname: str):  # noqa: ANN201
    limit("verify")
    cert = certs.lookup_by_number(g.db, number, surname)
    record("number", cert)
    return cert


@bp.route("/verify", methods=["GET", "POST"])
def verify_page():  # noqa: ANN201
    view, asked = None, False
    number = (request.values.get("number") or "").strip()
    surname = (request.values.get("surname") or "").strip()
    if number or surname:
        asked = True
        cert = lookup(number, surname)
        view = certs.public_view(g.db, cert) if cert else None
    return render_template("verify.html", view=view, asked=asked, number=number, surname=surname,
                           status=404 if asked and view is None else 200), 404 if asked and view is None else 200


@bp.get("/verify/t/<token>")
def verify_token(token: str):  # noqa: ANN201
    limit("verify")
    cert = certs.lookup_by_token(g.db, token)
    record("token", cert)
    view = certs.public_view(g.db, cert) if cert else None
    return render_template("verify.html", view=view, asked=True, number="", surname=""), 200 if view else 404


@bp.route("/verify/file", methods=["GET", "POST"])
def verify_file():  # noqa: ANN201
    result = None
    if request.method == "POST":
        limit("verify_file")
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            abort(400)
        result = check_file(upload.stream)
    return render_template("verify_file.html", result=result)


def check_file(stream) -> dict:  # noqa: ANN001
    """The public file check (web page and API): the rules are in the service; here the limit and the audit."""
    result, cert = certs.check_file(current_app.extensions["dms_runtime"], g.db, stream.read(MAX_PDF + 1), MAX_PDF)
    record("file", cert, sha256=result["sha256"], signature_ok=bool(result["signatures"].get("authentic")))
    return result
