"""Trust anchors and revocation lists that validation (and B-LT signing) works against."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko_certvalidator import ValidationContext

from .algorithms import SUNSET_POLICY
from .revocation import load_crls

if TYPE_CHECKING:
    from .pki import CertificateAuthority


@dataclass(frozen=True)
class TrustStore:
    """DER certificates and CRLs: roots we trust, intermediates that help build paths, CRLs we know.

    ``crls_current``: the CRLs are the issuers' complete record up to the moment of validation — true
    of our own CA, whose every revocation publishes a new CRL at once (the default of :meth:`for_ca`);
    other CRLs vouch for a certificate's status only as of their thisUpdate.

    ``roots`` may hold several generations of our root (an old root stays an anchor for what it
    covered), ``intermediates`` every issuing CA and TSA certificate we ever had, ``crls`` the
    archive's revocation history (the newest CRL of every issuer). ``fetch_revocation``: a
    certificate whose issuer has no CRL here or in the document may have its CRL fetched from its
    distribution points (for other organisations' CAs); off by default.
    """

    roots: Sequence[bytes]
    intermediates: Sequence[bytes] = ()
    crls: Sequence[bytes] = ()
    hard_fail_revocation: bool = False
    fetch_revocation: bool = False
    fetch_timeout: float = 5.0
    crls_current: bool = False  # the CRLs are their issuers' complete record as of now (the archive is the CA)

    @classmethod
    def for_ca(
        cls, ca: CertificateAuthority, crls: Sequence[bytes] = (), hard_fail_revocation: bool = False,
        crls_current: bool = True,
    ) -> TrustStore:
        """Trust the roots of a :class:`signing.pki.CertificateAuthority` (all generations); its issuing CAs and
        TSAs help build paths; ``crls`` are its current CRLs (of every issuing CA generation)."""
        return cls(
            roots=ca.roots_der,
            intermediates=ca.intermediates_der,
            crls=list(crls),
            hard_fail_revocation=hard_fail_revocation,
            crls_current=crls_current,
        )

    def with_roots(self, extra_roots: Sequence[bytes], *, fetch_revocation: bool = True) -> TrustStore:
        """This store plus other organisations' roots, whose certificates' revocation is fetched (with a timeout)."""
        return replace(self, roots=[*self.roots, *extra_roots], fetch_revocation=fetch_revocation)

    @cached_property
    def _asn1_roots(self) -> list[asn1_x509.Certificate]:
        return [asn1_x509.Certificate.load(c) for c in self.roots]

    @cached_property
    def _asn1_intermediates(self) -> list[asn1_x509.Certificate]:
        return [asn1_x509.Certificate.load(c) for c in self.intermediates]

    @cached_property
    def parsed_crls(self) -> list[x509.CertificateRevocationList]:
        return load_crls(self.crls)

    def validation_context(self, at: datetime | None = None) -> ValidationContext:
        """A pyHanko context that never fetches anything, with our CRLs (what B-LT signing embeds)."""
        return ValidationContext(
            trust_roots=self._asn1_roots,
            other_certs=self._asn1_intermediates,
            crls=[asn1_crl.CertificateList.load(c) for c in self.crls],
            allow_fetching=False,
            revocation_mode="hard-fail" if self.hard_fail_revocation else "soft-fail",
            moment=at,
        )

    def path_context(self, at: datetime | None, extra_certs: Sequence[asn1_x509.Certificate] = ()) -> ValidationContext:
        """A context that checks paths and validity at ``at`` only; revocation is judged separately
        (:mod:`signing.revocation`), by the date and reason of a revocation against the proof of existence. Hash and
        signature algorithms are judged at ``at`` too, by their sunsets (:mod:`signing.algorithms`)."""
        return ValidationContext(
            trust_roots=self._asn1_roots,
            other_certs=[*self._asn1_intermediates, *extra_certs],
            allow_fetching=False,
            revocation_mode="soft-fail",
            moment=at,
            # an algorithm counts at ``at`` if ``at`` is before its sunset (signing.algorithms)
            algorithm_usage_policy=SUNSET_POLICY,
        )
