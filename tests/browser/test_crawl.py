"""Every page a role can reach by following links from its start page answers without a server error, has a
title, shows no traceback nor untranslated English UI words, and offers no dead links. The crawl uses Flask's
test client over the demo archive (fast); file downloads are requested too but not parsed.

Each role is crawled again in English (the «EN» switch): there no Russian interface text may show. Russian data
(titles, names, organisations, what users typed) does not count, and the crawl knows data from interface text
by how the page was made: every value a template prints ({{ … }}, and the values put into a translated
sentence) is fenced by markers while rendering, and so is what an element with lang="ru" holds (document text
in search snippets), and the archive's own names (folders, titles, organisations, people) wherever they appear
(a chart drawn in code labels its bars with organisations). What is left — the template's own text, translated
or not — must have no Cyrillic; and a fenced value must not be an interface string itself (a msgid of the
catalog, a Russian label of the data tables or a Russian literal of the code) that a view passed on
untranslated."""
from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from jinja2 import pass_context
from markupsafe import Markup

from dms import catalog, permissions
from dms.documents import doctypes
from dms.records import retention
from dms.workflow import rules as workflow
from dms.app import create_app
from dms.operations import demo
from dms.people import users

from .conftest import PASSWORD, make_runtime

pytestmark = pytest.mark.browser

MAX_PAGES = 150
MAX_PAGES_ENGLISH = 80  # the English crawl checks the same templates again: fewer pages keep it quick
# Sorting, filters and pagers give one page many URLs; a few of each path leave room for the other pages.
VARIANTS_PER_PATH = 4
ORIGIN = "http://localhost"
# The demo users and what they stand for; "holder" holds nothing but the local Counterparty role on their
# organisation's agreements folder.
ROLES = {"Administrator": "admin", "Clerk": "clerk", "Signatory": "director", "Auditor": "auditor",
         "local Counterparty": "holder", "anonymous": None}
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
CYRILLIC_WORD = re.compile(r"[А-Яа-яЁё][А-Яа-яЁё\w\-]*")
DATA_OPEN, DATA_CLOSE = "\ue000", "\ue001"  # private-use characters: they never occur in the pages themselves
DATA = re.compile(f"{DATA_OPEN}[^{DATA_CLOSE}]*{DATA_CLOSE}")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"/[^\"]+\.py\", line \d+|jinja2\.exceptions")


class PageParser(HTMLParser):
    """The links, the <title> and the text a reader sees (plus placeholders, tooltips and button values); the texts
    a script shows come from data-* attributes (script_text). Text inside an element with lang="ru" is fenced as
    data, like the values the templates printed."""

    HIDDEN = {"script", "style", "textarea"}
    VOID = {"input", "br", "img", "meta", "link", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.title = ""
        self.text: list[str] = []
        self.script_text: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, inside data)

    def _in_data(self) -> bool:
        return bool(self._stack) and self._stack[-1][1]

    def _seen(self, text: str) -> str:
        return f"{DATA_OPEN}{text}{DATA_CLOSE}" if self._in_data() else text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("a", "link") and a.get("href"):
            self.links.append(DATA.sub(lambda m: m.group(0)[1:-1], a["href"]))
        if tag in ("iframe", "img", "script") and a.get("src"):
            self.links.append(DATA.sub(lambda m: m.group(0)[1:-1], a["src"]))
        in_data = self._in_data() or a.get("lang") == "ru"
        for name in ("placeholder", "title", "aria-label"):
            if a.get(name):
                self.text.append(f"{DATA_OPEN}{a[name]}{DATA_CLOSE}" if in_data else a[name])
        if tag == "input" and a.get("type") in ("submit", "button", "reset") and a.get("value"):
            self.text.append(a["value"])
        self.script_text += [v for k, v in a.items() if k.startswith("data-")]
        if tag not in self.VOID:
            self._stack.append((tag, in_data))

    def handle_endtag(self, tag: str) -> None:
        if any(t == tag for t, _ in self._stack):
            while self._stack and self._stack.pop()[0] != tag:
                pass

    def handle_data(self, data: str) -> None:
        tags = {t for t, _ in self._stack}
        if "title" in tags:
            self.title += data
        if not self.HIDDEN.intersection(tags):
            self.text.append(self._seen(data))


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


