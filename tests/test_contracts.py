"""Import contracts, checked over the source's AST (no import is executed).

The libraries `storage`, `signing` and `search` stand alone: they never import the application `dms` nor each
other, so each can be read, tested and replaced on its own. Inside `dms`, modules form no import cycle; the web UI
and the JSON API are two adapters over the same services and never import each other; services import no adapter.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("storage", "signing", "search")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative imports resolved."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:  # `from . import web` names a module too
                yield node.lineno, f"{target}.{alias.name}"


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_library_never_imports_the_application_nor_another_library(library: str) -> None:
    forbidden = {"dms", *LIBRARIES} - {library}
    found = [f"{path.relative_to(ROOT)}:{line} imports {name}"
             for path in sources(library) for line, name in imports_of(path) if _top(name) in forbidden]
    assert not found, "\n".join(found)


def _dms_modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sources("dms") if "/migrations/" not in path.as_posix()}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of `dms` an imported name lives in (`dms.records.service.hold` -> `dms.records.service`)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def dms_import_graph() -> dict[str, set[str]]:
    """Module -> the modules of `dms` it imports, at the top or inside a function alike (a lazy import is still a
    dependency), but not under `if TYPE_CHECKING:` (annotations only)."""
    modules = _dms_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        skip = _type_checking_lines(ast.parse(path.read_text(encoding="utf-8")))
        for line, imported in imports_of(path):
            target = _resolve(imported, modules) if _within(imported, "dms") else None
            if target and target != name and line not in skip and target != "dms":
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_between_modules_of_dms() -> None:
    """Issue 13: every module of `dms` can be read without reading its importers; a lazy import inside a function
    counts (it hides a cycle, it does not remove it)."""
    cycles = _cycles(dms_import_graph())
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# Modules that register on both blueprints on purpose (the app itself, and job progress, which pages and API share).
BOTH_ADAPTERS = {"dms.app", "dms.jobs.routes"}


def _adapters() -> tuple[set[str], set[str]]:
    graph = dms_import_graph()
    web = {m for m, targets in graph.items() if any(_within(t, "dms.web") for t in targets) or _within(m, "dms.web")}
    api = {m for m, targets in graph.items() if any(_within(t, "dms.api") for t in targets) or _within(m, "dms.api")}
    return web, api


def test_the_web_ui_and_the_api_never_import_each_other() -> None:
    """Pages (modules that register on dms.web.bp) and API routes (on dms.api.bp) are two adapters over the same
    services: neither imports the other; what both need lives in a neutral module (dms.http, dms.public_http)."""
    web, api = _adapters()
    assert web & api <= BOTH_ADAPTERS, sorted(web & api - BOTH_ADAPTERS)
    graph = dms_import_graph()
    found = [f"{m} imports {t}" for m in sorted(web - BOTH_ADAPTERS) for t in sorted(graph[m]) if t in api]
    found += [f"{m} imports {t}" for m in sorted(api - BOTH_ADAPTERS) for t in sorted(graph[m]) if t in web]
    assert not found, "\n".join(found)


def test_services_never_import_an_adapter() -> None:
    """Rules live in services; pages, API routes and commands call them, never the other way round."""
    web, api = _adapters()
    graph = dms_import_graph()
    cli = {m for m, targets in graph.items() if "dms.clibase" in targets} | {"dms.cli", "dms.clibase", "dms.__main__", "dms.wsgi", "dms.wsgi_server"}
    adapters = web | api | cli
    found = [f"{m} imports {t}" for m in sorted(set(graph) - adapters) for t in sorted(graph[m]) if t in adapters]
    assert not found, "\n".join(found)


def test_the_contract_checker_resolves_relative_imports(tmp_path: Path) -> None:
    """The checker itself: the libraries may import their siblings relatively; `from . import x` and a relative
    import two levels up resolve to full names."""
    module = ROOT / "search" / "_contract_probe.py"
    module.write_text("from . import analysis\nfrom ..storage import base\n", encoding="utf-8")
    try:
        names = {name for _line, name in imports_of(module)}
    finally:
        module.unlink()
    assert {"search.analysis", "storage.base"} <= names


GLOBAL_ROLE_NAMES = ("Administrator", "Clerk", "Signatory", "Auditor")
# Where a role name is data, not a check: the permission table itself, the lifecycles' permission maps (roles per
# state, as Plone's workflows do), the demo, and the administration of users (assigning roles).
ROLE_NAMES_ALLOWED_IN = {"dms/permissions.py", "dms/security.py", "dms/workflow/rules.py", "dms/operations/demo_content.py", "dms/operations/demo.py",
                         "dms/reports/demo.py", "dms/people/users.py", "dms/operations/cli.py",
                         "dms/documents/doctypes.py"}


def test_code_and_templates_ask_for_permissions_never_for_a_global_role_name() -> None:
    """Issue 13: `grep` finds no global role name used as a check outside the permission table."""
    import re
    pattern = re.compile(r"""["'](%s)["']""" % "|".join(GLOBAL_ROLE_NAMES))
    found = []
    for path in sorted([*(ROOT / "dms").rglob("*.py"), *(ROOT / "templates").rglob("*.html")]):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ROLE_NAMES_ALLOWED_IN or "/migrations/" in rel:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                found.append(f"{rel}:{n}: {line.strip()[:120]}")
    assert not found, "ask for a permission (holds_globally / can()) instead:\n" + "\n".join(found)
