"""Issue 16, item 3: a signing PIN that cannot be guessed."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select, update

from dms.errors import Invalid
from dms.models import AuditEvent, SigningCredential
from dms.signatures import pki as pki_svc
from dms.people import users
from signing import clock

from .test_cli import dms
from .test_signing import PIN, ca_template, issue, office, on_signing, pki, sign  # noqa: F401  (fixtures)


def _try(rt, pin: str, login: str = "director") -> pki_svc.SigningRefused | None:  # noqa: ANN001
    with rt.db.session() as s:
        try:
            pki_svc.unlock(rt, s, users.get_user(s, login), pin)
        except pki_svc.SigningRefused as exc:
            return exc
    return None


def _skip_delay(rt) -> None:  # noqa: ANN001
    """The growing delay has passed (the test does not wait for it)."""
    with rt.db.session() as s:
        s.execute(update(SigningCredential).values(pin_retry_after=None))


def _cred(rt, login: str = "director") -> SigningCredential:  # noqa: ANN001
    with rt.db.session() as s:
        return s.scalars(select(SigningCredential).where(
            SigningCredential.user_id == users.get_user(s, login).id)).one()


def test_five_wrong_pins_lock_the_key_each_audited_and_an_administrator_unlocks(settings, rt, office):  # noqa: ANN001, F811
    outcomes = []
    for i in range(pki_svc.PIN_LOCK_AFTER):
        outcomes.append(_try(rt, f"wrong-pin-{i}"))
        _skip_delay(rt)
    assert [o.status for o in outcomes] == [403, 403, 403, 403, 423]
    assert "осталось попыток до блокировки: 4" in outcomes[0].message
    assert "заблокирован" in outcomes[-1].message and "dms pki unlock director" in outcomes[-1].message
    # locked: even the right PIN is refused now, and guessing further tries no key at all
    assert _try(rt, PIN).status == 423
    with pytest.raises(pki_svc.SigningRefused, match="заблокирован"), rt.db.session() as s:
        pki_svc.unlock(rt, s, users.get_user(s, "director"), "wrong-pin-again")
    assert _cred(rt).pin_failures == pki_svc.PIN_LOCK_AFTER
    with rt.db.session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.action.startswith("pki.pin"))
                            .order_by(AuditEvent.id)).all()
        failed = s.scalars(select(AuditEvent).where(AuditEvent.action == "pki.pin_failed")
                .order_by(AuditEvent.id)).all()
    assert actions == ["pki.pin_failed"] * 5 + ["pki.pin_locked", "pki.pin_refused", "pki.pin_refused"]
    assert [e.details["failures"] for e in failed] == [1, 2, 3, 4, 5]
    assert all(e.actor_login == "director" for e in failed)
    # the administrator unlocks from the shell; the right PIN signs again
    r = dms(settings, "pki", "unlock", "director")
    assert r.returncode == 0, r.stderr
    assert _try(rt, PIN) is None
    cred = _cred(rt)
    assert cred.pin_failures == 0 and cred.pin_locked_at is None


def test_each_wrong_pin_delays_the_next_try_longer(rt, office):  # noqa: ANN001, F811
    # the clock stands still: on a loaded machine the PIN's key derivation alone outlasted the 1 s delay, and the
    # right PIN right after a wrong one was let through (the delay had really passed)
    with time_machine.travel(clock.now(), tick=False):
        assert _try(rt, "wrong-pin-0").status == 403  # one typo: no wait
        assert _cred(rt).pin_retry_after.replace(tzinfo=None) <= clock.now().replace(tzinfo=None)
        waits = []
        for i in (1, 2, 3):
            assert _try(rt, f"wrong-pin-{i}").status == 403
            waits.append(_cred(rt).pin_retry_after.replace(tzinfo=None) - clock.now().replace(tzinfo=None))
            too_soon = _try(rt, PIN)  # even the right PIN waits: the delay is per key, not per guess
            assert too_soon.status == 429 and "через" in too_soon.message
            _skip_delay(rt)
        assert timedelta(0) < waits[0] < waits[1] < waits[2] <= timedelta(seconds=4)
        assert _cred(rt).pin_failures == 4  # the refusals during a delay tried no PIN and counted nothing
        assert _try(rt, PIN) is None
        assert _cred(rt).pin_failures == 0


def test_a_wrong_pin_while_signing_is_counted_though_the_signing_rolls_back(rt, office):  # noqa: ANN001, F811
    doc_id = on_signing(rt, office)
    with pytest.raises(pki_svc.SigningRefused):
        sign(rt, "director", doc_id, pin="00000000")
    assert _cred(rt).pin_failures == 1
    _skip_delay(rt)
    sign(rt, "director", doc_id)
    assert _cred(rt).pin_failures == 0


def test_new_pins_have_at_least_eight_characters(rt, office):  # noqa: ANN001, F811
    with pytest.raises(Invalid, match="не короче 8"):
        issue(rt, "newcomer", "1234567")
    assert pki_svc.MIN_PIN == 8
    issue(rt, "newcomer", "12345678")


def test_the_pin_key_derivation_is_tuned_for_half_a_second_per_guess():
    """3,000,000 PBKDF2-HMAC-SHA256 rounds by default (0.61 s of one core measured on the development machine; the
    test suite lowers it with DMS_PIN_KDF_ITERATIONS, never below the passphrase-grade 600,000)."""
    env = {k: v for k, v in os.environ.items() if k != "DMS_PIN_KDF_ITERATIONS"}
    out = subprocess.run([sys.executable, "-c", "import signing.pki as p; print(p.USER_PIN_KDF_ITERATIONS)"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert int(out.stdout) >= 3_000_000
    out = subprocess.run([sys.executable, "-c", "import signing.pki as p; print(p.USER_PIN_KDF_ITERATIONS)"],
                         env={**env, "DMS_PIN_KDF_ITERATIONS": "1000"}, capture_output=True, text=True, timeout=60)
    assert int(out.stdout) == 600_000


def test_a_new_key_is_encrypted_with_the_pin_grade_count(rt, office):  # noqa: ANN001, F811
    from asn1crypto import keys as asn1_keys
    from asn1crypto import pem
    import signing.pki as signing_pki
    _, _, der = pem.unarmor(_cred(rt).encrypted_key_pem.encode())
    info = asn1_keys.EncryptedPrivateKeyInfo.load(der)
    kdf = info["encryption_algorithm"]["parameters"]["key_derivation_func"]["parameters"]
    assert kdf["iteration_count"].native == signing_pki.USER_PIN_KDF_ITERATIONS
