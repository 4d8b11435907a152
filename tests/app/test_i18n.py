"""Russian first, English second: every msgid of the sources has an English translation in the catalog, the
compiled catalog is the one of messages.po, no Russian interface text hides outside gettext, Russian is the
default and the «RU | EN» switch changes the language of the whole page, labels that are data included."""
from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import jinja2
from jinja2 import nodes

from dms import catalog
from dms.errors import NotFound

from .pdfs import make_pdf

ROOT = Path(__file__).resolve().parents[2]
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
GETTEXT_CALLS = {"_", "gettext", "ngettext"}
# Python modules whose strings reach people through the web UI (their views); a Russian literal there must go
# through gettext or be an error message (an extraction keyword of dms.catalog).
VIEW_MODULES = sorted((ROOT / "dms" / "web").glob("*.py")) + [ROOT / "dms" / "app.py"] + sorted((ROOT / "dms").glob("*/web.py"))


def _where(found: list[catalog.Found]) -> dict[str, list[str]]:
    where: dict[str, list[str]] = {}
    for f in found:
        where.setdefault(f.msgid if isinstance(f.msgid, str) else f.msgid[0], []).append(f.where)
    return where


def test_every_msgid_of_the_sources_has_an_english_translation_in_the_catalog():
    translations = {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in catalog.read_catalog() if m.id}
    missing = []
    for msgid, where in sorted(_where(catalog.extract()).items()):
        english = translations.get(msgid)
        english = english[0] if isinstance(english, tuple) else english
        if not english:
            missing.append(f"{where[0]}: {msgid!r} " + ("is not in messages.po" if msgid not in translations
                                                        else "has no English translation"))
    assert not missing, (f"{len(missing)} msgids lack English (run scripts/i18n, translate, run it again):\n"
                         + "\n".join(missing))


def test_every_translation_keeps_the_placeholders_of_its_msgid():
    """An English text that drops or renames a %(name)s would fail (KeyError) or lose a value on English pages."""
    placeholder = re.compile(r"%\((\w+)\)s")
    wrong = [f"{m.id!r} -> {m.string!r}" for m in catalog.read_catalog() if m.id and isinstance(m.id, str) and m.string
             and sorted(placeholder.findall(m.id)) != sorted(placeholder.findall(m.string))]
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


def test_compiled_catalog_is_the_one_of_messages_po():
    """messages.mo is committed (no build step at run time): it must say what messages.po says."""
    with catalog.MO.open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    stale = []
    for m in catalog.read_catalog():
        if not m.id or not m.string:
            continue
        if isinstance(m.id, tuple):
            got = compiled.ngettext(m.id[0], m.id[1], 1)
            expected = m.string[0]
        else:
            got, expected = compiled.gettext(m.id), m.string
        if got != expected:
            stale.append(f"{m.id!r}: messages.mo says {got!r}, messages.po {expected!r}")
    assert not stale, "messages.mo is stale, run scripts/i18n compile:\n" + "\n".join(stale)


def _unwrapped_in_template(env: jinja2.Environment, path: Path) -> list[str]:
    tree = env.parse(path.read_text(encoding="utf-8"))
    wrapped: set[int] = set()
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name in GETTEXT_CALLS:
            wrapped.update(id(arg) for arg in call.args)  # the msgid
            wrapped.update(id(kw.value) for kw in call.kwargs)  # values put into it (data: a sample number)
    problems = []
    for node in tree.find_all((nodes.TemplateData, nodes.Const)):
        value = node.data if isinstance(node, nodes.TemplateData) else node.value
        if isinstance(value, str) and CYRILLIC.search(value) and id(node) not in wrapped:
            problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: {' '.join(value.split())[:80]!r}")
    return problems


def test_templates_show_no_russian_text_outside_gettext():
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"])
    problems = [p for path in sorted((ROOT / "templates").rglob("*.html")) for p in _unwrapped_in_template(env, path)]
    assert not problems, "Russian text not wrapped in {{ _('…') }}:\n" + "\n".join(problems)


def _bilingual_pair(node: ast.AST) -> bool:
    return (isinstance(node, ast.Tuple) and len(node.elts) == 2
            and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
            and bool(CYRILLIC.search(node.elts[0].value)) and not CYRILLIC.search(node.elts[1].value))


