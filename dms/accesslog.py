"""Access logs that keep no personal data of the public checks (issue 16).

The public verification pages and API (/verify…, /api/v1/verify…) take certificate numbers and holders' surnames in
the query string; an access log line is kept long and read widely, so for those paths the query string is cut
("?…"), in the request line, the path atoms and the Referer (a page loaded from a verify result names it there).
gunicorn: `--logger-class dms.accesslog.RedactingLogger` (dms serve --workers, the Dockerfile, docker-compose);
Werkzeug's server of `dms serve`: RedactingRequestHandler.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from gunicorn.glogging import Logger
from werkzeug.serving import WSGIRequestHandler

PRIVATE_PREFIXES = ("/verify", "/api/v1/verify")


def _private(path: str) -> bool:
    return any(path == p or path.startswith((p + "/", p + "?")) for p in PRIVATE_PREFIXES)


def redact_target(target: str) -> str:
    """A request target (path?query) with the query cut when the path is a public check's."""
    path, sep, _query = target.partition("?")
    return f"{path}?…" if sep and _private(path) else target


def redact_url(url: str) -> str:
    """A full URL (a Referer) with the query cut when its path is a public check's."""
    if "?" not in url:
        return url
    parts = urlsplit(url)
    if not _private(parts.path):
        return url
    return url.split("?", 1)[0] + "?…"


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        if _private(environ.get("PATH_INFO", "")) and environ.get("QUERY_STRING"):
            atoms["r"] = (f"{environ['REQUEST_METHOD']} {redact_target(environ.get('RAW_URI', ''))} "
                          f"{environ.get('SERVER_PROTOCOL', '')}")
            atoms["q"] = "…"
        referer = environ.get("HTTP_REFERER")
        if referer:
            atoms["f"] = redact_url(referer)
            atoms["{referer}i"] = atoms["f"]
        return atoms


class RedactingRequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = getattr(self, "path", None)
        method, _, rest = (self.requestline or "").partition(" ")
        target, _, proto = rest.rpartition(" ") if " " in rest else (rest, "", "")
        if method and target:
            self.requestline = f"{method} {redact_target(target)} {proto}".rstrip()
        if path is not None:
            self.path = redact_target(path)
        try:
            super().log_request(code, size)
        finally:
            if path is not None:
                self.path = path