def crawl(client, starts: list[str], check=None, max_pages: int = MAX_PAGES) -> Crawl:  # noqa: ANN001
    """Follow every same-site link from `starts`; `check(found, url, parser, html)` looks at each HTML page."""
    check = check or _check_page
    found = Crawl()
    queue = deque(starts)
    queued = set(starts)
    variants: Counter[str] = Counter(urlsplit(u).path for u in starts)
    while queue:
        url = queue.popleft()
        is_file = bool(FILE_URL.search(urlsplit(url).path))
        if not is_file and len(found.pages) >= max_pages:
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
            check(found, url, parser, html)
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


def _unfenced(text: str) -> str:
    return text.replace(DATA_OPEN, "").replace(DATA_CLOSE, "")


def _check_any_page(found: Crawl, url: str, parser: PageParser, html: str) -> None:
    if not _unfenced(parser.title).strip():
        found.problems.append(f"{url} has no <title>")
    if TRACEBACK.search(html):
        found.problems.append(f"{url} shows a Python traceback")


def _check_page(found: Crawl, url: str, parser: PageParser, html: str) -> None:
    _check_any_page(found, url, parser, html)
    visible = _unfenced(" ".join(" ".join(parser.text).split()))
    english = sorted(set(ENGLISH_UI_RE.findall(visible)))
    if english:
        found.problems.append(f"{url} shows English UI words {english}")


def _python_literals() -> list[str]:
    """Russian string literals of the application's code (not its docstrings, not the demo content): labels a
    view may pass to a page."""
    import ast
    found = []
    for path in (Path(__file__).resolve().parents[2] / "dms").rglob("*.py"):
        if path.name.startswith("demo"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(n)}
        found += [n.value.strip() for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                  and id(n) not in docstrings]
    return found


def _interface_strings() -> frozenset[str]:
    """The Russian interface strings: the catalog's msgids, the Russian labels kept as data in the tables and the
    Russian literals of the code."""
    labels = [t.label_ru for t in doctypes.DOC_TYPES.values()]
    labels += [f.label_ru for t in doctypes.DOC_TYPES.values() for f in t.fields]
    labels += [x.title_ru for wf in workflow.WORKFLOWS.values() for x in (*wf.states.values(), *wf.transitions.values())]
    labels += list(permissions.ROLE_LABELS_RU.values()) + [r.basis_ru for r in retention.RETENTION.values()]
    msgids = [m.id if isinstance(m.id, str) else m.id[0] for m in catalog.read_catalog() if m.id]
    return frozenset(s for s in labels + msgids + _python_literals() if CYRILLIC_WORD.search(s) and "%(" not in s)


def archive_names(rt) -> frozenset[str]:  # noqa: ANN001
    """Names the archive's content gives things (folders and their paths, titles, organisations and their cities,
    people): data, even where one equals an interface string (a folder «Архив», the nav's «Архив»)."""
    from sqlalchemy import select

    from dms.models import Document, Folder, Organisation, User
    with rt.db.session() as s:
        folders = {f.id: (f.parent_id, f.name) for f in s.scalars(select(Folder))}
        names = {n for _, n in folders.values()} | set(s.scalars(select(Document.title)))
        names |= {n for o in s.scalars(select(Organisation)) for n in (o.name, o.short_name, o.city)}
        names |= set(s.scalars(select(User.full_name)))
    for folder_id in folders:
        path, at = [], folder_id
        while at is not None:
            at, name = folders[at]
            path.append(name)
        names.add("/" + "/".join(reversed(path[:-1])))  # without the root's own name, as paths are written
    return frozenset(names)


def _without_names(text: str) -> str:
    """`text` without the archive's names in it: a chart drawn in code (SVG) labels its bars with organisations."""
    if CYRILLIC_WORD.search(text):
        for name in sorted((n for n in ARCHIVE_NAMES if len(n) > 3 and n in text), key=len, reverse=True):
            text = text.replace(name, " ")
    return text


