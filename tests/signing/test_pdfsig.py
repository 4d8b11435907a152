"""An independent validator: poppler's pdfsig with an NSS database trusting only our root CA.

Needs the Debian packages poppler-utils and libnss3-tools.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from signing.pades import FieldSlot, Level, SignRequest, sign_pdf
from signing.stamp import StampPlacement

from .helpers import make_pdf

pytestmark = pytest.mark.skipif(
    not (shutil.which("pdfsig") and shutil.which("certutil")),
    reason="pdfsig (poppler-utils) and certutil (libnss3-tools) are required",
)


@pytest.fixture(scope="module")
def nss_db(pki, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("nssdb")
    root = directory / "root.pem"
    root.write_bytes(pki.ca.certificate_pem("root"))
    subprocess.run(["certutil", "-N", "-d", f"sql:{directory}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{directory}", "-n", "org-root", "-t", "CT,C,C", "-i", str(root)], check=True
    )
    return directory


def _pdfsig(nss_db: Path, pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss_db}", str(path)], capture_output=True, text=True, timeout=60
    )
    return [line.strip() for line in result.stdout.splitlines()]


def test_pdfsig_finds_both_signatures_of_a_countersigned_agreement_valid_and_trusted(pki, nss_db, tmp_path):
    by_agency = sign_pdf(
        make_pdf("Соглашение"),
        pki.agency_signer,
        SignRequest(
            level=Level.B_T,
            timestamper=pki.tsa,
            certify=True,
            stamp=StampPlacement(),
            reserve_fields=(FieldSlot("Holder", StampPlacement(x=310)),),
        ),
    )
    both = sign_pdf(
        by_agency,
        pki.holder_signer,
        SignRequest(level=Level.B_LT, timestamper=pki.tsa, trust=pki.trust, field_name="Holder", stamp=StampPlacement()),
    )
    lines = _pdfsig(nss_db, both, tmp_path)
    assert lines.count("- Signature Validation: Signature is Valid.") == 2
    assert lines.count("- Certificate Validation: Certificate is Trusted.") == 2


def test_pdfsig_reports_a_changed_byte(pki, nss_db, tmp_path):
    signed = bytearray(sign_pdf(make_pdf("Приказ"), pki.agency_signer))
    signed[signed.index(b"ReportLab")] ^= 0x20
    lines = _pdfsig(nss_db, bytes(signed), tmp_path)
    assert "- Signature Validation: Signature is Valid." not in lines
    assert any(line.startswith("- Signature Validation:") for line in lines)
