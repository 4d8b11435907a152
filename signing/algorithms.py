"""Until when hash and signature algorithms are trustworthy: one table, read by validation and by renewal.

A *sunset* is the first moment an algorithm (or a key of some size) no longer protects anything new.
It means two things (ETSI EN 319 102-1, § 5.6.2.5 "cryptographic constraints", and its POE rules):

- for renewal: protection that rests on the algorithm must be renewed *before* its sunset
  (:meth:`signing.lta.ArchiveTimestamp.renew_by`);
- for validation: an object signed with it is accepted only if it is proven to have existed before
  the sunset (a later time-stamp with a stronger algorithm, the archive's record of storing it): a proof
  made before the sunset stays a proof. :class:`SunsetPolicy` hands this rule to pyHanko.

Sources (re-check this table whenever they are revised):
- ETSI TS 119 312 (Electronic Signatures and Infrastructures; Cryptographic Suites) and the SOG-IS
  Crypto Working Group "Agreed Cryptographic Mechanisms" (v1.2, 2020): SHA-1 is not agreed for digital
  signatures; SHA-224 is legacy; SHA-256/384/512 and SHA-3 are recommended; RSA moduli of 3000 bits and
  more are recommended, smaller moduli from 1900 bits are legacy only; ECDSA on 256-bit curves and more is
  recommended.
- NIST SP 800-131A Rev. 2 and SP 800-57 Part 1 Rev. 5 for the dates the above leave open: SHA-1 and
  RSA/ECC below 112 bits of security disallowed for signature generation from 2014-01-01; 112-bit security
  (RSA-2048, SHA-224, P-224) acceptable through 2030, so its sunset is 2031-01-01; 128 bits and more with
  no date set.
``None`` means no sunset is set today (not "forever"): a revision of this table moves the renewal dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, UTC

from asn1crypto import algos, keys
from pyhanko_certvalidator.policy_decl import AlgorithmUsageConstraint, AlgorithmUsagePolicy

from . import clock

_2014 = datetime(2014, 1, 1, tzinfo=UTC)
_2031 = datetime(2031, 1, 1, tzinfo=UTC)
# the dawn of time: an algorithm the table does not know is trusted for nothing
NEVER = datetime(1970, 1, 1, tzinfo=UTC)

# digest algorithm (asn1crypto name) -> (name a clerk may recognise, sunset)
HASH_SUNSETS: dict[str, tuple[str, datetime | None]] = {
    "md2": ("MD2", NEVER),
    "md5": ("MD5", NEVER),
    "sha1": ("SHA-1", _2014),
    "sha224": ("SHA-224", _2031),
    "sha256": ("SHA-256", None),
    "sha384": ("SHA-384", None),
    "sha512": ("SHA-512", None),
    "sha512_224": ("SHA-512/224", _2031),
    "sha512_256": ("SHA-512/256", None),
    "sha3_224": ("SHA3-224", _2031),
    "sha3_256": ("SHA3-256", None),
    "sha3_384": ("SHA3-384", None),
    "sha3_512": ("SHA3-512", None),
    "shake256": ("SHAKE256", None),
}

# public key algorithm (asn1crypto name) -> ((minimum key size in bits, sunset), ...) from the largest keys down
KEY_SUNSETS: dict[str, tuple[tuple[int, datetime | None], ...]] = {
    "rsa": ((3000, None), (2048, _2031), (0, _2014)),
    "rsassa_pss": ((3000, None), (2048, _2031), (0, _2014)),
    "ec": ((256, None), (224, _2031), (0, _2014)),
    "dsa": ((3000, None), (2048, _2031), (0, _2014)),
    "ed25519": ((0, None),),
    "ed448": ((0, None),),
}

_KEY_LABELS = {"rsa": "RSA", "rsassa_pss": "RSA-PSS", "ec": "ECDSA", "dsa": "DSA", "ed25519": "Ed25519",
               "ed448": "Ed448"}


@dataclass(frozen=True)
class Sunset:
    """The sunset of one algorithm (``at`` None: none set) and the name it is known by."""

    label: str
    at: datetime | None

    def lapsed(self, moment: datetime) -> bool:
        return self.at is not None and moment >= self.at


def hash_sunset(name: str) -> Sunset:
    label, at = HASH_SUNSETS.get(name, (name, NEVER))
    return Sunset(label, at)


def key_sunset(public_key: keys.PublicKeyInfo) -> Sunset:
    family = public_key.algorithm
    try:
        size = public_key.bit_size
    except Exception:  # noqa: BLE001 - a key we cannot measure is trusted for nothing
        size = 0
    label = f"{_KEY_LABELS.get(family, family)}-{size}" if family not in ("ed25519", "ed448") else _KEY_LABELS[family]
    for minimum, at in KEY_SUNSETS.get(family, ((0, NEVER),)):
        if size >= minimum:
            return Sunset(label, at)
    return Sunset(label, NEVER)


def earliest(*sunsets: Sunset) -> Sunset | None:
    """The sunset that comes first (None if none of them has a date)."""
    dated = [s for s in sunsets if s.at is not None]
    return min(dated, key=lambda s: s.at or NEVER) if dated else None


def _signature_hash(algo: algos.SignedDigestAlgorithm) -> str | None:
    try:
        return algo.hash_algo
    except (ValueError, KeyError):  # EdDSA has its hash built in
        return None


def signature_sunsets(digest_algorithm: str, signature_algorithm: algos.SignedDigestAlgorithm | None,
                      public_key: keys.PublicKeyInfo | None) -> list[Sunset]:
    """Every sunset a CMS signature rests on: its digest, the hash inside its signature mechanism, its key."""
    found = [hash_sunset(digest_algorithm)]
    if signature_algorithm is not None:
        inner = _signature_hash(signature_algorithm)
        if inner is not None and inner != digest_algorithm:
            found.append(hash_sunset(inner))
    if public_key is not None:
        found.append(key_sunset(public_key))
    return found


def lapsed_at(sunsets: list[Sunset], moment: datetime) -> Sunset | None:
    """The first of ``sunsets`` already past at ``moment`` (None: all of them still trustworthy then)."""
    return earliest(*[s for s in sunsets if s.lapsed(moment)])


def _judge(sunset: Sunset, moment: datetime | None) -> AlgorithmUsageConstraint:
    moment = moment or clock.now()  # pyHanko's None ("at any time"): judged now
    if sunset.lapsed(moment):
        return AlgorithmUsageConstraint(
            allowed=False, not_allowed_after=sunset.at,
            failure_reason=f"{sunset.label} is not trustworthy since {sunset.at:%Y-%m-%d}")
    return AlgorithmUsageConstraint(allowed=True)


class SunsetPolicy(AlgorithmUsagePolicy):
    """pyHanko's algorithm policy from :data:`HASH_SUNSETS` and :data:`KEY_SUNSETS`: an algorithm is allowed at
    a moment before its sunset (pyHanko asks at the time being validated, i.e. the proof of existence)."""

    def digest_algorithm_allowed(self, algo: algos.DigestAlgorithm,
                                 moment: datetime | None) -> AlgorithmUsageConstraint:
        return _judge(hash_sunset(algo["algorithm"].native), moment)

    def signature_algorithm_allowed(self, algo: algos.SignedDigestAlgorithm, moment: datetime | None,
                                    public_key: keys.PublicKeyInfo | None) -> AlgorithmUsageConstraint:
        inner = _signature_hash(algo)
        sunsets = [hash_sunset(inner)] if inner is not None else []
        if public_key is not None:
            sunsets.append(key_sunset(public_key))
        for sunset in sunsets:
            verdict = _judge(sunset, moment)
            if not verdict.allowed:
                return verdict
        return AlgorithmUsageConstraint(allowed=True)


SUNSET_POLICY = SunsetPolicy()

__all__ = ["HASH_SUNSETS", "KEY_SUNSETS", "NEVER", "SUNSET_POLICY", "Sunset", "SunsetPolicy", "earliest",
           "hash_sunset", "key_sunset", "lapsed_at", "signature_sunsets"]
