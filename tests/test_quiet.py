"""Third-party deprecation warnings never reach a user's stderr (dms/quiet.py); other warnings still do."""
from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import warnings
warnings.simplefilter("default")
import dms
warnings.warn_explicit("old API", DeprecationWarning, "/venv/lib/site-packages/lib/mod.py", 1)
class CryptographyDeprecationWarning(UserWarning): pass
warnings.warn_explicit("DSA is deprecated", CryptographyDeprecationWarning, "/venv/site-packages/pyhanko/x.py", 2)
warnings.warn_explicit("this one matters", RuntimeWarning, "/venv/lib/site-packages/lib/mod.py", 3)
print("own output")
"""


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)


def test_a_third_party_deprecation_is_not_printed_but_other_warnings_are() -> None:
    out = run(SCRIPT)
    assert out.stdout.strip() == "own output"
    assert "old API" not in out.stderr and "DSA" not in out.stderr
    assert "this one matters" in out.stderr


def test_importing_the_signing_stack_prints_nothing() -> None:
    """pyHanko with a newer cryptography warned on import; a `dms sign` user saw it on every command."""
    out = run("import warnings; warnings.simplefilter('default'); import dms; import dms.signatures.service; "
              "import pyhanko.sign.signers.pdf_cms; print('ok')")
    assert out.stdout.strip() == "ok" and out.stderr == ""


def test_a_long_organisation_name_in_a_certificate_prints_nothing() -> None:
    """cryptography warns (UserWarning, at the stack level of our call in signing/pki.py) when a certificate's O=
    value is longer than 64 characters, as the agency's full Russian name is: `dms pki issue` printed it."""
    out = run("import warnings; warnings.simplefilter('default'); import dms\n"
              "warnings.warn_explicit(\"Attribute's length must be >= 1 and <= 64, but it was 97\", UserWarning, "
              "'/work/main/signing/pki.py', 102)\nprint('ok')")
    assert out.stdout.strip() == "ok" and out.stderr == ""
