"""Signed documents stay provable for decades (issue 14): `dms maintain` run once a year carries a B-T order, a
B-LT order, an agreement with two signatures and a batch-issued certificate of qualification, all signed in year 0,
to year 50 with their signatures still authentic — while a signature made with a certificate revoked before
signing is not. A fake clock (time-machine) moves the years; keys are ECDSA P-256 with a cheap key-encryption KDF."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, UTC

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from dms.models import Document, EvidenceRecord, Version
from dms.certificates import service as certs
from dms.operations import maintain
from dms.people import users
from dms.signatures import pki as pki_svc
from dms.signatures import service as sig_svc
from signing import pki as signing_pki
from signing.pades import Level, SignRequest, sign_pdf
from signing.signer import SignerIdentity
from signing.validate import validate_pdf

from .pdfs import make_pdf
from .test_certificates import rows
from .test_signing import PIN, issue, on_signing, sign

YEAR = timedelta(days=365)
YEARS = int(__import__("os").environ.get("DMS_EVIDENCE_YEARS", "50"))  # shorter only when profiling


@pytest.fixture
def fresh_pki(rt, monkeypatch):  # noqa: ANN001, ANN201
    """A CA made now (year 0) whose keys are encrypted with a cheap KDF: the test unlocks them every year."""
    monkeypatch.setattr(signing_pki, "PIN_KDF_ITERATIONS", 1_000)
    monkeypatch.setenv("DMS_PKI_PASSPHRASE", "test-passphrase")
    monkeypatch.delenv("DMS_TSA_URL", raising=False)
    pki_svc.init(rt, organisation="АНО «Центр квалификаций на полвека»")
    return pki_svc.load(rt)


@pytest.fixture
def archive(world, rt, fresh_pki):  # noqa: ANN001, ANN201
    from dms.models import Organisation
    for login, role in (("clerk", "Clerk"), ("director", "Signatory"), ("admin", "Administrator"),
                        ("head", "Signatory"), ("leaver", "Signatory")):
        world.user(login, role)
    world.user("holder-rep")
    for path in ("/Приказы", "/Соглашения", "/Прочее"):
        world.folder(path)
    world.share("/Соглашения", "holder-rep", "Counterparty")
    for login in ("director", "holder-rep", "leaver"):
        issue(rt, login)
    with rt.db.session() as s:
        org = Organisation(code="ЦОК-77-050", name="ООО «Центр оценки „Полвека“»", short_name="Полвека",
                           kind="assessment_centre", city="Москва")
        s.add(org)
        s.flush()
        certs.allocate_blanks(s, None, org, "ББ", 1, 10)
        pki_svc.issue(rt, s, None, users.get_user(s, "head"), PIN)
    return world


def _current(rt, doc_id: int) -> tuple[bytes, datetime]:  # noqa: ANN001
    with rt.db.session() as s:
        version = s.get(Version, s.get(Document, doc_id).current_version_id)
        return rt.store.get_bytes(version.object_key), version.created_at


def _revoked_then_signed(rt) -> bytes:  # noqa: ANN001
    """The leaver's certificate is revoked for key compromise; the stolen key then signs an order (B-T, with a
    genuine time-stamp from our TSA): the library does it, the archive would refuse."""
    with rt.db.session() as s:
        leaver = users.get_user(s, "leaver")
        [cred] = pki_svc.credentials_of(s, leaver)
        pki_svc.revoke(rt, s, None, leaver, "key_compromise")
        cert_der, key_pem = cred.certificate_der, cred.encrypted_key_pem.encode()
    from cryptography import x509
    key = serialization.load_pem_private_key(key_pem, PIN.encode())
    ca = pki_svc.load(rt).ca
    thief = SignerIdentity(x509.load_der_x509_certificate(cert_der), key,  # type: ignore[arg-type]
                           [x509.load_der_x509_certificate(c) for c in ca.chain_der])
    signed = sign_pdf(make_pdf("Приказ, подписанный украденным ключом"), thief,
                      SignRequest(level=Level.B_T, timestamper=pki_svc.load(rt).tsa))
    assert signed is not None
    return signed


def _authentic(rt, doc_id: int) -> None:  # noqa: ANN001
    data, stored = _current(rt, doc_id)
    with rt.db.session() as s:
        trust = pki_svc.trust_store(rt, s)
        # the cryptographic evidence alone (time-stamps, DSS, the CA's history), without the archive's own record
        alone = validate_pdf(data, trust)
        assert alone.authentic, (doc_id, alone.summary_ru())
        admin = users.get_user(s, "admin")
        assert sig_svc.validate_version(rt, s, admin, s.get(Document, doc_id))["authentic"]


def test_fifty_years_of_yearly_maintenance_keep_year_0_signatures_authentic(rt, archive):  # noqa: ANN001
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=True) as clock:
        order_bt = on_signing(rt, archive, "order")
        sign(rt, "director", order_bt)
        order_blt = on_signing(rt, archive, "order")
        sign(rt, "director", order_blt, level="B-LT")
        agreement = on_signing(rt, archive, "agreement")
        sign(rt, "director", agreement)
        sign(rt, "holder-rep", agreement)
        issued = certs.issue(rt, "head", "ЦОК-77-050", rows(1), PIN, valid_years=5)
        certificate = issued.issued[0]["id"]
        first_copy, _ = _current(rt, certificate)  # what the holder keeps: the signed B-T PDF of year 0
        clock.shift(timedelta(minutes=5))
        stolen = _revoked_then_signed(rt)
        with rt.db.session() as s:
            now_verdict = sig_svc.validate_upload(rt, s, io.BytesIO(stolen), "test")
        assert now_verdict["reports"][0]["signatures"][0]["status"] == "revoked"  # revoked before signing
        documents = (order_bt, order_blt, agreement, certificate)

        summary = maintain.maintain(rt)
        assert summary["ok"], summary
        # the orders and the agreement were protected right after their final signature; maintain catches up the rest
        assert set(summary["evidence"]["protected"]) == {certificate}
        with rt.db.session() as s:
            assert set(s.scalars(select(EvidenceRecord.document_id))) == set(documents)
        assert maintain.maintain(rt)["evidence"] == {"protected": [], "renewed": [], "failed": []}  # idempotent

        for year in range(1, YEARS + 1):
            clock.move_to(start + year * YEAR + timedelta(hours=year))
            summary = maintain.maintain(rt)
            assert summary["ok"], (year, summary)
            if year == 12:
                for doc_id in documents:
                    _authentic(rt, doc_id)

        for doc_id in documents:
            _authentic(rt, doc_id)
        with rt.db.session() as s:
            renewals = s.scalars(select(EvidenceRecord.document_id)).all()
            assert all(renewals.count(d) >= 4 for d in documents), renewals
            assert s.get(Document, certificate).state == "expired"  # through the workflow, in year 5
            assert len(pki_svc.load(rt).ca.roots_der) >= 3  # roots renewed, the old ones still anchors
            # the holder's year-0 copy, checked by upload: the archive knows when it stored those bytes
            upload = sig_svc.validate_upload(rt, s, io.BytesIO(first_copy), "test")
            assert upload["authentic"], upload["summary_ru"]
            bad = sig_svc.validate_upload(rt, s, io.BytesIO(stolen), "test")
        # 50 years on its time-stamp is no longer provable either (nothing renewed it): still not authentic
        assert not bad["authentic"]
        assert bad["reports"][0]["signatures"][0]["status"] in ("revoked", "expired_at_signing")


# --- small findings of issue 14 (item 8) ----------------------------------------------------------------------

def test_a_batch_issued_certificate_check_finds_its_signature(rt, archive):  # noqa: ANN001
    issued = certs.issue(rt, "head", "ЦОК-77-050", rows(1), PIN, valid_years=5)
    with rt.db.session() as s:
        doc = s.get(Document, issued.issued[0]["id"])
        result = sig_svc.validate_version(rt, s, users.get_user(s, "admin"), doc)
        [row] = sig_svc.signatures_of(s, doc)
        assert result["authentic"] and row.field_name == ""  # batch rows name no field
        assert row.validation["status"] == "valid", row.validation  # was «подпись не найдена в версии»


def test_a_holder_representative_certificate_names_the_holder_not_the_agency(rt, world, fresh_pki):  # noqa: ANN001
    from dms.models import Organisation, User
    world.user("rep")
    with rt.db.session() as s:
        org = Organisation(code="ДП-001", name="ООО «Практика и Ко»", short_name="Практика и Ко",
                           kind="practice_holder")
        s.add(org)
        s.flush()
        user = s.scalars(select(User).where(User.login == "rep")).one()
        user.organisation_id = org.id
        s.flush()
        s.refresh(user)
        cred = pki_svc.issue(rt, s, None, user, PIN)
        assert "O=Практика и Ко" in cred.subject and fresh_pki.ca.organisation not in cred.subject


def test_dms_verify_of_an_untrusted_signature_says_so_without_a_traceback(settings, rt, fresh_pki, tmp_path):  # noqa: ANN001
    from signing.pki import CertificateAuthority, load_signer

    from .test_cli import dms
    stranger = CertificateAuthority.create("Посторонний удостоверяющий центр")
    signer = load_signer(stranger.issue_user_certificate("Незнакомец", PIN), PIN, stranger.chain_der)
    path = tmp_path / "chuzhoy.pdf"
    path.write_bytes(sign_pdf(make_pdf("Чужой приказ"), signer, SignRequest(level=Level.B_B)))
    out = dms(settings, "verify", str(path))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr + out.stdout and "pyhanko" not in (out.stderr + out.stdout).lower()
    assert "не выдан доверенным удостоверяющим центром" in out.stdout


def test_cli_revoke_for_key_compromise_records_since_when_and_the_crl_says_so(settings, rt, world, fresh_pki):  # noqa: ANN001
    from cryptography import x509

    from .test_cli import dms
    world.user("leaver", "Signatory")
    issue(rt, "leaver")
    since = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%d")
    out = dms(settings, "pki", "revoke", "leaver", "--reason", "key_compromise", "--invalid-since", since)
    assert out.returncode == 0, out.stderr
    [revoked] = __import__("json").loads(out.stdout)["revoked"]
    assert revoked["invalid_since"].startswith(since) and revoked["revoke_reason"] == "key_compromise"
    with rt.db.session() as s:
        crl = x509.load_der_x509_crl(pki_svc.crl_der(rt, s, "issuing.crl"))
    entry = crl.get_revoked_certificate_by_serial_number(int(revoked["serial"], 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date_utc.date().isoformat() \
        == since
    refused = dms(settings, "pki", "revoke", "leaver", "--reason", "superseded", "--invalid-since", since)
    assert refused.returncode != 0


def test_signed_today_signer_revoked_tomorrow_as_superseded_is_authentic_everywhere(rt, archive):  # noqa: ANN001
    order = on_signing(rt, archive, "order")
    sign(rt, "director", order)
    signed_copy, _ = _current(rt, order)
    with time_machine.travel(datetime.now(UTC) + timedelta(days=1)):
        with rt.db.session() as s:
            pki_svc.revoke(rt, s, None, users.get_user(s, "director"), "superseded")
        with rt.db.session() as s:
            page = sig_svc.validate_version(rt, s, users.get_user(s, "admin"), s.get(Document, order))
            [row] = sig_svc.signatures_of(s, s.get(Document, order))
            assert page["authentic"] and row.validation["status"] == "valid_revoked_later"
            assert "отозван позже" in sig_svc.status_ru(row)
            # a public check of the signed copy: not even the archive's record is needed
            alone = validate_pdf(signed_copy, pki_svc.trust_store(rt, s))
            assert alone.authentic and alone.signatures[0].revocation_reason == "superseded"
            upload = sig_svc.validate_upload(rt, s, io.BytesIO(signed_copy), "test")
            assert upload["authentic"]


# --- renewal before an algorithm's sunset (signing.algorithms) -------------------------------------------------

def test_an_rsa_2048_time_stamp_is_renewed_before_the_rsa_2048_sunset_though_its_tsa_certificate_lives_longer(
        rt, world, monkeypatch):  # noqa: ANN001
    """An archive whose CA (and TSA) were set up with RSA-2048 keys: its first B-LTA time-stamp is due for renewal
    two years before RSA-2048's sunset (2031-01-01), not two years before the TSA certificate's end (2036); a
    renewal by the same RSA-2048 TSA would gain nothing and is refused with the reason; once the CA is re-keyed
    stronger (the library cannot choose the algorithm of a rollover yet: the test sets it) the renewal goes
    through, and the order is still authentic after the sunset."""
    from signing import lta
    from signing.algorithms import KEY_SUNSETS
    from signing.pki import CertificateAuthority, KeyAlgorithm

    from dms.signatures import evidence

    sunset = dict(KEY_SUNSETS["rsa"])[2048]
    assert sunset is not None
    monkeypatch.setattr(signing_pki, "PIN_KDF_ITERATIONS", 1_000)
    monkeypatch.setenv("DMS_PKI_PASSPHRASE", "test-passphrase")
    monkeypatch.delenv("DMS_TSA_URL", raising=False)
    monkeypatch.setitem(pki_svc.ALGORITHM_FOR_CA, True, KeyAlgorithm.RSA_2048)
    start = sunset - 4 * YEAR  # a TSA certificate made now (10 years) outlives the sunset by six years
    with time_machine.travel(start, tick=True) as clock:
        pki_svc.init(rt, use_rsa=True, organisation="Центр (RSA-2048)")
        for login, role in (("clerk", "Clerk"), ("director", "Signatory"), ("admin", "Administrator")):
            world.user(login, role)
        world.folder("/Приказы")
        issue(rt, "director")
        order = on_signing(rt, world, "order")
        sign(rt, "director", order)
        assert maintain.maintain(rt)["ok"]

        data, _ = _current(rt, order)
        newest = lta.newest_timestamp(data)
        assert newest is not None and newest.algorithm == "RSA-2048" and newest.tsa_not_after > sunset
        with rt.db.session() as s:
            [record] = s.scalars(select(EvidenceRecord).where(EvidenceRecord.document_id == order)).all()
            assert record.renew_by.replace(tzinfo=UTC) == sunset - evidence.RENEW_BEFORE
            assert record.renew_by.replace(tzinfo=UTC) < newest.tsa_not_after - evidence.RENEW_BEFORE
            [due] = evidence.report(s, horizon=4 * YEAR)["renewals"]
        assert due["id"] == order and due["reason"] == "algorithm_sunset" and not due["overdue"]
        assert due["trustworthy_until"] == sunset.isoformat()

        clock.move_to(sunset - evidence.RENEW_BEFORE - timedelta(days=1))  # the day before: nothing due
        assert maintain.maintain(rt)["evidence"]["renewed"] == []

        clock.move_to(sunset - evidence.RENEW_BEFORE + timedelta(days=1))
        summary = maintain.maintain(rt)  # our TSA still signs with RSA-2048: renewing with it proves nothing new
        assert not summary["ok"] and summary["evidence"]["renewed"] == []
        [failure] = summary["evidence"]["failed"]
        assert failure["id"] == order and "RSA-2048" in failure["error"] and "2031-01-01" in failure["error"]
        assert _current(rt, order)[0] == data  # no version made

        with monkeypatch.context() as stronger:  # the operator re-keys the CA (root, issuing CA, TSA) with RSA-3072
            stronger.setattr(CertificateAuthority, "algorithm", property(lambda self: KeyAlgorithm.RSA_3072))
            assert pki_svc.roll_over(rt, roles=["root"])["renewed"] == ["root", "issuing", "tsa"]
        summary = maintain.maintain(rt)
        assert summary["ok"], summary
        assert summary["evidence"]["renewed"] == [order]
        renewed, _ = _current(rt, order)
        assert renewed.startswith(data)
        newest = lta.newest_timestamp(renewed)
        assert newest is not None and newest.algorithm_sunset is None
        with rt.db.session() as s:
            [due] = evidence.report(s, horizon=20 * YEAR)["renewals"]
        assert due["reason"] == "tsa_certificate_end" and due["renew_by"] > sunset.isoformat()

        clock.move_to(sunset + timedelta(days=30))  # RSA-2048 is past its sunset: the renewal proves it was before
        assert maintain.maintain(rt)["evidence"] == {"protected": [], "renewed": [], "failed": []}
        _authentic(rt, order)


# --- B-LTA right after the final signature -------------------------------------------------------------------

def _evidence_of(rt, doc_id: int) -> list[EvidenceRecord]:  # noqa: ANN001
    with rt.db.session() as s:
        return list(s.scalars(select(EvidenceRecord).where(EvidenceRecord.document_id == doc_id)))


def _ades_lta(rt, data: bytes):  # noqa: ANN001, ANN202
    """pyHanko's ETSI EN 319 102-1 long-term validation of the first signature, local data only (the DSS), our roots
    as the only trust anchors."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.ades import ades_lta_validation
    from pyhanko.sign.validation.policy_decl import (PdfSignatureValidationSpec, RevinfoOnlineFetchingRule,
                                                     RevocationInfoGatheringSpec, SignatureValidationSpec)
    from pyhanko_certvalidator.context import CertValidationPolicySpec
    from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule
    from pyhanko_certvalidator.registry import SimpleTrustManager

    from signing import aio

    required = RevocationCheckingRule.CRL_OR_OCSP_REQUIRED
    roots = [asn1_x509.Certificate.load(r) for r in pki_svc.load(rt).ca.roots_der]
    spec = PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=roots),
            revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(ee_certificate_rule=required,
                                                                       intermediate_ca_cert_rule=required))),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY)))
    embedded = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    return aio.run(ades_lta_validation(embedded, spec))


