"""Trust anchors and revocation lists that validation (and B-LT signing) works against."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from pyhanko_certvalidator import ValidationContext

if TYPE_CHECKING:
    from .pki import CertificateAuthority


@dataclass(frozen=True)
class TrustStore:
    """DER certificates and CRLs: roots we trust, intermediates that help build paths, CRLs we know."""

    roots: Sequence[bytes]
    intermediates: Sequence[bytes] = ()
    crls: Sequence[bytes] = ()
    hard_fail_revocation: bool = False

    @classmethod
    def for_ca(
        cls, ca: CertificateAuthority, crls: Sequence[bytes] = (), hard_fail_revocation: bool = False
    ) -> TrustStore:
        """Trust the root of a :class:`signing.pki.CertificateAuthority`; its issuing CA helps build paths."""
        return cls(
            roots=[ca.root.certificate_der],
            intermediates=[ca.issuing.certificate_der],
            crls=list(crls),
            hard_fail_revocation=hard_fail_revocation,
        )

    def validation_context(self, at: datetime | None = None) -> ValidationContext:
        """A pyHanko context that never fetches anything from the network."""
        return ValidationContext(
            trust_roots=[asn1_x509.Certificate.load(c) for c in self.roots],
            other_certs=[asn1_x509.Certificate.load(c) for c in self.intermediates],
            crls=[asn1_crl.CertificateList.load(c) for c in self.crls],
            allow_fetching=False,
            revocation_mode="hard-fail" if self.hard_fail_revocation else "soft-fail",
            moment=at,
        )
