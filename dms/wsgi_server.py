"""gunicorn with several workers, configured from code (`dms serve --workers N`)."""
from __future__ import annotations

import logging
import time

from gunicorn.app.base import BaseApplication

log = logging.getLogger(__name__)


class _App(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):  # noqa: ANN201
        from dms.app import create_app
        return create_app()


# Issue 17.2: gthread workers. With sync workers two requests stuck in a slow store took the whole site (each worker
# serves one request at a time); a thread per request lets the others go on, and the store's own short timeouts
# (storage.s3) end the stuck ones. bench/load.py measures it.
WORKER_CLASS = "gthread"
TIMEOUT_S = 60  # a worker whose main loop is stuck this long is restarted (threads keep it beating otherwise)


def warm_worker(worker) -> None:  # noqa: ANN001
    """gunicorn's post_worker_init: the search index warmed (dms.fulltext.service.warm) before the worker takes its
    first request; at a million documents the first phrase with facets cost a worker ~1 s. A failure is logged
    and the worker serves anyway (its first search then loads what it needs)."""
    out = getattr(worker, "log", None) or log  # gunicorn's error log, where its own worker messages go
    started = time.perf_counter()
    try:
        from dms.fulltext.service import warm

        phrase = warm(worker.wsgi.extensions["dms_runtime"])
    except Exception:  # noqa: BLE001
        out.exception("search warm-up failed; the worker serves without it")
        return
    out.info("search warmed in %.2f s (%s)", time.perf_counter() - started, phrase or "empty index")


def run_gunicorn(host: str, port: int, workers: int, threads: int = 8) -> None:
    _App({"bind": f"{host}:{port}", "workers": workers, "worker_class": WORKER_CLASS, "threads": max(1, threads),
          "timeout": TIMEOUT_S, "graceful_timeout": 30, "keepalive": 5, "accesslog": "-",
          "logger_class": "dms.accesslog.RedactingLogger", "post_worker_init": warm_worker}).run()
