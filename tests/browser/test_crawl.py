"""Every page a role can reach by following links from its start page answers without a server error, has a
title, shows no traceback nor untranslated English UI words, and offers no dead links. The crawl uses Flask's
test client over the demo archive (fast); file downloads are requested too but not parsed."""
from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from dms.app import create_app
from dms.services import demo, users

from .conftest import PASSWORD, make_runtime, off_the_event_loop

pytestmark = pytest.mark.browser

MAX_PAGES = 150
# Sorting, filters and pagers give one page many URLs; a few of each path leave room for the other pages.
VARIANTS_PER_PATH = 4
ORIGIN = "http://localhost"
# The demo users and what they stand for; "holder" holds nothing but a local Reader role on one folder.
ROLES = {"Administrator": "admin", "Clerk": "clerk", "Signatory": "director", "Auditor": "auditor",
         "local Reader": "holder", "anonymous": None}
FILE_URL = re.compile(r"/download|/content|/preview|\.p7s$|\.csv|\.crt$|\.crl$|^/static/|/audit/export")
NEVER_FOLLOW = re.compile(r"/logout|^/language/")  # the language switch is crawled on its own
FILE_STATUSES = {200, 302, 403, 404}
# Dead links the UI offers today, per role, each a defect reported to the owner of the template. The test fails
# on any other dead link, and also once one of these is fixed (then remove it here).
KNOWN_DEAD_LINKS: dict[tuple[str, str, str], str] = {}
# Words of an English UI that should have been translated. Technical terms (PDF, SHA-256, PAdES, CMS, JSON,
# UTC, CSV) are not in the list; the file input's own "Choose File" is drawn by the browser, not the page.
ENGLISH_UI = ("Submit", "Cancel", "Login", "Log in", "Logout", "Log out", "Sign in", "Sign out", "Password",
              "Username", "Search", "Error", "Not Found", "Forbidden", "Unauthorized", "Bad Request",
              "Internal Server Error", "Method Not Allowed", "Too Many Requests", "Choose File", "No file chosen",
              "Upload", "Download", "Save", "Delete", "Edit", "Back", "Next", "Previous", "Home", "Loading",
              "Filter", "Reset", "Yes", "None", "True", "False", "undefined", "null", "Draft", "Registered",
              "Signed", "Issued", "Revoked", "Expired", "Order", "Agreement", "Report", "Certificate of qualification",
              "Sign", "Register", "Send for signing", "Return for rework", "Page", "Total")
ENGLISH_UI_RE = re.compile(r"(?<![\w.\-/:])(" + "|".join(re.escape(w) for w in ENGLISH_UI) + r")(?![\w\-/:])")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"/[^\"]+\.py\", line \d+|jinja2\.exceptions")