def check_english_page(found: Crawl, url: str, parser: PageParser, html: str) -> None:
    """An English page: the checks of every page, then no Russian outside the fenced data, and no fenced value
    that is an interface string a view passed on untranslated."""
    _check_any_page(found, url, parser, html)
    if not re.search(r'<html[^>]*\slang="en"', html):
        found.problems.append(f"{url} is not marked <html lang=\"en\">")
    pieces = [" ".join(t.split()) for t in parser.text + parser.script_text]
    values = {v[1:-1].strip() for p in pieces for v in DATA.findall(p)}
    untranslated = sorted(values & INTERFACE_STRINGS - ARCHIVE_NAMES)
    if untranslated:
        found.problems.append(f"{url} shows interface strings untranslated (passed as values): {untranslated[:5]}")
    russian = sorted({p for p in pieces if CYRILLIC_WORD.search(_without_names(DATA.sub(" ", p)))})
    if russian:
        found.problems.append(f"{url} shows Russian interface text: {[DATA.sub('…', p)[:80] for p in russian[:6]]}")


def _fence(value):  # noqa: ANN001, ANN202
    if isinstance(value, str) and not isinstance(value, Markup) and CYRILLIC_WORD.search(value):
        return f"{DATA_OPEN}{value}{DATA_CLOSE}"
    return value


def fence_printed_values(app) -> None:  # noqa: ANN001
    """Every value a template prints, and every value put into a translated sentence, comes out fenced by the
    data markers; the templates' own text (through _() or not) stays as it is."""
    env = app.jinja_env
    env.finalize = _fence
    translate = env.globals["gettext"]

    @pass_context
    def gettext_fencing_values(context, message: str, **variables):  # noqa: ANN001, ANN202
        return translate(context, message, **{k: _fence(v) for k, v in variables.items()})

    env.globals["gettext"] = gettext_fencing_values


INTERFACE_STRINGS = _interface_strings()
ARCHIVE_NAMES: frozenset[str] = frozenset()  # filled from the demo archive (demo_app)


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):  # noqa: ANN001, ANN201
    rt = make_runtime(tmp_path_factory.mktemp("demo") / "archive")
    demo.load(rt)
    with rt.db.session() as s:
        for login in filter(None, ROLES.values()):
            users.set_password(s, users.get_user(s, login), PASSWORD)
    app = create_app(runtime=rt)
    fence_printed_values(app)
    global ARCHIVE_NAMES
    ARCHIVE_NAMES = archive_names(rt)
    yield app
    rt.close()


def _login(client, login: str) -> None:  # noqa: ANN001
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token, "the login form has no CSRF token"
    r = client.post("/login", data={"login": login, "password": PASSWORD, "csrf_token": token.group(1)})
    assert r.status_code == 302, f"{login} cannot log in: {r.status_code}"


def _client_as(demo_app, role: str, network: int):  # noqa: ANN001, ANN202
    client = demo_app.test_client()
    # Its own client address per role: the public lookups (QR links on certificate cards) are limited per address
    # and per process, and the journeys in the same process must not find that budget spent.
    client.environ_base["REMOTE_ADDR"] = f"127.0.{network}.{list(ROLES).index(role) + 1}"
    if ROLES[role]:
        _login(client, ROLES[role])
    return client


@pytest.mark.parametrize("role", list(ROLES))
def test_every_reachable_page_answers_without_error_in_russian_with_no_dead_links(demo_app, role: str):  # noqa: ANN001
    client = _client_as(demo_app, role, 2)
    login = ROLES[role]
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


@pytest.mark.parametrize("role", list(ROLES))
def test_every_reachable_page_in_english_shows_no_russian_interface_text(demo_app, role: str):  # noqa: ANN001
    client = _client_as(demo_app, role, 3)
    assert client.get("/language/en").status_code == 302
    found = crawl(client, ["/"] if ROLES[role] else ["/verify", "/"], check=check_english_page,
                  max_pages=MAX_PAGES_ENGLISH)
    print(found.summary(role) + " (English)")
    assert len(found.pages) >= (3 if ROLES[role] else 2), found.summary(role)
    assert not found.problems, "\n".join(found.problems)
