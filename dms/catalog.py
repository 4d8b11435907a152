"""The English catalog of the UI: extract the msgids (the Russian texts) from the sources, merge them into
dms/translations/en/LC_MESSAGES/messages.po, compile messages.mo. `scripts/i18n` runs it; tests/app/test_i18n.py
uses the same extraction to find msgids the catalog lacks."""
from __future__ import annotations

import argparse
import io
import sys
from typing import Any
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "dms" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
# gettext and friends, and the callables whose first (or named) argument is a message: the errors of
# dms.errors and its subclasses (translated where shown, see DmsError.message), Forbidden's `what`.
KEYWORDS: dict[str, Any] = {
    "_": None, "gettext": None, "lazy_gettext": None, "_l": None, "N_": None, "localize": None,
    "ngettext": (1, 2), "lazy_ngettext": (1, 2),
    "DmsError": None, "NotFound": None, "Conflict": None, "PreconditionFailed": None, "TooLarge": None,
    "UnsupportedMediaType": None, "Invalid": None, "AuthError": None, "Throttled": None,
    "PkiNotInitialised": None, "AdminOnly": None, "SigningRefused": None,
    "Forbidden": (2,),
}
SKIP_DIRS = {".venv", "node_modules", "__pycache__", ".git", "var", "tests", "bench"}


@dataclass(frozen=True)
class Found:
    msgid: str | tuple[str, ...]
    where: str


def extract() -> list[Found]:
    """Every msgid of the sources named in babel.cfg, with where it was found."""
    method_map, options_map = parse_mapping_cfg(io.StringIO((ROOT / "babel.cfg").read_text(encoding="utf-8")))
    found: list[Found] = []
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True,
            directory_filter=lambda d: Path(d).name not in SKIP_DIRS):
        if message and (message[0] if isinstance(message, tuple) else message):
            found.append(Found(message, f"{filename}:{lineno}"))
    return found


def template() -> Catalog:
    pot = Catalog(project="Pechat", fuzzy=False)
    for f in extract():
        path, line = f.where.rsplit(":", 1)
        pot.add(f.msgid, locations=[(path, int(line))], flags=("python-format",) if "%(" in str(f.msgid) else ())
    return pot


def read_catalog(path: Path = PO) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale="en")


def update() -> Catalog:
    """messages.po with the msgids of the sources: new ones added untranslated, vanished ones dropped."""
    catalog = read_catalog() if PO.exists() else Catalog(locale="en", project="Pechat")
    pot = template()
    pot.creation_date = catalog.creation_date  # the header changes only with the texts, not with each run
    catalog.update(pot, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    PO.parent.mkdir(parents=True, exist_ok=True)
    with PO.open("wb") as f:
        write_po(f, catalog, width=120, sort_output=True, include_lineno=False)
    return catalog


def compiled(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog)
    return buf.getvalue()


def compile_mo() -> None:
    MO.write_bytes(compiled(read_catalog()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/i18n", description=__doc__)
    parser.add_argument("step", nargs="?", choices=("all", "update", "compile", "check"), default="all")
    step = parser.parse_args(argv).step
    if step in ("all", "update"):
        catalog = update()
        missing = [m.id for m in catalog if m.id and not m.string]
        print(f"{PO.relative_to(ROOT)}: {len(catalog) - 1} msgids, {len(missing)} without an English translation")
    if step in ("all", "compile"):
        compile_mo()
        print(f"{MO.relative_to(ROOT)} compiled")
    if step == "check":
        missing = [m.id for m in read_catalog() if m.id and not m.string]
        print("\n".join(str(m) for m in missing))
        return 1 if missing else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