class PageParser(HTMLParser):
    """The links, the <title> and the text a reader sees (plus placeholders, tooltips and button values)."""

    HIDDEN = {"script", "style", "textarea"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.title = ""
        self.text: list[str] = []
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("a", "link") and a.get("href"):
            self.links.append(a["href"])
        if tag in ("iframe", "img", "script") and a.get("src"):
            self.links.append(a["src"])
        for name in ("placeholder", "title", "aria-label"):
            if a.get(name):
                self.text.append(a[name])
        if tag == "input" and a.get("type") in ("submit", "button", "reset") and a.get("value"):
            self.text.append(a["value"])
        if tag not in ("input", "br", "img", "meta", "link", "hr"):
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._stack:
            while self._stack and self._stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if "title" in self._stack:
            self.title += data
        if not self.HIDDEN.intersection(self._stack):
            self.text.append(data)


@dataclass
class Crawl:
    pages: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    offered_by: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    links_seen: int = 0

    def dead_links(self) -> set[tuple[str, str]]:
        """(page, link) for each link a page offered that answers 404."""
        return {(self.offered_by[url], url) for url, status in {**self.pages, **self.files}.items()
                if status == 404 and url in self.offered_by}

    def summary(self, role: str) -> str:
        return (f"crawl as {role}: {len(self.pages)} pages, {len(self.files)} files, {self.links_seen} links checked, "
                f"{len(self.dead_links())} dead, {len(self.problems)} problems")


def _same_origin(base: str, href: str) -> str | None:
    url = urldefrag(urljoin(ORIGIN + base, href.strip()))[0]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.netloc != "localhost":
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def crawl(client, starts: list[str]) -> Crawl:  # noqa: ANN001
    found = Crawl()
    queue = deque(starts)
    queued = set(starts)
    variants: Counter[str] = Counter(urlsplit(u).path for u in starts)
    while queue:
        url = queue.popleft()
        is_file = bool(FILE_URL.search(urlsplit(url).path))
        if not is_file and len(found.pages) >= MAX_PAGES:
            continue  # files already offered are still requested: they are cheap and may be broken
        response = client.get(url)
        response.close()  # a file answer streams from disk until closed
        (found.files if is_file else found.pages)[url] = response.status_code
        if response.status_code >= 500:
            found.problems.append(f"{url} answers {response.status_code} (offered by {found.offered_by.get(url)})")
        if is_file:
            if response.status_code not in FILE_STATUSES:
                found.problems.append(f"{url} (a file) answers {response.status_code}")
            continue
        targets = []
        if response.status_code in (301, 302, 303, 307, 308):
            targets = [response.headers["Location"]]
        elif response.mimetype == "text/html":
            html = response.get_data(as_text=True)
            parser = PageParser()
            parser.feed(html)
            _check_page(found, url, parser, html)
            targets = parser.links
        for href in targets:
            target = _same_origin(url, href)
            if target is None or NEVER_FOLLOW.search(target):
                continue
            found.links_seen += 1
            path = urlsplit(target).path
            if target not in queued and variants[path] < VARIANTS_PER_PATH:
                variants[path] += 1
                queued.add(target)
                found.offered_by[target] = url
                queue.append(target)
    return found


def _check_page(found: Crawl, url: str, parser: PageParser, html: str) -> None:
    if not parser.title.strip():
        found.problems.append(f"{url} has no <title>")
    if TRACEBACK.search(html):
        found.problems.append(f"{url} shows a Python traceback")
    visible = " ".join(" ".join(parser.text).split())
    english = sorted(set(ENGLISH_UI_RE.findall(visible)))
    if english:
        found.problems.append(f"{url} shows English UI words {english}")


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):  # noqa: ANN001, ANN201
    rt = make_runtime(tmp_path_factory.mktemp("demo") / "archive")
    off_the_event_loop(lambda: demo.load(rt))
    with rt.db.session() as s:
        for login in filter(None, ROLES.values()):
            users.set_password(s, users.get_user(s, login), PASSWORD)
    yield create_app(runtime=rt)
    rt.close()


def _login(client, login: str) -> None:  # noqa: ANN001
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token, "the login form has no CSRF token"
    r = client.post("/login", data={"login": login, "password": PASSWORD, "csrf_token": token.group(1)})
    assert r.status_code == 302, f"{login} cannot log in: {r.status_code}"


@pytest.mark.parametrize("role", list(ROLES))
def test_every_reachable_page_answers_without_error_in_russian_with_no_dead_links(demo_app, role: str):  # noqa: ANN001
    client = demo_app.test_client()
    # Its own client address per role: the public lookups (QR links on certificate cards) are limited per address
    # and per process, and the journeys in the same process must not find that budget spent.
    client.environ_base["REMOTE_ADDR"] = f"127.0.2.{list(ROLES).index(role) + 1}"
    login = ROLES[role]
    if login:
        _login(client, login)
    found = crawl(client, ["/"] if login else ["/verify", "/"])
    print(found.summary(role))
    report = Path(__file__).resolve().parents[2] / "test-artifacts"
    report.mkdir(exist_ok=True)
    (report / f"crawl-{role.replace(' ', '-')}.txt").write_text(
        found.summary(role) + "\n" + "\n".join(f"{status} {url}" for url, status in
                                                {**found.pages, **found.files}.items()) + "\n", encoding="utf-8")
    assert len(found.pages) >= (3 if login else 2), found.summary(role)
    assert not found.problems, "\n".join(found.problems)
    dead = found.dead_links()
    known = {(page, link): why for (who, page, link), why in KNOWN_DEAD_LINKS.items() if who == role}
    for (page, link), why in sorted(known.items()):
        print(f"known defect: {page} offers {link} (404): {why}")
    new = sorted(dead - known.keys())
    assert not new, "\n".join(f"{page} offers {link}, which answers 404" for page, link in new)
    fixed = sorted(known.keys() - dead)
    assert not fixed, f"no longer dead, remove from KNOWN_DEAD_LINKS: {fixed}"
