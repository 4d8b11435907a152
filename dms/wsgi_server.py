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
        from .app import create_app
        return create_app()


def run_gunicorn(host: str, port: int, workers: int) -> None:
    _App({"bind": f"{host}:{port}", "workers": workers, "timeout": 120, "accesslog": "-"}).run()
