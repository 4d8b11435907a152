"""Session-wide PKI for the signing tests: one CA, two signatories, our TSA, real PDFs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from signing.pki import CertificateAuthority, UserCredential, load_signer
from signing.signer import SignerIdentity
from signing.trust import TrustStore
from signing.tsa import TimeStampAuthority

from .helpers import PIN, make_pdf

@dataclass
class Pki:
    ca: CertificateAuthority
    agency: UserCredential
    holder: UserCredential
    agency_signer: SignerIdentity
    holder_signer: SignerIdentity
    tsa: TimeStampAuthority
    trust: TrustStore


@pytest.fixture(scope="session")
def pki() -> Pki:
    ca = CertificateAuthority.create("АНО «Центр квалификаций»", public_base_url="http://127.0.0.1:5000/pki")
    agency = ca.issue_user_certificate("Иванов Иван Иванович", PIN, email="director@example.org")
    holder = ca.issue_user_certificate("Петрова Анна Сергеевна", PIN)
    trust = TrustStore.for_ca(ca, crls=[ca.build_crl([]), ca.build_root_crl()])
    return Pki(
        ca=ca,
        agency=agency,
        holder=holder,
        agency_signer=load_signer(agency, PIN, ca.chain_der),
        holder_signer=load_signer(holder, PIN, ca.chain_der),
        tsa=TimeStampAuthority.from_ca(ca),
        trust=trust,
    )


@pytest.fixture(scope="session")
def one_page_pdf() -> bytes:
    return make_pdf("Приказ № 1")


def pytest_configure(config: pytest.Config) -> None:
    # our CA names are up to 64 Cyrillic characters (X.520), more than the 64 UTF-8 bytes cryptography warns about
    config.addinivalue_line("filterwarnings", "ignore:Attribute's length must be:UserWarning")
