"""Shared test configuration: the repository root on sys.path (for tests.s3server and friends)."""
import os
import sys
from pathlib import Path

# Cheap Argon2 parameters for the many users tests create (production keeps the library's defaults).
os.environ.setdefault("DMS_ARGON2_PROFILE", "CHEAPEST")
# Signing keys under the passphrase-grade PBKDF2 count, not the PIN-grade one (signing.pki.USER_PIN_KDF_ITERATIONS).
os.environ.setdefault("DMS_PIN_KDF_ITERATIONS", "600000")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
