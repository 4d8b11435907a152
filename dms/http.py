"""HTTP helpers shared by the web UI and the JSON API (neither imports the other): streaming a version's bytes,
the error answer (JSON under /api/, a page elsewhere)."""
from __future__ import annotations

from flask import Response, current_app, g, jsonify, render_template, request, stream_with_context

from dms.models import Version


def send_version(version: Version, as_attachment: bool = True) -> Response:
    """Stream a version's bytes from the store (verified against its SHA-256 while reading)."""
    # The request's transaction ends first (the download is recorded): a slow or hung store is never waited for
    # while holding database locks (on SQLite, the write lock every other request needs). Opened before the answer
    # starts: a store that is down is a 503 with Retry-After (dms.operations.health), not a 200 cut short.
    g.db.commit()
    source = current_app.extensions["dms_runtime"].store.open(version.object_key)

    def chunks():  # noqa: ANN202
        with source as f:
            while chunk := f.read(1 << 16):
                yield chunk

    resp = Response(stream_with_context(chunks()), mimetype=version.media_type)
    resp.call_on_close(source.close)  # also when the body is never read (HEAD, a client gone)
    resp.headers["Content-Length"] = str(version.size)
    resp.headers["ETag"] = f'"{version.sha256}"'
    resp.headers["Cache-Control"] = "private, no-store"
    from urllib.parse import quote

    from dms.documents.uploads import content_headers, shown_inline
    inline = shown_inline(version.media_type, not as_attachment)  # HTML, SVG, … never inline, whatever was asked
    disposition = "inline" if inline else "attachment"
    resp.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(version.filename)}"
    resp.headers.update(content_headers(version.media_type, inline))
    return resp


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, message: str, details: dict | None = None):  # noqa: ANN202
    if wants_json():
        return jsonify({"error": {"status": status, "message": message, "details": details or {}}}), status
    return render_template("error.html", status=status, message=message, details=details or {}), status
