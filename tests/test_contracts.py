"""Import contracts, checked over the source's AST (no import is executed).

The libraries `storage`, `signing` and `search` stand alone: they never import the application `dms` nor each
other, so each can be read, tested and replaced on its own. Inside `dms`, the web UI and the JSON API are two
adapters over the same services and never import each other.
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


@pytest.mark.parametrize(("adapter", "other"), [("dms.web", "dms.api"), ("dms.api", "dms.web")])
def test_the_web_ui_and_the_api_never_import_each_other(adapter: str, other: str) -> None:
    found = [f"{path.relative_to(ROOT)}:{line} imports {name}"
             for path in sources(adapter.replace(".", "/")) for line, name in imports_of(path)
             if _within(name, other)]
    assert not found, "\n".join(found)


def test_the_contract_checker_sees_relative_and_absolute_imports() -> None:
    """The checker itself: a relative import two levels up and a `from . import x` resolve to full names."""
    module = ROOT / "dms" / "web" / "views.py"
    names = {name for _line, name in imports_of(module)}
    assert any(_within(name, "dms.services") for name in names)
    assert all(not name.startswith(".") for name in names)


GLOBAL_ROLE_NAMES = ("Administrator", "Clerk", "Signatory", "Auditor")
# Where a role name is data, not a check: the permission table itself, the lifecycles' permission maps (roles per
# state, as Plone's workflows do), the demo, and the administration of users (assigning roles).
ROLE_NAMES_ALLOWED_IN = {"dms/security.py", "dms/workflow.py", "dms/demo_content.py", "dms/services/demo.py",
                         "dms/services/demo_reports.py", "dms/services/users.py", "dms/commands/admin.py",
                         "dms/doctypes.py"}


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