def _unwrapped_in_python(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node) is not None:
            allowed.add(id(node.body[0].value))
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in catalog.KEYWORDS or name == "pick":  # pick(ru, en): a label kept in both languages
                allowed.update(id(n) for arg in node.args for n in ast.walk(arg))
        if _bilingual_pair(node):  # ("Русский", "English"): data with its English twin, chosen by i18n.pick
            allowed.add(id(node.elts[0]))
    return [f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:80]!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and CYRILLIC.search(node.value)
            and id(node) not in allowed]


def test_web_views_show_no_russian_text_outside_gettext():
    problems = [p for path in VIEW_MODULES for p in _unwrapped_in_python(path)]
    assert not problems, "Russian text of the web UI not passed through gettext:\n" + "\n".join(problems)


def test_scripts_take_their_texts_from_the_page():
    """A script shows only texts the page gave it (data-* attributes, translated by the template)."""
    problems = [f"{path.relative_to(ROOT)}:{n}: {line.strip()[:80]!r}"
                for path in sorted((ROOT / "dms" / "static").glob("*.js"))
                for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if CYRILLIC.search(line)]
    assert not problems, "Russian text in a script (pass it from the template instead):\n" + "\n".join(problems)


def test_russian_is_the_default_even_for_a_browser_asking_for_english(world, client):  # noqa: ANN001
    for headers in ({}, {"Accept-Language": "ru"}, {"Accept-Language": "en-US,en;q=0.9"}):
        page = client.get("/login", headers=headers).get_data(as_text=True)
        assert '<html lang="ru"' in page and "Вход в архив" in page and "Sign in" not in page


def test_the_switch_sets_english_for_the_next_pages_and_back_to_russian(world, client):  # noqa: ANN001
    r = client.get("/language/en?next=/login")
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    assert "dms_lang=en" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="en"' in page and "Sign in to the archive" in page and "Вход в архив" not in page
    assert 'href="/language/ru?next=/login"' in page  # the switch offers the way back, to the same page
    client.get("/language/ru?next=/login")
    assert "Вход в архив" in client.get("/login").get_data(as_text=True)


def test_the_switch_returns_only_to_a_page_of_this_site(client):  # noqa: ANN001
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", ""):
        r = client.get("/language/en", query_string={"next": target})
        assert r.status_code == 302 and r.headers["Location"] == "/", target
    assert client.get("/language/de").status_code == 404


def test_english_pages_show_english_labels_of_types_states_and_roles(world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.user("reader")
    world.folder("/Приказы")
    world.share("/Приказы", "reader", "Reader")
    doc = world.document("clerk", "/Приказы", make_pdf("приказ"), doc_type="order", title="О проведении экзамена")
    world.login(client, "clerk")
    client.get("/language/en")
    page = client.get(f"/documents/{doc.id}").get_data(as_text=True)
    assert "Order" in page and "Draft" in page and "Register" in page  # type, state, transition: the _en twins
    assert "Приказ ·" not in page and "Проект" not in page
    assert "О проведении экзамена" in page  # content is data and stays as it is
    sharing = client.get(f"/folders/{doc.folder_id}/sharing").get_data(as_text=True)
    assert "Reader" in sharing and "Читатель" not in sharing
    assert "Access to folder «Приказы»" in sharing


def test_dates_follow_the_locale(world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Приказы")
    doc = world.document("clerk", "/Приказы", make_pdf("приказ"), doc_type="order", title="Приказ")
    world.login(client, "clerk")
    day = doc.created_at
    assert day.strftime("%d.%m.%Y") in client.get(f"/documents/{doc.id}").get_data(as_text=True)
    client.get("/language/en")
    english = client.get(f"/documents/{doc.id}").get_data(as_text=True)
    assert f"{day.day} {day.strftime('%b')} {day.year}" in english


def test_a_service_refusal_is_shown_in_the_language_of_the_request(world, client, app):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.login(client, "clerk")
    assert "документ не найден" in client.get("/documents/999999").get_data(as_text=True)
    client.get("/language/en")
    assert "document not found" in client.get("/documents/999999").get_data(as_text=True)
    error = NotFound("нет пользователя «%(login)s»", login="иванов")
    with app.test_request_context("/", headers={"Cookie": "dms_lang=en"}):
        assert error.message == "no user «иванов»"
    assert error.message == str(error) == "нет пользователя «иванов»"  # outside a request (CLI, logs): Russian