def test_an_order_signed_through_the_api_has_its_b_lta_version_without_maintain(rt, archive, client):  # noqa: ANN001
    from pyhanko.sign.ades.report import AdESPassed

    order = on_signing(rt, archive, "order")
    r = client.post(f"/api/v1/documents/{order}/signatures", headers=archive.token(client, "director"),
                    json={"pin": PIN})
    assert r.status_code == 201, r.get_json()
    signed_number = r.get_json()["version"]
    [record] = _evidence_of(rt, order)  # no `dms maintain` ran
    data, _ = _current(rt, order)
    with rt.db.session() as s:
        current = s.get(Version, s.get(Document, order).current_version_id)
        assert current.id == record.version_id and current.number == signed_number + 1
        signed = s.scalars(select(Version).where(Version.document_id == order, Version.number == signed_number)).one()
        assert data.startswith(rt.store.get_bytes(signed.object_key))  # the signed bytes stay a prefix
        report = validate_pdf(data, pki_svc.trust_store(rt, s))
    assert report.authentic and report.signatures[0].level == "B-LTA"
    result = _ades_lta(rt, data)
    assert result.ades_subindic == AdESPassed.OK, (result.ades_subindic, result.failure_msg)
    assert maintain.maintain(rt)["evidence"]["protected"] == []  # nothing left to catch up


