"""Third-party deprecation warnings never reach the users of the CLI or the web app.

A library's deprecation notice (pyHanko importing a name cryptography has deprecated, say) is addressed to the
developers of that library, not to a clerk running `dms sign`: on stderr it breaks the rule that a refusal is one
line, and it means nothing to the reader. `install()` routes such warnings to the `py.warnings` logger at DEBUG
level, once per place; every other warning keeps Python's own handling. The test suite sees them all (pytest
installs its own handler per test).
"""
from __future__ import annotations

import logging
import warnings
from typing import TextIO

log = logging.getLogger("py.warnings")
_QUIET = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
_installed = False


# Third-party notices that are not deprecations but say nothing a user can act on: cryptography warns on every parse
# of a certificate whose organisation name is longer than X.520's 64 characters (the agency's and holders' full
# Russian names are; the certificates are issued that way on purpose and every validator reads them).
_NOISE = ("Attribute's length must be",)


def _third_party_deprecation(category: type[Warning], filename: str, message: str = "") -> bool:
    if any(message.startswith(n) for n in _NOISE):  # warned with the stack level of our own call
        return True
    if issubclass(category, _QUIET) or category.__name__.endswith("DeprecationWarning"):
        own = ("/dms/", "/storage/", "/signing/", "/search/")
        return not any(part in filename for part in own) or "site-packages" in filename
    return False


def install() -> None:
    """Idempotent: swap in a `showwarning` that logs third-party deprecations at DEBUG instead of printing them."""
    global _installed
    if _installed:
        return
    _installed = True
    original = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        if _third_party_deprecation(category, filename, str(message)):
            log.debug("%s:%s: %s: %s", filename, lineno, category.__name__, message)
            return
        original(message, category, filename, lineno, file, line)

    warnings.showwarning = show
