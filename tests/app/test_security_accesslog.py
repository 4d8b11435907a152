"""Issue 16, item 7: the access log keeps no certificate numbers or surnames of public lookups."""
from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

from dms.accesslog import RedactingLogger, redact_target, redact_url


def _gunicorn_line(path: str, query: str, referer: str = "-") -> str:
    logger = RedactingLogger(SimpleNamespace(
        errorlog="-", loglevel="info", accesslog=None, syslog=False, logconfig=None, logconfig_dict={},
        logconfig_json=None, capture_output=False, access_log_format='"%(r)s" %(s)s "%(f)s" %(q)s', user=None,
        group=None, umask=0, disable_redirect_access_to_syslog=False, syslog_addr=None, syslog_prefix=None,
        syslog_facility="user", statsd_host=None, dogstatsd_tags="", statsd_prefix="", proc_name="t"))
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"{path}?{query}" if query else path, "PATH_INFO": path,
               "QUERY_STRING": query, "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "198.51.100.1",
               "HTTP_REFERER": referer}
    resp = SimpleNamespace(status="200 OK", sent=10, headers=[])
    atoms = logger.atoms(resp, SimpleNamespace(headers=[]), environ, timedelta(seconds=0))
    return logger.cfg.access_log_format % atoms


def test_public_lookups_lose_their_query_in_the_gunicorn_access_log():
    line = _gunicorn_line("/verify", "number=77-01-000123&surname=%D0%98%D0%B2%D0%B0%D0%BD%D0%BE%D0%B2")
    assert "000123" not in line and "surname" not in line and "/verify?…" in line
    api = _gunicorn_line("/api/v1/verify", "number=77-01-000123&surname=Ivanov")
    assert "Ivanov" not in api and "000123" not in api
    later = _gunicorn_line("/static/app.css", "", referer="https://archive.example/verify?number=77-01-000123")
    assert "000123" not in later
    other = _gunicorn_line("/search", "q=сварщик")
    assert "q=сварщик" in other  # only the public checks are cut


def test_the_werkzeug_server_of_dms_serve_cuts_them_too(caplog):  # noqa: ANN001
    from dms.accesslog import RedactingRequestHandler
    handler = RedactingRequestHandler.__new__(RedactingRequestHandler)
    handler.requestline = "GET /verify?number=77-01-000123&surname=Ivanov HTTP/1.1"
    handler.client_address = ("127.0.0.1", 1)
    handler.command, handler.path = "GET", "/verify?number=77-01-000123&surname=Ivanov"
    handler.request_version = "HTTP/1.1"
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        handler.log_request(200, 10)
    assert "Ivanov" not in caplog.text and "/verify?…" in caplog.text
    assert handler.path.endswith("surname=Ivanov")  # the request itself is untouched


def test_redaction_rules():
    assert redact_target("/verify/t/abc?x=1") == "/verify/t/abc?…"
    assert redact_target("/verifyx?a=1") == "/verifyx?a=1"
    assert redact_url("https://h/api/v1/verify?number=1") == "https://h/api/v1/verify?…"
    assert redact_url("https://h/folders/1?page=2") == "https://h/folders/1?page=2"