def test_an_agreement_is_protected_after_the_holders_signature_not_the_agencys(rt, archive):  # noqa: ANN001
    agreement = on_signing(rt, archive, "agreement")
    sign(rt, "director", agreement)
    assert _evidence_of(rt, agreement) == []  # the holder's field is still open: B-LTA now would close it
    sign(rt, "holder-rep", agreement)
    [record] = _evidence_of(rt, agreement)
    with rt.db.session() as s:
        assert s.get(Document, agreement).current_version_id == record.version_id


def test_a_batch_is_protected_by_a_job_not_while_the_signer_waits(rt, archive):  # noqa: ANN001
    from dms import jobs

    orders = [on_signing(rt, archive, "order") for _ in range(3)]
    outcomes = sig_svc.sign_many(rt, "director", orders, PIN)
    assert all(o.ok for o in outcomes), outcomes
    assert all(_evidence_of(rt, d) == [] for d in orders)  # sign_many returned without protecting
    assert jobs.run_pending(rt) == 1
    assert all(len(_evidence_of(rt, d)) == 1 for d in orders)
    for doc_id in orders:
        _authentic(rt, doc_id)
    assert maintain.maintain(rt)["evidence"]["protected"] == []


def test_two_orders_signed_in_one_session_keep_the_audit_chain_whole(rt, archive):  # noqa: ANN001
    """As `dms demo` signs: one session, two signatures (each PIN check commits in between, so the first order's
    protection, after that commit, appends its events from its own session); the chain's head is read afresh."""
    from dms.audit.service import verify_chain
    from dms.documents import service as documents

    first, second = on_signing(rt, archive, "order"), on_signing(rt, archive, "order")
    with rt.db.session() as s:
        director = users.get_user(s, "director")
        for doc_id in (first, second):
            sig_svc.sign_document(rt, s, director, documents.get(s, director, doc_id), PIN)
    assert len(_evidence_of(rt, first)) == len(_evidence_of(rt, second)) == 1
    with rt.db.session() as s:
        assert not list(verify_chain(s))


def test_a_certificate_batch_is_protected_by_the_job_it_queues(rt, archive):  # noqa: ANN001
    from dms import jobs

    issued = [item["id"] for item in certs.issue(rt, "head", "ЦОК-77-050", rows(2), PIN, valid_years=5).issued]
    assert all(_evidence_of(rt, d) == [] for d in issued)  # the signatory did not wait for it
    assert jobs.run_pending(rt) == 1
    assert all(len(_evidence_of(rt, d)) == 1 for d in issued)
    for doc_id in issued:
        _authentic(rt, doc_id)
