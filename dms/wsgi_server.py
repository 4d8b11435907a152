"""gunicorn with several workers, configured from code (`dms serve --workers N`)."""
from __future__ import annotations

from gunicorn.app.base import BaseApplication


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


def run_gunicorn(host: str, port: int, workers: int, threads: int = 8) -> None:
    _App({"bind": f"{host}:{port}", "workers": workers, "worker_class": WORKER_CLASS, "threads": max(1, threads),
          "timeout": TIMEOUT_S, "graceful_timeout": 30, "keepalive": 5, "accesslog": "-",
          "logger_class": "dms.accesslog.RedactingLogger"}).run()
