"""Fixtures for the browser tests: the real application served on a free loopback port, headless Chromium
driven by Playwright, a login through the login form, and a full-page screenshot of each journey's last page in
test-artifacts/ (named after the test, so parallel workers never collide)."""
from __future__ import annotations

import faulthandler
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from dms.app import create_app
from dms.config import Settings
from dms.runtime import Runtime
from dms.operations import setup
from dms.people import users

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct-horse-battery"
PIN = "48219375"  # 8 characters: the minimum for a new PIN (issue 16)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def make_runtime(directory: Path, base_url: str = "http://127.0.0.1:5000") -> Runtime:
    """A fresh archive on the embedded default (SQLite, files on disk, Whoosh) in `directory`."""
    settings = Settings(data_dir=directory, database_url=f"sqlite:///{directory / 'dms.sqlite3'}",
                        storage_url=(directory / "objects").as_uri(), index_dir=directory / "index",
                        secret_key="browser-test-secret", max_upload_bytes=5 * 1024 * 1024, base_url=base_url)
    runtime = Runtime(settings)
    setup.initialise(runtime)
    return runtime


def add_user(rt: Runtime, login: str, *roles: str, full_name: str | None = None) -> None:
    with rt.db.session() as s:
        users.create_user(s, login, PASSWORD, roles, full_name=full_name or login.title())


class LiveServer:
    """The WSGI app served by werkzeug in a daemon thread; `url` is its origin."""

    def __init__(self, rt: Runtime):
        self.app = create_app(runtime=rt)
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path / "archive")
    yield runtime
    runtime.close()


@pytest.fixture
def server(rt: Runtime) -> Iterator[LiveServer]:
    live = LiveServer(rt)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    """Chromium for one module: Playwright's sync API keeps an asyncio loop running in the test thread while it
    is open, which tests that run their own loop (pyHanko's signing, later in the suite) cannot share."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (scripts/setup installs Debian's chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def artifact_path(item: pytest.Item, suffix: str = "") -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / (re.sub(r"[^\w.-]+", "_", item.name) + suffix + ".png")


@dataclass
class Screen:
    """The viewport a journey runs in; a test overrides the `screen` fixture to use a phone."""
    viewport: dict


@pytest.fixture
def screen() -> Screen:
    return Screen(DESKTOP)


@pytest.fixture
def page(browser, screen: Screen, request: pytest.FixtureRequest):  # noqa: ANN001, ANN201
    artifact_path(request.node, "-failure").unlink(missing_ok=True)  # from an earlier run
    context = browser.new_context(viewport=screen.viewport, locale="ru-RU")
    context.set_default_timeout(30_000)  # signing on a busy 2-core CI machine can take seconds
    pg = context.new_page()
    request.node.browser_page = pg
    yield pg
    try:
        pg.screenshot(path=str(artifact_path(request.node)), full_page=True)
    finally:
        context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
    outcome = yield
    report = outcome.get_result()
    pg = getattr(item, "browser_page", None)
    if report.when == "call" and report.failed and pg is not None and not pg.is_closed():
        path = artifact_path(item, "-failure")
        try:
            pg.screenshot(path=str(path), full_page=True)
            report.sections.append(("browser", f"screenshot of the page at the failure: {path}\nURL: {pg.url}"))
            report.sections.append(("server threads", _thread_stacks()))
        except Exception as exc:  # noqa: BLE001  (the test's own failure matters more than the screenshot)
            report.sections.append(("browser", f"no screenshot: {exc}"))


def _thread_stacks() -> str:
    """Where every thread of this process is (the live server's request threads among them): a journey that
    times out waiting for a page shows here what the server was doing."""
    with tempfile.TemporaryFile("w+") as out:
        faulthandler.dump_traceback(out, all_threads=True)
        out.seek(0)
        return out.read()


def login(page, server: LiveServer, user: str, password: str = PASSWORD) -> None:  # noqa: ANN001
    """Log in through the login form, as a person would, and wait for the archive to open."""
    page.goto(server.url + "/login")
    page.get_by_label("Логин").fill(user)
    page.get_by_label("Пароль").fill(password)
    page.get_by_role("button", name="Войти").click()
    page.wait_for_url(lambda url: "/login" not in url)


def logout(page) -> None:  # noqa: ANN001
    page.get_by_role("button", name="Выйти").click()
    page.wait_for_url(re.compile(r"/login"))
